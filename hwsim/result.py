"""Result of a simulation: one row per op (unit-suffixed columns) and totals. Both engines return it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

OP_COLUMNS = ("op", "kind", "time_s", "busy_s", "launch_stall_s", "bound", "flops", "flops_paper", "dram_bytes",
              "sram_bytes", "lookup_bytes", "energy_j", "dynamic_energy_j", "static_energy_j", "kernels",
              "compute_s", "dram_s", "sram_s", "banks_s", "latency_s", "notes",
              # lookup hardware (hwsim.engines.lookup_hw): dram_bytes are bytes over the DRAM bus; these are
              # table bytes read inside a near-memory device, over a host tier's link, from a hot-row cache
              "internal_bytes", "host_bytes", "hot_cache_bytes")


@dataclass(frozen=True)
class Result:
    workload: str
    accelerator: str
    engine: str
    ops: object  # pandas DataFrame, OP_COLUMNS
    kernels: object  # pandas DataFrame, one row per kernel (start_s, end_s, ...)
    options: Mapping[str, object] = field(default_factory=dict)
    extra: Mapping[str, object] = field(default_factory=dict)  # engine-specific (DES: utilisation, stalls)
    area: Mapping[str, float] = field(default_factory=dict)  # die area by component, mm^2 (hwsim.area)

    @property
    def area_mm2(self) -> float:
        """Die area of the accelerator (hwsim.area); NaN for a Result built without it."""
        return float(self.area.get("total", float("nan")))

    @property
    def latency_s(self) -> float:
        return float(self.kernels["end_s"].max()) if len(self.kernels) else 0.0

    @property
    def energy_j(self) -> float:
        return float(self.ops["energy_j"].sum())

    @property
    def dynamic_energy_j(self) -> float:
        return float(self.ops["dynamic_energy_j"].sum())

    @property
    def static_energy_j(self) -> float:
        return float(self.ops["static_energy_j"].sum())

    @property
    def flops(self) -> int:
        return int(self.ops["flops"].sum())

    @property
    def flops_paper(self) -> int:
        return int(self.ops["flops_paper"].sum())

    @property
    def dram_bytes(self) -> float:
        """Bytes that cross the DRAM bus (reads inside a near-memory device are internal_bytes)."""
        return float(self.ops["dram_bytes"].sum())

    @property
    def internal_bytes(self) -> float:
        """Table bytes read inside the memory by near-memory units (never crossing the bus)."""
        return float(self.ops["internal_bytes"].sum()) if "internal_bytes" in self.ops else 0.0

    def bound_shares(self) -> dict[str, float]:
        """Share of the time each bound label accounts for."""
        t = self.ops.groupby("bound")["time_s"].sum()
        return (t / t.sum()).sort_values(ascending=False).to_dict() if t.sum() > 0 else {}

    def summary(self, layers: int = 1) -> dict:
        """Totals for one block, or for `layers` identical blocks (a whole model without embeddings/head)."""
        return {"workload": self.workload, "accelerator": self.accelerator, "engine": self.engine,
                "layers": layers, "latency_s": self.latency_s * layers, "energy_j": self.energy_j * layers,
                "dynamic_energy_j": self.dynamic_energy_j * layers, "static_energy_j": self.static_energy_j * layers,
                "flops": self.flops * layers, "flops_paper": self.flops_paper * layers,
                "dram_bytes": self.dram_bytes * layers, "internal_bytes": self.internal_bytes * layers,
                "kernels": int(self.ops["kernels"].sum()) * layers,
                "main_bound": next(iter(self.bound_shares()), ""), "area_mm2": self.area_mm2}
