"""The workload part of a sweep spec: which blocks to run, checked in full, and each point's resolved block.

    workload: {model: memoryformer-base, seq_len: 2048, batch: 1}       # a preset (models.PRESETS)
    workload: {kind: memoryformer, hidden_size: 1024, heads: 16, seq_len: [512, 2048], tau: [6, 8]}

Any value may be a list (an axis); whole numbers may also be {range: [lo, hi], n} or {logspace: ...}. `kind` is
any of workloads.builders.BLOCK_KINDS (transformer, memoryformer and the Table 2 baselines). Block options
follow workloads.builders: a preset's released options by default (`variant: released`), or the `paper` /
`bench` blocks, then any option given here (norm, rotary_pct, parallel_residual, linear_bias, memory_bias,
weighting, gelu, share_qkv_hash, proj_len, features; each applies to the kinds that take it). A point carries
its resolved block in `block` (JSON text).

    workload: {model: memoryformer-base, seq_len: 1, batch: [1, 64], phase: decode, kv_len: 2048, scope: model}

`phase: decode` runs seq_len new tokens per sequence against a KV cache of `kv_len` tokens (required with decode,
refused with prefill), as workloads.block takes them. `scope: model` runs a preset's whole model step instead of
one block (workloads.model.model_step: embedding, layers x block, final norm, LM head), so latency_s and energy_j
are the model's; it takes a preset (`model`), whose sizes it keeps.
"""
from __future__ import annotations

import json

from hwsim.config.errors import did_you_mean
from hwsim.explore.axis import Axis
from workloads.builders import BLOCK_KINDS, BLOCK_OPTIONS, BLOCK_VARIANTS, NORMS, WEIGHTINGS

SHAPE_KEYS = ("model", "kind", "hidden_size", "heads", "layers", "seq_len", "batch", "tau", "expand_bits", "dtype",
              "phase", "kv_len", "scope", "variant")
BLOCK_OPTION_KEYS = tuple(sorted(set().union(*BLOCK_OPTIONS.values())))
WORKLOAD_KEYS = SHAPE_KEYS + BLOCK_OPTION_KEYS
# The resolved workload of every point, one column each (a preset fills kind, hidden_size, heads, layers, tau).
WORKLOAD_COLUMNS = ("model", "kind", "hidden_size", "heads", "layers", "tau", "expand_bits", "seq_len", "batch",
                    "dtype", "phase", "kv_len", "scope", "variant", "block")
WORKLOAD_TYPES = {"model": "string", "kind": "string", "hidden_size": "int64", "heads": "int64", "layers": "int64",
                  "tau": "int64", "expand_bits": "int64", "seq_len": "int64", "batch": "int64", "dtype": "string",
                  "phase": "string", "kv_len": "int64", "scope": "string", "variant": "string", "block": "string"}
# Inputs added after the first sweeps enter a point's key only when they differ from these defaults, so the
# points of earlier specs keep their keys (and their datasets resume).
KEY_DEFAULTS = {"kv_len": 0, "scope": "block"}
WHOLE_OPTIONS = ("proj_len", "features")  # Linformer's projected length, Performer's random features
BLOCK_OPTION_TYPES = {k: "bool" for k in BLOCK_OPTION_KEYS} | {"norm": "string", "weighting": "string",
                                                                 "rotary_pct": "float64"} | dict.fromkeys(WHOLE_OPTIONS, "int64")
PHASES = ("prefill", "decode")
SCOPES = ("block", "model")
DTYPES = ("bf16", "fp16", "fp32", "fp8")
DEFAULT_TAU, DEFAULT_EXPAND_BITS = 8, 2
# what block() builds, for the key of a point: the fields a Workload depends on
BUILD_KEY = ("kind", "hidden_size", "heads", "tau", "expand_bits", "seq_len", "batch", "dtype", "phase", "kv_len",
             "scope", "model", "variant", "block")


def check_workload(c, w) -> list:
    """The workload axes of a spec (c: the spec checker, which collects problems and builds number axes)."""
    if w is None:
        c.bad("workload", "missing: give model (a preset) or kind, hidden_size and heads, with seq_len")
        return []
    if not isinstance(w, dict):
        c.bad("workload", f"expected a mapping, given {type(w).__name__}")
        return []
    for k in w:
        if k not in WORKLOAD_KEYS:
            c.bad(f"workload.{k}", "unknown key" + did_you_mean(str(k), WORKLOAD_KEYS))
    axes = []
    if ("model" in w) == ("kind" in w):
        c.bad("workload", "give either model (a preset name) or kind with hidden_size, not "
              + ("both" if "model" in w else "neither"))
    if "model" in w:
        import models

        axes.append(Axis("model", "workload", tuple(_choices(c, w, "model", models.PRESETS))))
        for k in ("kind", "hidden_size", "heads"):
            if k in w:
                c.bad(f"workload.{k}", "comes from the model preset; give kind instead of model to set it")
    elif "kind" in w:
        axes.append(Axis("kind", "workload", tuple(_choices(c, w, "kind", BLOCK_KINDS))))
        if "hidden_size" not in w:
            c.bad("workload.hidden_size", "missing required key (with kind)")
    for k in ("hidden_size", "heads", "layers", "seq_len", "batch", "tau", "expand_bits", "kv_len"):
        if k in w:
            axes.append(c.number_axis(f"workload.{k}", k, "workload", w[k], zero_ok=k in ("expand_bits", "kv_len")))
    if "seq_len" not in w:
        c.bad("workload.seq_len", "missing required key")
    for k, allowed in (("dtype", DTYPES), ("phase", PHASES), ("scope", SCOPES), ("variant", tuple(BLOCK_VARIANTS))):
        if k in w:
            axes.append(Axis(k, "workload", tuple(_choices(c, w, k, allowed))))
    phases = set(w["phase"] if isinstance(w.get("phase"), list) else [w.get("phase", "prefill")])
    if "decode" in phases and "kv_len" not in w:
        c.bad("workload.kv_len", "missing: phase decode runs against a KV cache of kv_len tokens (0 or more)")
    if "kv_len" in w and phases == {"prefill"}:
        c.bad("workload.kv_len", "applies to phase decode only (a prefill has no KV cache); add phase: decode")
    if "model" in (w["scope"] if isinstance(w.get("scope"), list) else [w.get("scope")]):
        if "model" not in w:
            c.bad("workload.scope", "scope model runs a preset's whole model: give model (a preset name)")
        for k in ("layers", "tau", "expand_bits"):
            if k in w:
                c.bad(f"workload.{k}", "scope model keeps the preset's own; give scope block to set it")
    for k in BLOCK_OPTION_KEYS:
        if k in w:
            allowed = {"norm": NORMS, "weighting": WEIGHTINGS}.get(k)
            axes.append(Axis(k, "block", tuple(_choices(c, w, k, allowed) if allowed else _block_values(c, w, k))))
    return axes


def _choices(c, w, key, allowed) -> list:
    values = c.listed(f"workload.{key}", w[key])
    for i, v in enumerate(values):
        if v not in allowed:
            where = f"workload.{key}[{i}]" if isinstance(w[key], list) else f"workload.{key}"
            c.bad(where, f"expected one of {', '.join(map(str, allowed))}, given {v!r}"
                  + (did_you_mean(str(v), allowed) if isinstance(v, str) and "did you" in did_you_mean(str(v), allowed)
                     else ""))
    return values


def _block_values(c, w, key) -> list:
    values = c.listed(f"workload.{key}", w[key])
    for i, v in enumerate(values):
        where = f"workload.{key}[{i}]" if isinstance(w[key], list) else f"workload.{key}"
        if key == "rotary_pct":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                c.bad(where, f"expected a number in [0, 1] (share of each head's dims rotated), given {v!r}")
        elif key in WHOLE_OPTIONS:
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                c.bad(where, f"expected a positive whole number, given {v!r}")
        elif not isinstance(v, bool):
            c.bad(where, f"expected true or false, given {v!r}")
    return values


def resolve_workload(values: dict) -> dict:
    """The full workload of a point: a preset's sizes and released block options (or the custom kind's, with
    block()'s defaults), then the variant's options, then the options given."""
    from workloads.builders import default_heads, options_for, preset_options, preset_tau

    given = {k: values[k] for k in BLOCK_OPTION_KEYS if values.get(k) is not None}
    variant = values.get("variant") or "released"
    if values.get("model") is not None:
        import models

        p = models.PRESETS[values["model"]]
        tau, e = preset_tau(p)
        w = dict(model=p.name, kind=p.kind, hidden_size=p.hidden_size, heads=p.heads, layers=p.layers, tau=tau,
                 expand_bits=e)
        block = preset_options(p, variant, **given)
    else:
        d, kind = values["hidden_size"], values["kind"]
        w = dict(model="", kind=kind, hidden_size=d, heads=values.get("heads") or default_heads(d), layers=1,
                 tau=DEFAULT_TAU, expand_bits=DEFAULT_EXPAND_BITS)
        block = options_for(kind, {**BLOCK_VARIANTS[variant].get(kind, {}), **given})
    for k in ("layers", "tau", "expand_bits"):
        if values.get(k) is not None:
            w[k] = values[k]
    phase = values.get("phase", "prefill")
    w.update(seq_len=values["seq_len"], batch=values.get("batch", 1), dtype=values.get("dtype", "bf16"),
             phase=phase, kv_len=(values.get("kv_len") or 0) if phase == "decode" else 0,
             scope=values.get("scope") or "block", variant=variant, block=json.dumps(block, sort_keys=True))
    return {k: w[k] for k in WORKLOAD_COLUMNS}


def build(key: tuple):
    """The closed-form Workload of a point's BUILD_KEY values: one block, or a preset's whole model step."""
    import workloads

    kind, d, heads, tau, e, s, b, dtype, phase, kv_len, scope, model, variant, block = key
    cache = {"phase": "decode", "kv_len": kv_len} if phase == "decode" else {}
    if scope == "model":
        import models
        from workloads.model import model_step

        return model_step(models.PRESETS[model], b, s, dtype, variant, **cache, **json.loads(block))
    return workloads.block(kind, d, s, b, heads=heads, tau=tau, expand_bits=e, dtype=dtype, **cache,
                           **json.loads(block))
