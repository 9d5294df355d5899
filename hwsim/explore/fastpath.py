"""Totals of one sweep point without building per-op DataFrames: the analytic engine's own pieces
(lower, kernel_cost, schedule, kernel_energy), summed the way `assemble` and `Result` sum them, so that
latency_s, energy_j, dram_bytes, flops and the main bound equal `hwsim.simulate`'s to the last bit (a test
holds them equal over every preset).

What makes it fast:
- a workload is built, and lowered, once per (workload, lowering options, accelerator traits lowering reads),
  then reused for every accelerator point;
- kernels that differ only in name (the torch lowering's sixteen hash kernels per hash op, the three Q/K/V
  lookups) are costed once per point;
- an accelerator is built once per distinct combination of base and axis values, validating only the
  config parts the axes touch (hwsim.explore.accel).
The physics stays in the engine: nothing here decides how long a kernel takes.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from hwsim.area import area_mm2
from hwsim.config import ConfigError
from hwsim.energy import kernel_energy
from hwsim.engines.analytic import kernel_cost, schedule, scratchpad_bytes
from hwsim.engines.lookup_hw import adapt_key, place_tables
from hwsim.engines.options import resolve_options
from hwsim.explore.accel import AccelBuilder
from hwsim.explore.batch import Batch
from hwsim.explore.cache import cached
from hwsim.explore.columns import KIND_TIME_COLUMNS, OUTPUT_COLUMNS
from hwsim.explore.constraints import holds
from hwsim.explore.spec import Spec
from hwsim.explore.workload import BUILD_KEY, build
from hwsim.engines.run import lower_for


def tables_fit(workload, accel, tables_resident: bool, layers: int) -> bool:
    """Do the lookup tables fit where the placement keeps them?
    on_chip: the lookup memory loads one op's tables per pass, so the largest op's tables must fit its capacity
    (with tables_resident, every table of every layer stays there, so all of them must);
    near_memory: all layers' tables must fit where the memory-side units can sum them (lookup.capacity);
    off_chip_cached: tables live in DRAM, so all layers' tables must fit the DRAM capacity."""
    tables = [op.table.total_bytes for op in workload.ops if op.table is not None]
    if not tables:
        return True
    lk = accel.lookup
    if lk.placement == "on_chip":
        need = sum(tables) * layers if tables_resident else max(tables)
        return need <= lk.capacity_bytes
    if lk.placement == "near_memory":
        return sum(tables) * layers <= lk.capacity_bytes
    return sum(tables) * layers <= accel.memory.dram.capacity_bytes


@dataclasses.dataclass(frozen=True)
class Lowered:
    """A workload lowered once: the distinct kernels (each costed once per point), and for every kernel in
    launch order which distinct kernel it is and which op it belongs to."""
    unique: tuple            # distinct kernels
    which: tuple             # kernel i is unique[which[i]]
    op_of: tuple             # kernel i belongs to workload.ops[op_of[i]]
    has: tuple               # op o has kernels of its own (not fused into another op's)
    kind_col: tuple          # op o's time column: "time_lookup_s", ...
    flops: int


def lowered(workload, accel, opts) -> Lowered:
    if workload.has_index_streams:  # costs would depend on each op's stream; the sweep builds closed forms
        raise ValueError("the fast path takes closed-form workloads (no index streams); use hwsim.simulate")
    # the same lowering as hwsim.engines.run.analytic_result uses
    kernels = lower_for(workload, accel, opts)
    index = {op.name: i for i, op in enumerate(workload.ops)}
    seen: dict[str, int] = {}
    unique, which = [], []
    for k in kernels:
        sig = repr(dataclasses.replace(k, name="", op=""))  # every field that can change its cost
        if sig not in seen:
            seen[sig] = len(unique)
            unique.append(k)
        which.append(seen[sig])
    op_of = tuple(index[k.op] for k in kernels)
    return Lowered(tuple(unique), tuple(which), op_of, tuple(o in set(op_of) for o in range(len(workload.ops))),
                   tuple(f"time_{op.kind.value}_s" for op in workload.ops), int(sum(op.flops for op in workload.ops)))


def totals(workload, accel, opts, low: Lowered) -> dict:
    """latency_s, energy_j, flops, dram_bytes, bound and time per op kind of one block, as hwsim.simulate gives.

    Each op's sums run in assemble's order (its kernels in launch order), and the block totals with numpy's
    pairwise sum, as pandas sums Result.ops: the same order of the same float operations gives the same bits.
    Plain lists: for ~100 kernels they are faster than numpy's small-array calls."""
    ucosts = [kernel_cost(k, accel, None, opts["bank_mapping"], opts["tables_resident"]) for k in low.unique]
    sched = schedule([ucosts[j] for j in low.which], accel, opts["mode"], opts["host_head_start_s"])
    udyn = [sum(kernel_energy(c, accel).values()) for c in ucosts]
    n = len(workload.ops)
    time_s, dyn, dram, busy, stall = [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n
    longest, kbound = [-1.0] * n, ["none"] * n
    prev_end = 0.0
    for s, j, o in zip(sched, low.which, low.op_of):
        c, end = ucosts[j], s.end_s
        if end > prev_end:  # the time charged to a kernel: how far it moves the latest end so far (else 0.0)
            time_s[o] += end - prev_end
            prev_end = end
        dyn[o] += udyn[j]
        dram[o] += c.dram_bytes
        busy[o] += c.busy_s
        stall[o] += s.stall_s
        if c.busy_s > longest[o]:  # an op's bound is its longest kernel's (the first, on a tie)
            longest[o], kbound[o] = c.busy_s, c.bound
    idle_w = accel.energy.idle_power_w
    energy = [dyn[o] + idle_w * time_s[o] if low.has[o] else 0.0 for o in range(n)]
    bound_time: dict[str, float] = {}
    kind_time = dict.fromkeys(KIND_TIME_COLUMNS, 0.0)
    for o in range(n):
        b = ("launch" if stall[o] > busy[o] else kbound[o]) if low.has[o] else "none"
        bound_time[b] = bound_time.get(b, 0.0) + time_s[o]
        kind_time[low.kind_col[o]] += time_s[o]
    # Result.bound_shares: the label with the largest share of time (ties: alphabetical, as groupby orders them)
    main = min(bound_time, key=lambda b: (-bound_time[b], b)) if np.add.reduce(np.array(time_s)) > 0 else ""
    return {"latency_s": max((s.end_s for s in sched), default=0.0),
            "energy_j": float(np.add.reduce(np.array(energy, dtype=np.float64))), "flops": low.flops,
            "dram_bytes": float(np.add.reduce(np.array(dram, dtype=np.float64))), "bound": main, **kind_time}


class Evaluator:
    """Turns points of one spec into dataset rows. Holds caches, so keep one per worker process."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.accel_axes = [(a.name, a.path) for a in spec.settings()]
        self.option_names = [a.name for a in spec.axes if a.group == "options"]
        self.pre = [c for c in spec.constraints if c.column not in OUTPUT_COLUMNS]
        self.post = [c for c in spec.constraints if c.column in OUTPUT_COLUMNS]
        self._accels, self._workloads, self._lowered, self._areas = {}, {}, {}, {}
        self.builder = AccelBuilder(spec)
        self._batch = None
        self._empty = {**dict.fromkeys(("latency_s", "energy_j", "area_mm2", "flops", "dram_bytes", "bound",
                                        *KIND_TIME_COLUMNS, "tables_fit"), None), "feasible": False, "key": None,
                       "error": ""}

    def rows(self, points) -> list[dict]:
        """The rows of many points: hwsim.explore.batch evaluates them together, equal to row() to the bit."""
        if self._batch is None:
            self._batch = Batch(self)
        return self._batch.rows(points)

    def blank(self, point: dict) -> dict:
        """A point's row before it is evaluated: its inputs, nothing computed, no error."""
        row = {k: v for k, v in point.items() if k != "key"}
        row.update(self._empty)
        row["key"] = point["key"]
        return row

    tables_fit = staticmethod(tables_fit)

    @staticmethod
    def one_line(e: Exception) -> str:
        return _one_line(e)

    def row(self, point: dict) -> dict:
        """One point with the scalar engine (what rows() falls back on, point by point)."""
        row = self.blank(point)
        try:
            accel = self.accel(point)
            row["area_mm2"] = self.area(accel, (point["base"], *(point[n] for n, _ in self.accel_axes)))
            wkey = tuple(point[k] for k in BUILD_KEY)
            w = self.workload(wkey)
            # a whole model step (scope model) already holds every layer's tables
            layers = 1 if point.get("scope") == "model" else point["layers"]
            opts = place_tables(w, accel, resolve_options(accel, **{k: point[k] for k in self.option_names}),
                                layers)
            row["tables_fit"] = tables_fit(w, accel, opts["tables_resident"], layers)
            if all(holds(c, row) for c in self.pre):
                row.update(totals(w, accel, opts, self.lowering(wkey, w, accel, opts)))
                row["feasible"] = all(holds(c, row) for c in self.post)
        except Exception as e:  # noqa: BLE001  a failing point keeps its row, with why; the sweep goes on
            row["error"] = _one_line(e)
        return row

    def accel(self, point):
        key = (point["base"], *(point[n] for n, _ in self.accel_axes))
        return cached(self._accels, key, lambda: self.builder.build(point), ConfigError)

    def area(self, accel, key):
        return cached(self._areas, key, lambda: float(area_mm2(accel)))

    def workload(self, key):
        return cached(self._workloads, key, lambda: build(key), ValueError)

    def lowering(self, wkey, w, accel, opts) -> Lowered:
        return self.lowered_by_key(wkey, self.lowering_key(wkey, accel, opts), lambda: (w, accel, opts))

    @staticmethod
    def lowering_key(wkey, accel, opts) -> tuple:
        """Everything the lowering reads: points with the same key share their kernels."""
        return (wkey, opts["lowering"], opts["lookup_impl"], opts["block_d"], accel.compute.hash_unit is not None,
                accel.kind == "gpu", accel.compute.matrix.cores, accel.compute.matrix.tile_dtypes,
                scratchpad_bytes(accel), adapt_key(accel, opts))

    def lowered_by_key(self, wkey, key, inputs) -> Lowered:
        """The cached lowering of `key`; inputs() -> (workload, accelerator, options) lowers it when absent."""
        return cached(self._lowered, key, lambda: lowered(*inputs()))




def _one_line(e: Exception) -> str:
    text = str(e) if str(e) else type(e).__name__
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())
