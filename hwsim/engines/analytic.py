"""Analytic engine: a time per kernel from the machine's rates, then a launch pipeline per workload.

Per kernel, each resource gives a time and the kernel takes the longest (they overlap: tiles are
double-buffered, gathers stream), plus one memory latency to fill the pipeline. Every resource is a
roofline term, so no kernel moves bytes through a memory faster than its peak:
- compute: FLOPs over the unit's sustained rate; products and attention in tiles spread over the
  cores in waves (a last, partial wave costs a whole one),
- dram: everything that crosses the DRAM bus, added up (one bus, one time): streamed reads and writes
  at the copy efficiency, random row reads at the gather efficiency of their size
  (hwsim.engines.gather: measured points, or derived from the DRAM's parameters). Products: all
  operands once when they fit in the cache level nearest DRAM, otherwise blocked traffic for its size,
- sram: the slowest on-chip level, each moving its bytes at its own bandwidth: every DRAM byte passes
  the level nearest DRAM (a cache fill or a DMA into a scratchpad), which also serves product tiles
  and gathered rows (in whole `lookup.bank_width` units); the levels nearer the compute units stage
  the product tiles,
- banks: table rows read from dedicated lookup banks: accesses / banks / clock, times the busiest
  bank's excess from the index stream (or uniform buckets),
- latency: chains of dependent reads (a thread walking K tables): the longest chain with every step
  missing, or Little's law over the threads in flight, whichever is longer (hwsim.engines.lookups).
Activations that stay in an on-chip scratchpad between ops (hwsim.lowering.scratchpad_residency) are
read and written there instead of DRAM, where that is faster.
The launch pipeline: in eager mode the host spends `launch_overhead_eager` per kernel and the device
cannot start a kernel before it is launched; replayed graphs pay `graph_launch` once and
`launch_overhead_graph` per kernel. Every kernel occupies the device at least `min_kernel_time`.
On a CPU (kind cpu) the host is the device: the thread that dispatches an eager op runs it (with its
intra-op pool) before it returns, so dispatch and kernel add up instead of overlapping.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from hwsim.engines import lookups
from hwsim.engines.gather import gather_efficiency  # noqa: F401  (the DES imports it from here)
from hwsim.lowering import Kernel, on_tiles

TERMS = ("compute", "dram", "sram", "banks", "latency")


@dataclass(frozen=True)
class KernelCost:
    kernel: Kernel
    terms_s: dict  # TERMS -> seconds
    busy_s: float  # device time of the kernel alone
    bound: str
    dram_bytes: float  # bytes that cross the DRAM bus (read and written)
    sram_bytes: float  # bytes on-chip levels serve themselves (hits, product tiles, on-chip activations)
    lookup_accesses: float
    hash_chunks: float
    notes: str = ""
    level_bytes: tuple = ()   # bytes each SRAM level moves (memory.sram order): its roofline term
    served_bytes: tuple = ()  # how sram_bytes splits over the levels (energy)
    # lookup hardware (hwsim.engines.lookup_hw): internal_bytes, host_bytes, hot_cache_bytes and their
    # energies by component (*_energy_j), for hwsim.energy and the Result columns
    hw: dict = field(default_factory=dict)


def scratchpad_bytes(accel) -> float:
    """Capacity of the software-managed on-chip memory that may hold activations between ops (0: none);
    what `hwsim.lowering.lower` takes as scratchpad_bytes."""
    return next((level.capacity_bytes for level in accel.memory.sram if level.kind == "scratchpad"), 0.0)


def _scratchpad(accel) -> int | None:
    return next((i for i, level in enumerate(accel.memory.sram) if level.kind == "scratchpad"), None)


def _rate(unit_peaks, efficiency: float, dtype: str) -> float:
    peaks = unit_peaks
    if dtype in peaks:
        return peaks[dtype] * efficiency
    # a dtype the unit does not list runs at the widest format it has (e.g. int64 index math as fp32)
    fallback = "fp32" if "fp32" in peaks else next(iter(peaks))
    return peaks[fallback] * efficiency


def _pow2_at_least(x: int, lo: int = 16) -> int:
    return max(lo, 1 << max(0, math.ceil(math.log2(max(x, 1)))))


def _gemm_cost(k: Kernel, accel, b: int, onchip_read: float, onchip_write: float):
    """(compute_s, dram_bytes, tile_bytes): tile_bytes is what the cores load tile by tile."""
    m, n, kk = k.gemm
    mat = accel.compute.matrix
    # Libraries pick smaller tiles for skinny products (a GEMV does not pad m = 1 to 128 rows) ...
    tm, tn = min(mat.tile[0], _pow2_at_least(m)), min(mat.tile[1], _pow2_at_least(n))
    tk = mat.tile[2]
    tiles = math.ceil(m / tm) * math.ceil(n / tn)
    # ... and split k over several cores when there are fewer tiles than cores (split-K).
    split = 1 if tiles >= mat.cores else max(1, min(kk // tk, mat.cores // tiles))
    waves = math.ceil(tiles * split / mat.cores)
    per_core = _rate(mat.peak_flops_per_s, mat.efficiency, k.dtype) / mat.cores
    # vector FMAs (a dtype off the matrix tiles) compute the rows there are, not a padded tile's
    rows = tm if on_tiles(mat.tile_dtypes, k.dtype) else min(tm, m)
    compute = waves * 2 * rows * tn * math.ceil(kk / split) / per_core
    a_bytes, b_bytes, c_bytes = m * kk * b, kk * n * b, m * n * b
    bias = max(0, k.stream_read_bytes - a_bytes - b_bytes)
    # an activation operand held on chip is read (and the result written) there, not in DRAM
    a_dram, c_dram = max(0.0, a_bytes - onchip_read), max(0.0, c_bytes - onchip_write)
    compulsory = a_dram + b_bytes + bias + c_dram
    cache = accel.memory.sram[0] if accel.memory.sram else None
    if cache is None or a_bytes + b_bytes + c_bytes <= cache.capacity_bytes:
        dram = compulsory
    else:  # square blocks of side s, three of which fit in the cache
        s = max(tm, math.sqrt(cache.capacity_bytes / (3 * b)))
        dram = max(compulsory, a_dram * math.ceil(n / s) + b_bytes * math.ceil(m / s) + c_dram + bias)
    tile = a_bytes * math.ceil(n / tn) + b_bytes * math.ceil(m / tm) + c_bytes + bias if cache else 0.0
    return compute, dram, tile


def gemm_stream_bandwidth(k: Kernel, accel, dram_bytes: float, b: int) -> float:
    """DRAM bandwidth a product streams at. When the weight (k x n) is at least half its DRAM traffic (a
    skinny product: few tokens against a large weight) it reaches `weight_stream_efficiency` of peak, less
    than a copy; every other product streams at the copy rate."""
    dram = accel.memory.dram
    _, n, kk = k.gemm
    weight_dominated = kk * n * b >= 0.5 * dram_bytes
    return dram.weight_stream_bandwidth_bytes_per_s if weight_dominated else dram.sustained_bandwidth_bytes_per_s


def attention_keys_per_core(a: dict, mat) -> int:
    """Keys the busiest core walks for one query tile. Prefill: all of them (PyTorch's kernel gives each query
    tile all its keys: data/calibration/h200 sdpa_causal s=1024 b=1, 64 query tiles on 132 SMs, takes the
    one-tile-over-every-key time, not half of it). Decode (a
    KV cache, dims cache_len): a split-KV kernel (FlashDecoding; flash_attn_with_kvcache) cuts the keys into
    chunks of the matrix unit's n tile and spreads them over the cores the query tiles leave idle, then
    merges the partial softmaxes (a pass over tiles x splits rows, negligible)."""
    keys = a["seq_len"] + a.get("cache_len", 0)
    if "cache_len" not in a:
        return keys
    q_tiles = a["batch"] * a["heads"] * math.ceil(a["seq_len"] / mat.tile[0])
    chunk = mat.tile[1]
    chunks = math.ceil(keys / chunk)
    splits = max(1, min(chunks, mat.cores // q_tiles))
    # whole chunks per core (so more keys or more sequences never shorten the busiest core's walk)
    return min(keys, chunk * math.ceil(chunks / splits))


def _attention_compute(k: Kernel, accel) -> float:
    a, mat = k.attention, accel.compute.matrix
    eff = mat.attention_efficiency or mat.efficiency
    rate = _rate(mat.peak_flops_per_s, eff, k.dtype)
    q_len = a["seq_len"]
    keys = q_len + a.get("cache_len", 0)
    # a causal kernel skips the masked triangle: about q_len^2 / 2 of the q_len x keys scores, i.e. half at
    # prefill; one query row (plain decoding) masks nothing
    kept = 1.0 - q_len / (2 * keys) if a.get("causal") and q_len > 1 else 1.0
    work = k.flops * kept
    tm = mat.tile[0]
    # the longest query tile (the last one, causal) sees every key and runs on one core: with few
    # tiles its products set the critical path; with many, the total work over all cores does
    longest = 4 * min(tm, q_len) * attention_keys_per_core(a, mat) * a["head_dim"]
    return max(work / rate, longest / (rate / mat.cores))


def kernel_cost(k: Kernel, accel, stream=None, bank_mapping: str = "interleaved",
                tables_resident: bool = False) -> KernelCost:
    """Cost of one kernel alone. A kernel whose activations may stay in a scratchpad runs the faster
    of the two ways (a compiler keeps them on chip only where that pays)."""
    if k.extra.get("lookup_hw"):  # issue 11: near memory, table tiers, hot-row caches, table-stationary
        return _lookup_hw_cost(k, accel, stream, bank_mapping, tables_resident)
    stats = lookups.gather_stats(k, accel, stream, bank_mapping) if k.gather is not None else None
    cost = _cost(k, accel, stats, tables_resident, onchip=False)
    if (k.onchip_read_bytes or k.onchip_write_bytes) and _scratchpad(accel) is not None:
        on = _cost(k, accel, stats, tables_resident, onchip=True)
        if on.busy_s <= cost.busy_s:
            return on
    return cost


def _cost(k: Kernel, accel, stats, tables_resident: bool, onchip: bool) -> KernelCost:
    from workloads.op import DTYPE_BYTES

    b = DTYPE_BYTES[k.dtype]
    dram = accel.memory.dram
    levels = accel.memory.sram
    through = [0.0] * len(levels)  # bytes each level moves
    served = [0.0] * len(levels)   # bytes each level serves itself
    sp = _scratchpad(accel) if onchip else None
    on_read = k.onchip_read_bytes if sp is not None else 0
    on_write = k.onchip_write_bytes if sp is not None else 0
    if sp is not None:
        through[sp] += on_read + on_write
        served[sp] += on_read + on_write
    streamed = k.stream_read_bytes - on_read + k.stream_write_bytes - on_write  # to and from DRAM
    terms = dict.fromkeys(TERMS, 0.0)
    accesses = chunks = 0.0
    notes = ""
    dram_bytes = float(streamed)
    if k.gemm is not None:
        terms["compute"], dram_bytes, tile = _gemm_cost(k, accel, b, on_read, on_write)
        for i in range(len(levels)):  # every level between DRAM and the array stages the tiles
            through[i] = max(through[i], tile, dram_bytes if i == 0 else 0.0)
        if levels:
            served[0] += tile
    elif k.attention is not None:
        terms["compute"] = _attention_compute(k, accel)
    elif k.unit == "hash" and accel.compute.hash_unit is not None:
        hu = accel.compute.hash_unit
        chunks = float(k.hash_chunks)
        terms["compute"] = chunks / (hu.units * hu.chunks_per_cycle * accel.clock_hz)
    elif k.flops and not (k.unit == "lookup" and accel.lookup.placement != "off_chip_cached"):
        # (dedicated lookup memories sum rows in adder trees beside the banks, at the rate rows arrive)
        v = accel.compute.vector
        terms["compute"] = k.flops / _rate(v.peak_flops_per_s, v.efficiency, k.dtype)
        if k.special_ops and v.special_function_per_s:  # on the same units as the FMAs: added, not overlapped
            terms["compute"] += k.special_ops / v.special_function_per_s
    streamed_s = dram_bytes / (dram.sustained_bandwidth_bytes_per_s if k.gemm is None
                               else gemm_stream_bandwidth(k, accel, dram_bytes, b))
    if levels and k.gemm is None:
        through[0] += dram_bytes  # streamed DRAM bytes reach the cores through the level nearest DRAM
    if k.gather is not None:
        place = accel.lookup.placement
        if place == "on_chip":
            lc = lookups.on_chip(k, accel, stats, streamed_s, tables_resident)
        elif place == "near_memory":
            lc = lookups.near_memory(k, accel, stats, streamed_s)
        else:
            lc = lookups.off_chip_cached(k, accel, stats, streamed_s)
        terms["dram"], terms["banks"], terms["latency"] = lc.dram_s, lc.banks_s, lc.latency_s
        dram_bytes += lc.dram_bytes
        if levels:
            through[0] += lc.cache_through_bytes
            served[0] += lc.cache_hit_bytes
        accesses, notes = lc.bank_accesses, lc.notes
    else:
        terms["dram"] = streamed_s
    level_s = [t / level.bandwidth_bytes_per_s for t, level in zip(through, levels)]
    terms["sram"] = max(level_s, default=0.0)
    bound = max(terms, key=terms.get)
    busy = max(terms.values()) + dram.latency_s  # the first reads fill the pipeline
    if busy < accel.runtime.min_kernel_time_s:
        busy, bound = accel.runtime.min_kernel_time_s, "min_kernel"
    return KernelCost(k, terms, busy, bound, dram_bytes, sum(served), accesses, chunks, notes,
                      tuple(through), tuple(served))


def _lookup_hw_cost(k: Kernel, accel, stream, bank_mapping: str, tables_resident: bool) -> KernelCost:
    """A lookup kernel hwsim.engines.lookup_hw costs, with the pipeline fill and shortest kernel as here."""
    from hwsim.engines import lookup_hw

    c = lookup_hw.cost(k, accel, stream, bank_mapping, tables_resident)
    levels = accel.memory.sram
    # everything that crosses the memory bus passes the level nearest DRAM too, beside what that level
    # serves itself: its roofline, as for the other kernels
    through = c.sram_bytes + c.dram_bytes
    terms = dict(c.terms)
    if levels:
        terms["sram"] = max(terms.get("sram", 0.0), through / levels[0].bandwidth_bytes_per_s)
    bound = max(terms, key=terms.get)
    busy = max(terms.values()) + accel.memory.dram.latency_s
    if busy < accel.runtime.min_kernel_time_s:
        busy, bound = accel.runtime.min_kernel_time_s, "min_kernel"
    # per level, as the other kernels: what passes (roofline) and what the level serves itself (energy)
    pad = [0.0] * (len(levels) - 1)
    level_bytes = tuple([through] + pad) if levels else ()
    served = tuple([c.sram_bytes] + pad) if levels else ()
    return KernelCost(kernel=k, terms_s=terms, busy_s=busy, bound=bound, dram_bytes=c.dram_bytes,
                      sram_bytes=c.sram_bytes, lookup_accesses=c.accesses, hash_chunks=0.0, notes=c.notes, hw=c.hw,
                      level_bytes=level_bytes, served_bytes=served)


@dataclass(frozen=True)
class Scheduled:
    cost: KernelCost
    start_s: float
    end_s: float
    stall_s: float  # device idle before this kernel, waiting for the host to launch it


def host_runs_kernels(accel) -> bool:
    """Whether eager dispatch is synchronous: on a CPU the dispatching thread runs each op itself, so the
    next op's dispatch starts when this op ends (no launch queue to hide it behind)."""
    return accel.kind == "cpu"


def schedule(costs: list[KernelCost], accel, mode: str, host_head_start_s: float = 0.0) -> list[Scheduled]:
    """The launch pipeline: host launches in order, the device runs one kernel at a time.
    host_head_start_s: host time already spent before the measured region starts (a benchmark that
    flushes the cache with a kernel lets the host queue launches while the flush runs)."""
    times = launch_pipeline([c.busy_s for c in costs], accel.runtime, mode, host_head_start_s,
                            sync=mode == "eager" and host_runs_kernels(accel))
    return [Scheduled(c, start, end, stall) for c, (start, end, stall) in zip(costs, times)]


def launch_pipeline(busy: list, rt, mode: str, host_head_start_s: float = 0.0, sync: bool = False,
                    maximum=max) -> list[tuple]:
    """(start, end, stall) of each kernel, given the device time of each; sync: the host dispatches the next
    kernel when this one ends (host_runs_kernels, eager). The sweep's vectorised path calls it with numpy
    arrays over points (busy times, the runtime's numbers) and maximum=numpy.maximum."""
    host = (rt.graph_launch_s if mode == "graph" else 0.0) - host_head_start_s
    device = rt.launch_latency_s  # the first kernel waits for the device to pick up its launch
    out = []
    for busy_s in busy:
        if mode == "eager":
            host = host + rt.launch_overhead_eager_s
            # a kernel launched onto an idle device waits the launch latency; queued ones hide it
            start = maximum(host + rt.launch_latency_s, device)
        else:
            start = maximum(host, device) + rt.launch_overhead_graph_s
        end = start + busy_s
        out.append((start, end, maximum(0.0, start - device)))
        device = end
        if sync:
            host = end
    return out
