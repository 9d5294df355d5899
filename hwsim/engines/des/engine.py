"""Discrete-event engine: the Workload's kernels replayed on simpy resources built from the Accelerator.

`simulate_des(workload, accel, **options)` (what `hwsim.simulate(..., engine="des")` calls) returns the
same Result as the analytic engine, plus Result.extra (see hwsim.engines.des.report). How it runs:

- ops are lowered to kernels exactly as the analytic engine does; kernels are launched (eager: by the
  host, in program order, launch_overhead_eager each; graph: by a sequencer, as they become ready,
  launch_overhead_graph each) and start once their op's dependencies (Op.deps) are done, the kernel
  before them on their stream is done, and their engine is free (see "Streams" below);
- non-lookup kernels hold their engine (matrix, vector, hash unit) for the analytic kernel_cost time,
  their bytes queue on DRAM channels and SRAM alongside everyone else's;
- lookup kernels replay the index stream (or buckets drawn uniform / Zipf from `seed`): every token's
  row reads go to their lookup banks (on_chip), or to the cache, DRAM channels and the Little's-law
  thread pool (off_chip_cached), unit by unit: one token (fine) or one tile of tokens (coarse=True);
- on hardware with a hash unit, a Memory Layer's hash and lookup run in tiles of tokens, the next
  tile hashed while the current tile's rows are fetched (double_buffer=True, dataflow streams only);
- on-chip tables stream into the banks from DRAM ahead of their op (unless tables_resident=True),
  as much of each op's tables as pays off (hwsim.engines.des.residency).

Streams (the `streams` option; `overlap` is its shorthand):
- an integer N: N in-order queues, as CUDA streams: a kernel starts only after the kernel before it on
  its stream has finished; an op that depends on the last op of a stream continues that stream (no
  wait across streams for that input), any other op takes the stream used least recently, so with
  N >= 3 the Q, K and V branches of a block run side by side;
- a mapping {op name: stream index} places ops by hand (ops not named go to stream 0);
- "dataflow": no stream order; a kernel starts as soon as its inputs are done and its engine is free.
Default: the workload's meta["streams"] if it has one; else 1 on GPUs and CPUs (PyTorch eager issues
every kernel on the current stream, and a CUDA graph captured from it keeps that order; a CPU runs
ops one after another, each over all its cores), and "dataflow" on accelerators built from dedicated
engines (kinds asic, npu, systolic): their matrix engine, vector unit, hash unit and lookup memory are
separate hardware with their own command queues, so independent ops on different engines overlap,
ops on one engine queue for it, and the lookup memory's per-bank queues take several ops' reads at
once. overlap=False is streams=1 (one kernel at a time, in launch order) on any machine; overlap=True
is streams="dataflow".

DES options (besides the analytic ones: mode, lowering, lookup_impl, block_d, bank_mapping,
host_head_start_s, tables_resident): bucket_distribution ("uniform" | "zipf"), zipf_exponent, seed,
coarse, tile_tokens (default: 1/64 of the tokens, at least 16), buffers (tiles the row reads may run ahead of the
summing, default 2), double_buffer, streams, overlap, time_attribution ("latest" | "shared", see
hwsim.engines.des.report), trace_json (path), progress.
"""
from __future__ import annotations

import math
import time

import simpy

import hwsim.engines.des.processes as proc
from hwsim.engines import lookup_hw
from hwsim.engines.des import hw_demand
from hwsim.engines.analytic import host_runs_kernels, kernel_cost, schedule
from hwsim.config import load_accelerator
from hwsim.io.progress import NoProgress, Progress
from hwsim.engines.des.ordering import assign_streams, check_streams, resolve_streams
from hwsim.engines.des.resources import Machine
from hwsim.engines.des import tables
from hwsim.engines.des.residency import cut_costs
from hwsim.engines.des.streams import DISTRIBUTIONS, check_stream, draw_stream, lookup_demand, tiling
from hwsim.engines.options import resolve_options
from hwsim.engines.run import lower_for
from workloads.op import OpKind

ATTRIBUTIONS = ("latest", "shared")
DES_DEFAULTS = dict(bucket_distribution="uniform", zipf_exponent=1.1, seed=0, coarse=False, tile_tokens=None,
                    buffers=2, double_buffer=True, streams=None, overlap=None, time_attribution="latest",
                    trace_json=None, progress=False)


def des_options(**given) -> dict:
    o = {**DES_DEFAULTS, **given}
    if o["bucket_distribution"] not in DISTRIBUTIONS:
        raise ValueError(f"bucket_distribution must be one of {', '.join(DISTRIBUTIONS)}, "
                         f"given {o['bucket_distribution']!r}")
    if o["time_attribution"] not in ATTRIBUTIONS:
        raise ValueError(f"time_attribution must be one of {', '.join(ATTRIBUTIONS)}, given {o['time_attribution']!r}")
    if not (isinstance(o["zipf_exponent"], (int, float)) and o["zipf_exponent"] > 0):
        raise ValueError(f"zipf_exponent must be a positive number, given {o['zipf_exponent']!r}")
    if not (isinstance(o["seed"], int) and o["seed"] >= 0):
        raise ValueError(f"seed must be a non-negative integer, given {o['seed']!r}")
    if o["overlap"] is not None and not isinstance(o["overlap"], bool):
        raise ValueError(f"overlap must be True or False, given {o['overlap']!r}")
    check_streams(o["streams"])
    for key in ("tile_tokens", "buffers"):
        v = o[key]
        if v is not None and not (isinstance(v, int) and v > 0):
            raise ValueError(f"{key} must be a positive integer, given {v!r}")
    return o


def simulate_des(workload, accel, **options):
    """Discrete-event simulation of `workload` on `accel` (preset name, YAML path or Accelerator)."""
    from hwsim.engines.des.report import build_result
    from hwsim.io.trace import write_trace_json

    accel = load_accelerator(accel)
    layers = options.pop("layers", 1)
    d_opts = des_options(**{k: options.pop(k) for k in list(options) if k in DES_DEFAULTS})
    try:  # the bucket law also sets the lookup-hardware expectations (hwsim.engines.lookup_hw)
        opts = resolve_options(accel, bucket_distribution=d_opts["bucket_distribution"],
                               zipf_exponent=d_opts["zipf_exponent"], **options)
    except TypeError:
        known = sorted([*DES_DEFAULTS, "mode", "lowering", "lookup_impl", "block_d", "bank_mapping",
                        "host_head_start_s", "tables_resident", *lookup_hw.OPTION_DEFAULTS])
        raise ValueError(f"unknown DES option(s) {sorted(options)}; options: {', '.join(known)}") from None
    opts = lookup_hw.place_tables(workload, accel, opts, layers)
    t0 = time.perf_counter()
    sim = None
    try:
        sim = Simulation(workload, accel, opts, d_opts)
        sim.run()
        sim.progress.close()
        result = build_result(sim, wall_s=time.perf_counter() - t0)
        if d_opts["trace_json"]:
            write_trace_json(result, d_opts["trace_json"])  # atomic: whole file or none
    except KeyboardInterrupt:
        if sim is not None:
            sim.progress.close(interrupted=True)
        raise KeyboardInterrupt from None  # one short traceback, not the event loop's; nothing was written
    return result


class Simulation:
    """The kernels of one workload as simpy processes on one Machine."""

    def __init__(self, workload, accel, opts, d_opts):
        self.workload, self.accel, self.opts, self.d_opts = workload, accel, opts, d_opts
        self.env = env = simpy.Environment()
        kernels = lower_for(workload, accel, opts)  # as the analytic engine lowers them
        # service times of non-lookup kernels, and the summing time of lookups (neither depends on the stream)
        costs = [kernel_cost(k, accel, None, opts["bank_mapping"], opts["tables_resident"]) for k in kernels]
        self.plans = [proc.KernelPlan(env, i, k, c) for i, (k, c) in enumerate(zip(kernels, costs))]
        self.ops = {op.name: op for op in workload.ops}
        self.streams, self.drawn, self.table_loads = {}, [], []
        self._demands()
        units = sum(kp.tiling.units for kp in self.plans if kp.tiling is not None)
        self.progress = Progress(len(self.plans) + units, f"DES {workload.name} on {accel.name}") \
            if d_opts["progress"] else NoProgress()
        self.machine = Machine(env, accel, self.progress)
        with_kernels = {kp.op for kp in self.plans}
        self.streams_model = resolve_streams(d_opts["streams"], d_opts["overlap"], workload, accel.kind)
        self.stream_of = assign_streams(workload, self.streams_model, with_kernels.__contains__)
        done = self._dependencies(self._tiled_hashes())
        self._tables(done)
        dispatch = self._launcher()
        for kp in self.plans:
            env.process(proc.kernel(env, self.machine, kp, dispatch))

    # --- what each lookup asks of the memories --------------------------------------------------
    def _stream(self, op, g):
        """The op's traced index stream (checked), or buckets drawn from the stated distribution."""
        tokens = op.dims.get("tokens", g["rows"] // max(g["tables"], 1))
        if op.index_stream is not None:
            check_stream(op.name, op.index_stream, tokens, g["rows_per_table"])
            return op.index_stream
        d = self.d_opts
        self.drawn.append(op.name)
        stream = draw_stream(tokens, g["tables"], g["rows_per_table"], d["bucket_distribution"], d["zipf_exponent"],
                             d["seed"], salt=op.name)
        check_stream(op.name, stream, tokens, g["rows_per_table"])
        return stream

    def _demands(self) -> None:
        """Each lookup's index stream, tiling and read-ahead window, and its demand on the memories: now, or
        (an on-chip op whose tables load) once it starts and knows how much of them is in the banks."""
        d, lk, env = self.d_opts, self.accel.lookup, self.env
        base, align = 0, int(self.accel.memory.dram.row_buffer_bytes or 4096)
        loading = lk.placement == "on_chip" and not self.opts["tables_resident"]
        for kp in self.plans:
            k = kp.kernel
            if k.gather is None:
                continue
            if k.op not in self.streams:
                self.streams[k.op] = self._stream(self.ops[k.op], k.gather)
            stream = self.streams[k.op]
            if k.extra.get("lookup_hw"):  # lookup hardware (issue 11): costed on this stream
                kp.cost = kernel_cost(k, self.accel, stream, self.opts["bank_mapping"], self.opts["tables_resident"])
                if not hw_demand.applies(k):
                    continue  # runs as a plain kernel for its analytic time (table-stationary, host / sram tiers)
            kp.tiling = tile = tiling(stream.shape[0], d["tile_tokens"], d["coarse"])
            ahead = self._read_ahead_tokens(k, tile, stream.shape[0])
            if hw_demand.applies(k):  # near-memory units, hot-row caches: hwsim.engines.des.hw_demand
                kp.demand = hw_demand.demand(k, kp.cost, stream, self.accel, tile, self.opts["bank_mapping"], base)
            else:
                if lk.placement == "near_memory":
                    kp.cut = k.gather["rows_per_table"]
                elif lk.placement == "on_chip":
                    costs = cut_costs(k, stream, self.accel, self.opts["bank_mapping"], ahead, base)
                    kp.cut = costs.best()  # free loading: what to prefetch, or (resident tables) what to hold
                    if loading:
                        kp.table_load = tables.TableLoad(env, k.op, costs, kp.cut, max(1, min(k.gather["tables"], 64)))
                        self.table_loads.append(kp.table_load)
                kp.make_demand = (lambda cut, k=k, kp=kp, stream=stream, tile=tile, base=base: lookup_demand(
                    k, kp.cost, stream, self.accel, tile, self.opts["bank_mapping"], base, cut))
                if kp.table_load is None:
                    kp.demand = kp.make_demand(kp.cut)
            kp.unit_tile = tile.unit_tile().tolist()
            base += math.ceil(k.gather["table_bytes"] / align) * align  # each op's tables at their own addresses
            kp.window = math.ceil(ahead / tile.tile_tokens) if d["coarse"] else ahead
            if lk.placement == "on_chip":
                kp.row_latency_s = lk.access_latency_s
            elif lk.placement == "near_memory":
                kp.row_latency_s = lk.access_latency_s  # the units' own row reads (hwsim.engines.near_memory)

    def _read_ahead_tokens(self, k, tile, tokens: int) -> int:
        """How far the row reads may run ahead of the summing: `buffers` tiles of a lookup memory's buffer;
        for a GPU / CPU, at least as far as its thread pool keeps rows in flight; for DRAM behind a cache
        without such a bound (DMA engines), no limit (0), as the analytic engine's bandwidth-only model."""
        ahead = self.d_opts["buffers"] * tile.tile_tokens
        if self.accel.lookup.placement != "off_chip_cached":
            return ahead
        tif = self.accel.compute.threads_in_flight
        if not tif:
            return 0
        chains_per_token = k.gather["chains"] / tokens * k.extra.get("program_threads", 1)
        return max(ahead, math.ceil(2 * tif * k.extra.get("loads_per_thread", 1) / chains_per_token))

    # --- events and processes ------------------------------------------------------------------
    def _tiled_hashes(self) -> dict:
        """Hash ops on a hash unit run tile by tile when double buffering (dataflow only: on an in-order
        stream the lookup waits for the whole hash): op -> (plan, tile tokens)."""
        d, tiled = self.d_opts, {}
        if not d["double_buffer"] or "hash" not in self.machine.units or self.stream_of is not None:
            return tiled
        for kp in self.plans:
            op = self.ops[kp.op]
            if op.kind is OpKind.HASH and kp.kernel.unit == "hash" and sum(p.op == kp.op for p in self.plans) == 1:
                t = tiling(op.dims["tokens"], d["tile_tokens"], True)
                kp.tiles = [self.env.event() for _ in range(t.tiles)]
                tiled[kp.op] = (kp, t.tile_tokens)
        return tiled

    def _dependencies(self, tiled) -> dict:
        """Each kernel's `ready` event: its op's inputs (for the first kernel of an op; a lookup pipelined
        with its hash waits for the hash's first tile only), else the op's previous kernel; and on an
        in-order stream, the kernel before it on that stream."""
        env, by_op = self.env, {}
        for kp in self.plans:
            by_op.setdefault(kp.op, []).append(kp)
        done, tail = {}, {}  # tail: stream -> its last kernel so far
        for op in self.workload.ops:
            kps = by_op.get(op.name, [])
            stream = None if self.stream_of is None else self.stream_of[op.name]
            for i, kp in enumerate(kps):
                inputs = [kps[i - 1].done] if i else [self._input(kp, x, done, tiled) for x in op.deps]
                if stream is not None and tail.get(stream) is not None:
                    inputs.append(tail[stream].done)
                kp.ready, kp.stream = env.all_of(inputs), stream
                if stream is not None:
                    tail[stream] = kp
            done[op.name] = kps[-1].done if kps else env.all_of([done[x] for x in op.deps])
        return done

    def _input(self, kp, dep: str, done, tiled):
        if dep not in tiled or kp.tiling is None or kp.tiling.tokens != self.ops[dep].dims["tokens"]:
            return done[dep]
        hash_kp, hash_tile = tiled[dep]
        t = kp.tiling
        # lookup tile j waits for the hash tile holding its last token
        kp.hash_tiles = [hash_kp.tiles[(min(t.tokens, (j + 1) * t.tile_tokens) - 1) // hash_tile]
                         for j in range(t.tiles)]
        return kp.hash_tiles[0]

    def _tables(self, done) -> None:
        """On-chip lookup memories prefetch each op's tables (hwsim.engines.des.tables); a finished op frees them."""
        if not self.table_loads:
            return
        dram = self.accel.memory.dram
        rate = dram.sustained_bandwidth_bytes_per_s
        for kp in self.plans:
            if kp.table_load is not None:
                kp.decide = (lambda env, ld=kp.table_load:
                             tables.decide(env, ld, self.table_loads, rate, dram.latency_s))
                self.env.process(tables.free_tables(self.env, self.machine, kp.table_load, done[kp.op]))
        self.env.process(tables.loader(self.env, self.machine, self.table_loads, rate))

    def _launcher(self):
        """The host (eager) or the graph sequencer; returns the sequencer's queue of ready kernels (graph)."""
        rt, hs = self.accel.runtime, self.opts["host_head_start_s"]
        self.offset_s = hs  # simulation time 0 is when the host starts: analytic time -host_head_start_s
        device_free = rt.launch_latency_s + hs
        if self.opts["mode"] == "eager":
            self.env.process(proc.host(self.env, self.plans, rt, device_free, host_runs_kernels(self.accel)))
            return None
        ready = simpy.Store(self.env)
        self.env.process(proc.sequencer(self.env, ready, rt, max(rt.graph_launch_s, device_free)))
        return ready

    def analytic(self) -> list:
        """The analytic engine's schedule of the same kernels on the same index streams (drawn ones too)."""
        costs = [kernel_cost(kp.kernel, self.accel, self.streams.get(kp.op), self.opts["bank_mapping"],
                             self.opts["tables_resident"]) if kp.tiling is not None else kp.cost
                 for kp in self.plans]
        return schedule(costs, self.accel, self.opts["mode"], self.opts["host_head_start_s"])

    def run(self) -> None:
        self.env.run()
        unfinished = [kp.kernel.name for kp in self.plans if not kp.done.processed]
        if unfinished:
            raise RuntimeError(f"DES stopped with kernels unfinished (a dependency cycle?): {unfinished[:5]}")
