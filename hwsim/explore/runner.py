"""Running a sweep: the points of a spec, in parts, on one of three engines, into a resumable Parquet dataset.

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


def run_sweep(spec, out, scheduler: str | None = None, workers: int | None = None, progress: bool = True) -> SweepRun:
    t0 = time.perf_counter()
    spec = load_spec(spec)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers <= 0):
        raise ValueError(f"--workers: expected a positive integer, given {workers!r}")
    schema = arrow_schema(spec)  # (also checks the columns before anything is written)
    pts = points(spec)
    dask = _dask_connect(scheduler, workers) if scheduler else None  # an unreachable scheduler: nothing written
    try:
        store = open_store(out, spec, len(pts))
        done = store.done()
        tasks = [(i, pts[slice(*store.bounds(i))]) for i in range(store.n_parts) if i not in done]
        todo = sum(len(p) for _, p in tasks)
        engine, run = _engine(scheduler, dask, workers, len(tasks))
        bar = progress_bar(len(pts), "sweep", enabled=progress, unit="point")
        bar.advance(len(pts) - todo)
        interrupted = True
        try:
            for i, n, data in run(spec, tasks):
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


def sweep(spec, out, scheduler: str | None = None, workers: int | None = None, progress: bool = True):
    """Run (or resume) a design-space sweep; the dataset as a DataFrame (also readable as pandas.read_parquet(out)).

    spec: a YAML path or a mapping (see hwsim.explore.spec); out: the dataset directory; scheduler: None (local
    processes, or in-process with workers=1), "local" (a Dask LocalCluster) or "tcp://HOST:PORT" (a Dask
    scheduler); workers: processes (default: every core)."""
    return run_sweep(spec, out, scheduler, workers, progress).frame


def _engine(scheduler, dask, workers, n_tasks):
    if scheduler:
        return f"dask ({scheduler})", lambda spec, tasks: _dask(spec, tasks, dask[0])
    n = min(workers or os.cpu_count() or 1, n_tasks)
    if n <= 1:
        return "in-process", _in_process
    return f"{n} processes", lambda spec, tasks: _processes(spec, tasks, n)


class _Part:
    """Computes parts of one spec: rows by the Evaluator, encoded as Parquet where they were computed."""

    def __init__(self, spec):
        self.ev, self.schema = Evaluator(spec), arrow_schema(spec)

    def __call__(self, i, pts):
        return i, len(pts), encode_part(self.ev.rows(pts), self.schema)


def _in_process(spec, tasks):
    part = _Part(spec)
    for i, pts in tasks:
        yield part(i, pts)


# ---- local processes ------------------------------------------------------------------------------------

_WORKER: _Part | None = None


def _init_worker(spec) -> None:
    import signal

    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the pool
    _WORKER = _Part(spec)


def _work(task):
    return _WORKER(*task)


def _processes(spec, tasks, n):
    import multiprocessing as mp

    # fork is the fastest start; only safe while this process runs a single thread (no locks held elsewhere)
    method = "fork" if sys.platform == "linux" and threading.active_count() == 1 else "spawn"
    if method == "fork":  # what every worker imports to write its parts (pyarrow.parquet pulls in pandas,
        import pandas  # noqa: F401  0.3 s each): imported once here, before the fork, and shared
        import pyarrow.parquet  # noqa: F401
    with mp.get_context(method).Pool(n, initializer=_init_worker, initargs=(spec,)) as pool:
        # leaving this block in any way (done, Ctrl-C, an error writing a part) terminates the workers
        yield from pool.imap_unordered(_work, tasks)


# ---- Dask ----------------------------------------------------------------------------------------------

_PARTS: dict[str, _Part] = {}


def _dask_task(spec, i, pts):
    part = _PARTS.get(spec.sha256)
    if part is None:  # a worker keeps one Evaluator (and its caches) per spec across tasks
        _PARTS.clear()
        part = _PARTS[spec.sha256] = _Part(spec)
    return part(i, pts)


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


def _dask(spec, tasks, client):
    from distributed import as_completed

    spec_f = client.scatter(spec, broadcast=True)
    futures = [client.submit(_dask_task, spec_f, i, pts, pure=False) for i, pts in tasks]
    try:
        for _, result in as_completed(futures, with_results=True):
            yield result
    finally:
        client.cancel(futures)  # stopped early (Ctrl-C, an error writing a part): drop what is still queued
