"""Near-memory accumulation (RecNMP, TensorDIMM, TRiM, Samsung HBM-PIM, SK hynix AiM style).

The host hashes each token and sends one (row id, weight) command per chunk, `command_bytes` each, over
the DRAM bus. Memory-side units (`lookup.banks` of them: beside a bank pair, a bank group, or a channel,
`lookup.near_memory.scope`) read their rows from their own banks, `bank_width` bytes per cycle of
`near_memory.clock`, and multiply-add them, `lanes` elements per cycle. Rows are laid out in column
slices (chunk c of a row on unit start + c, hwsim.engines.banks), and the partial sums of a token's slice
are combined inside the memory (the reduction trees of TRiM / FAFNIR), so only the summed d_out row per
token crosses the bus. Hence:

    bus bytes      = tokens x K x command_bytes + tokens x d_out x bytes per element
    internal bytes = tokens x K x row bytes (less what a hot-row cache serves)
    time           = max(bus / sustained DRAM bandwidth,
                         busiest unit's reads at internal_bandwidth / units,
                         busiest unit's adds at lanes x clock,
                         hot-cache reads)            (+ one DRAM latency, as every kernel)

Energy: internal bytes x `internal_energy_per_byte`, one `energy_per_mac` per element per row, and the
bus bytes at `dram.energy_per_byte` (the whole off-chip path). Without a `near_memory` section the units
run at the chip clock with enough lanes to keep pace with their reads, commands are 8 B, internal reads
cost `energy_per_access / bank_width` and an add costs `vector_op` x 2.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.config.units import fmt_bandwidth, fmt_bytes
from hwsim.engines import banks as bank_model
from hwsim.engines import lookup_base as base
from hwsim.engines import reuse
from workloads.op import DTYPE_BYTES

# A (row id, weight) command without a config: 4 B row address + 2 B fp16 weight + 2 B opcode, in 8 B.
DEFAULT_COMMAND_BYTES = 8


@dataclass(frozen=True)
class NearMemorySpec:
    units: int
    unit_width_bytes: float        # bytes a unit reads per cycle
    clock_hz: float
    lanes: int                     # elements a unit multiply-adds per cycle
    command_bytes: float
    internal_bandwidth_bytes_per_s: float
    internal_energy_per_byte_j: float
    energy_per_mac_j: float
    access_latency_s: float
    capacity_bytes: float

    @property
    def unit_bandwidth_bytes_per_s(self) -> float:
        return self.internal_bandwidth_bytes_per_s / self.units

    def access_s(self, elem_bytes: float) -> float:
        """Seconds one unit spends on one `unit_width` access of its rows: the read, or the multiply-adds
        of the elements it holds, whichever is slower (the two pipeline)."""
        read = self.unit_width_bytes / self.unit_bandwidth_bytes_per_s
        add = (self.unit_width_bytes / elem_bytes) / (self.lanes * self.clock_hz)
        return max(read, add)


def spec(accel) -> NearMemorySpec:
    lk, nm = accel.lookup, accel.lookup.near_memory
    clock = nm.clock_hz if nm else accel.clock_hz
    width = lk.bank_width_bytes
    internal = (nm.internal_bandwidth_bytes_per_s if nm and nm.internal_bandwidth_bytes_per_s
                else lk.banks * width * clock)
    return NearMemorySpec(
        units=lk.banks, unit_width_bytes=width, clock_hz=clock,
        lanes=nm.lanes if nm else max(1, int(width // 2)),
        command_bytes=nm.command_bytes if nm else DEFAULT_COMMAND_BYTES,
        internal_bandwidth_bytes_per_s=internal,
        internal_energy_per_byte_j=nm.internal_energy_per_byte_j if nm else lk.energy_per_access_j / width,
        energy_per_mac_j=nm.energy_per_mac_j if nm else 2 * accel.energy.vector_op_j_per_flop,
        access_latency_s=lk.access_latency_s, capacity_bytes=lk.capacity_bytes)


def bus_bytes(tokens: int, chunks: int, width: int, out_elem_bytes: int, command_bytes: float) -> tuple[float, float]:
    """(command bytes in, summed-row bytes out) that cross the DRAM bus for one lookup op."""
    return tokens * chunks * command_bytes, tokens * width * out_elem_bytes


def unit_times(s: NearMemorySpec, row_accesses: float, conflict: float, elem_bytes: float) -> tuple[float, float]:
    """(reads_s, adds_s) of the busiest unit: `row_accesses` accesses of unit_width spread over the units,
    the busiest `conflict` x the mean; each access's elements multiply-added once (the DES charges
    access_s per access, the larger of the two)."""
    per_unit = row_accesses / s.units * conflict
    reads = per_unit * s.unit_width_bytes / s.unit_bandwidth_bytes_per_s
    adds = per_unit * (s.unit_width_bytes / elem_bytes) / (s.lanes * s.clock_hz)
    return reads, adds


# ---- the cost of a near-memory lookup kernel ------------------------------------------------------------

def plan(k, accel, stream, mapping: str):
    """(hot-row cache plan, accesses on the busiest unit over the reads it leaves to the banks, conflict
    factor of all reads) of a near-memory lookup kernel; the DES replays the same plan."""
    g, info, s = k.gather, k.extra["lookup_hw"], spec(accel)
    rows, row_bytes, rpt, tables = g["rows"], g["row_bytes"], g["rows_per_table"], g["tables"]
    span = bank_model.span(row_bytes, s.unit_width_bytes)
    factor = base.conflict(g, accel.lookup, stream, mapping, info)
    every = rows * span / s.units * factor
    hot = info.get("hot_cache")
    if hot is None:
        return base.HotPlan(0.0, float(rows), 0.0, 0), every, factor
    uniform = bank_model.uniform_conflict_factor(rows // tables, tables, row_bytes, s.unit_width_bytes, s.units, mapping)
    if hot.policy == "lru":
        p = base.hot_plan(g, stream, info, hot, None)
        if stream is not None:
            busiest = base.stream_loads(stream, ~p.mask, rpt, span, s.units, mapping).max()
        elif base.skewed(info):  # what each row leaves after its expected hits (Che)
            probs = base.probs_of(info, rpt)
            left = probs * (1.0 - reuse.che_row_hits(probs, hot.capacity_bytes // row_bytes / tables)) * rows / tables
            loads = base.expected_loads(g, np.tile(left, tables), span, s.units, mapping)
            busiest = max(loads.max(), uniform * loads.mean())
        else:
            busiest = every * p.home_rows / max(rows, 1)
        return p, busiest, factor
    if stream is not None:
        loads0, floor = base.stream_loads(stream, None, rpt, span, s.units, mapping), None
    else:
        weight = np.tile(base.probs_of(info, rpt) * rows / tables, tables)
        loads0 = base.expected_loads(g, weight, span, s.units, mapping)
        floor = lambda loads: uniform * loads.mean()  # noqa: E731
    access, row_s = s.access_s(k.extra.get("table_elem_bytes", DTYPE_BYTES[k.dtype])), row_bytes / hot.bandwidth_bytes_per_s
    seen = {}

    def busiest_of(ids, counts, kmax):
        seen["b"] = base.static_busiest(loads0, ids, counts, kmax, rpt, span, s.units, mapping, floor)
        return seen["b"]

    def time_of(hits, home, moved, caught, busiest):  # the units and the cache (the bus does not change)
        return np.maximum(busiest * access, moved * row_s)
    p = base.hot_plan(g, stream, info, hot, time_of, busiest_of=busiest_of)
    return p, float(seen["b"][p.k_static]), factor


def cost(k, accel, stream, mapping: str) -> base.HwCost:
    g, info, s = k.gather, k.extra["lookup_hw"], spec(accel)
    rows, row_bytes = g["rows"], g["row_bytes"]
    tb = k.extra.get("table_elem_bytes", DTYPE_BYTES[k.dtype])
    p, busiest, factor = plan(k, accel, stream, mapping)
    reads, adds = unit_times(s, busiest * s.units, 1.0, tb)
    bus = float(k.stream_read_bytes + k.stream_write_bytes)
    internal = p.home_rows * row_bytes
    hw = {"internal_bytes": internal, "internal_energy_j": internal * s.internal_energy_per_byte_j,
          "adders_energy_j": rows * (row_bytes / tb) * s.energy_per_mac_j}
    hot, cache_s = info.get("hot_cache"), 0.0
    if hot is not None:
        moved = p.cache_rows * row_bytes
        hw.update(hot_cache_bytes=moved, hot_cache_energy_j=moved * hot.energy_per_byte_j)
        cache_s = moved / hot.bandwidth_bytes_per_s
    # a unit reads and adds in a pipeline: the slower of the two sets its pace (the DES charges the same
    # per access), after the first row's access latency
    banks_s = max(reads, adds) + (s.access_latency_s if p.home_rows > 0 else 0.0)
    t = base.terms(dram=bus / accel.memory.dram.sustained_bandwidth_bytes_per_s, banks=banks_s, sram=cache_s)
    tokens = rows / g["tables"]
    notes = (f"near memory: {fmt_bytes(bus / tokens)} per token over the bus, {fmt_bytes(internal / tokens)} read "
             f"inside at {fmt_bandwidth(s.internal_bandwidth_bytes_per_s)}")
    if factor > 1.05:
        notes += f"; busiest unit serves {factor:.2f}x the mean"
    if adds > reads:
        notes += f"; the units' adders, not their reads, set the pace ({adds / reads:.1f}x)"
    if hot is not None:
        notes += f"; hot-row cache ({hot.policy}) serves {100 * p.hit_rows / max(rows, 1):.0f}% of rows"
    return base.HwCost(t, bus, 0.0, 0.0, notes, hw)
