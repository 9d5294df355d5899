"""A guided multi-objective search (`sampling: {method: nsga2, n, seed, population}`) for spaces too big to grid:
optuna's NSGA-II, driven through its ask/tell interface, one generation at a time.

    sampling: {method: nsga2, n: 2000, seed: 0, population: 50}
    objectives: [latency_s, energy_j, area_mm2]      # minimised (the default)
    constraints: ["area_mm2 <= 800", tables_fit]     # constrained domination, not a filter afterwards

The search space: every axis with more than one value is one dimension.
- An axis given as a list, and a range or logspace with `n`, is an index into its values: points stay on the
  values a grid of the same spec would take, so a search and a grid are comparable point for point, and a
  point proposed twice has one key and is computed once. (optuna's default uniform crossover swaps whole
  values between parents and its mutation redraws one, so an index loses nothing over the values themselves.)
- A range or logspace without `n` is continuous within its bounds (log-uniform for logspace; whole numbers
  where the setting is one): leave `n` out to let the search go between grid values.

A generation is `population` points asked of the sampler, evaluated as one batch on the sweep's engine (in
this process, local processes or Dask), and told back; generation g is part g of the dataset, holding the
points it proposed first (repeats of earlier points are told their stored values, not recomputed, so a
dataset holds at most n rows, one per distinct point). Each point is told its objectives and, as NSGA-II's
constraints (`constraints_func`: a trial is feasible when every value is <= 0), how far it misses each spec
constraint (the overshoot relative to the bound; 1 for a failed true/false constraint, a missing value or an
error). Points that were not simulated (a constraint on inputs, area or tables_fit failed) are told +inf for
the objectives they lack; NSGA-II ranks infeasible points by their violation alone.

Resuming: the sampler is seeded, and a generation depends only on the values told before it. Rerunning the
spec replays the search from generation 0: a generation whose part is on disk is told the stored rows (read
back exactly: Parquet keeps every float's bits), the first missing one is computed. So a killed and resumed
search writes the dataset an uninterrupted one writes, byte for byte, and the same in every engine.
"""
from __future__ import annotations

import contextlib
import math
import warnings

from hwsim.explore.constraints import holds
from hwsim.explore.sampling import point_inputs
from hwsim.explore.store import encode_part

INSTALL = "pip install 'hwsim[search]' (or pip install 'optuna>=4.9,<5')"


def require_optuna():
    """optuna, imported on first use; without it, one line saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise ValueError(f"sampling.method nsga2: needs optuna; {INSTALL}") from None
    return optuna


def dimensions(spec) -> list[tuple]:
    """(axis, optuna distribution, decode) for every axis that varies; decode maps a sampled value to the
    axis's value. Axes with one value are fixed and take no part in the search."""
    from optuna.distributions import FloatDistribution, IntDistribution

    out = []
    for a in spec.axes:
        if a.values:
            if len(a.values) > 1:
                out.append((a, IntDistribution(0, len(a.values) - 1), a.values.__getitem__))
        elif a.integer:  # a continuous range of whole numbers (banks, tokens, channels)
            out.append((a, IntDistribution(math.ceil(a.lo), math.floor(a.hi), log=a.log), int))
        else:
            out.append((a, FloatDistribution(a.lo, a.hi, log=a.log), float))
    return out


def fixed_values(spec) -> dict:
    return {a.name: a.values[0] for a in spec.axes if len(a.values) == 1}


def violations(spec, row: dict) -> list[float]:
    """NSGA-II's constraint values of a row: <= 0 where it holds, else how far it misses. The first entry
    says whether the point could be computed at all (an error: 1)."""
    return [1.0 if row.get("error") else 0.0] + [_violation(c, row) for c in spec.constraints]


def _violation(c, row) -> float:
    if holds(c, row):
        return 0.0
    v = row.get(c.column)
    if c.op in ("<", "<=", ">", ">=") and isinstance(v, (int, float)) and not isinstance(v, bool) \
            and math.isfinite(v) and isinstance(c.value, (int, float)):
        # relative overshoot, so constraints in different units add up sensibly; strictly > 0 ("<" at the bound)
        return max(abs(v - c.value) / (abs(c.value) or 1.0), 1e-12)
    return 1.0


def objective_values(spec, row: dict) -> list[float]:
    """The row's objectives; +inf where one is missing (not simulated, or an error)."""
    out = []
    for c in spec.objectives:
        v = row.get(c)
        out.append(math.inf if v is None or (isinstance(v, float) and math.isnan(v)) else float(v))
    return out


def read_part(path) -> list[dict]:
    """A part's rows as plain Python values (None for a missing one), as the Evaluator returns them."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


@contextlib.contextmanager
def _quiet(optuna):
    """optuna logs each new study and warns that constraints_func is experimental: neither helps here."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


def new_study(spec):
    """An in-memory study with the batched sampler; its `sampler.generation` is set before each batch is asked."""
    optuna = require_optuna()

    class BatchNSGAII(optuna.samplers.NSGAIISampler):
        """NSGA-II told each trial's generation instead of finding it. optuna finds it by scanning every finished
        trial at every ask (and the parents by scanning them again), O(n) per ask: 10,000 evaluations spent 50 s
        in the sampler. Asked a whole generation at a time, with every earlier one finished, the scan would
        give exactly the batch's index, so the points are the same (tested)."""
        generation = 0

        def get_trial_generation(self, study, trial):
            key = self._get_generation_key()
            g = trial.system_attrs.get(key)
            if g is None:
                g = self.generation
                study._storage.set_trial_system_attr(trial._trial_id, key, g)
            return g

        def get_parent_population(self, study, generation):
            cached = getattr(self, "_parents", None)
            if cached is not None and cached[0] == generation:
                return cached[1]
            # optuna selects once per generation and returns the parents in selection order; later asks read
            # them back from the study in trial order. Kept here in that order, so the children are the same.
            parents = super().get_parent_population(study, generation)
            self._parents = (generation, sorted(parents, key=lambda t: t.number))
            return parents

    sampler = BatchNSGAII(population_size=spec.population, seed=spec.seed,
                          constraints_func=lambda t: t.user_attrs["constraints"])
    return optuna.create_study(directions=["minimize"] * len(spec.objectives), sampler=sampler)


def run_search(spec, store, done: set, evaluate, schema, bar) -> int:
    """Run (or replay, then resume) the search into `store`, one part per generation; the points computed.

    evaluate(points) -> their rows, in order (the sweep's engine); done: the parts already on disk."""
    optuna = require_optuna()
    dims = dimensions(spec)
    dists = {a.name: d for a, d, _ in dims}
    fixed = fixed_values(spec)
    seen: dict[str, dict] = {}   # key -> row, every distinct point so far in this (replayed) run
    workloads: dict = {}
    computed = 0
    with _quiet(optuna):
        study = new_study(spec)
        for g in range(store.n_parts):
            lo, hi = store.bounds(g)
            study.sampler.generation = g
            trials = [study.ask(dists) for _ in range(hi - lo)]
            pts = []
            for t in trials:
                values = dict(fixed)
                values.update((a.name, decode(t.params[a.name])) for a, _, decode in dims)
                pts.append(point_inputs(spec, values, workloads))
            new = list({p["key"]: {**p, "generation": g} for p in pts if p["key"] not in seen}.values())
            if g in done:
                rows = read_part(store.path(g))
                if [r["key"] for r in rows] != [p["key"] for p in new]:
                    raise ValueError(f"--out {store.dir}: {store.path(g).name} does not hold the points this search "
                                     "proposes in that generation (another hwsim or optuna version?); give another "
                                     "directory or delete this one")
            else:
                rows = evaluate(new) if new else []
                store.write(g, encode_part(rows, schema))
                computed += len(rows)
            seen.update((r["key"], r) for r in rows)
            for t, p in zip(trials, pts):
                row = seen[p["key"]]
                t.set_user_attr("constraints", violations(spec, row))
                study.tell(t, objective_values(spec, row))
            bar.advance(hi - lo)
    return computed


# ---- judging a search -------------------------------------------------------------------------------------

def hypervolume(points, ref) -> float:
    """The volume the points dominate below the reference point `ref` (all objectives minimised), exactly:
    sliced along the last objective down to two, where a sorted sweep adds up rectangles. Points not strictly
    better than `ref` in every objective add nothing. Fine for fronts of hundreds of points in 2-4 objectives."""
    import numpy as np

    pts = np.asarray(points, dtype=np.float64).reshape(-1, len(ref))
    ref = np.asarray(ref, dtype=np.float64)
    return _hv(pts[np.all(pts < ref, axis=1)], ref)


def _hv(pts, ref) -> float:
    import numpy as np

    if len(pts) == 0:
        return 0.0
    m = len(ref)
    if m == 1:
        return float(ref[0] - pts[:, 0].min())
    if m == 2:  # by the first objective; each point adds the strip below the best second objective so far
        pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]
        vol, best = 0.0, ref[1]
        for x, y in pts:
            if y < best:
                vol += (ref[0] - x) * (best - y)
                best = y
        return vol
    pts = pts[np.argsort(pts[:, -1], kind="stable")]
    vol = 0.0
    for i in range(len(pts)):  # the slab from this point's last objective to the next one's
        top = pts[i + 1, -1] if i + 1 < len(pts) else ref[-1]
        if top > pts[i, -1]:
            vol += (top - pts[i, -1]) * _hv(pts[: i + 1, :-1], ref[:-1])
    return vol
