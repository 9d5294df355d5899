"""Totals of one sweep point without building per-op DataFrames: the analytic engine's own pieces
(lower, kernel_cost, schedule, kernel_energy), summed the way `assemble` and `Result` sum them, so that
latency_s, energy_j, dram_bytes, flops and the main bound equal `hwsim.simulate`'s to the last bit (a test
holds them equal over every preset).

What makes it fast:
- a workload is built, and lowered, once per (workload, lowering options, accelerator traits lowering reads),
  then reused for every accelerator point;
- kernels that differ only in name (the torch lowering's sixteen hash kernels per hash op, the three Q/K/V
  lookups) are costed once per point;
- an accelerator is validated once per distinct combination of base and axis values.
The physics stays in the engine: nothing here decides how long a kernel takes.
"""
from __future__ import annotations

import dataclasses
import re

import numpy as np
from pydantic import BaseModel, ValidationError

from hwsim.area import area_mm2
from hwsim.config import ConfigError, validate_accelerator
from hwsim.config.errors import Problem, field_key, key_path, problems_from_validation
from hwsim.energy import kernel_energy
from hwsim.engines.analytic import kernel_cost, schedule
from hwsim.engines.options import resolve_options
from hwsim.explore.columns import KIND_TIME_COLUMNS, OUTPUT_COLUMNS
from hwsim.explore.spec import Spec, read_path, substitute
from hwsim.lowering import lower

_CACHE_LIMIT = 4096
_WORKLOAD_KEY = ("kind", "hidden_size", "heads", "tau", "expand_bits", "seq_len", "batch", "dtype", "phase")


def tables_fit(workload, accel, tables_resident: bool, layers: int) -> bool:
    """Do the lookup tables fit where the placement keeps them?
    on_chip: the lookup memory loads one op's tables per pass, so the largest op's tables must fit its capacity
    (with tables_resident, every table of every layer stays there, so all of them must);
    off_chip_cached and near_memory: tables live in DRAM, so all layers' tables must fit the DRAM capacity."""
    tables = [op.table.total_bytes for op in workload.ops if op.table is not None]
    if not tables:
        return True
    lk = accel.lookup
    if lk.placement == "on_chip":
        need = sum(tables) * layers if tables_resident else max(tables)
        return need <= lk.capacity_bytes
    return sum(tables) * layers <= accel.memory.dram.capacity_bytes


@dataclasses.dataclass(frozen=True, eq=False)
class Lowered:
    """A workload lowered once: the distinct kernels (each costed once per point), and for every kernel in
    launch order which distinct kernel it is and which op it belongs to (as numpy index arrays)."""
    unique: tuple            # distinct kernels
    which: np.ndarray        # kernel i is unique[which[i]]
    op_of: np.ndarray        # kernel i belongs to workload.ops[op_of[i]]
    by_op: tuple             # per op: the positions of its kernels (empty: fused into another op's kernel)
    kind_of: np.ndarray      # op o's kind is KIND_TIME_COLUMNS[kind_of[o]]
    flops: int


def lowered(workload, accel, opts) -> Lowered:
    if workload.has_index_streams:  # costs would depend on each op's stream; the sweep builds closed forms
        raise ValueError("the fast path takes closed-form workloads (no index streams); use hwsim.simulate")
    # the same call as hwsim.engines.run.analytic_result makes
    kernels = lower(workload, opts["lowering"], accel.compute.hash_unit is not None, opts["lookup_impl"],
                    opts["block_d"], simt=accel.kind == "gpu")
    index = {op.name: i for i, op in enumerate(workload.ops)}
    seen: dict[str, int] = {}
    unique, which = [], []
    for k in kernels:
        sig = repr(dataclasses.replace(k, name="", op=""))  # every field that can change its cost
        if sig not in seen:
            seen[sig] = len(unique)
            unique.append(k)
        which.append(seen[sig])
    op_of = np.array([index[k.op] for k in kernels], dtype=np.intp)
    kinds = [f"time_{op.kind.value}_s" for op in workload.ops]
    return Lowered(tuple(unique), np.array(which, dtype=np.intp), op_of,
                   tuple(tuple(np.flatnonzero(op_of == o).tolist()) for o in range(len(workload.ops))),
                   np.array([KIND_TIME_COLUMNS.index(k) for k in kinds], dtype=np.intp),
                   int(sum(op.flops for op in workload.ops)))


def totals(workload, accel, opts, low: Lowered) -> dict:
    """latency_s, energy_j, flops, dram_bytes, bound and time per op kind of one block, as hwsim.simulate gives.

    Sums run in assemble's order (each op's kernels in launch order: np.add.at adds in index order), and the
    block totals with numpy's pairwise sum, as pandas sums Result.ops: the same order gives the same bits."""
    ucosts = [kernel_cost(k, accel, None, opts["bank_mapping"], opts["tables_resident"]) for k in low.unique]
    udyn = np.array([sum(kernel_energy(c, accel).values()) for c in ucosts])
    sched = schedule([ucosts[j] for j in low.which], accel, opts["mode"], opts["host_head_start_s"])
    n_ops = len(workload.ops)
    ends = np.array([s.end_s for s in sched], dtype=np.float64)
    busy_k = np.array([c.busy_s for c in ucosts])[low.which]
    # the time charged to each kernel: how far it moves the latest end so far (assemble's rule)
    before = np.maximum.accumulate(np.concatenate(([0.0], ends)))[:-1]
    charged = np.maximum(ends - before, 0.0)
    time_s, dyn, dram, busy, stall = (np.zeros(n_ops) for _ in range(5))
    np.add.at(time_s, low.op_of, charged)
    np.add.at(dyn, low.op_of, udyn[low.which])
    np.add.at(dram, low.op_of, np.array([c.dram_bytes for c in ucosts])[low.which])
    np.add.at(busy, low.op_of, busy_k)
    np.add.at(stall, low.op_of, np.array([s.stall_s for s in sched], dtype=np.float64))
    has = np.array([len(ix) > 0 for ix in low.by_op])
    energy = np.where(has, dyn + accel.energy.idle_power_w * time_s, 0.0)
    bound_time: dict[str, float] = {}
    busy_l, busy_o, stall_o, time_o = busy_k.tolist(), busy.tolist(), stall.tolist(), time_s.tolist()
    for o, ix in enumerate(low.by_op):
        if ix:  # an op's bound: its longest kernel's (the first, on a tie), or "launch" when it waited longer than it ran
            b = "launch" if stall_o[o] > busy_o[o] else ucosts[low.which[max(ix, key=busy_l.__getitem__)]].bound
        else:
            b = "none"
        bound_time[b] = bound_time.get(b, 0.0) + time_o[o]
    kind_time = np.zeros(len(KIND_TIME_COLUMNS))
    np.add.at(kind_time, low.kind_of, time_s)
    # Result.bound_shares: the label with the largest share of time (ties: alphabetical, as groupby orders them)
    main = min(bound_time, key=lambda b: (-bound_time[b], b)) if np.add.reduce(time_s) > 0 else ""
    return {"latency_s": float(ends.max()) if len(ends) else 0.0, "energy_j": float(np.add.reduce(energy)),
            "flops": low.flops, "dram_bytes": float(np.add.reduce(dram)), "bound": main,
            **dict(zip(KIND_TIME_COLUMNS, kind_time.tolist()))}


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

    def rows(self, points) -> list[dict]:
        return [self.row(p) for p in points]

    def row(self, point: dict) -> dict:
        row = {k: v for k, v in point.items() if k != "key"}
        row.update(dict.fromkeys(("latency_s", "energy_j", "area_mm2", "flops", "dram_bytes", "bound",
                                  *KIND_TIME_COLUMNS, "tables_fit"), None))
        row.update(feasible=False, key=point["key"], error="")
        try:
            accel = self.accel(point)
            row["area_mm2"] = self.area(accel, (point["base"], *(point[n] for n, _ in self.accel_axes)))
            wkey = tuple(point[k] for k in _WORKLOAD_KEY)
            w = self.workload(wkey)
            opts = resolve_options(accel, **{k: point[k] for k in self.option_names})
            row["tables_fit"] = tables_fit(w, accel, opts["tables_resident"], point["layers"])
            if all(holds(c, row) for c in self.pre):
                row.update(totals(w, accel, opts, self.lowering(wkey, w, accel, opts)))
                row["feasible"] = all(holds(c, row) for c in self.post)
        except Exception as e:  # noqa: BLE001  a failing point keeps its row, with why; the sweep goes on
            row["error"] = _one_line(e)
        return row

    def accel(self, point):
        key = (point["base"], *(point[n] for n, _ in self.accel_axes))
        a = self._accels.get(key)
        if a is None:
            try:
                a = self.builder.build(point)
            except ConfigError as e:
                a = e
            _put(self._accels, key, a)
        if isinstance(a, ConfigError):
            raise a
        return a

    def area(self, accel, key):
        a = self._areas.get(key)
        if a is None:
            a = float(area_mm2(accel))
            _put(self._areas, key, a)
        return a

    def workload(self, key):
        import workloads

        w = self._workloads.get(key)
        if w is None:
            kind, d, heads, tau, e, s, b, dtype, _phase = key
            try:
                w = workloads.block(kind, d, s, b, heads=heads, tau=tau, expand_bits=e, dtype=dtype)
            except ValueError as err:
                w = err
            _put(self._workloads, key, w)
        if isinstance(w, ValueError):
            raise w
        return w

    def lowering(self, wkey, w, accel, opts) -> Lowered:
        key = (wkey, opts["lowering"], opts["lookup_impl"], opts["block_d"], accel.compute.hash_unit is not None,
               accel.kind == "gpu")
        low = self._lowered.get(key)
        if low is None:
            low = lowered(w, accel, opts)
            _put(self._lowered, key, low)
        return low


class AccelBuilder:
    """The accelerator of a point, as `hwsim.config.override(base, axis values)` gives it, but validating only
    the parts an axis touches: each changed part (the Dram, a SramLevel, the Lookup, ...) is validated as a
    whole, with its cross-field checks, once per distinct set of its values, and put into a copy of the
    validated base. The Accelerator-level check (an energy for every dtype) looks at keys, which value axes
    cannot change; an axis on a top-level setting (clock) validates the whole config instead."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.bases = {b: validate_accelerator(d, b) for b, d in spec.bases.items()}
        self.axes = [(a.name, a.path) for a in spec.settings()]
        self.groups: dict[tuple, list] = {}  # parent part (YAML path) -> [(axis name, path inside the part)]
        self.attr: dict[tuple, tuple] = {}   # parent part -> attribute path for model_copy
        self.whole = False
        for b in self.bases.values():
            for name, path in self.axes:
                parent, attrs = _parent_part(b, path)
                if not parent:
                    self.whole = True
                self.groups.setdefault(parent, []).append((name, path[len(parent):]))
                self.attr[parent] = attrs
            break  # spec checking made every path name the same setting in every base
        self.groups = {p: list(dict.fromkeys(v)) for p, v in self.groups.items()}
        self._parts: dict = {}

    def source(self, point) -> str:
        return f"{point['base']} with " + ", ".join(f"{n}={point[n]!r}" for n, _ in self.axes)

    def build(self, point):
        base = point["base"]
        if self.whole or not self.axes:
            data = substitute(self.spec.bases[base], [(p, point[n]) for n, p in self.axes])
            return validate_accelerator(data, self.source(point)) if self.axes else self.bases[base]
        accel = self.bases[base]
        for parent, members in self.groups.items():
            key = (base, parent, *(point[n] for n, _ in members))
            part = self._parts.get(key)
            if part is None:
                part = self._validate_part(base, parent, members, point)
                _put(self._parts, key, part)
            if isinstance(part, ConfigError):
                raise part
            accel = _replace(accel, self.attr[parent], part)
        return accel

    def _validate_part(self, base, parent, members, point):
        cls = type(_get(self.bases[base], self.attr[parent]))
        data = substitute(read_path(self.spec.bases[base], parent), [(rel, point[n]) for n, rel in members])
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            source = self.source(point)
            return ConfigError([Problem(source, key_path(parent + tuple(_loc(p.key))) if p.key else key_path(parent),
                                        p.message) for p in problems_from_validation(e, source, cls)])


def _parent_part(accel, path) -> tuple[tuple, tuple]:
    """The YAML path of the innermost config part holding a setting, and its attribute path."""
    obj, attrs, parent, parent_attrs = accel, [], (), ()
    for i, part in enumerate(path[:-1]):
        if isinstance(part, int):
            obj = obj[part]
            attrs.append(part)
        elif isinstance(obj, BaseModel):
            name = next(n for n, f in type(obj).model_fields.items() if field_key(n, f) == part)
            obj = getattr(obj, name)
            attrs.append(name)
        else:  # a free mapping (peak rates): its owner is the part
            break
        if isinstance(obj, BaseModel):
            parent, parent_attrs = tuple(path[:i + 1]), tuple(attrs)
    return parent, parent_attrs


def _get(obj, attrs):
    for a in attrs:
        obj = obj[a] if isinstance(a, int) else getattr(obj, a)
    return obj


def _replace(obj, attrs, value):
    if not attrs:
        return value
    head, rest = attrs[0], attrs[1:]
    if isinstance(head, int):
        items = list(obj)
        items[head] = _replace(obj[head], rest, value)
        return tuple(items)
    return obj.model_copy(update={head: _replace(getattr(obj, head), rest, value)})


def _loc(key: str) -> list:
    """'gather_efficiency[1]' -> ['gather_efficiency', 1]: a relative key path back into parts."""
    return [int(x) if x.isdigit() else x for x in re.findall(r"[^.\[\]]+", key)]


def holds(c, row) -> bool:
    v = row.get(c.column)
    if v is None:
        return False
    if c.op is None:
        return bool(v) != c.negate
    try:
        return {"<=": v <= c.value, "<": v < c.value, ">=": v >= c.value, ">": v > c.value, "==": v == c.value,
                "!=": v != c.value}[c.op]
    except TypeError:
        raise ValueError(f"constraint {c.text!r}: cannot compare {v!r} with {c.value!r}") from None


def _put(cache: dict, key, value) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def _one_line(e: Exception) -> str:
    text = str(e) if str(e) else type(e).__name__
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())
