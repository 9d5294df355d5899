"""Predictions against measured rows (the schema of data/calibration/h200/measured.csv).

Each row names what ran (kind, impl, dtype and shapes); `row_case` rebuilds that Workload and the
simulate options that describe how it ran (eager or graph replay, which lookup kernel, which block
variant), from the benchmark scripts beside the measurements.

Rows without a prediction say why in the `skipped` column, with their line in the file (the header is
line 1): "invalid: ..." for a row that is not a usable measurement (not one of the measured kinds, a
time that is empty, NaN or <= 0, a shape that is negative, zero or not a number, a tau the hash cannot
use), left out of the accuracy figures; "not modelled: ..." for a measurement we cannot rebuild (an impl
nobody models), which counts as a miss, so that accuracy is never flattered by what we skip.

The optional `timing` column says what a row's time_us measured: `wall` (the default, and what a row
without the column means) is the call as a user times it, host launches and waits included; `kernel` is
the summed device time of the call's kernels, as profilers (Kineto, nsys) report it, so it is compared
with the sum of the predicted kernels' busy time, without launch gaps or host cost. A row with another
timing value is invalid (skipped with its line number and why), not predicted.
"""
from __future__ import annotations

import math
import re

from workloads import builders

KINDS = ("ceiling", "layer", "op", "block")
# numeric shape columns: empty where a kind does not use them, otherwise positive (expand_bits may be 0)
SHAPE_COLUMNS = ("tokens", "d_in", "d_out", "tau", "K", "expand_bits", "seq", "batch", "heads", "bytes_moved")
REQUIRED_COLUMNS = ("kind", "impl", "dtype", "tokens", "d_in", "d_out", "tau", "K", "expand_bits", "seq", "batch",
                    "heads", "time_us")
WITHIN_PCT = 25.0
TIMINGS = ("wall", "kernel")  # the optional `timing` column; empty means wall
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


class NotModelled(ValueError):
    """A valid measurement of something no model rebuilds (counts as a miss)."""


def _empty(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _int(row, key):
    v = row.get(key)
    if _empty(v):
        raise ValueError(f"{key} is empty")
    return int(round(float(v)))


def _number(row, key):
    """(value, problem): the column as a float, or why it is not a usable number."""
    v = row.get(key)
    if _empty(v):
        return None, f"{key} is empty"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None, f"{key} is not a number, given {v!r}"
    if not math.isfinite(x):
        return None, f"{key} must be a finite number, given {_shown(v)}"
    return x, None


def _shown(v) -> str:
    """A CSV value as the file spells it (pandas reads integer columns with gaps as floats: 7.0 -> 7)."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return repr(v) if isinstance(v, str) else str(v)


def row_problem(row) -> str | None:
    """Why a measured row is not a usable measurement, or None. Shapes a kind does not use may be empty;
    the ones it needs are checked again (and must be present) when the row is rebuilt."""
    from workloads.builders import MAX_TAU

    kind = row.get("kind")
    if kind not in KINDS:
        return f"kind {kind!r} is not a measurement (expected one of {', '.join(KINDS)})"
    timing = row_timing(row)
    if timing not in TIMINGS:
        return f"timing {timing!r} is not one of {', '.join(TIMINGS)}"
    t, problem = _number(row, "time_us")
    if problem:
        return problem
    if t <= 0:
        return f"time_us must be > 0, given {_shown(row.get('time_us'))}"
    values = {}
    for key in SHAPE_COLUMNS:
        if _empty(row.get(key)):
            continue
        x, problem = _number(row, key)
        if problem:
            return problem
        values[key] = x
        if key == "tau":  # checked below, with what tau can be
            continue
        if x < 0 or (x == 0 and key != "expand_bits"):
            return f"{key} must be {'>= 0' if key == 'expand_bits' else 'positive'}, given {_shown(row.get(key))}"
        if x != round(x):
            return f"{key} must be a whole number, given {_shown(row.get(key))}"
    if "tau" in values:
        tau = values["tau"]
        if tau != int(tau) or not 1 <= tau <= MAX_TAU:
            return f"tau must be a whole number of bits in 1..{MAX_TAU}, given {_shown(row.get('tau'))}"
        if "d_in" in values and values["d_in"] % tau:
            return (f"tau must divide d_in (the hash cuts each input into chunks of tau values), given "
                    f"d_in={_shown(row.get('d_in'))}, tau={_shown(row.get('tau'))}")
        if "d_in" in values and "K" in values and values["K"] != values["d_in"] / tau:
            return f"K must be d_in / tau = {values['d_in'] / tau:g}, given K={_shown(row.get('K'))}"
    if "joules_per_call" in row and not _empty(row.get("joules_per_call")):
        j, problem = _number(row, "joules_per_call")
        if problem or j <= 0:
            return problem or f"joules_per_call must be > 0, given {_shown(row.get('joules_per_call'))}"
    return None


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
        raise NotModelled(f"no model for kind={kind!r}, impl={impl!r}")
    opts = {"mode": "graph" if graph else "eager", "lowering": "torch"}
    if kind == "ceiling" and base == "d2d_copy":
        elements = _int(row, "bytes_moved") // 2 // 4  # read + write bytes counted, fp32
        return builders.layer("copy", elements, 1, dtype="fp32"), opts
    if kind == "ceiling" and base == "gemm_square":
        m = _int(row, "tokens")
        return builders.layer("linear", m, _int(row, "d_in"), _int(row, "d_out"), dtype=dtype), opts
    if kind == "ceiling" and base == "random_row_gather":
        ex = _extra(row)
        try:
            row_bytes, table_bytes = int(ex["row_bytes"]), int(ex["table_bytes"])
        except (KeyError, ValueError):
            raise ValueError(f"extra must give row_bytes=N;table_bytes=N, given {row.get('extra')!r}") from None
        if row_bytes <= 0 or table_bytes < row_bytes:
            raise ValueError(f"extra: row_bytes must be positive and at most table_bytes, given {row.get('extra')!r}")
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
    raise NotModelled(f"no model for kind={kind!r}, impl={impl!r}")


def validate(measured, accelerator, engine: str = "analytic", progress=None):
    """measured: DataFrame of the measured.csv schema -> (DataFrame with predicted_us, error_pct,
    predicted_bound, skipped and, where joules_per_call is given, predicted_j and energy_error_pct;
    summary dict). progress: a hwsim.io.progress bar (advance per row). Rows that are entirely empty
    (blank lines read with skip_blank_lines=False) are dropped; every other row comes back, in order.
    ValueError when no row can be predicted at all."""
    import numpy as np

    from hwsim.simulate import simulate

    missing = [c for c in REQUIRED_COLUMNS if c not in measured.columns]
    if missing:
        raise ValueError(f"measured file: missing column(s) {', '.join(missing)}; expected the schema of "
                         f"data/calibration/h200/measured.csv ({', '.join(REQUIRED_COLUMNS)}, ...)")
    lines = np.arange(len(measured)) + 2  # the file's line of each row: the header is line 1
    blank = measured.isna().all(axis=1).to_numpy()
    out, lines = measured[~blank].copy(), lines[~blank]
    pred_us, pred_j, why, skipped = [], [], [], []
    from hwsim.config import load_accelerator

    accel = load_accelerator(accelerator)
    # only the GPU scripts use do_bench's flush; the CPU script times warm back-to-back calls
    head_start = flush_head_start_s(accel) if accel.kind == "gpu" else 0.0
    for row in out.to_dict("records"):
        p_us = p_j = np.nan
        bound = reason = ""
        problem = row_problem(row)
        if problem:
            reason = f"invalid: {problem}"
        else:
            try:
                w, opts = row_case(row)
            except NotModelled as e:
                reason = f"not modelled: {e}"
            except (ValueError, KeyError) as e:  # the shapes a kind needs: missing or inconsistent
                reason = f"invalid: {e.args[0] if isinstance(e, KeyError) else e}"
            else:
                try:
                    warm = not _is_nan(row.get("joules_per_call"))  # back-to-back calls, no flush
                    r = simulate(w, accel, engine=engine, host_head_start_s=0.0 if warm else head_start, **opts)
                    p_us, p_j = predicted_s(r, row_timing(row)) * 1e6, r.energy_j
                    bound = next(iter(r.bound_shares()), "")
                except ValueError as e:
                    reason = f"not modelled: {e}"
        pred_us.append(p_us)
        pred_j.append(p_j)
        why.append(bound)
        skipped.append(reason)
        if progress is not None:
            progress.advance()
    out["predicted_us"] = pred_us
    measured_us = pd_numeric(out["time_us"])
    out["error_pct"] = 100 * (out["predicted_us"] - measured_us) / measured_us
    out["predicted_bound"] = why
    if "joules_per_call" in measured.columns:
        out["predicted_j"] = pred_j
        j = pd_numeric(out["joules_per_call"])
        out["energy_error_pct"] = 100 * (out["predicted_j"] - j) / j
    out["skipped"] = skipped
    out.attrs["lines"] = [int(x) for x in lines]
    if not out["predicted_us"].notna().any():
        reasons = [f"line {n}: {r}" for n, r in zip(lines, skipped)]
        shown = "; ".join(reasons[:3]) + (f"; and {len(reasons) - 3} more" if len(reasons) > 3 else "")
        raise ValueError(f"no row could be predicted ({len(reasons)} rows; {shown or 'the file has no rows'})")
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


def unpredicted_rows(df, which: str = "") -> list[str]:
    """"line N: why" for every row validate() gave no prediction (which="invalid" or "not modelled": only
    those); the line is the file's, the header being line 1."""
    if "skipped" not in df:
        return []
    lines = df.attrs.get("lines") or list(range(2, len(df) + 2))
    return [f"line {n}: {r[len(which) + 2:] if which else r}" for n, r in zip(lines, df["skipped"].astype(str))
            if r and r != "nan" and r.startswith(which)]


def skipped_rows(df) -> list[str]:
    """"line N: why" for each invalid row: left out of the figures, neither a hit nor a miss."""
    return unpredicted_rows(df, "invalid")


def _is_nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def pd_numeric(series):
    import pandas as pd

    return pd.to_numeric(series, errors="coerce")


def summarize(df) -> dict:
    """Median absolute error and share within 25 % over the valid measurements; rows not modelled count
    as misses (an infinite error in the median); invalid rows (validate's `skipped` column) count neither
    way and are listed under "skipped" ("line N: why")."""
    import numpy as np

    if "skipped" in df:
        rows = df[~df["skipped"].astype(str).str.startswith("invalid")]
    else:
        rows = df[df["kind"].isin(KINDS)] if "kind" in df else df
    err = rows["error_pct"].abs()
    n = len(rows)
    s = {"rows": n, "predicted": int(err.notna().sum()), "skipped": skipped_rows(df),
         "median_abs_error_pct": float(np.nanmedian(err.fillna(np.inf))) if n else float("nan"),
         "within_25_pct": float((err <= WITHIN_PCT).sum() / n) if n else float("nan")}
    if "energy_error_pct" in rows:
        e = rows["energy_error_pct"].abs()
        s["energy_rows"] = int(rows["joules_per_call"].notna().sum())
        s["energy_median_abs_error_pct"] = float(np.nanmedian(e)) if e.notna().any() else float("nan")
        s["energy_within_30_pct"] = float((e <= 30).sum() / max(1, s["energy_rows"]))
    return s
