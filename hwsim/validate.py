"""Predictions against measured rows (the schema of data/calibration/h200/measured.csv).

Each row names what ran (kind, impl, dtype and shapes); `row_case` rebuilds that Workload and the
simulate options that describe how it ran (eager or graph replay, which lookup kernel, which block
variant), from the benchmark scripts beside the measurements. A row we cannot rebuild gets an empty
prediction and counts as a miss.

The optional `timing` column says what a row's time_us measured: `wall` (the default, and what a row
without the column means) is the call as a user times it, host launches and waits included; `kernel` is
the summed device time of the call's kernels, as profilers (Kineto, nsys) report it, so it is compared
with the sum of the predicted kernels' busy time, without launch gaps or host cost. A row with another
timing value is skipped and reported (line number and why), not predicted.
"""
from __future__ import annotations

import math
import re

from workloads import builders

REQUIRED_COLUMNS = ("kind", "impl", "dtype", "tokens", "d_in", "d_out", "tau", "K", "expand_bits", "seq", "batch",
                    "heads", "time_us")
WITHIN_PCT = 25.0
TIMINGS = ("wall", "kernel")  # the optional `timing` column; empty means wall
SKIPPED = "skipped"  # predicted_bound of a row that was not predicted on purpose (e.g. an unknown timing)
# triton.testing.do_bench zeroes a 256 MiB buffer before every repetition to flush L2 (h200 README);
# the host keeps launching while that kernel runs, so eager launches get a head start of its duration.
DO_BENCH_FLUSH_BYTES = 256 * 2**20


def flush_head_start_s(accel) -> float:
    return DO_BENCH_FLUSH_BYTES / accel.memory.dram.sustained_bandwidth_bytes_per_s


# the impls of data/calibration/h200/README.md, by kind (a _graph suffix is stripped first)
KNOWN_IMPLS = {
    "ceiling": ("d2d_copy", "gemm_square", "random_row_gather"),
    "layer": ("linear", "memory_hash_only", "memory_embedding_bag", "memory_gather_sum", r"memory_fused_triton_bd\d+"),
    "op": ("sdpa_causal",),
    "block": ("transformer", r"memoryformer_e\d+(_fused)?"),
}


def _int(row, key):
    v = row.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        raise ValueError(f"column {key} is empty")
    return int(round(float(v)))


def _extra(row) -> dict:
    text = row.get("extra")
    if not isinstance(text, str):
        return {}
    return dict(kv.split("=", 1) for kv in text.split(";") if "=" in kv)


def row_case(row) -> tuple[object, dict]:
    """(Workload, simulate options) for one measured row; ValueError when the row is not modelled."""
    kind, impl, dtype = row.get("kind"), str(row.get("impl") or ""), row.get("dtype")
    graph = impl.endswith("_graph")
    base = impl[: -len("_graph")] if graph else impl
    if not any(re.fullmatch(p, base) for p in KNOWN_IMPLS.get(kind, ())):
        raise ValueError(f"no model for kind={kind!r}, impl={impl!r}")
    opts = {"mode": "graph" if graph else "eager", "lowering": "torch"}
    if kind == "ceiling" and base == "d2d_copy":
        elements = int(float(row["bytes_moved"])) // 2 // 4  # read + write bytes counted, fp32
        return builders.layer("copy", elements, 1, dtype="fp32"), opts
    if kind == "ceiling" and base == "gemm_square":
        m = _int(row, "tokens")
        return builders.layer("linear", m, _int(row, "d_in"), _int(row, "d_out"), dtype=dtype), opts
    if kind == "ceiling" and base == "random_row_gather":
        ex = _extra(row)
        row_bytes, table_bytes = int(ex["row_bytes"]), int(ex["table_bytes"])
        return builders.layer("gather", _int(row, "tokens"), 1, _int(row, "d_out"), dtype=dtype,
                              table_rows=table_bytes // row_bytes), opts
    if kind == "layer":
        n, d_in, d_out = _int(row, "tokens"), _int(row, "d_in"), _int(row, "d_out")
        if base == "linear":
            return builders.layer("linear", n, d_in, d_out, dtype=dtype), opts
        tau = _int(row, "tau")
        if base == "memory_hash_only":
            return builders.layer("memory_hash", n, d_in, d_out, tau=tau, dtype=dtype), opts
        w = builders.layer("memory", n, d_in, d_out, tau=tau, dtype=dtype)
        if base == "memory_embedding_bag":
            return w, {**opts, "lookup_impl": "embedding_bag"}
        if base == "memory_gather_sum":
            return w, {**opts, "lookup_impl": "gather_sum"}
        m = re.fullmatch(r"memory_fused_triton_bd(\d+)", base)
        if m:
            return w, {**opts, "lookup_impl": "fused", "block_d": int(m.group(1))}
    if kind == "op" and base == "sdpa_causal":
        batch, seq, heads = _int(row, "batch"), _int(row, "seq"), _int(row, "heads")
        return (builders.layer("attention", batch * seq, _int(row, "d_in"), heads=heads, batch=batch, dtype=dtype),
                {**opts, "lowering": "fused"})  # F.scaled_dot_product_attention alone: one kernel
    if kind == "block":
        batch, seq, heads, d = _int(row, "batch"), _int(row, "seq"), _int(row, "heads"), _int(row, "d_in")
        # the "bench" blocks: h200_bench.TBlock (pre-LN, no rotary, sequential residuals, biases) and MFBlock
        # (the same, no Memory Layer bias, every Memory Layer hashing its own input)
        if base == "transformer":
            return builders.block("transformer", d, seq, batch, heads, dtype=dtype,
                                  **builders.BENCH_BLOCK["transformer"]), opts
        m = re.fullmatch(r"memoryformer_e(\d+)(_fused)?", base)
        if m:
            w = builders.block("memoryformer", d, seq, batch, heads, tau=_int(row, "tau"),
                               expand_bits=int(m.group(1)), dtype=dtype, **builders.BENCH_BLOCK["memoryformer"])
            if m.group(2):
                return w, {**opts, "lookup_impl": "fused", "block_d": 128}  # MFBlockFused uses block_d=128
            return w, {**opts, "lookup_impl": "embedding_bag"}
    raise ValueError(f"no model for kind={kind!r}, impl={impl!r}")


def validate(measured, accelerator, engine: str = "analytic", progress=None):
    """measured: DataFrame of the measured.csv schema -> (DataFrame with predicted_us, error_pct and,
    where joules_per_call is given, predicted_j and energy_error_pct; summary dict)."""
    import numpy as np

    from hwsim.simulate import simulate

    missing = [c for c in REQUIRED_COLUMNS if c not in measured.columns]
    if missing:
        raise ValueError(f"measured file: missing column(s) {', '.join(missing)}; expected the schema of "
                         f"data/calibration/h200/measured.csv ({', '.join(REQUIRED_COLUMNS)}, ...)")
    out = measured.copy()
    pred_us, pred_j, why = [], [], []
    has_energy = "joules_per_call" in measured.columns
    from hwsim.config import load_accelerator

    accel = load_accelerator(accelerator)
    # only the GPU scripts use do_bench's flush; the CPU script times warm back-to-back calls
    head_start = flush_head_start_s(accel) if accel.kind == "gpu" else 0.0
    for i, row in enumerate(measured.to_dict("records")):
        if progress:
            progress(i, len(measured))
        timing = row_timing(row)
        if timing not in TIMINGS:
            # line numbers as in the CSV file: the header is line 1
            pred_us.append(np.nan)
            pred_j.append(np.nan)
            why.append(f"{SKIPPED}: line {i + 2}: timing {timing!r} is not one of {', '.join(TIMINGS)}")
            continue
        try:
            w, opts = row_case(row)
            warm = "joules_per_call" in row and not _is_nan(row["joules_per_call"])  # back-to-back calls, no flush
            r = simulate(w, accel, engine=engine, host_head_start_s=0.0 if warm else head_start, **opts)
            pred_us.append(predicted_s(r, timing) * 1e6)
            pred_j.append(r.energy_j)
            why.append(next(iter(r.bound_shares()), ""))
        except (ValueError, KeyError) as e:
            pred_us.append(np.nan)
            pred_j.append(np.nan)
            why.append(f"not modelled: {e}")
    out["predicted_us"] = pred_us
    measured_us = pd_numeric(out["time_us"])
    out["error_pct"] = 100 * (out["predicted_us"] - measured_us) / measured_us
    out["predicted_bound"] = why
    if has_energy:
        out["predicted_j"] = pred_j
        j = pd_numeric(out["joules_per_call"])
        out["energy_error_pct"] = 100 * (out["predicted_j"] - j) / j
    return out, summarize(out)


def row_timing(row) -> str:
    """What the row's time_us measured: "wall" when the column is absent or empty."""
    v = row.get("timing")
    return "wall" if _is_nan(v) or str(v).strip() == "" else str(v).strip()


def predicted_s(result, timing: str) -> float:
    """The prediction a row of this timing is compared with: the call's wall time (launches and host
    waits included), or the summed device time of its kernels (what a profiler adds up)."""
    if timing == "kernel":
        return float(result.kernels["busy_s"].sum())
    return result.latency_s


def skipped_rows(df) -> list[str]:
    """One line per row validate() skipped on purpose (line number and why)."""
    if "predicted_bound" not in df:
        return []
    b = df["predicted_bound"].astype(str)
    return [s[len(SKIPPED) + 2:] for s in b[b.str.startswith(SKIPPED + ":")]]


def _is_nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def pd_numeric(series):
    import pandas as pd

    return pd.to_numeric(series, errors="coerce")


def summarize(df) -> dict:
    """Median absolute error and share within 25 %; unpredicted rows count as misses, rows skipped on
    purpose (an unknown timing) count neither way and are listed under "skipped"."""
    import numpy as np

    rows = df[df["kind"].isin(["ceiling", "layer", "op", "block"])] if "kind" in df else df
    skipped = skipped_rows(rows)
    if skipped:
        rows = rows[~rows["predicted_bound"].astype(str).str.startswith(SKIPPED + ":")]
    err = rows["error_pct"].abs()
    n = len(rows)
    s = {"rows": n, "predicted": int(err.notna().sum()),
         "median_abs_error_pct": float(np.nanmedian(err.fillna(np.inf))) if n else float("nan"),
         "within_25_pct": float((err <= WITHIN_PCT).sum() / n) if n else float("nan"), "skipped": skipped}
    if "energy_error_pct" in rows:
        e = rows["energy_error_pct"].abs()
        s["energy_rows"] = int(rows["joules_per_call"].notna().sum())
        s["energy_median_abs_error_pct"] = float(np.nanmedian(e)) if e.notna().any() else float("nan")
        s["energy_within_30_pct"] = float((e <= 30).sum() / max(1, s["energy_rows"]))
    return s
