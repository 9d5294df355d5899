"""Many sweep points at once: the analytic engine traced on one point, replayed on arrays over the others
(hwsim.explore.trace), then the launch pipeline and the block totals computed on arrays over points.

Points of one group share the base, the workload, the options and the structure of the parts the axes change
(every string, flag and list length in them); they differ only in numbers: the leaves. Per group:
- stage 1, traced as a whole: the die area, the options with the tables placed, whether the tables fit, the
  lowering's key and the runtime numbers the launch pipeline needs;
- stage 2, per distinct kernel: its cost (device time, DRAM bytes, dynamic energy, bound) from the engine's
  own kernel_cost and kernel_energy;
- the launch pipeline (hwsim.engines.analytic.launch_pipeline, the engine's own, on arrays) and the block's
  sums in the order `assemble` and `Result` sum them, so the totals are the scalar engine's to the bit.
Each traced path (a "variant") is kept per group and reused by every later part with the same group; points
that no variant covers are traced again; a trace that fails, or a group with too many paths, leaves its points
to the scalar engine (per kernel in hwsim.explore.batch, or Evaluator.row for stage 1).
"""
from __future__ import annotations

import dataclasses

import numpy as np
from pydantic import BaseModel

from hwsim.engines.analytic import launch_pipeline
from hwsim.explore import trace
from hwsim.explore.columns import KIND_TIME_COLUMNS

MAX_VARIANTS = 64  # traced paths per group (or per kernel of a group); points beyond go the scalar way
MIN_TRACE = 3  # points a new trace must be able to cover in a batch (fewer: the scalar engine, point by point)
GIVE_UP_AFTER = 8  # this many paths that each covered one point: the path depends on a value; the rest go scalar
RUNTIME = ("graph_launch_s", "launch_latency_s", "launch_overhead_eager_s", "launch_overhead_graph_s")


# ---- leaves: the numbers of the parts an axis changes -------------------------------------------------

def flatten(obj, structure: list, leaves: list) -> None:
    """Append obj's structure (types, strings, flags, lengths) and its numbers, in a fixed order."""
    t = type(obj)
    if t is float or t is int:  # (int and float follow different arithmetic in Python: part of the structure)
        structure.append(t)
        leaves.append(obj)
    elif isinstance(obj, BaseModel):
        structure.append(t)
        for x in obj.__dict__.values():
            tx = type(x)
            if tx is float or tx is int:  # (the common fields, without a call each)
                structure.append(tx)
                leaves.append(x)
            elif tx is str or x is None or tx is bool:
                structure.append(x)
            else:
                flatten(x, structure, leaves)
    elif t is tuple or t is list or isinstance(obj, tuple):
        structure.append((t, len(obj)))
        for x in obj:
            flatten(x, structure, leaves)
    elif t is dict:
        structure.append((t, tuple(obj)))
        for x in obj.values():
            flatten(x, structure, leaves)
    else:
        structure.append(obj)  # strings, flags, None, other numbers: points share a path only with the same


def with_leaves(obj, it):
    """A copy of obj (without validation) whose numbers are the next items of `it`, in flatten's order."""
    t = type(obj)
    if t is float or t is int:
        return next(it)
    if isinstance(obj, BaseModel):
        return obj.model_copy(update={n: with_leaves(x, it) for n, x in obj.__dict__.items()})
    if t is tuple or t is list or isinstance(obj, tuple):
        items = [with_leaves(x, it) for x in obj]
        return t(*items) if hasattr(obj, "_fields") else t(items)  # (a NamedTuple)
    if t is dict:
        return {k: with_leaves(x, it) for k, x in obj.items()}
    return obj


def plain(x):
    """x with every traced number pinned to its value (tuples, lists, dicts, dataclasses walked)."""
    if isinstance(x, trace.Sym):
        return trace.pin(x)
    if isinstance(x, tuple):
        return tuple(plain(v) for v in x)
    if isinstance(x, list):
        return [plain(v) for v in x]
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return dataclasses.replace(x, **{f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)
                                         if f.init})
    return x


# ---- variants: traced paths and the points they cover --------------------------------------------------

@dataclasses.dataclass
class Variant:
    tape: trace.Tape
    value: object = None    # what the traced function returned, numbers replaced by output positions
    failed: bool = False    # the trace raised: its points go the scalar way
    used: int = 0           # points it has covered, over every batch


def cover(variants: list, leaves: np.ndarray, trace_new, min_points: int = 1):
    """[(variant, point indices, outputs at those points)] and the indices left to the scalar path. Known
    variants first; points none covers are traced (trace_new(point index) -> Variant) while there is room
    and at least min_points of them."""
    pending = np.arange(len(leaves))
    found, left = [], []
    known = list(variants)
    while pending.size:
        fresh = not known
        if known:
            v = known.pop(0)
        elif len(variants) < MAX_VARIANTS and pending.size >= min_points:
            v = trace_new(pending[0])
            variants.append(v)
        else:
            break
        mask, outs = v.tape.evaluate(leaves[pending])
        if fresh and not mask[0]:  # the probe must take its own path (a NaN compares false): leave it
            mask[0] = True
            v = Variant(v.tape, failed=True)
        v.used += int(mask.sum())
        if fresh and v.used <= 1 and sum(u.used <= 1 for u in variants) >= GIVE_UP_AFTER:
            variants.append(Variant(trace.Tape(leaves.shape[1]), failed=True))  # a path per point: stop tracing
        if mask.any():
            hit = pending[mask]
            if v.failed:
                left.append(hit)
            else:
                found.append((v, hit, [x if isinstance(x, Const) else outs[x][mask] for x in v.value]))
            pending = pending[~mask]
    left.append(pending)
    if len(found) > 1:  # the variants that covered the most points are tried first next time (a catch-all last)
        hits = {id(v): len(h) for v, h, _ in found}
        variants.sort(key=lambda v: (v.failed and not v.tape.guards, -hits.get(id(v), 0)))
    return found, np.concatenate(left)


def traced(fn, probe: list, make_input) -> Variant:
    """Variant of fn traced at one point (probe: its leaves, as Python numbers); fn returns a tuple whose
    traced numbers become outputs and whose other items are kept as constants."""
    tape = trace.Tape(len(probe))
    try:
        with trace.recording(tape):
            value = fn(make_input([trace.Sym(i, v) for i, v in enumerate(probe)]))
            value = tuple(trace.output(tape, x) if isinstance(x, trace.Sym) else Const(x) for x in value)
        tape.prune()
        return Variant(tape, value)
    except Exception:  # noqa: BLE001  a path the tape cannot replay (or an error): its points go the scalar way
        return Variant(tape, failed=True)


@dataclasses.dataclass(frozen=True)
class Const:
    value: object


def values(found_outs) -> list:
    """A covered set's outputs: arrays for traced numbers, constants as they are."""
    return [x.value if isinstance(x, Const) else x for x in found_outs]


# ---- the block's totals over points ---------------------------------------------------------------------

def totals(low, ubusy, udram, udyn, ubound, labels, rt: dict, mode: str, head_s: float, sync: bool, idle_w,
           n_ops: int) -> dict:
    """hwsim.explore.fastpath.totals over arrays of points: ubusy[j], udram[j], udyn[j] the distinct kernel j's
    device time, DRAM bytes and dynamic energy at each point, ubound[j] its bound's code (labels[code]).
    Each op's sums run in launch order and the block's over ops with numpy's pairwise sum, as Result sums them."""
    p = len(ubusy[0]) if ubusy else 0
    zero = np.zeros(p)
    times = launch_pipeline([ubusy[j] for j in low.which], _Runtime(rt), mode, head_s, sync, maximum=np.maximum)
    time_s, dyn, dram, busy, stall = ([zero] * n_ops for _ in range(5))
    longest, kbound = [np.full(p, -1.0)] * n_ops, [np.full(p, labels.index("none"))] * n_ops
    prev_end = zero
    for (_, end, st), j, o in zip(times, low.which, low.op_of):
        later = end > prev_end  # the time charged to a kernel: how far it moves the latest end so far
        time_s[o] = time_s[o] + np.where(later, end - prev_end, 0.0)
        prev_end = np.where(later, end, prev_end)
        dyn[o] = dyn[o] + udyn[j]
        dram[o] = dram[o] + udram[j]
        busy[o] = busy[o] + ubusy[j]
        stall[o] = stall[o] + st
        longer = ubusy[j] > longest[o]  # an op's bound is its longest kernel's (the first, on a tie)
        longest[o] = np.where(longer, ubusy[j], longest[o])
        kbound[o] = np.where(longer, ubound[j], kbound[o])
    energy = [dyn[o] + idle_w * time_s[o] if low.has[o] else zero for o in range(n_ops)]
    launch, none = labels.index("launch"), labels.index("none")
    bound = [np.where(stall[o] > busy[o], launch, kbound[o]) if low.has[o] else np.full(p, none)
             for o in range(n_ops)]
    present = set(np.unique(np.concatenate(bound)).tolist()) if bound else set()
    order = sorted(present, key=lambda c: labels[c])  # ties: alphabetical, as groupby orders them
    bound_time = np.array([_op_sum(time_s, bound, c, p) for c in order])
    main = np.array([labels[c] for c in order], dtype=object)[np.argmax(bound_time, axis=0)] if order else None
    total_time = _pairwise(time_s, p)
    kind_time = {col: zero for col in KIND_TIME_COLUMNS}
    for o in range(n_ops):
        kind_time[low.kind_col[o]] = kind_time[low.kind_col[o]] + time_s[o]
    ends = [end for _, end, _ in times]
    return {"latency_s": np.maximum.reduce(ends) if ends else zero,
            "energy_j": _pairwise(energy, p), "dram_bytes": _pairwise(dram, p),
            "bound": np.where(total_time > 0, main, ""), **kind_time}


def _op_sum(time_s, bound, code, p):
    out = np.zeros(p)
    for t, b in zip(time_s, bound):
        out = out + np.where(b == code, t, 0.0)
    return out


def _pairwise(per_op: list, p: int) -> np.ndarray:
    """Per point, numpy's pairwise sum over ops (rows of a C-ordered points x ops array, reduced along the
    contiguous axis: the same sum as np.add.reduce of each point's 1-D array)."""
    if not per_op:
        return np.zeros(p)
    return np.add.reduce(np.ascontiguousarray(np.stack(per_op, axis=1)), axis=1)


class _Runtime:
    def __init__(self, values: dict):
        self.__dict__.update(values)
