"""Running a sweep: the points of a spec, in parts, on one of three engines, into a resumable Parquet dataset.
A guided search (sampling method nsga2, hwsim.explore.search) proposes its points a generation at a time and
sends each generation to the same engine as one batch.

Engines (all compute a part with the same `Evaluator`, so their rows are identical to the last bit):
- in-process (`workers=1`, and any sweep of a single part);
- local processes (the default, one per core): a multiprocessing pool that receives the spec once per worker
  and then whole parts; the parent writes each finished part;
- Dask distributed: `scheduler="tcp://HOST:PORT"` connects to a running cluster, `scheduler="local"` starts a
  LocalCluster of worker processes on this machine (loopback only) for the sweep.
Ctrl-C stops the workers and leaves no partial part (parts are renamed into place whole), so the same command
resumes where it stopped.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from dataclasses import dataclass

from hwsim.explore.columns import arrow_schema
from hwsim.explore.fastpath import Evaluator
from hwsim.explore.sampling import points
from hwsim.explore.spec import load_spec
from hwsim.explore.store import encode_part, open_store
from hwsim.io.progress import progress_bar


@dataclass(frozen=True)
class SweepRun:
    """What a sweep did: its rows, and how many points it found done and computed now."""
    frame: object        # pandas DataFrame, one row per point
    out: str
    points: int
    computed: int
    parts: int
    seconds: float
    engine: str
    evaluations: int | None = None   # nsga2: points proposed in all, repeats included (points: distinct ones)


def run_sweep(spec, out, scheduler: str | None = None, workers: int | None = None, progress: bool = True) -> SweepRun:
    t0 = time.perf_counter()
    spec = load_spec(spec)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers <= 0):
        raise ValueError(f"--workers: expected a positive integer, given {workers!r}")
    schema = arrow_schema(spec)  # (also checks the columns before anything is written)
    if spec.method == "nsga2":
        from hwsim.explore.search import require_optuna

        require_optuna()  # before a directory is made or a cluster started
        pts = None
    else:
        pts = points(spec)
    dask = _dask_connect(scheduler, workers) if scheduler else None  # an unreachable scheduler: nothing written
    try:
        if pts is None:
            return _run_search(spec, out, schema, scheduler, dask, workers, progress, t0)
        store = open_store(out, spec, len(pts))
        done = store.done()
        tasks = [(i, pts[slice(*store.bounds(i))]) for i in range(store.n_parts) if i not in done]
        todo = sum(len(p) for _, p in tasks)
        bar = progress_bar(len(pts), "sweep", enabled=progress, unit="point")
        bar.advance(len(pts) - todo)
        interrupted = True
        try:
            with _open_engine(spec, scheduler, dask, workers, len(tasks)) as (engine, _width, run):
                for i, n, data in run(tasks):
                    store.write(i, data)
                    bar.advance(n)
            interrupted = False
        finally:
            bar.close(interrupted=interrupted)
    finally:
        if dask is not None:
            for closable in dask:
                closable.close()
    return SweepRun(store.read(schema), str(store.dir), len(pts), todo, store.n_parts, time.perf_counter() - t0,
                    engine)


def _run_search(spec, out, schema, scheduler, dask, workers, progress, t0) -> SweepRun:
    """nsga2: a generation at a time, each one batch on the engine; one part per generation."""
    from hwsim.explore.search import run_search

    store = open_store(out, spec, spec.n)  # n evaluations, population per part: part g is generation g
    done = store.done()
    # workers only when a generation is left to compute; started before the progress bar's thread, so they fork
    with _open_engine(spec, scheduler, dask, workers, spec.population if len(done) < store.n_parts else 0) \
            as (engine, width, run):
        bar = progress_bar(spec.n, "search", enabled=progress, unit="evaluation")
        interrupted = True
        try:
            def evaluate(pts: list[dict]) -> list[dict]:
                """Rows of `pts`, in order: split into one task per worker, rows sent back unencoded."""
                k = max(1, min(width, len(pts)))
                size = -(-len(pts) // k) if pts else 1
                tasks = [(j, pts[j * size:(j + 1) * size], False) for j in range(k) if pts[j * size:(j + 1) * size]]
                got = {j: rows for j, _, rows in run(tasks)}
                return [r for j in sorted(got) for r in got[j]]

            computed = run_search(spec, store, done, evaluate, schema, bar)
            interrupted = False
        finally:
            bar.close(interrupted=interrupted)
    frame = store.read(schema)
    return SweepRun(frame, str(store.dir), len(frame), computed, store.n_parts, time.perf_counter() - t0, engine,
                    spec.n)


def sweep(spec, out, scheduler: str | None = None, workers: int | None = None, progress: bool = True):
    """Run (or resume) a design-space sweep; the dataset as a DataFrame (also readable as pandas.read_parquet(out)).

    spec: a YAML path or a mapping (see hwsim.explore.spec); out: the dataset directory; scheduler: None (local
    processes, or in-process with workers=1), "local" (a Dask LocalCluster) or "tcp://HOST:PORT" (a Dask
    scheduler); workers: processes (default: every core)."""
    return run_sweep(spec, out, scheduler, workers, progress).frame


@contextlib.contextmanager
def _open_engine(spec, scheduler, dask, workers, n_tasks):
    """(name, width, run) for the sweep's whole run: run(tasks) yields (i, n, result) per task, in any order;
    width is how many tasks run at once. The pool (or the spec on the Dask workers) stays up between calls,
    so a search's generations reuse the workers and their caches."""
    if scheduler:
        client = dask[0]
        width = workers or max(1, len(client.scheduler_info().get("workers", {})))
        spec_f = client.scatter(spec, broadcast=True)
        yield f"dask ({scheduler})", width, lambda tasks: _dask(spec_f, tasks, client)
        return
    n = min(workers or os.cpu_count() or 1, n_tasks)
    if n <= 1:
        part = _Part(spec)
        yield "in-process", 1, lambda tasks: (part(*t) for t in tasks)
        return
    import multiprocessing as mp

    # fork is the fastest start; only safe while this process runs a single thread (no locks held elsewhere)
    method = "fork" if sys.platform == "linux" and threading.active_count() == 1 else "spawn"
    if method == "fork":  # what every worker imports to write its parts (pyarrow.parquet pulls in pandas,
        import pandas  # noqa: F401  0.3 s each): imported once here, before the fork, and shared
        import pyarrow.parquet  # noqa: F401
    with mp.get_context(method).Pool(n, initializer=_init_worker, initargs=(spec,)) as pool:
        # leaving this block in any way (done, Ctrl-C, an error writing a part) terminates the workers
        yield f"{n} processes", n, lambda tasks: pool.imap_unordered(_work, tasks)


class _Part:
    """Computes parts of one spec: rows by the Evaluator, encoded as Parquet where they were computed
    (encode False: the rows themselves, for a search that reads them before writing its part)."""

    def __init__(self, spec):
        self.ev, self.schema = Evaluator(spec), arrow_schema(spec)

    def __call__(self, i, pts, encode=True):
        rows = self.ev.rows(pts)
        return i, len(pts), encode_part(rows, self.schema) if encode else rows


# ---- local processes ------------------------------------------------------------------------------------

_WORKER: _Part | None = None


def _init_worker(spec) -> None:
    import signal

    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the pool
    _WORKER = _Part(spec)


def _work(task):
    return _WORKER(*task)


# ---- Dask ----------------------------------------------------------------------------------------------

_PARTS: dict[str, _Part] = {}


def _dask_task(spec, i, pts, encode=True):
    part = _PARTS.get(spec.sha256)
    if part is None:  # a worker keeps one Evaluator (and its caches) per spec across tasks
        _PARTS.clear()
        part = _PARTS[spec.sha256] = _Part(spec)
    return part(i, pts, encode)


def _dask_connect(scheduler, workers) -> tuple:
    """(client,) for a running scheduler, (client, cluster) for a LocalCluster started here (loopback only)."""
    import logging

    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError("--scheduler: needs dask.distributed (pip install 'dask[distributed]')") from None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR)
        return Client(cluster), cluster
    try:
        return (Client(scheduler, timeout="10s"),)
    except (OSError, TimeoutError, ValueError) as e:
        raise ValueError(f"--scheduler: cannot reach a Dask scheduler at {scheduler} ({e})") from None


def _dask(spec_f, tasks, client):
    from distributed import as_completed

    futures = [client.submit(_dask_task, spec_f, *task, pure=False) for task in tasks]
    try:
        for _, result in as_completed(futures, with_results=True):
            yield result
    finally:
        client.cancel(futures)  # stopped early (Ctrl-C, an error writing a part): drop what is still queued
