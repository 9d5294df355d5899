"""The points of a sweep: every combination (grid), uniform draws (random) or a Latin hypercube (lhs), each
point with its resolved workload and a stable key.

LHS is done with numpy (one stratified permutation per axis) rather than scipy.stats.qmc: the same seed gives
the same points whatever scipy version is installed, and hwsim needs no scipy. Discrete axes (lists) take the
value whose share of [0, 1) the draw falls in; continuous ones (range, logspace) map it linearly or in log.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math

from hwsim.explore.spec import Spec
from hwsim.explore.workload import KEY_DEFAULTS, WORKLOAD_KEYS, resolve_workload

def points(spec: Spec) -> list[dict]:
    """Every point of the spec, in a fixed order, duplicates (same key) dropped; each holds its inputs and key."""
    names = [a.name for a in spec.axes]
    if spec.method == "grid":
        combos = itertools.product(*(a.values for a in spec.axes))
    else:
        combos = zip(*(_draw(a, u) for a, u in zip(spec.axes, _unit_draws(spec))))
    out, seen, workloads = [], set(), {}
    for combo in combos:
        p = point_inputs(spec, dict(zip(names, combo)), workloads)
        if p["key"] not in seen:
            seen.add(p["key"])
            out.append(p)
    return out


def _unit_draws(spec: Spec):
    """One array of n values in [0, 1) per axis, in axis order (so a seed always means the same points)."""
    import numpy as np

    rng = np.random.default_rng(spec.seed)
    n = spec.n
    for _ in spec.axes:
        if spec.method == "lhs":  # one draw in each of n equal strata, strata shuffled
            yield (rng.permutation(n) + rng.random(n)) / n
        else:
            yield rng.random(n)


def _draw(axis, u) -> list:
    import numpy as np

    if axis.continuous:
        if axis.log:
            x = np.exp(math.log(axis.lo) + u * (math.log(axis.hi) - math.log(axis.lo)))
        else:
            x = axis.lo + u * (axis.hi - axis.lo)
        x = np.clip(x, axis.lo, axis.hi)
        return [int(round(v)) for v in x] if axis.integer else [float(v) for v in x]
    idx = np.minimum((u * len(axis.values)).astype(int), len(axis.values) - 1)
    return [axis.values[i] for i in idx]


def point_inputs(spec: Spec, values: dict, cache: dict | None = None) -> dict:
    """Inputs in column order (base, workload, block options given, options, accelerator axes) plus `key`."""
    wkey = tuple(values.get(k) for k in WORKLOAD_KEYS)
    workload = cache.get(wkey) if cache is not None else None
    if workload is None:
        workload = resolve_workload(values)
        if cache is not None:
            cache[wkey] = workload
    block = {a.name: values[a.name] for a in spec.axes if a.group == "block"}
    options = {a.name: values[a.name] for a in spec.axes if a.group == "options"}
    accel = {}
    for a in spec.axes:
        if a.group == "accel":
            accel[a.name] = values[a.name]
        elif a.group == "zip":  # one step of settings that move together
            accel.update((m.name, v) for m, v in zip(a.members, values[a.name]))
    return {"base": values["base"], **workload, **block, **options, **accel,
            "key": point_key(values["base"], workload, options, accel)}


def point_key(base, workload: dict, options: dict, accel: dict) -> str:
    """sha256 of the canonical JSON of the inputs: the same point has the same key in every run and engine."""
    shape = {k: v for k, v in workload.items() if k not in KEY_DEFAULTS or v != KEY_DEFAULTS[k]}
    doc = {"base": base, "workload": {**shape, "block": json.loads(workload["block"])}, "options": options,
           "axes": accel}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
