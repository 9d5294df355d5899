"""How fast DRAM serves random row reads: the gather efficiency, measured or derived.

`gather_efficiency(accel, access_bytes)` is the fraction of the DRAM's peak bandwidth that random reads
of `access_bytes` contiguous bytes reach, counting the bytes asked for (reads alone: a kernel's own
writes and streamed reads are charged separately, at the streaming efficiency, on the same DRAM).

Where the config gives measured points (`lookup.gather_efficiency`), they are interpolated in log(size);
below the smallest point the time per access stays that of the smallest size (the fraction falls in
proportion to the size), above the largest it stays at the largest point's fraction.

Without points, the curve is derived from the DRAM's own parameters (`derived_gather_efficiency`):

1. Granularity. The memory moves whole units of u = max(access_granularity, burst) bytes, so an access
   of R bytes moves m = ceil(R / u) u, at best at the streaming efficiency e:
       f_bus(R) = e R / m.
2. Rows and requests in flight (Little's law). A random access opens a DRAM row (page, `row_buffer`
   bytes) and uses at most one row of it; an access longer than a page needs p = ceil(R / page) row
   openings (without `row_buffer`: one per access). A bank holds one open row at a time, so the DRAM
   keeps at most Q = channels x banks_per_channel row requests in flight, and each takes the loaded
   `latency` L from request to data. Throughput is at most Q / L requests per second:
       f_mlp(R) = Q R / (p B L)        (B = peak bandwidth)
3. f(R) = min(f_bus(R), f_mlp(R)).

Small rows are request bound: f grows in proportion to R up to the page size. Rows of a page and more
are bound by min(e, Q page / (B L)). Check against the H200 (h200.yaml: 96 channels x 32 banks, 1 KiB
pages, 550 ns, 4.8 TB/s): f = 0.075 at 64 B and 0.88 (the streaming cap) from 1 KiB; the H200's
measured reads-only fractions are 0.023 and 0.53-0.61 there (tests/hwsim/engines/test_gather.py). The
derivation is an upper bound: 2.3-3.4x above the measured small rows, 1.5-1.7x above the large ones.
What the H200 loses beyond it is on the chip (its L2 and memory controllers track fewer row misses in
flight than the DRAM has banks), which no DRAM parameter states; a preset that measured its curve
gives the points.
"""
from __future__ import annotations

import math

import numpy as np


def derived_gather_efficiency(dram, access_bytes: float) -> float:
    """Fraction of `dram.bandwidth` that random reads of `access_bytes` reach (module docstring)."""
    r = max(float(access_bytes), 1.0)
    unit = max(dram.access_granularity_bytes, dram.burst_bytes)
    moved = math.ceil(r / unit) * unit
    f_bus = dram.efficiency * r / moved
    pages = math.ceil(r / dram.row_buffer_bytes) if dram.row_buffer_bytes else 1
    in_flight = dram.channels * dram.banks_per_channel
    f_mlp = in_flight * r / (pages * dram.bandwidth_bytes_per_s * dram.latency_s)
    return min(f_bus, f_mlp)


def measured_gather_efficiency(points, access_bytes: float) -> float:
    """Interpolated in log(size) between measured (row_bytes, fraction) points; see the module docstring."""
    r = max(float(access_bytes), 1.0)
    first = points[0]
    if r < first.row_bytes:  # below the smallest measured size: the time per access stays
        return first.fraction * r / first.row_bytes
    xs = np.log2([p.row_bytes for p in points])
    return float(np.interp(math.log2(r), xs, [p.fraction for p in points]))


def gather_efficiency(accel, access_bytes: float) -> float:
    """Fraction of the DRAM's peak that random reads of `access_bytes` contiguous bytes reach."""
    pts = accel.lookup.gather_efficiency
    if pts:
        return measured_gather_efficiency(pts, access_bytes)
    return derived_gather_efficiency(accel.memory.dram, access_bytes)


def cache_moved_bytes(accel, accesses: float, access_bytes: float) -> float:
    """Bytes an on-chip cache moves for `accesses` random reads: whole `lookup.bank_width` units
    (one L2 sector / cache line per bank access)."""
    w = accel.lookup.bank_width_bytes
    return accesses * math.ceil(access_bytes / w) * w
