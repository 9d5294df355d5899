"""The verdict map (issue 11): where does a MemoryFormer beat its Transformer twin, per token, in time and energy?

The grid: each MemoryFormer preset against its Pythia twin of the same size (TWINS), in two phases (prefill of
2048 tokens per sequence; decode of one new token per sequence against a KV cache of 2048), at batch 1, 8 and
64, on the accelerator presets (ACCELERATORS) and on small design sweeps around lut-asic and hbm-pim (SWEEPS),
plus the H200 with each lookup kernel and launch mode (SOFTWARE: what software alone buys). Every point runs
through hwsim.sweep with `scope: model`: one whole model step (embedding, layers x block, final norm, LM head;
workloads.model.model_step), so a block's cold launch pipeline is not counted once per layer.

Per token: a step's latency and energy divided by the tokens it processes (batch x seq_len: batch x 2048 for a
prefill, batch for a decode step), i.e. the inverse of throughput. The ratios are MF / TF: below 1 the
MemoryFormer wins.

Equal area. A Transformer needs none of the MemoryFormer-only silicon: on-chip lookup banks and hash units
(hwsim.area.area_breakdown's "lookup" and "hash" components, and any near-memory adder component the area
model prices; today it prices none, as the PIM logic sits in the DRAM dies, which the area model leaves out).
Its chip is the same chip without them: area_TF = area_MF - mf_only / (1 - OTHER_FRACTION), since hwsim.area
prices I/O, NoC and clocking as a fixed fraction of the die, which shrinks with it. On equal silicon the
Transformer chip could be replicated area_MF / area_TF times, so
    latency_ratio_equal_area = latency_ratio x area_MF / area_TF   (time x area per token: throughput per mm^2)
    energy_ratio_equal_area  = E_MF / (E_TF,dynamic + E_TF,static x area_TF / area_MF)
the second because replication does not change the dynamic energy per token, while idle (static) power scales
with the silicon: the Transformer chip leaks in proportion to its own, smaller area (first order; the
presets state one idle power per chip). Where a design has no MemoryFormer-only silicon both equal the plain
ratios.

Fit: a model whose weights, tables and KV cache (batch x context tokens) exceed the design's DRAM, or whose
tables the design cannot hold where its lookup placement needs them (the sweep's tables_fit), gets fits=False,
the reason in `why`, and no numbers.
"""
from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

TWINS = {"memoryformer-tiny": "pythia-70m", "memoryformer-small": "pythia-160m", "memoryformer-base": "pythia-410m"}
ACCELERATORS = ("h200", "a100", "cpu-ddr5", "lut-asic", "hbm-pim")
BATCHES = (1, 8, 64)
CONTEXT = 2048  # prefill tokens per sequence, and the decode step's KV cache
PHASES = {"prefill": {"seq_len": CONTEXT}, "decode": {"seq_len": 1, "kv_len": CONTEXT}}
# area components only a MemoryFormer needs (hwsim.area.area_breakdown); prefixes, so that a later
# "near_memory..." component counts too
MF_ONLY_PREFIXES = ("lookup", "hash", "near_memory", "pim")
HBM3_STACK = {"memory.dram.channels": 16, "memory.dram.bandwidth": "819.2 GB/s", "memory.dram.capacity": "16 GB"}


@dataclass(frozen=True)
class Sweep:
    """A small design sweep around one preset: hwsim.sweep axes and simulate options (each a list)."""
    name: str
    base: str
    axes: Mapping = field(default_factory=dict)
    options: Mapping = field(default_factory=dict)
    models: tuple | None = None  # MemoryFormer presets it covers (None: all the grid's)
    what: str = ""


def _stacks(n: tuple) -> dict:
    """HBM3 stacks as a zipped axis: channels, bandwidth and capacity move together (JESD238, as lut-asic)."""
    return {"zip": {"memory.dram.channels": [16 * k for k in n],
                    "memory.dram.bandwidth": [f"{819.2 * k:g} GB/s" for k in n],
                    "memory.dram.capacity": [f"{16 * k} GB" for k in n]}}


SWEEPS = (
    Sweep("lut-asic-sweep", "lut-asic",
          axes={"lookup.banks": [128, 512, 2048], "lookup.capacity": ["256 MiB", "1 GiB", "4 GiB"],
                "hbm_stacks": _stacks((1, 2, 4))},
          # auto: the tables stay resident in the lookup SRAM when the whole model's fit, else stream per pass
          options={"table_tier": "auto"},
          what="lookup banks 128-2048, lookup SRAM 256 MiB-4 GiB, 1-4 HBM3 stacks; tables resident on chip when "
               "all fit"),
    Sweep("hbm-pim-sweep", "hbm-pim",
          axes={"lookup.near_memory.internal_bandwidth": ["4.9 TB/s", "9.8 TB/s", "39.3 TB/s"],
                "lookup.near_memory.lanes": [4, 16, 64]},
          # the host's software too: in eager PyTorch a decode step is launch-bound, which hides the memory side
          options={"lowering": ["torch", "fused"], "mode": ["eager", "graph"]},
          what="internal bandwidth 2-16x the 2.46 TB/s off-chip, 4-64 adder lanes per unit; host software: "
               "PyTorch or fused kernels, eager or graph launches"),
)
# What software alone buys on the H200: each lookup kernel of the torch lowering, and a fused lowering (one
# kernel per op, as a compiler would emit), eager or graph launches. The Transformer runs the same lowering
# and mode, so each ratio compares like with like.
SOFTWARE = Sweep("h200-software", "h200",
                 options={"lowering": ["torch", "fused"],
                          "lookup_impl": ["embedding_bag", "gather_sum", "fused", "table_stationary"],
                          "mode": ["eager", "graph"]},
                 models=("memoryformer-base",), what="each lookup kernel, torch or fused lowering, eager or graph")

KEY_COLUMNS = ("model", "twin", "phase", "seq_len", "kv_len", "batch", "accelerator", "base", "sweep")
RATIO_COLUMNS = ("latency_ratio", "energy_ratio", "latency_ratio_equal_area", "energy_ratio_equal_area")
FIGURE_COLUMNS = ("mf_latency_per_token_s", "tf_latency_per_token_s", "mf_energy_per_token_j", "tf_energy_per_token_j",
                  "tf_static_energy_per_token_j", "mf_step_latency_s", "tf_step_latency_s", "mf_area_mm2",
                  "tf_area_mm2", "mf_bound", "tf_bound")


@dataclass(frozen=True)
class Verdict:
    frame: object  # pandas DataFrame: one row per (model, phase, batch, design)
    findings: tuple  # lines of text, computed from the frame
    best: object  # pandas DataFrame: the rows the heat map shows (presets, and the best point of each sweep)


# ---- input ---------------------------------------------------------------------------------------------

def check_grid(models, accelerators, batches, sweeps) -> None:
    """One ValueError line for the first bad input, before anything runs."""
    from hwsim.config import ConfigError, list_presets, load_accelerator

    for m in models:
        if m not in TWINS:
            raise ValueError(f"models: expected MemoryFormer presets among {', '.join(TWINS)}, given {m!r}")
    if not models:
        raise ValueError("models: expected at least one of " + ", ".join(TWINS))
    known = list_presets()
    for a in accelerators:
        if a not in known and not str(a).endswith((".yaml", ".yml")):
            raise ValueError(f"accelerators: expected preset names ({', '.join(known)}) or YAML paths, given {a!r}")
    for a in accelerators:
        try:
            load_accelerator(a)
        except (ConfigError, FileNotFoundError) as e:  # a bad YAML file: a line per problem, as elsewhere
            raise ValueError(f"accelerators: {e}") from None
    if not batches:
        raise ValueError("batches: expected at least one positive integer")
    for b in batches:
        if isinstance(b, bool) or not isinstance(b, int) or b <= 0:
            raise ValueError(f"batches: expected positive integers, given {b!r}")
    for s in sweeps:
        if not isinstance(s, Sweep):
            raise ValueError(f"sweeps: expected hwsim.explore.verdict.Sweep items, given {s!r}")


# ---- running -------------------------------------------------------------------------------------------

def _spec(base, mf_models, batches, phase, axes=None, options=None) -> dict:
    names = [n for m in mf_models for n in (m, TWINS[m])]
    workload = {"model": names, "batch": list(batches), "phase": phase, "scope": "model", **PHASES[phase]}
    return {"base": base, "workload": workload, "options": dict(options or {}), "axes": dict(axes or {}),
            "sampling": {"method": "grid"}, "constraints": ["tables_fit"]}


def _run(spec, workers, where: Path, name: str):
    from hwsim.explore import sweep

    return sweep(spec, out=where / name, workers=workers, progress=False)


def verdict(models=tuple(TWINS), accelerators=ACCELERATORS, batches=BATCHES, sweeps=SWEEPS, software=SOFTWARE,
            workers=None) -> Verdict:
    """The verdict map over the grid (module docstring). models: MemoryFormer presets (each with its twin);
    sweeps: Sweep designs around a preset (() for none); software: the H200 software sweep (None: none);
    workers: sweep processes (None: every core; 1: in this process). Raises ValueError (one line) on bad input."""
    import pandas as pd

    models, accelerators, batches = tuple(models), tuple(accelerators), tuple(batches)
    sweeps = tuple(sweeps) + ((software,) if software is not None else ())
    check_grid(models, accelerators, batches, sweeps)
    parts = []
    with tempfile.TemporaryDirectory(prefix="hwsim-verdict-") as tmp:
        where = Path(tmp)
        for phase in PHASES:
            if accelerators:
                df = _run(_spec(list(accelerators), models, batches, phase), workers, where, f"presets-{phase}")
                parts.append(_pairs(df, "", ()))
            for s in sweeps:
                mf = tuple(m for m in models if s.models is None or m in s.models)
                if not mf:
                    continue
                df = _run(_spec(s.base, mf, batches, phase, s.axes, s.options), workers, where, f"{s.name}-{phase}")
                parts.append(_pairs(df, s.name, _setting_columns(df, s)))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=KEY_COLUMNS + RATIO_COLUMNS)
    frame = _order(frame)
    best = best_designs(frame)
    return Verdict(frame, tuple(findings(frame)), best)


def _setting_columns(df, s: Sweep) -> tuple:
    """The columns of a sweep's dataset that tell its designs apart: options given, then accelerator settings."""
    names = list(s.options)
    for k, v in s.axes.items():
        names += list(v["zip"]) if isinstance(v, dict) and "zip" in v else [k]
    return tuple(n for n in names if n in df.columns)


def _pairs(df, sweep_name: str, settings: tuple):
    """Sweep rows (one per model and design) -> verdict rows (one per MF/TF pair and design)."""
    import pandas as pd

    from hwsim.area import OTHER_FRACTION, area_breakdown
    from hwsim.config import load_accelerator, override

    df = df.copy()
    design_cols = ["base", *settings]
    keys = df[design_cols].astype(str).agg("|".join, axis=1)
    number = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    df["accelerator"] = df["base"] if not sweep_name else [f"{sweep_name}#{number[k]:02d}" for k in keys]
    accels = {}
    for k, row in zip(keys, df[design_cols].to_dict("records")):
        if k not in accels:
            base = load_accelerator(row["base"])
            changes = {c: _plain(row[c]) for c in settings if c in _accel_settings(df, settings)}
            accels[k] = override(base, changes, source=f"{row['base']} sweep point") if changes else base
    df["_design"] = keys
    rows = []
    by = df.set_index(["_design", "model", "phase", "batch"])
    for (design, phase, batch), g in df.groupby(["_design", "phase", "batch"], sort=False):
        accel = accels[design]
        parts = area_breakdown(accel)
        mf_only = sum(v for c, v in parts.items() if c.startswith(MF_ONLY_PREFIXES))
        area_mf = parts["total"]
        area_tf = area_mf - mf_only / (1.0 - OTHER_FRACTION)
        for mf, tf in TWINS.items():
            if mf not in set(g["model"]):
                continue
            m, t = by.loc[(design, mf, phase, batch)], by.loc[(design, tf, phase, batch)]
            seq, kv = int(m["seq_len"]), int(m["kv_len"])
            tokens = int(batch) * seq
            row = {"model": mf, "twin": tf, "phase": phase, "seq_len": seq, "kv_len": kv, "batch": int(batch),
                   "accelerator": m["accelerator"], "base": m["base"], "sweep": sweep_name,
                   **{c: m[c] for c in settings}}
            why = _unfit(mf, tf, accel, int(batch), seq + kv, m, t)
            row.update(fits=not why, why=why, mf_area_mm2=area_mf, tf_area_mm2=area_tf)
            if not why:
                idle_w = accel.energy.idle_power_w
                r = area_mf / area_tf
                tf_static = idle_w * t["latency_s"]
                row.update(
                    latency_ratio=m["latency_s"] / t["latency_s"], energy_ratio=m["energy_j"] / t["energy_j"],
                    latency_ratio_equal_area=m["latency_s"] / t["latency_s"] * r,
                    energy_ratio_equal_area=m["energy_j"] / (t["energy_j"] - tf_static + tf_static / r),
                    mf_latency_per_token_s=m["latency_s"] / tokens, tf_latency_per_token_s=t["latency_s"] / tokens,
                    mf_energy_per_token_j=m["energy_j"] / tokens, tf_energy_per_token_j=t["energy_j"] / tokens,
                    tf_static_energy_per_token_j=tf_static / tokens, mf_step_latency_s=m["latency_s"],
                    tf_step_latency_s=t["latency_s"], mf_bound=m["bound"], tf_bound=t["bound"])
            rows.append(row)
    return pd.DataFrame(rows)


def _accel_settings(df, settings) -> set:
    """The settings that are accelerator key paths (not simulate options)."""
    from hwsim.explore.columns import OPTION_TYPES

    return {c for c in settings if c not in OPTION_TYPES}


def _plain(v):
    """numpy scalars from a Parquet frame -> Python numbers for hwsim.override."""
    return v.item() if hasattr(v, "item") else v


def _unfit(mf, tf, accel, batch, context, m, t) -> str:
    """'' when both models fit the design, else why not (one line)."""
    import models
    from hwsim.serving import check_fit

    for name, row in ((mf, m), (tf, t)):
        try:
            check_fit(models.get_preset(name), accel, batch, context)
        except ValueError as e:
            return str(e)
        if row["error"]:
            return f"{name}: {row['error']}"
        if not row["tables_fit"]:
            return (f"{name}: its tables do not fit where {accel.name}'s lookup placement ({accel.lookup.placement}) "
                    f"keeps them (lookup.capacity {accel.lookup.capacity_bytes / 2**20:g} MiB"
                    + (", tables resident" if row.get("tables_resident") is True else "") + ")")
    return ""


def _order(frame):
    """Rows in grid order: model size, phase, batch, then presets before sweeps; columns as documented."""
    if not len(frame):
        return frame
    frame = frame.copy()
    frame["_m"] = frame["model"].map(list(TWINS).index)
    frame["_p"] = frame["phase"].map(list(PHASES).index)
    frame = frame.sort_values(["_m", "_p", "batch"], kind="stable").drop(columns=["_m", "_p"])
    first = [*KEY_COLUMNS, *RATIO_COLUMNS, "fits", *FIGURE_COLUMNS, "why"]
    rest = [c for c in frame.columns if c not in first]
    return frame[[c for c in first if c in frame.columns] + rest].reset_index(drop=True)


# ---- reading the map -----------------------------------------------------------------------------------

def best_designs(frame):
    """The heat map's cells: each preset row as it is, and per sweep and grid row one design point: the
    smallest (by area) that beats the Transformer in both time and energy per token, else the one with the
    lowest equal-area latency ratio. Column `accelerator` names the design; `column` the heat map column."""
    import pandas as pd

    if not len(frame):
        return frame.assign(column=[], choice=[])
    out = []
    presets = frame[frame["sweep"] == ""]
    out.append(presets.assign(column=presets["accelerator"], choice="preset"))
    for name, g in frame[frame["sweep"] != ""].groupby("sweep", sort=False):
        for _, cell in g.groupby(["model", "phase", "batch"], sort=False):
            ok = cell[cell["fits"]]
            if not len(ok):
                pick, choice = cell.iloc[[0]], "nothing fits"
            else:
                wins = ok[(ok["latency_ratio"] < 1) & (ok["energy_ratio"] < 1)]
                if len(wins):
                    pick, choice = wins.sort_values("mf_area_mm2", kind="stable").iloc[[0]], "smallest winning both"
                else:
                    pick, choice = (ok.sort_values("latency_ratio_equal_area", kind="stable").iloc[[0]],
                                    "lowest equal-area latency ratio")
            out.append(pick.assign(column=f"best {name}", choice=choice))
    return _order(pd.concat(out, ignore_index=True)) if out else frame


def smallest_winner(frame, model: str, phase: str, batch: int = 1):
    """(row of the smallest design where `model` beats its twin in both time and energy per token, or None;
    the closest row by the larger of its two ratios)."""
    g = frame[(frame["model"] == model) & (frame["phase"] == phase) & (frame["batch"] == batch) & frame["fits"]]
    if not len(g):
        return None, None
    wins = g[(g["latency_ratio"] < 1) & (g["energy_ratio"] < 1)]
    # ties (designs the area model prices the same: near-memory logic sits in the DRAM dies) go to the first in
    # the sweep's grid order, whose settings ascend: the least hardware
    win = wins.sort_values("mf_area_mm2", kind="stable").iloc[0] if len(wins) else None
    closest = g.loc[g[["latency_ratio", "energy_ratio"]].max(axis=1).idxmin()]
    return win, closest


def _design(row) -> str:
    skip = set(KEY_COLUMNS) | set(RATIO_COLUMNS) | set(FIGURE_COLUMNS) | {"fits", "why", "column", "choice"}
    settings = [f"{c}={_fmt_setting(c, row[c])}" for c in row.index if c not in skip and _set(row[c])]
    return row["accelerator"] + (f" ({', '.join(settings)})" if settings else "")


def _set(v) -> bool:
    return v is not None and v != "" and not (isinstance(v, float) and math.isnan(v))


def _fmt_setting(name: str, v) -> str:
    from hwsim.config.units import fmt_bandwidth, fmt_bytes

    if "bandwidth" in name:
        return fmt_bandwidth(float(v))
    if "capacity" in name:  # binary sizes as the sweeps give them ("1 GiB"), others in decimal units
        v = float(v)
        if v >= 2**20 and v % 2**20 == 0:
            return f"{v / 2**30:g} GiB" if v >= 2**30 else f"{v / 2**20:g} MiB"
        return fmt_bytes(v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def findings(frame) -> list[str]:
    """The map's findings as lines of text, computed from the frame."""
    lines = []
    if not len(frame):
        return lines
    for model in [m for m in TWINS if m in set(frame["model"])]:
        twin = TWINS[model]
        for phase in [p for p in PHASES if p in set(frame["phase"])]:
            if not ((frame["model"] == model) & (frame["phase"] == phase) & (frame["batch"] == 1)).any():
                continue
            win, closest = smallest_winner(frame, model, phase, 1)
            where = f"{phase} ({_phase_words(phase)}), batch 1"
            if win is not None:
                lines.append(f"{model} beats {twin} in both time and energy per token at {where} on {_design(win)}, "
                             f"{win['mf_area_mm2']:.0f} mm^2, the smallest such design in the grid: latency x"
                             f"{win['latency_ratio']:.2f}, energy x{win['energy_ratio']:.2f} (equal area: "
                             f"x{win['latency_ratio_equal_area']:.2f}, x{win['energy_ratio_equal_area']:.2f})"
                             + _area_caveat(win))
            elif closest is not None:
                lines.append(f"no design in the grid has {model} beating {twin} in both time and energy per token at "
                             f"{where}; closest: {_design(closest)}, {closest['mf_area_mm2']:.0f} mm^2, latency x"
                             f"{closest['latency_ratio']:.2f}, energy x{closest['energy_ratio']:.2f}")
    soft = frame[(frame["sweep"] == SOFTWARE.name) & frame["fits"]]
    for phase in PHASES:
        g = soft[soft["phase"] == phase]
        if not len(g):
            continue
        g = g[g["batch"] == g["batch"].min()]
        model, batch = g["model"].iloc[0], int(g["batch"].iloc[0])
        parts = []
        for mode in dict.fromkeys(g["mode"]):
            torch = g[(g["lowering"] == "torch") & (g["mode"] == mode)]
            fused = g[(g["lowering"] == "fused") & (g["mode"] == mode)]  # the lookup kernel is the lowering's own
            cells = [f"{r['lookup_impl']} x{r['latency_ratio']:.2f}" for _, r in torch.iterrows()]
            if len(fused):
                cells.append(f"fused lowering x{fused['latency_ratio'].iloc[0]:.2f}")
            parts.append(f"{mode}: " + ", ".join(cells))
        lines.append(f"software alone on {SOFTWARE.base}, {model} / {TWINS[model]} latency per token at {phase} "
                     f"({_phase_words(phase)}), batch {batch}, torch lowering with each lookup kernel: "
                     + "; ".join(parts))
    ok = frame[frame["fits"]]
    wins = ok[(ok["latency_ratio"] < 1) & (ok["energy_ratio"] < 1)]
    lines.append(f"{len(wins)} of {len(ok)} fitting cells (of {len(frame)}) have MemoryFormer ahead in both time and "
                 f"energy per token; {int((wins['latency_ratio_equal_area'] < 1).sum() if len(wins) else 0)} of them "
                 f"also at equal area")
    return lines


def _area_caveat(row) -> str:
    from hwsim.config import load_accelerator

    if load_accelerator(row["base"]).lookup.placement != "near_memory":
        return ""
    return ("; its memory-side units sit in the DRAM dies, which the area model does not price, so all its "
            "sweep's designs have one area and the first in grid order (the least hardware) is named")


def _phase_words(phase: str) -> str:
    p = PHASES[phase]
    return f"s {p['seq_len']}" if phase == "prefill" else f"1 new token, kv_len {p['kv_len']}"
