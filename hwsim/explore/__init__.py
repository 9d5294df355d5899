"""Design-space exploration: sweeps over accelerators, workloads and options (spec -> points -> Parquet
dataset), a fast path for totals, and Pareto fronts. Heavy modules load on first use."""
from __future__ import annotations


def sweep(spec, out, scheduler=None, workers=None, progress=True):
    from hwsim.explore.runner import sweep as _sweep

    return _sweep(spec, out, scheduler=scheduler, workers=workers, progress=progress)


def pareto(df, objectives, by=None):
    from hwsim.explore.pareto import pareto as _pareto

    return _pareto(df, objectives, by=by)


sweep.__doc__ = """Run (or resume) a design-space sweep into the Parquet dataset `out`; returns it as a DataFrame.
spec: a YAML path or mapping; scheduler: None (local processes), "local" (Dask LocalCluster) or "tcp://HOST:PORT";
workers: processes (default every core; 1 runs in this process)."""
pareto.__doc__ = """The non-dominated rows of a sweep's DataFrame for `objectives` (minimised); errors and
infeasible rows excluded. `by`: one front per group."""

__all__ = ["sweep", "pareto"]
