"""Values that parse but cannot be meant: a 1.98 Hz clock, a 550 s DRAM latency.

Each quantity has a range that every real or proposed machine sits well inside (a factor of 100 or more
of headroom on both sides of the presets, more below for rates that a calibration run on tiny shapes may
measure); outside it the value is almost surely a unit mistake, such as
an SI float from Python that was meant in GHz or ns. Each is reported as one line with its key, the
value, the range and the likely cause.
"""
from __future__ import annotations

from .units import (fmt_bandwidth, fmt_bytes, fmt_energy, fmt_flop_rate, fmt_frequency, fmt_power,
                    fmt_time)

# kind: (lowest, highest, formatter)
RANGES = {
    "clock": (1e6, 100e9, fmt_frequency),
    "latency": (10e-12, 1e-3, fmt_time),
    "overhead": (0.0, 10e-3, fmt_time),
    "bandwidth": (1e3, 1e15, fmt_bandwidth),     # (low ends stay below what a toy calibration run measures)
    "flop_rate": (1e3, 1e18, fmt_flop_rate),
    "capacity": (64.0, 1e15, fmt_bytes),
    "granule": (1.0, 2.0**20, fmt_bytes),
    "energy_per_byte": (1e-15, 10e-9, lambda x: fmt_energy(x) + "/B"),
    "energy_per_flop": (1e-16, 1e-9, lambda x: fmt_energy(x) + "/FLOP"),
    "energy": (1e-16, 1e-6, fmt_energy),
    "power": (0.0, 100e3, fmt_power),
}


def _fields(a):
    """(YAML key path, range kind, value) for every dimensioned value of an Accelerator."""
    c, m, lk, rt, e = a.compute, a.memory, a.lookup, a.runtime, a.energy
    yield "clock", "clock", a.clock_hz
    for unit in ("matrix", "vector"):
        for dtype, v in getattr(c, unit).peak_flops_per_s.items():
            yield f"compute.{unit}.peak.{dtype}", "flop_rate", v
    if c.vector.special_function_per_s is not None:
        yield "compute.vector.special_function", "flop_rate", c.vector.special_function_per_s
    d = m.dram
    yield "memory.dram.capacity", "capacity", d.capacity_bytes
    yield "memory.dram.bandwidth", "bandwidth", d.bandwidth_bytes_per_s
    yield "memory.dram.latency", "latency", d.latency_s
    yield "memory.dram.access_granularity", "granule", d.access_granularity_bytes
    yield "memory.dram.burst", "granule", d.burst_bytes
    if d.row_buffer_bytes is not None:
        yield "memory.dram.row_buffer", "granule", d.row_buffer_bytes
    yield "memory.dram.energy_per_byte", "energy_per_byte", d.energy_per_byte_j
    for i, level in enumerate(m.sram):
        yield f"memory.sram[{i}].capacity", "capacity", level.capacity_bytes
        yield f"memory.sram[{i}].bandwidth", "bandwidth", level.bandwidth_bytes_per_s
        yield f"memory.sram[{i}].latency", "latency", level.latency_s
        yield f"memory.sram[{i}].energy_per_byte", "energy_per_byte", level.energy_per_byte_j
    yield "lookup.bank_width", "granule", lk.bank_width_bytes
    yield "lookup.capacity", "capacity", lk.capacity_bytes
    yield "lookup.access_latency", "latency", lk.access_latency_s
    yield "lookup.energy_per_access", "energy", lk.energy_per_access_j
    for key in ("launch_overhead_eager", "launch_overhead_graph", "min_kernel_time", "graph_launch", "launch_latency"):
        yield f"runtime.{key}", "overhead", getattr(rt, f"{key}_s")
    yield "energy.idle_power", "power", e.idle_power_w
    yield "energy.active_power", "power", e.active_power_w
    for dtype, v in e.mac_j_per_flop.items():
        yield f"energy.mac.{dtype}", "energy_per_flop", v
    yield "energy.vector_op", "energy_per_flop", e.vector_op_j_per_flop
    yield "energy.hash_per_chunk", "energy", e.hash_per_chunk_j


def implausible(accel) -> list[tuple[tuple, str]]:
    """(key path parts, message) for each value outside its plausible range."""
    out = []
    for key, kind, value in _fields(accel):
        lo, hi, fmt = RANGES[kind]
        if lo <= value <= hi:
            continue
        out.append((tuple(key.split(".")), f"{fmt(value)} is implausible (expected {fmt(lo) if lo else '0'} to "
                    f"{fmt(hi)}); a unit mistake? Python numbers are SI"))
    return out
