"""Size guards: estimate what a run will hold in memory from the workload's shapes, before allocating it,
and refuse in one line when the machine does not have it (instead of swapping for minutes or being
killed halfway with nothing written).

The estimates are upper-leaning fits to peak RSS growth measured on this project's runs (README, "Errors
and interruptions"); they only need to be right to a factor well under 2 to tell "fits" from "328 GB".
"""
from __future__ import annotations

import os

# Tracing a block on real CPU tensors (workloads.trace_preset), measured on memoryformer-tiny at 4k-64k
# tokens and memoryformer-base at 16k: peak RSS growth = the module's parameters + 1.7-2.0x the bytes of
# every op output (activations alive during the forward pass, the fp32 input) + the index streams as
# torch's int64 row ids and their int32 copy.
TRACE_OUTPUT_FACTOR = 2.0
TRACE_STREAM_BYTES_PER_INDEX = 8 + 4
TRACE_OVERHEAD_BYTES = 256e6  # torch's allocator and thread pools on the first real forward pass
# The discrete-event engine: peak RSS growth per lookup (one token's row of one table), measured between
# 16k and 64k tokens of memoryformer-tiny (closed form, drawn buckets): 95 B on lut-asic (lookup banks:
# per-unit bank loads), 15 B on h200 (tables behind a cache: per-row miss flags, DRAM chunks, the
# timeline). Taken with some room: the demand arrays, the drawn stream and the timeline.
DES_BYTES_PER_LOOKUP = {"on_chip": 112, "near_memory": 112, "off_chip_cached": 32}
DES_OVERHEAD_BYTES = 100e6  # simpy's event queue, the per-kernel plans, the Result


def available_bytes() -> int | None:
    """Memory the kernel could hand out now without swapping (MemAvailable), None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def fmt_gb(n: float) -> str:
    return f"{n / 1e9:.0f} GB" if n >= 10e9 else f"{n / 1e9:.1f} GB"


def ensure_fits(need_bytes: float, what: str, hint: str, available: int | None = None) -> None:
    """ValueError "would need 328 GB for the trace, 22 GB available; lower --seq-len or --batch"."""
    free = available_bytes() if available is None else available
    if free is not None and need_bytes > free:
        raise ValueError(f"would need {fmt_gb(need_bytes)} for {what}, {fmt_gb(free)} available; {hint}")


def _lookups(op) -> int:
    return op.dims.get("tokens", 0) * op.table.tables if op.table is not None else 0


def trace_bytes(workload) -> int:
    """Peak memory of tracing `workload`'s block on real tensors (from its closed-form shapes)."""
    params = sum(op.bytes_read.get("weights", 0) for op in workload.ops)
    params += sum(op.table.total_bytes for op in workload.ops if op.table is not None)
    outputs = sum(op.total_bytes_written for op in workload.ops)
    streams = sum(_lookups(op) for op in workload.ops) * TRACE_STREAM_BYTES_PER_INDEX
    return int(TRACE_OVERHEAD_BYTES + params + TRACE_OUTPUT_FACTOR * outputs + streams)


def des_bytes(workload, accel) -> int:
    """Peak memory of a discrete-event run of `workload` on `accel` (its lookups dominate)."""
    per_lookup = DES_BYTES_PER_LOOKUP.get(accel.lookup.placement, max(DES_BYTES_PER_LOOKUP.values()))
    return int(DES_OVERHEAD_BYTES + per_lookup * sum(_lookups(op) for op in workload.ops))
