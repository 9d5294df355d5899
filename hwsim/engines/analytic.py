"""Analytic engine: a time per kernel from the machine's rates, then a launch pipeline per workload.

Per kernel, each resource gives a time and the kernel takes the longest (they overlap: tiles are
double-buffered, gathers stream), plus one memory latency to fill the pipeline:
- compute: FLOPs over the unit's sustained rate; products and attention in tiles spread over the
  cores in waves (a last, partial wave costs a whole one),
- dram: bytes that must come from DRAM. Products: all operands once when they fit in the cache
  level, otherwise blocked traffic for the cache size. Gathers: misses at the efficiency random
  rows of that size reach (the measured gather curve where the config gives one),
- sram: bytes the cache level serves (product tiles, gather hits),
- banks: table rows read from dedicated lookup banks: accesses / banks / clock, times the busiest
  bank's excess from the index stream (or uniform buckets),
- latency: chains of dependent reads (a thread walking K tables) through Little's law:
  waves of `threads_in_flight` chains, each step one memory latency.
The launch pipeline: in eager mode the host spends `launch_overhead_eager` per kernel and the device
cannot start a kernel before it is launched; replayed graphs pay `graph_launch` once and
`launch_overhead_graph` per kernel. Every kernel occupies the device at least `min_kernel_time`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hwsim.engines import banks as bank_model
from hwsim.lowering import Kernel

TERMS = ("compute", "dram", "sram", "banks", "latency")


@dataclass(frozen=True)
class KernelCost:
    kernel: Kernel
    terms_s: dict  # TERMS -> seconds
    busy_s: float  # device time of the kernel alone
    bound: str
    dram_bytes: float
    sram_bytes: float
    lookup_accesses: float
    hash_chunks: float
    notes: str = ""
    # lookup hardware (hwsim.engines.lookup_hw): internal_bytes, host_bytes, hot_cache_bytes and their
    # energies by component (*_energy_j), for hwsim.energy and the Result columns
    hw: dict = field(default_factory=dict)


def gather_efficiency(accel, access_bytes: float) -> float:
    """Fraction of a level's peak bandwidth reached by random reads of `access_bytes` contiguous bytes.
    Interpolated in log(size) between the config's measured points; without points, the sector rule:
    whole access-granularity units are moved, at the streaming efficiency."""
    pts = accel.lookup.gather_efficiency
    if pts:
        xs = np.log2([p.row_bytes for p in pts])
        ys = [p.fraction for p in pts]
        return float(np.interp(math.log2(max(access_bytes, 1.0)), xs, ys))
    g = accel.memory.dram.access_granularity_bytes
    moved = math.ceil(access_bytes / g) * g
    return accel.memory.dram.efficiency * access_bytes / moved


def _cache(accel):
    return accel.memory.sram[0] if accel.memory.sram else None


def _rate(unit_peaks, efficiency: float, dtype: str) -> float:
    peaks = unit_peaks
    if dtype in peaks:
        return peaks[dtype] * efficiency
    # a dtype the unit does not list runs at the widest format it has (e.g. int64 index math as fp32)
    fallback = "fp32" if "fp32" in peaks else next(iter(peaks))
    return peaks[fallback] * efficiency


def _pow2_at_least(x: int, lo: int = 16) -> int:
    return max(lo, 1 << max(0, math.ceil(math.log2(max(x, 1)))))


def _gemm_cost(k: Kernel, accel, b: int):
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
    compute = waves * 2 * tm * tn * math.ceil(kk / split) / per_core
    a_bytes, b_bytes, c_bytes = m * kk * b, kk * n * b, m * n * b
    bias = k.stream_read_bytes - a_bytes - b_bytes
    compulsory = k.stream_read_bytes + k.stream_write_bytes
    cache = _cache(accel)
    if cache is None or a_bytes + b_bytes + c_bytes <= cache.capacity_bytes:
        dram = compulsory
    else:  # square blocks of side s, three of which fit in the cache
        s = max(tm, math.sqrt(cache.capacity_bytes / (3 * b)))
        dram = max(compulsory, a_bytes * math.ceil(n / s) + b_bytes * math.ceil(m / s) + c_bytes + bias)
    sram = a_bytes * math.ceil(n / tn) + b_bytes * math.ceil(m / tm) + c_bytes if cache else 0.0
    return compute, dram, sram


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


def _lookup_cost(k: Kernel, accel, stream, bank_mapping: str, tables_resident: bool = False):
    """(dram_s, sram_s, banks_s, latency_s, dram_bytes, sram_bytes, accesses, note)."""
    g, lk, dram = k.gather, accel.lookup, accel.memory.dram
    total = g["accesses"] * g["access_bytes"]
    notes = ""
    if stream is not None:
        unique_rows = sum(len(np.unique(stream[:, t])) for t in range(stream.shape[1]))
        unique = unique_rows * g["row_bytes"]
    else:  # expected distinct rows when each table's rows are drawn uniformly
        r = g["rows_per_table"]
        per_table = g["rows"] / g["tables"]
        unique = g["tables"] * r * (1 - (1 - 1 / r) ** per_table) * g["row_bytes"]
    unique = min(unique, total)

    if lk.placement == "on_chip":
        resident = min(1.0, lk.capacity_bytes / g["table_bytes"])
        row_accesses = g["rows"] * bank_model.span(g["row_bytes"], lk.bank_width_bytes)
        if stream is not None:
            factor, _ = bank_model.conflict_factor_from_stream(stream, g["rows_per_table"], g["row_bytes"],
                                                               lk.bank_width_bytes, lk.banks, bank_mapping)
        else:
            factor = bank_model.uniform_conflict_factor(g["rows"] // g["tables"], g["tables"], g["row_bytes"],
                                                        lk.bank_width_bytes, lk.banks, bank_mapping)
        banks_s = resident * row_accesses / lk.banks / accel.clock_hz * factor + lk.access_latency_s
        if factor > 1.05:
            notes = f"busiest lookup bank serves {factor:.2f}x the mean"
        miss_bytes = (1 - resident) * total  # rows of tables that do not fit come from DRAM, row by row
        dram_s = miss_bytes / (dram.bandwidth_bytes_per_s * gather_efficiency(accel, g["access_bytes"]))
        load_bytes = 0.0
        if not tables_resident:
            # The banks hold one layer's tables at a time (a model's tables are far larger than any SRAM):
            # the part that fits streams in from DRAM once per forward pass, prefetched while the
            # previous op runs (double-buffered), so it overlaps rather than adds.
            load_bytes = resident * g["table_bytes"]
            dram_s += load_bytes / dram.sustained_bandwidth_bytes_per_s
            if load_bytes / dram.sustained_bandwidth_bytes_per_s > banks_s:
                notes = (notes + "; " if notes else "") + (
                    f"loading {load_bytes / 1e6:.0f} MB of tables from DRAM outlasts the bank reads "
                    f"{load_bytes / dram.sustained_bandwidth_bytes_per_s / banks_s:.1f}x")
        return dram_s, 0.0, banks_s, 0.0, miss_bytes + load_bytes, 0.0, resident * row_accesses, notes

    if lk.placement == "near_memory":
        # logic beside the DRAM banks reads rows at the banks' internal rate; only sums cross the bus
        internal = lk.banks * lk.bank_width_bytes * accel.clock_hz
        banks_s = total / internal + dram.latency_s
        return 0.0, 0.0, banks_s, 0.0, total, 0.0, total / lk.bank_width_bytes, notes

    # off_chip_cached: rows from DRAM through the cache; repeats hit while the tables fit
    cache = _cache(accel)
    cap = lk.capacity_bytes
    reuse = total - unique
    concurrent = k.extra.get("concurrent_tokens")
    if concurrent:
        # tokens read side by side (one per core, each walking the tables in order) repeat each other's rows
        # while they are still in flight: only the tokens after them can hit
        reuse *= max(0.0, 1.0 - concurrent * g["tables"] / g["rows"])
    hit_frac_reuse = min(1.0, cap / g["table_bytes"])
    hits = reuse * hit_frac_reuse
    misses = total - hits
    eff = gather_efficiency(accel, g["access_bytes"])
    dram_s = misses / (dram.bandwidth_bytes_per_s * eff)
    sram_s = hits / (cache.bandwidth_bytes_per_s * eff) if cache else 0.0
    latency_s = 0.0
    if accel.compute.threads_in_flight:
        hit_lat = cache.latency_s if cache else dram.latency_s
        miss_frac = misses / total if total else 1.0
        # each step reads the row id (or the input chunk it is hashed from), then the row itself;
        # the first is small and cached, the second hits or misses
        step = hit_lat + miss_frac * dram.latency_s + (1 - miss_frac) * hit_lat
        concurrency = accel.compute.threads_in_flight / k.extra.get("program_threads", 1)
        in_flight = concurrency * k.extra.get("loads_per_thread", 1)
        # All chains start together, so a chain's first reads miss even where another chain repeats the row
        # (in flight, not yet cached): one chain's critical path is chain_length cold steps. Repeats only
        # shorten the mean step the waves of chains pay. (So more tokens never make the kernel faster.)
        cold_step = hit_lat + dram.latency_s
        latency_s = max(cold_step * g["chain_length"], step * g["chains"] * g["chain_length"] / in_flight)
    return dram_s, sram_s, 0.0, latency_s, misses, hits, 0.0, notes


def kernel_cost(k: Kernel, accel, stream=None, bank_mapping: str = "interleaved",
                tables_resident: bool = False) -> KernelCost:
    from workloads.op import DTYPE_BYTES

    if k.extra.get("lookup_hw"):  # issue 11: near memory, table tiers, hot-row caches, table-stationary
        return _lookup_hw_cost(k, accel, stream, bank_mapping, tables_resident)
    b = DTYPE_BYTES[k.dtype]
    dram = accel.memory.dram
    bw = dram.sustained_bandwidth_bytes_per_s
    cache = _cache(accel)
    terms = dict.fromkeys(TERMS, 0.0)
    dram_bytes = float(k.stream_read_bytes + k.stream_write_bytes)
    sram_bytes = 0.0
    accesses = chunks = 0.0
    notes = ""
    if k.gemm is not None:
        terms["compute"], dram_bytes, sram_bytes = _gemm_cost(k, accel, b)
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
    stream_s = (k.stream_read_bytes + k.stream_write_bytes) / bw if k.gemm is None else \
        dram_bytes / gemm_stream_bandwidth(k, accel, dram_bytes, b)
    if k.gather is not None:
        d_s, s_s, b_s, l_s, d_b, s_b, accesses, notes = _lookup_cost(k, accel, stream, bank_mapping,
                                                                      tables_resident)
        # Random row reads leave most of the bandwidth idle (row activations, not bytes, limit them), so
        # the kernel's streamed reads and writes overlap them; the measured gather curve includes its writes.
        terms["dram"] = max(d_s, stream_s)
        terms["sram"] += s_s
        terms["banks"] = b_s
        terms["latency"] = l_s
        dram_bytes += d_b
        sram_bytes += s_b
    else:
        terms["dram"] = stream_s
    if k.gemm is not None and cache is not None:
        terms["sram"] += sram_bytes / cache.bandwidth_bytes_per_s
    bound = max(terms, key=terms.get)
    busy = max(terms.values()) + dram.latency_s  # the first reads fill the pipeline
    if busy < accel.runtime.min_kernel_time_s:
        busy, bound = accel.runtime.min_kernel_time_s, "min_kernel"
    return KernelCost(k, terms, busy, bound, dram_bytes, sram_bytes, accesses, chunks, notes)


def _lookup_hw_cost(k: Kernel, accel, stream, bank_mapping: str, tables_resident: bool) -> KernelCost:
    """A lookup kernel hwsim.engines.lookup_hw costs, with the pipeline fill and shortest kernel as here."""
    from hwsim.engines import lookup_hw

    c = lookup_hw.cost(k, accel, stream, bank_mapping, tables_resident, gather_efficiency)
    bound = max(c.terms, key=c.terms.get)
    busy = max(c.terms.values()) + accel.memory.dram.latency_s
    if busy < accel.runtime.min_kernel_time_s:
        busy, bound = accel.runtime.min_kernel_time_s, "min_kernel"
    return KernelCost(kernel=k, terms_s=c.terms, busy_s=busy, bound=bound, dram_bytes=c.dram_bytes,
                      sram_bytes=c.sram_bytes, lookup_accesses=c.accesses, hash_chunks=0.0, notes=c.notes, hw=c.hw)


@dataclass(frozen=True)
class Scheduled:
    cost: KernelCost
    start_s: float
    end_s: float
    stall_s: float  # device idle before this kernel, waiting for the host to launch it


def schedule(costs: list[KernelCost], accel, mode: str, host_head_start_s: float = 0.0) -> list[Scheduled]:
    """The launch pipeline: host launches in order, the device runs one kernel at a time.
    host_head_start_s: host time already spent before the measured region starts (a benchmark that
    flushes the cache with a kernel lets the host queue launches while the flush runs)."""
    rt = accel.runtime
    host = (rt.graph_launch_s if mode == "graph" else 0.0) - host_head_start_s
    device = rt.launch_latency_s  # the first kernel waits for the device to pick up its launch
    out = []
    for c in costs:
        if mode == "eager":
            host += rt.launch_overhead_eager_s
            # a kernel launched onto an idle device waits the launch latency; queued ones hide it
            start = max(host + rt.launch_latency_s, device)
        else:
            start = max(host, device) + rt.launch_overhead_graph_s
        end = start + c.busy_s
        out.append(Scheduled(c, start, end, max(0.0, start - device)))
        device = end
    return out
