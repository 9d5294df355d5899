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
