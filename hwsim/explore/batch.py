"""The rows of many sweep points at once (Evaluator.rows): points grouped, each group's engine calls traced
once per path and replayed on arrays (hwsim.explore.vector, hwsim.explore.program); a kernel at the few points
no traced path covers is costed by the scalar engine into the same arrays, and a point whose group-level path
(area, table placement, lowering) no trace covers gets Evaluator.row. The rows are Evaluator.row's to the bit
(tests/hwsim/explore/test_vector.py)."""
from __future__ import annotations

import operator
import threading

import numpy as np

from hwsim.area import area_mm2
from hwsim.energy import kernel_energy
from hwsim.engines.analytic import TERMS, host_runs_kernels, kernel_cost
from hwsim.engines.lookup_hw import place_tables
from hwsim.engines.options import resolve_options
from hwsim.explore.accel import replace_parts
from hwsim.explore.cache import put
from hwsim.explore.constraints import holds
from hwsim.explore.program import Program
from hwsim.explore.vector import (GIVE_UP_AFTER, MAX_VARIANTS, MIN_TRACE, RUNTIME, cover, flatten, plain, totals,
                                  traced, values, with_leaves)
from hwsim.explore.workload import BUILD_KEY

_build_key = operator.itemgetter(*BUILD_KEY)


class Batch:
    """Holds the traced paths of every group met so far (keep one per worker, inside the Evaluator)."""

    def __init__(self, ev):
        self.ev = ev
        self._flat: dict = {}       # id(part) -> (part, structure id, leaves)
        self._structures: dict = {}  # structure -> small id
        self._stage1: dict = {}     # group -> [Variant]
        self._programs: dict = {}   # (group, lowering key, options) -> Program: every kernel's traced paths
        self.labels = [*TERMS, "min_kernel", "launch", "none"]
        self._lock = threading.Lock()

    def rows(self, points: list) -> list[dict]:
        with self._lock:  # (a Dask worker running tasks in threads shares one Evaluator: its paths too)
            return self._rows(points)

    def _rows(self, points: list) -> list[dict]:
        ev = self.ev
        rows = [ev.blank(p) for p in points]
        groups: dict = {}
        for i, p in enumerate(points):
            try:
                parts = ev.builder.parts(p)
            except Exception as e:  # noqa: BLE001  (ConfigError) the point keeps its row, with why
                rows[i]["error"] = ev.one_line(e)
                continue
            structure, leaves = [], []
            for part in parts.values():
                s, lv = self._flatten(part)
                structure.append(s)
                leaves.extend(lv)
            key = (p["base"], _build_key(p), p["layers"], tuple(p[k] for k in ev.option_names), tuple(parts),
                   tuple(structure))
            g = groups.get(key)
            if g is None:
                g = groups[key] = ([], [], parts)
            g[0].append(i)
            g[1].append(leaves)
        for key, (idx, leaves, parts) in groups.items():
            self._group(key, points, rows, np.array(idx), leaves, parts)
        return rows

    def _flatten(self, part):
        hit = self._flat.get(id(part))
        if hit is None or hit[0] is not part:
            structure, leaves = [], []
            flatten(part, structure, leaves)
            sid = self._structures.setdefault(tuple(structure), len(self._structures))
            hit = (part, sid, leaves)
            put(self._flat, id(part), hit)
        return hit[1], hit[2]

    def _group(self, key, points, rows, idx, leaves, parts) -> None:
        ev = self.ev
        p0 = points[idx[0]]
        wkey = key[1]
        try:
            w = ev.workload(wkey)
        except ValueError:  # the scalar path fills what it computes before it fails (the area), and why
            for i in idx:
                rows[i] = ev.row(points[i])
            return
        layers = 1 if p0.get("scope") == "model" else p0["layers"]
        options = {k: p0[k] for k in ev.option_names}
        base = ev.builder.bases[p0["base"]]
        x = np.array(leaves, dtype=np.float64).reshape(len(idx), -1)

        def make(syms):
            it = iter(syms)
            return replace_parts(base, {a: with_leaves(part, it) for a, part in parts.items()})

        def stage1(accel):
            area = area_mm2(accel)
            opts = plain(place_tables(w, accel, resolve_options(accel, **options), layers))
            fit = bool(ev.tables_fit(w, accel, opts["tables_resident"], layers))
            lkey = plain(ev.lowering_key(wkey, accel, opts))
            rt = accel.runtime
            sync = opts["mode"] == "eager" and host_runs_kernels(accel)
            return (area, fit, opts, lkey, sync, accel.energy.idle_power_w, *(getattr(rt, n) for n in RUNTIME))

        found, left = cover(_list(self._stage1, key), x, lambda i: traced(stage1, leaves[i], make), MIN_TRACE)
        scalar = list(idx[left])
        for _, hit, outs in found:
            area, fit, opts, lkey, sync, idle_w, *rt = values(outs)
            keep = []
            for n, i in enumerate(idx[hit]):
                row = rows[i]
                row["area_mm2"] = float(area[n]) if isinstance(area, np.ndarray) else float(area)
                row["tables_fit"] = fit
                if all(holds(c, row) for c in ev.pre):
                    keep.append(n)
            if keep:
                keep = np.array(keep)
                sub = hit[keep]
                scalar += self._costs(key, points, rows, idx, leaves, x, sub, make, w, wkey, opts, lkey, sync,
                                      _take(idle_w, keep), {n: _take(v, keep) for n, v in zip(RUNTIME, rt)})
        for i in scalar:
            rows[i] = ev.row(points[i])

    def _costs(self, key, points, rows, idx, leaves, x, sub, make, w, wkey, opts, lkey, sync, idle_w, rt) -> list:
        """Fill the rows of the group's points `sub` (positions in the group); the indices left to Evaluator.row."""
        ev = self.ev
        low = ev.lowered_by_key(wkey, lkey, lambda: (w, ev.builder.build(points[idx[sub[0]]]), opts))
        okey = (key, lkey, tuple(sorted(opts.items())))
        prog = self._programs.get(okey)
        if prog is None:
            prog = Program(x.shape[1])
            put(self._programs, okey, prog)
        n = len(sub)
        xs = x[sub]
        probed: set = set()
        fresh: dict = {}  # kernel -> the variant traced in the last pass
        while True:
            vals, taken = prog.evaluate(xs)
            new = False
            for j, k in enumerate(low.unique):
                takes, free = taken.get(j, ((), np.ones(n, dtype=bool)))
                v = fresh.pop(j, None)
                if v is not None and sum(int(ok.sum()) for t, ok in takes if t == v) <= 1 and \
                        prog.lonely(j, takes) >= GIVE_UP_AFTER:  # a path per point: stop tracing this kernel
                    prog.give_up(j)
                    new = True
                    continue
                if free.sum() < MIN_TRACE or prog.variants(j) >= MAX_VARIANTS:
                    continue  # (a few points: the scalar engine costs this kernel there, below)
                first = int(np.argmax(free))
                if (j, first) in probed:
                    continue
                probed.add((j, first))  # (a probe its own path does not cover, NaN, goes the scalar way)
                v = traced(lambda accel, k=k: _kernel(k, accel, opts), leaves[sub[first]], make)
                prog.add(j, v.tape, None if v.failed else v.value)
                fresh[j] = prog.variants(j) - 1
                new = True
            if not new:
                break
        prog.count(taken)
        scalar = np.zeros(n, dtype=bool)
        accels: dict = {}
        ubusy, udram, udyn, ubound = [], [], [], []
        for j, kernel in enumerate(low.unique):
            takes, left = taken.get(j, ((), np.ones(n, dtype=bool)))  # (nothing traced yet: every point)
            if len(takes) == 1 and not left.any() and not prog.failed(j, takes[0][0]):  # one path for all
                v = takes[0][0]
                b, d, e = (np.broadcast_to(prog.output(vals, j, v, k), (n,)) for k in range(3))
                ubusy.append(b)
                udram.append(d)
                udyn.append(e)
                ubound.append(np.full(n, self._code(prog.output(vals, j, v, 3))))
                continue
            left = left.copy()
            b, d, e, code = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64)
            for v, ok in takes:
                if prog.failed(j, v):
                    left |= ok
                    continue
                for arr, k in ((b, 0), (d, 1), (e, 2)):
                    out = prog.output(vals, j, v, k)
                    arr[ok] = out[ok] if isinstance(out, np.ndarray) else out
                code[ok] = self._code(prog.output(vals, j, v, 3))
            for m in np.flatnonzero(left & ~scalar) if left.any() else ():  # this kernel, scalar engine, there
                try:
                    accel = accels.get(m)
                    if accel is None:
                        accel = accels[m] = ev.builder.build(points[idx[sub[m]]])
                    b[m], d[m], e[m], bound = _kernel(kernel, accel, opts)
                    code[m] = self._code(bound)
                except Exception:  # noqa: BLE001  the point's row comes from Evaluator.row, with why
                    scalar[m] = True
            ubusy.append(b)
            udram.append(d)
            udyn.append(e)
            ubound.append(code)
        ok = ~scalar
        if ok.any():
            sel = np.flatnonzero(ok)
            tot = totals(low, [a[sel] for a in ubusy], [a[sel] for a in udram], [a[sel] for a in udyn],
                         [a[sel] for a in ubound], self.labels, {k: _take(v, sel) for k, v in rt.items()},
                         opts["mode"], opts["host_head_start_s"], sync, _take(idle_w, sel), len(w.ops))
            cols = {k: v.tolist() for k, v in tot.items()}
            for m, i in enumerate(idx[sub[sel]]):
                row = rows[i]
                for c, v in cols.items():
                    row[c] = v[m]
                row["flops"] = low.flops
                row["feasible"] = all(holds(c, row) for c in ev.post)
        return list(idx[sub[scalar]])

    def _code(self, label) -> int:
        if label not in self.labels:
            self.labels.append(label)
        return self.labels.index(label)


def _kernel(k, accel, opts) -> tuple:
    """What the block's totals need of one kernel: device time, DRAM bytes, dynamic energy, bound."""
    c = kernel_cost(k, accel, None, opts["bank_mapping"], opts["tables_resident"])
    return c.busy_s, c.dram_bytes, sum(kernel_energy(c, accel).values()), c.bound


def _take(v, sel):
    return v[sel] if isinstance(v, np.ndarray) else v


def _list(cache: dict, key) -> list:
    v = cache.get(key)
    if v is None:
        v = []
        put(cache, key, v)
    return v
