"""On-chip lookup memories: each op's tables prefetched into the banks, and how much of them the op uses.

The loader streams every on-chip op's tables from DRAM, op after op, as background DRAM work that the
kernels' own reads and writes overtake, as soon as the banks have room (a finished op frees its share).
It fetches the rows the op would hold if loading were free (the first `target` buckets of every table,
bucket by bucket, so that any prefix is usable as soon as it is in). When the op starts, it decides
with what has arrived by then (hwsim.engines.des.residency): wait for more of the tables, or read the
rest of the rows from DRAM; the loader then stops at what the op uses. A load that ran while earlier ops
did is free; one that would still take long is not waited for. Deciding at the start, with the real
prefetch, is what keeps more tokens from ever being faster: a longer block leaves more time to prefetch.
"""
from __future__ import annotations

import numpy as np


class TableLoad:
    """One op's tables on their way into the lookup banks."""

    def __init__(self, env, op: str, costs, target_cut: int, chunks: int):
        self.op, self.costs, self.chunks = op, costs, chunks
        self.target_bytes = target_cut * costs.bucket_bytes  # the loader stops here (lowered by the decision)
        self.loaded_bytes = 0.0
        self.usable: list[tuple[float, float]] = []  # (time the bytes are in the banks, bytes loaded by then)
        self.start_s = self.end_s = None
        self.cut = None                               # buckets per table the op holds, decided at its start
        self.waiters: list[tuple[float, object]] = []  # (bytes, event that fires once they have arrived)
        self.done = env.event()                       # the loader is finished with this op

    def arrived(self, env, nbytes: float):
        """An event that fires once the first `nbytes` have arrived (at once if they have)."""
        ev = env.event()
        if self.loaded_bytes >= nbytes * (1 - 1e-12):
            ev.succeed()
        else:
            self.waiters.append((nbytes, ev))
        return ev

    def wake(self) -> None:
        ready = [w for w in self.waiters if self.loaded_bytes >= w[0] * (1 - 1e-12)]
        for w in ready:
            self.waiters.remove(w)
            w[1].succeed()

    def usable_at(self, nbytes: float) -> float | None:
        """When the first `nbytes` are in the banks (None: not loaded yet)."""
        for t, b in self.usable:
            if b >= nbytes * (1 - 1e-12):
                return t
        return None


def loader(env, m, loads: list[TableLoad], rate_bytes_per_s: float):
    """Streams each op's tables in op order, `chunks` pieces each, in the background of the DRAM channels."""
    for ld in loads:
        reserved = ld.target_bytes
        if reserved <= 0:
            continue
        yield m.table_store.get(reserved)
        ld.start_s = env.now
        piece = reserved / ld.chunks
        while ld.loaded_bytes < ld.target_bytes * (1 - 1e-12):
            nbytes = min(piece, ld.target_bytes - ld.loaded_bytes)
            yield env.timeout(max(m.dram.stream(env.now, nbytes, background=True) - env.now, 0.0))
            ld.loaded_bytes += nbytes
            ld.usable.append((env.now + m.dram.latency_s, ld.loaded_bytes))
            ld.wake()
        ld.end_s = env.now + m.dram.latency_s
        ld.done.succeed()
        m.timeline.add("dram", f"{ld.op} tables", ld.start_s, ld.end_s)
        if reserved > ld.loaded_bytes:  # the op decided to hold less: give the room back
            yield m.table_store.put(reserved - ld.loaded_bytes)


def decide(env, ld: TableLoad, loads: list[TableLoad], rate_bytes_per_s: float, latency_s: float) -> int:
    """The cut the op holds, at its start: the least of (seconds until the cut's rows are in the banks +
    the op's cost at that cut). Rows still to load wait for the loader's backlog (earlier ops' loads)."""
    costs, now = ld.costs, env.now
    backlog = 0.0
    for other in loads:
        if other is ld:
            break
        backlog += max(other.target_bytes - other.loaded_bytes, 0.0)
    need = costs.cuts * costs.bucket_bytes
    # arrived already: wait until it is usable; not yet: the loader's backlog, then the rest of it
    wait = (backlog + np.maximum(need - ld.loaded_bytes, 0.0)) / rate_bytes_per_s + latency_s
    if ld.usable:
        times, loaded = np.array(ld.usable).T
        i = np.searchsorted(loaded, need * (1 - 1e-12), side="left")
        have = i < len(loaded)
        wait[have] = np.maximum(times[np.minimum(i, len(loaded) - 1)][have] - now, 0.0)
    wait[need <= 0] = 0.0
    ld.cut = costs.best(wait)
    ld.target_bytes = max(ld.loaded_bytes, ld.cut * costs.bucket_bytes)  # the loader stops at what is used
    return ld.cut


def wait_for_tables(env, kp, ld: TableLoad):
    """The op's rows up to its cut are in the banks (what it waited counts as waiting on 'tables')."""
    need, t0 = ld.cut * ld.costs.bucket_bytes, env.now
    if need <= 0:
        return
    if ld.loaded_bytes < need * (1 - 1e-12):
        yield ld.arrived(env, need)
    t = ld.usable_at(need)
    if t > env.now:
        yield env.timeout(t - env.now)
    kp.waits["tables"] += env.now - t0


def free_tables(env, m, ld: TableLoad, op_done):
    """A finished op frees the banks its tables took."""
    yield op_done
    if ld.start_s is not None and ld.end_s is None:  # the loader's last piece for this op is on its way
        yield ld.done
    if ld.loaded_bytes > 0:
        yield m.table_store.put(ld.loaded_bytes)
