"""Many traced variants merged into one graph over the same leaves, evaluated once per batch of points.

The distinct kernels of a block, each with a few traced paths (hwsim.explore.trace), share most of their
arithmetic (a DRAM time is bytes over the same sustained bandwidth) and their variants share most of their
guards. Evaluated variant by variant, every shared step would be recomputed on each subset of points; merged,
each distinct operation and each distinct guard is one numpy call per batch, and each point takes, for each
function, the first variant whose guards it meets (the order variants were traced in, as `cover` tries them).
"""
from __future__ import annotations

import numpy as np

from hwsim.explore.trace import _COMPARE


def _key(x, is_node: bool):
    """A hashable identity of an operand: -0.0 and 0.0 (and 1 and 1.0, which numpy adds alike) kept apart."""
    if is_node:
        return ("n", x)
    return ("f", x.hex()) if type(x) is float else ("c", type(x).__name__, x)


class Program:
    def __init__(self, n_leaves: int):
        self.n_leaves = n_leaves
        self.ops: list = []      # (numpy function, a, b, a is a node, b is a node); b None: unary
        self.guards: list = []   # (comparison, node, other, other is a node)
        self.funcs: dict = {}    # function id -> [(guard ids, signs, outputs or None when the trace failed)]
        self.used: dict = {}     # function id -> [points each variant has taken, over every batch]
        self._ops: dict = {}
        self._guards: dict = {}

    def variants(self, f) -> int:
        return len(self.funcs.get(f, ()))

    def add(self, f, tape, outputs) -> None:
        """Merge a traced tape as the next variant of function f. outputs: per returned item, a tape output
        position (a traced number) or a constant (an object with .value); None when the trace failed."""
        remap = {}

        def node(x, is_node):
            return remap.get(x, x) if is_node else x
        for k, (fn, a, b, a_node, b_node) in enumerate(tape.ops):
            a, b = node(a, a_node), node(b, b_node)
            key = (fn, _key(a, a_node), None if b is None else _key(b, b_node))
            i = self._ops.get(key)
            if i is None:
                i = self._ops[key] = self.n_leaves + len(self.ops)
                self.ops.append((fn, a, b, a_node, b_node))
            remap[tape.n_leaves + k] = i
        ids, signs = [], []
        for op, a, b, b_node, result in tape.guards:
            a, b = node(a, True), node(b, b_node)
            key = (op, a, _key(b, b_node))
            g = self._guards.get(key)
            if g is None:
                g = self._guards[key] = len(self.guards)
                self.guards.append((_COMPARE[op][1], a, b, b_node))
            ids.append(g)
            signs.append(result)
        outs = None
        if outputs is not None:
            outs = []
            for o in outputs:  # a tape output position, or a constant (o.value)
                kind, x = tape.outputs[o] if isinstance(o, int) else ("const", o.value)
                outs.append(("node", node(x, True)) if kind == "node" else ("const", x))
        self.funcs.setdefault(f, []).append((np.array(ids, dtype=np.intp), np.array(signs, dtype=bool), outs))
        self.used.setdefault(f, []).append(0)

    def count(self, taken) -> None:
        """Add a batch's final assignment (evaluate's second result) to each variant's points taken."""
        for f, (takes, _) in taken.items():
            for v, ok in takes:
                self.used[f][v] += int(ok.sum())

    def lonely(self, f, takes) -> int:
        """Variants of f that have taken at most one point, counting this batch's `takes`: many of them, and
        f's path depends on a value itself (each trace covers its own point)."""
        now = {v: int(ok.sum()) for v, ok in takes}
        return sum(1 for v, u in enumerate(self.used.get(f, ())) if u + now.get(v, 0) <= 1)

    def give_up(self, f) -> None:
        """Every point f's variants do not cover goes the scalar way from now on (a path that depends on the
        very value of a number: each trace would cover one point)."""
        self.funcs.setdefault(f, []).append((np.array([], dtype=np.intp), np.array([], dtype=bool), None))
        self.used.setdefault(f, []).append(0)

    def evaluate(self, leaves: np.ndarray):
        """vals (every node over the points) and, per function, [(variant index, points taking it)] and the
        points no variant covers."""
        vals = list(leaves.T)
        n = leaves.shape[0]
        with np.errstate(all="ignore"):
            for fn, a, b, a_node, b_node in self.ops:
                x = vals[a] if a_node else a
                vals.append(fn(x) if b is None else fn(x, vals[b] if b_node else b))
            held = np.empty((2 * len(self.guards), n), dtype=bool)  # row g: guard g true; g + G: false
            for g, (cmp, a, b, b_node) in enumerate(self.guards):
                held[g] = cmp(vals[a], vals[b] if b_node else b)
        held[len(self.guards):] = ~held[:len(self.guards)]
        taken = {}
        for f, variants in self.funcs.items():
            free = np.ones(n, dtype=bool)
            takes = []
            for v, (ids, signs, _) in enumerate(variants):
                ok = held[np.where(signs, ids, ids + len(self.guards))].all(axis=0) & free if len(ids) else free.copy()
                if ok.any():
                    takes.append((v, ok))
                    free &= ~ok
                    if not free.any():
                        break
            taken[f] = (takes, free)
        return vals, taken

    def output(self, vals, f: int, v: int, k: int):
        """Output k of variant v of function f: an array over the points (a traced number) or a constant."""
        kind, x = self.funcs[f][v][2][k]
        return vals[x] if kind == "node" else x

    def failed(self, f: int, v: int) -> bool:
        return self.funcs[f][v][2] is None
