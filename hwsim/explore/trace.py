"""Run the scalar engine once, record its arithmetic, replay it on numpy arrays over many sweep points.

A sweep's points of one group (same base, workload, options and config structure) differ only in some numbers
of the accelerator (the leaves an axis sets). `run` calls an engine function on an accelerator whose leaves
are `Sym`s: each holds one point's value (the probe), so the function runs exactly as it does on that point,
while every arithmetic step on a Sym is appended to a tape. Every decision on a Sym (a comparison, `max`,
`if`, a float() or a hash) returns the probe's answer and is recorded as a guard. `Tape.evaluate` replays the
tape on arrays of leaf values with numpy, whose +, -, *, / ... of float64 are the same IEEE operations Python
does, so a point whose guards all give the probe's answers gets the bits the scalar engine gives it. Points
whose guards differ took another path: they are traced again with one of them as the probe.

So the physics stays in the engine; this module only knows Python's arithmetic. Operations it cannot replay
exactly (pow, math functions through float(), numpy calls on a Sym) either pin the value (an equality guard)
or fail the trace; the caller then evaluates those points with the scalar engine.
Integers are replayed as float64: exact below 2^53, which every count and byte total of a block stays under.
"""
from __future__ import annotations

import contextlib
import math
import operator
import threading

import numpy as np

_LOCAL = threading.local()  # per thread (a Dask worker may run tasks in threads): the tapes being recorded

# op name -> (python function on probe values, numpy function on arrays)
_BINARY = {
    "add": (operator.add, np.add), "sub": (operator.sub, np.subtract), "mul": (operator.mul, np.multiply),
    "truediv": (operator.truediv, np.true_divide), "floordiv": (operator.floordiv, np.floor_divide),
    "mod": (operator.mod, np.remainder),
}
_UNARY = {"neg": (operator.neg, np.negative), "abs": (abs, np.absolute), "ceil": (math.ceil, np.ceil),
          "floor": (math.floor, np.floor), "trunc": (math.trunc, np.trunc), "round": (round, np.rint)}
_COMPARE = {"lt": (operator.lt, np.less), "le": (operator.le, np.less_equal), "gt": (operator.gt, np.greater),
            "ge": (operator.ge, np.greater_equal), "eq": (operator.eq, np.equal), "ne": (operator.ne, np.not_equal)}
_NUMBER = (int, float)


class TraceError(TypeError):
    """The traced function did something the tape cannot replay exactly."""


class Sym:
    """A number of one traced point: `v` its value, `i` its node on the tape being recorded."""
    __slots__ = ("i", "v")
    __array_ufunc__ = None  # a numpy ufunc on a Sym itself raises (the trace fails) rather than guess

    def __init__(self, i: int, v):
        self.i, self.v = i, v

    def __array__(self, dtype=None, copy=None):  # into a numpy array (np.log2 of a list): pinned
        return np.asarray(pin(self), dtype=dtype)

    # arithmetic: recorded
    def __add__(self, o): return _binary("add", self, o)
    def __radd__(self, o): return _binary("add", o, self)
    def __sub__(self, o): return _binary("sub", self, o)
    def __rsub__(self, o): return _binary("sub", o, self)
    def __mul__(self, o): return _binary("mul", self, o)
    def __rmul__(self, o): return _binary("mul", o, self)
    def __truediv__(self, o): return _binary("truediv", self, o)
    def __rtruediv__(self, o): return _binary("truediv", o, self)
    def __floordiv__(self, o): return _binary("floordiv", self, o)
    def __rfloordiv__(self, o): return _binary("floordiv", o, self)
    def __mod__(self, o): return _binary("mod", self, o)
    def __rmod__(self, o): return _binary("mod", o, self)
    def __divmod__(self, o): return _binary("floordiv", self, o), _binary("mod", self, o)
    def __rdivmod__(self, o): return _binary("floordiv", o, self), _binary("mod", o, self)
    def __neg__(self): return _unary("neg", self)
    def __pos__(self): return self
    def __abs__(self): return _unary("abs", self)
    def __ceil__(self): return _unary("ceil", self)
    def __floor__(self): return _unary("floor", self)
    def __trunc__(self): return _unary("trunc", self)

    def __round__(self, ndigits=None):
        if ndigits is not None:  # Python rounds decimally, numpy does not: pin the value
            return round(pin(self), ndigits)
        return _unary("round", self)

    def __pow__(self, o):
        return pin(self) ** (pin(o) if isinstance(o, Sym) else o)

    def __rpow__(self, o):
        return o ** pin(self)

    # decisions: the probe's answer, recorded as a guard
    def __lt__(self, o): return _compare("lt", self, o)
    def __le__(self, o): return _compare("le", self, o)
    def __gt__(self, o): return _compare("gt", self, o)
    def __ge__(self, o): return _compare("ge", self, o)
    def __eq__(self, o): return _compare("eq", self, o)
    def __ne__(self, o): return _compare("ne", self, o)
    def __bool__(self): return _compare("ne", self, 0)

    # leaving the tape (math functions, int(), dict keys): only points with this very value share the path
    def __float__(self): return float(pin(self))
    def __int__(self): return int(pin(self))
    def __hash__(self): return hash(pin(self))

    def __index__(self):
        if not isinstance(self.v, int):
            raise TypeError(f"'{type(self.v).__name__}' object cannot be interpreted as an integer")
        return pin(self)

    # text (kernel notes, never a decision): the probe's, unrecorded
    def __format__(self, spec): return format(self.v, spec)
    def __repr__(self): return repr(self.v)
    __str__ = __repr__


def pin(x):
    """The plain value of x; a Sym's is recorded as an equality guard."""
    if isinstance(x, Sym):
        _tape().guards.append(("eq", x.i, x.v, False, True))
        return x.v
    return x


def _tape() -> Tape:
    stack = getattr(_LOCAL, "stack", None)
    if not stack:
        raise TraceError("a traced number outlived its trace")
    return stack[-1]


@contextlib.contextmanager
def recording(tape: Tape):
    """Record the operations on Syms into `tape` while the block runs (in this thread)."""
    stack = _LOCAL.__dict__.setdefault("stack", [])
    stack.append(tape)
    try:
        yield tape
    finally:
        stack.pop()


def _ref(x):
    return x.i if isinstance(x, Sym) else x


def _binary(op, a, b):
    if not isinstance(a, (Sym, *_NUMBER)) or not isinstance(b, (Sym, *_NUMBER)):
        return NotImplemented
    v = _BINARY[op][0](a.v if isinstance(a, Sym) else a, b.v if isinstance(b, Sym) else b)
    return _tape().record(op, a, b, v)


def _unary(op, a):
    return _tape().record(op, a, None, _UNARY[op][0](a.v))


def _compare(op, a, b):
    if not isinstance(b, (Sym, *_NUMBER)):
        return NotImplemented
    result = bool(_COMPARE[op][0](a.v, b.v if isinstance(b, Sym) else b))
    _tape().guards.append((op, a.i, _ref(b), isinstance(b, Sym), result))
    return result


_DIVIDING = ("truediv", "floordiv", "mod")


class Tape:
    """The recorded arithmetic of one traced call: leaves 0..n_leaves-1, then one node per operation."""

    def __init__(self, n_leaves: int):
        self.n_leaves = n_leaves
        self.ops: list = []      # (op, a, b, a is a node, b is a node); b None: unary
        self.guards: list = []   # (op, node, other, other is a node, the probe's answer)
        self.outputs: list = []  # per output: ("node", i) or ("const", value)

    def record(self, op, a, b, value) -> Sym:
        fn = _UNARY[op][1] if b is None else _BINARY[op][1]
        self.ops.append((fn, _ref(a), _ref(b), isinstance(a, Sym), isinstance(b, Sym)))
        if op in _DIVIDING and isinstance(b, Sym):  # Python raises on a zero divisor, numpy would not
            self.guards.append(("ne", b.i, 0, False, True))
        return Sym(self.n_leaves + len(self.ops) - 1, value)

    def prune(self) -> None:
        """Drop the operations no output and no guard depends on (kernel notes, unused terms)."""
        n0, ops = self.n_leaves, self.ops
        need = [False] * len(ops)

        def mark(i):
            if i >= n0:
                need[i - n0] = True
        for _, a, b, b_node, _ in self.guards:
            mark(a)
            if b_node:
                mark(b)
        for kind, v in self.outputs:
            if kind == "node":
                mark(v)
        for k in range(len(ops) - 1, -1, -1):
            if need[k]:
                _, a, b, a_node, b_node = ops[k]
                if a_node:
                    mark(a)
                if b_node:
                    mark(b)
        remap, kept = {}, []
        for k, (fn, a, b, a_node, b_node) in enumerate(ops):
            if need[k]:
                remap[n0 + k] = n0 + len(kept)
                kept.append((fn, remap.get(a, a) if a_node else a, remap.get(b, b) if b_node else b, a_node, b_node))
        self.ops = kept
        self.guards = [(op, remap.get(a, a), remap.get(b, b) if b_node else b, b_node, r)
                       for op, a, b, b_node, r in self.guards]
        self.outputs = [(kind, remap.get(v, v)) if kind == "node" else (kind, v) for kind, v in self.outputs]

    def evaluate(self, leaves: np.ndarray):
        """(mask, outputs) over the rows of `leaves` (points x leaves): mask marks the points whose guards all
        give the probe's answers; outputs are arrays (a constant output: the constant), valid where mask is true."""
        vals = list(leaves.T)
        with np.errstate(all="ignore"):
            for fn, a, b, a_node, b_node in self.ops:
                x = vals[a] if a_node else a
                vals.append(fn(x) if b is None else fn(x, vals[b] if b_node else b))
            mask = np.ones(leaves.shape[0], dtype=bool)
            for op, a, b, b_node, result in self.guards:
                got = _COMPARE[op][1](vals[a], vals[b] if b_node else b)
                mask &= got if result else ~got
        return mask, [vals[v] if kind == "node" else v for kind, v in self.outputs]


def output(tape: Tape, x) -> int:
    """Register x (a Sym of this tape, or a constant: returned as is) as an output; its position."""
    tape.outputs.append(("node", x.i) if isinstance(x, Sym) else ("const", x))
    return len(tape.outputs) - 1
