"""Does a block, or a model of `layers` such blocks, fit in the accelerator's DRAM?

A model keeps every layer's weights and lookup tables in DRAM at once; activations are needed for one
block at a time (the largest op's inputs and outputs). A time for a model that cannot be held would be
a number for a machine that cannot run it, so simulate() refuses with one line instead.
"""
from __future__ import annotations

from dataclasses import dataclass

from hwsim.config.units import fmt_bytes


class FootprintError(ValueError):
    """The workload's weights and tables do not fit in DRAM; the message says by how much."""


@dataclass(frozen=True)
class Footprint:
    weight_bytes: float      # one block's weights (each weight tensor once)
    table_bytes: float       # one block's lookup tables
    activation_bytes: float  # the largest op's activations and indices, in and out
    layers: int

    @property
    def total_bytes(self) -> float:
        return self.layers * (self.weight_bytes + self.table_bytes) + self.activation_bytes


def footprint(workload, layers: int = 1) -> Footprint:
    if not isinstance(layers, int) or isinstance(layers, bool) or layers < 1:
        raise ValueError(f"layers must be a positive integer, given {layers!r}")
    weights = sum(op.bytes_read["weights"] for op in workload.ops)
    tables = sum(op.table.total_bytes for op in workload.ops if op.table is not None)
    acts = max((op.bytes_read["activations"] + op.bytes_read["indices"] + op.bytes_written["activations"]
                + op.bytes_written["indices"] for op in workload.ops), default=0)
    return Footprint(float(weights), float(tables), float(acts), layers)


def fits(workload, accel, layers: int = 1) -> bool:
    """True when `layers` blocks like `workload` (weights and tables of every layer, activations of one)
    fit in `memory.dram.capacity`."""
    return footprint(workload, layers).total_bytes <= accel.memory.dram.capacity_bytes


def check_fits(workload, accel, layers: int = 1) -> None:
    """Raise FootprintError (one line) unless the workload fits; see `fits`."""
    f = footprint(workload, layers)
    cap = accel.memory.dram.capacity_bytes
    if f.total_bytes <= cap:
        return
    what = f"{workload.name}" + (f" x {layers} layers" if layers > 1 else "")
    raise FootprintError(
        f"{what} does not fit on {accel.name}: {fmt_bytes(f.total_bytes)} of weights, tables and activations "
        f"({layers} x ({fmt_bytes(f.weight_bytes)} weights + {fmt_bytes(f.table_bytes)} tables) + "
        f"{fmt_bytes(f.activation_bytes)} activations) against memory.dram.capacity {fmt_bytes(cap)}")
