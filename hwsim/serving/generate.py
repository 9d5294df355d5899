"""Generating N tokens after a prompt of P, for B sequences at once, with a whole model on one accelerator.

- Prefill: the prompt's P tokens go through the model into an empty KV cache (workloads.model_step with
  phase "decode", kv_len 0: the same ops as a prefill plus the cache writes), then the LM head gives the first
  token. Time to first token (TTFT) = that step's latency.
- Decode: each of the other N - 1 tokens is one step of one new token per sequence against a cache of
  P, P + 1, ..., P + N - 2 tokens. Time per output token (TPOT) = the mean of those N - 1 steps.
- Speed: a step's cost is piecewise linear in kv_len (the KV-cache read grows linearly; tiles and waves add
  small steps), so the decode steps are simulated exactly at `kv_points` evenly spaced cache lengths (both
  ends included; all of them when there are no more) and interpolated linearly in between
  (tests/hwsim/serving holds the interpolation within 1% of the exact steps).
- tokens/s = B x N / (TTFT + the decode steps); energy per token = all their energy / (B x N).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.config import load_accelerator
from hwsim.io.progress import progress_bar
from hwsim.serving.fit import check_fit
from hwsim.simulate import simulate


@dataclass(frozen=True)
class Generation:
    summary: dict  # one row: inputs, ttft_s, tpot_s, tokens_per_s, energy_per_token_j, totals, bytes
    tokens: object  # pandas DataFrame, one row per generated token (position, kv_len, phase, latency_s, energy_j)


def _check_int(name: str, value, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name}: expected an integer >= {least}, given {value!r}")


def decode_points(first: int, last: int, kv_points: int) -> list[int]:
    """The cache lengths simulated exactly: all of first..last when there are at most kv_points of them,
    else kv_points evenly spaced ones, both ends included."""
    if last < first:
        return []
    if last - first + 1 <= kv_points:
        return list(range(first, last + 1))
    return sorted({int(round(x)) for x in np.linspace(first, last, kv_points)})


def generate(model: str, accel, prompt_len: int, new_tokens: int, batch: int = 1, kv_points: int = 16,
             engine: str = "analytic", dtype: str = "bf16", variant: str = "released", block_options=None,
             sim_options=None, progress: bool = False) -> Generation:
    """Cost of generating `new_tokens` tokens after a `prompt_len`-token prompt for `batch` sequences.
    model: a models preset name; accel: preset name, YAML path or Accelerator. Raises ValueError (one line)
    for bad input and for a model whose weights, tables and KV cache (batch x (P + N)) exceed the DRAM."""
    import pandas as pd

    import models
    from workloads.model import model_step

    _check_int("prompt_len", prompt_len, 1)
    _check_int("new_tokens", new_tokens, 1)
    _check_int("batch", batch, 1)
    _check_int("kv_points", kv_points, 2)
    preset = models.get_preset(model)
    accel = load_accelerator(accel)
    block_options = dict(block_options or {})
    sim_options = dict(sim_options or {})
    held = check_fit(preset, accel, batch, prompt_len + new_tokens, dtype, variant, **block_options)

    def step(seq_len: int, kv_len: int):
        w = model_step(preset, batch, seq_len, dtype, variant, phase="decode", kv_len=kv_len, **block_options)
        r = simulate(w, accel, engine=engine, **sim_options)
        return r.latency_s, r.energy_j, r

    first, last = prompt_len, prompt_len + new_tokens - 2  # the decode steps' cache lengths
    points = decode_points(first, last, kv_points)
    bar = progress_bar(1 + len(points), f"generate {model} on {accel.name}", enabled=progress, unit="step")
    try:
        ttft_s, prefill_j, prefill = step(prompt_len, 0)
        bar.advance()
        exact = []
        for kv in points:
            exact.append(step(1, kv)[:2])
            bar.advance()
    except BaseException:
        bar.close(interrupted=True)
        raise
    bar.close()

    kv_lens = np.arange(first, last + 1)
    if points:
        lat = np.interp(kv_lens, points, [e[0] for e in exact])
        energy = np.interp(kv_lens, points, [e[1] for e in exact])
    else:
        lat = energy = np.zeros(0)
    tokens = pd.DataFrame({
        "token": np.arange(1, new_tokens + 1),
        "position": np.arange(prompt_len, prompt_len + new_tokens),  # 0-based position of the generated token
        "kv_len": np.concatenate([[0], kv_lens]),  # tokens in the cache before the step
        "phase": ["prefill"] + ["decode"] * len(kv_lens),
        "latency_s": np.concatenate([[ttft_s], lat]),
        "energy_j": np.concatenate([[prefill_j], energy]),
        "simulated": np.concatenate([[True], np.isin(kv_lens, points)]),
    })
    total_s, total_j = float(tokens["latency_s"].sum()), float(tokens["energy_j"].sum())
    generated = batch * new_tokens
    summary = {
        "model": model, "accelerator": accel.name, "engine": engine, "mode": prefill.options.get("mode", ""),
        "lowering": prefill.options.get("lowering", ""), "dtype": dtype, "blocks": variant,
        "prompt_len": prompt_len, "new_tokens": new_tokens, "batch": batch, "kv_points": len(points),
        "ttft_s": ttft_s, "tpot_s": float(lat.mean()) if len(lat) else float("nan"),
        "tokens_per_s": generated / total_s, "energy_per_token_j": total_j / generated,
        "total_time_s": total_s, "total_energy_j": total_j, "prefill_energy_j": prefill_j,
        "weights_bytes": held.weights_bytes, "tables_bytes": held.tables_bytes, "kv_cache_bytes": held.kv_cache_bytes,
        "dram_capacity_bytes": int(accel.memory.dram.capacity_bytes),
    }
    return Generation(summary, tokens)
