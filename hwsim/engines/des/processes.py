"""The DES processes: short generators over the resources of hwsim.des_resources.

host / sequencer  launch kernels (eager: the host spends launch_overhead per kernel, in program order;
                  graph: a sequencer dispatches them as their inputs become ready)
kernel            waits for its inputs and its launch, then runs one of:
  plain           holds its engine for the analytic service time (kernel_cost), its bytes on DRAM/SRAM
  tiled           the same, one tile of tokens at a time (a hash unit feeding a pipelined lookup)
  lookup          issues table-row reads unit by unit (token or tile) into banks / channels / cache /
                  thread pool; `summer` sums each unit's rows as they arrive (double buffering)
(on-chip tables stream into the banks in hwsim.engines.des.tables)
"""
from __future__ import annotations

from collections import defaultdict

import simpy

from hwsim.engines.des import tables


class KernelPlan:
    """One kernel: its events, what it asks for, and what the simulation measured."""

    def __init__(self, env, index: int, kernel, cost):
        self.index, self.kernel, self.cost, self.op = index, kernel, cost, kernel.op
        self.ready = None                 # event: inputs done (set by the builder)
        self.stream = None                # the in-order stream it runs on (None: dataflow)
        self.launched = env.event()
        self.done = env.event()
        self.launch_s = self.ready_s = self.start_s = self.end_s = self.stall_s = 0.0
        self.tiles = None                 # tiled kernel: one event per tile of tokens done
        self.demand = None                # lookup kernel: hwsim.engines.des.streams.LookupDemand
        self.tiling = None                # lookup kernel: its tokens in tiles and units of issue
        self.make_demand = None           # cut -> LookupDemand
        self.table_load = None            # on-chip lookup whose tables load: hwsim.engines.des.tables.TableLoad
        self.decide = None                # env -> the cut it holds, decided at its start
        self.unit_tile = None
        self.hash_tiles = None            # pipelined lookup: the hash tile each of its tiles waits for
        self.cut = None                   # on-chip lookup: buckets per table its banks hold
        self.window = 0                   # units the reads may run ahead of the summing (0: no limit)
        self.row_latency_s = 0.0          # added to bank / DRAM finish times of row reads
        self.waits: dict[str, float] = defaultdict(float)  # why a lookup waited: banks, dram, tables, ...
        self.extended = ""                # memory that held a plain kernel past its analytic time


def host(env, plans, rt, device_free_s: float, synchronous: bool = False):
    """Eager: the host spends launch_overhead_eager per kernel, in order, never waiting for the device;
    a kernel reaches the device launch_latency later (hidden when it queues behind others).
    synchronous (a CPU, whose dispatching thread runs the op): the next dispatch waits for the kernel."""
    for kp in plans:
        yield env.timeout(rt.launch_overhead_eager_s)
        kp.launch_s = max(env.now + rt.launch_latency_s, device_free_s)
        kp.launched.succeed()
        if synchronous:
            yield kp.done


def sequencer(env, ready, rt, start_s: float):
    """Graph replay: after the graph launch, the graph's kernels are dispatched as their inputs become
    ready (a DAG, not one queue: independent branches run side by side), launch_overhead_graph apart."""
    yield env.timeout(start_s)
    while True:
        kp = yield ready.get()
        yield env.timeout(rt.launch_overhead_graph_s)
        kp.launch_s = env.now
        kp.launched.succeed()


def kernel(env, m, kp: KernelPlan, dispatch=None):
    """dispatch: the graph sequencer's queue of ready kernels (graph mode); eager kernels are launched
    by the host in program order whether ready or not."""
    yield kp.ready
    kp.ready_s = env.now
    if dispatch is not None:
        dispatch.put(kp)
    yield kp.launched
    if kp.launch_s > env.now:
        yield env.timeout(kp.launch_s - env.now)
    kp.stall_s = env.now - kp.ready_s
    if kp.tiling is not None:  # a lookup that replays its index stream
        yield from lookup(env, m, kp)
    elif kp.tiles is not None:
        yield from tiled(env, m, kp)
    else:
        yield from plain(env, m, kp)
    kp.end_s = env.now
    m.progress.advance(1)
    kp.done.succeed()


def _engine_name(m, kp) -> str:
    name = kp.kernel.unit
    return "vector" if name == "hash" and "hash" not in m.units else name


def _memory_time(m, kp, now: float, busy_s: float, dram_bytes: float, sram_bytes: float, latency_s: float):
    """Service time of (a tile of) a plain kernel: its analytic time, unless DRAM or SRAM traffic queued
    behind other kernels' takes longer."""
    hold = busy_s
    if dram_bytes > 0:
        done = m.dram.stream(now, dram_bytes)
        m.timeline.add("dram", kp.op, now, done)
        if done - now + latency_s > hold * (1 + 1e-9):
            hold, kp.extended = done - now + latency_s, "dram"
    if sram_bytes > 0 and m.sram_s_per_byte:
        done = m.sram.serve(now, sram_bytes * m.sram_s_per_byte)
        m.timeline.add(m.sram.name, kp.op, now, done)
        if done - now + latency_s > hold * (1 + 1e-9):
            hold, kp.extended = done - now + latency_s, m.sram.name
    return hold


def plain(env, m, kp):
    c, engine = kp.cost, m.unit(kp.kernel.unit)
    if engine is None:  # memory-only kernel
        kp.start_s = env.now
        yield env.timeout(_memory_time(m, kp, env.now, c.busy_s, c.dram_bytes, c.sram_bytes, m.dram.latency_s))
        return
    name, asked = _engine_name(m, kp), env.now
    with engine.request() as req:
        yield req
        kp.start_s = env.now
        m.queue_s[(name, kp.op)] += env.now - asked
        yield env.timeout(_memory_time(m, kp, env.now, c.busy_s, c.dram_bytes, c.sram_bytes, m.dram.latency_s))
        m.hold(name, kp.op, kp.start_s, env.now)


def tiled(env, m, kp):
    """The analytic time split over tiles; the first tile also fills the memory pipeline."""
    c, engine, name = kp.cost, m.unit(kp.kernel.unit), _engine_name(m, kp)
    n, lat = len(kp.tiles), m.dram.latency_s
    per_tile = max(c.busy_s - lat, 0.0) / n
    for i, done in enumerate(kp.tiles):
        asked = env.now
        with engine.request() as req:
            yield req
            if i == 0:
                kp.start_s = env.now
            m.queue_s[(name, kp.op)] += env.now - asked
            first = lat if i == 0 else 0.0
            t0 = env.now
            yield env.timeout(_memory_time(m, kp, t0, per_tile + first, c.dram_bytes / n, c.sram_bytes / n, first))
            m.hold(name, kp.op, t0, env.now)
        done.succeed()


def _wait(env, kp, cause: str, until: float):
    if until > env.now:
        kp.waits[cause] += until - env.now
        yield env.timeout(until - env.now)


def lookup(env, m, kp):
    kp.start_s = env.now
    if kp.decide is not None:  # how much of the tables to hold, with what the loader has brought in so far
        kp.cut = kp.decide(env)
        kp.demand = kp.make_demand(kp.cut)
    d, lat = kp.demand, m.dram.latency_s
    # indices and weights stream in tile by tile, all requested up front (a prefetcher walking the arrays)
    reads = [m.dram.stream(env.now, b) + lat for b in d.read_bytes_per_tile]
    if kp.table_load is not None:
        yield from tables.wait_for_tables(env, kp, kp.table_load)
    rows = simpy.Store(env)
    window = simpy.Container(env, capacity=kp.window, init=kp.window) if kp.window else None
    summing = env.process(summer(env, m, kp, rows, window))
    for u in range(d.units):
        tile = kp.unit_tile[u]
        if u == 0 or kp.unit_tile[u - 1] != tile:
            if kp.hash_tiles is not None and not kp.hash_tiles[tile].processed:
                t = env.now
                yield kp.hash_tiles[tile]
                kp.waits["hash"] += env.now - t
            yield from _wait(env, kp, "indices", reads[tile])
        if window is not None:
            yield window.get(1)
        rows.put(issue(m, kp, d, u, env.now))
    yield summing
    min_s = m.accel.runtime.min_kernel_time_s
    if env.now - kp.start_s < min_s:
        yield env.timeout(kp.start_s + min_s - env.now)


def issue(m, kp, d, u: int, now: float) -> tuple[float, str]:
    """Send unit u's row reads to where they live; (time its rows are all back, the memory that set it)."""
    ready, cause = now, "issue"
    if d.bank_s is not None:
        done = m.banks.serve(now, d.bank_s[u])
        m.timeline.add("lookup banks", kp.op, now, done)
        if done + kp.row_latency_s > ready:
            ready, cause = done + kp.row_latency_s, "banks"
    a, b = d.chunk_ptr[u], d.chunk_ptr[u + 1]
    if b > a:
        done = m.dram.rows(now, d.chunk_channel[a:b], d.chunk_bank[a:b], d.chunk_page[a:b], d.chunk_bytes[a:b],
                           d.miss_s_per_byte)
        m.timeline.add("dram", kp.op, now, done)
        if d.bank_s is not None:  # rows of on-chip tables that did not fit: DRAM latency on top
            done += m.dram.latency_s
        if done > ready:
            ready, cause = done, "dram"
    if d.hit_s is not None and d.hit_s[u] > 0:
        done = m.sram.serve(now, d.hit_s[u])
        m.timeline.add(m.sram.name, kp.op, now, done)
        if done > ready:
            ready, cause = done, "cache"
    if d.mlp_s is not None:
        done = m.threads.serve(now, d.mlp_s[u])
        m.timeline.add("threads", kp.op, now, done)
        if done > ready:
            ready, cause = done, "memory latency"
    if now + d.chain_s[u] > ready:
        ready, cause = now + d.chain_s[u], "memory latency"
    return ready, cause


def summer(env, m, kp, rows, window):
    """Sums each unit's rows once they are back (on the vector unit, or in adder trees at no cost), then
    writes the unit's output; frees its buffer slot for the next reads."""
    d, vector, last_write = kp.demand, m.units["vector"], env.now
    for u in range(d.units):
        ready, cause = yield rows.get()
        yield from _wait(env, kp, cause, ready)
        if d.accumulate_s[u] > 0:
            asked = env.now
            with vector.request() as req:
                yield req
                m.queue_s[("vector", kp.op)] += env.now - asked
                t0 = env.now
                yield env.timeout(d.accumulate_s[u])
                m.hold("vector", kp.op, t0, env.now)
        if d.write_bytes[u] > 0:
            last_write = max(last_write, m.dram.stream(env.now, d.write_bytes[u]))
        if window is not None:
            window.put(1)
        m.progress.advance(1)
    yield from _wait(env, kp, "writes", last_write)
