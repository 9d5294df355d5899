"""Lookup hardware beyond one lookup memory (issue 11), shared by both engines.

What it adds to a run, all through options (hwsim.engines.options) and optional config sections:

- near-memory accumulation (`lookup.placement: near_memory`, hwsim.engines.near_memory): every lookup
  op becomes one command stream; bus bytes, internal bytes, units and adders as described there;
- table precision (`table_dtype`: fp32, bf16, fp16, fp8, int8): rows of that many bytes per element.
  A per-row scale folds into the chunk's weight, so no extra work per element; the accuracy cost is
  outside this model;
- table tiers (`table_tier`): "sram" (resident on chip across tokens and layers), "dram" (today's
  home; on-chip banks stream them in per pass), "host" (memory.host: host DDR over PCIe / CXL), "auto"
  (the nearest tier that holds the whole model's tables). A tier that cannot hold `layers` x the
  block's tables is one TablePlacementError line with the byte counts (place_tables);
- a hot-row cache (`lookup.hot_cache`, or the `hot_cache_bytes` / `hot_cache_policy` options) in front
  of the rows' home, hit rates from the stream or the bucket law (hwsim.engines.reuse);
- the GPU table-stationary dataflow (`lookup_impl="table_stationary"`, kernels from hwsim.lowering):
  table slices held in shared memory, tokens bucketed by table, rows read once per pass (batch reuse:
  min(distinct rows, tokens x K) x row bytes, or the whole table streamed if cheaper), partial sums
  scatter-added into fp32 accumulators in L2.

`adapt` rewrites the lowered kernels (both engines call it right after hwsim.lowering.lower) and marks
each lookup kernel that needs this module with `extra["lookup_hw"]`; the analytic engine's kernel_cost
then calls `cost`, the DES replays near-memory and hot-cache lookups itself (hwsim.engines.des.hw_demand)
and runs the others with this cost.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from hwsim.config.units import fmt_bytes
from hwsim.engines import banks as bank_model
from hwsim.engines import lookup_base as base
from hwsim.engines import lookups
from hwsim.engines import near_memory as nm
from hwsim.engines import reuse
from hwsim.engines.gather import cache_moved_bytes, gather_efficiency
from hwsim.engines.lookup_base import HotCacheSpec, HotPlan, HwCost
from hwsim.lowering import Kernel, lookup_gather, lower_fused, lower_torch
from workloads.op import DTYPE_BYTES, OpKind

TABLE_DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1}
TABLE_TIERS = ("sram", "dram", "host", "auto")
OPTION_DEFAULTS = dict(table_dtype=None, table_tier=None, hot_cache_bytes=None, hot_cache_policy=None,
                       bucket_distribution="uniform", zipf_exponent=1.1)
# Share of a core's shared memory the table-stationary kernel gives to table slices; the rest double-
# buffers the token lists it walks (a design constant of the kernel, not of the machine).
SLICE_SHARE = 0.75
# fp32 accumulators the table-stationary kernel scatter-adds partial sums into (red.global.add.f32)
ACCUMULATOR_BYTES = 4
TOKEN_ID_BYTES = 4  # int32 token ids in the bucketed lists


class TablePlacementError(ValueError):
    """The model's lookup tables do not fit in the tier asked for; the message gives the byte counts."""


def check_options(table_dtype=None, table_tier=None, hot_cache_bytes=None, hot_cache_policy=None,
                  bucket_distribution="uniform", zipf_exponent=1.1) -> dict:
    for name, value, allowed in [("table_dtype", table_dtype, TABLE_DTYPE_BYTES), ("table_tier", table_tier, TABLE_TIERS),
                                 ("hot_cache_policy", hot_cache_policy, reuse.POLICIES),
                                 ("bucket_distribution", bucket_distribution, reuse.DISTRIBUTIONS)]:
        if value is not None and value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}, given {value!r}")
    if hot_cache_bytes is not None and not (isinstance(hot_cache_bytes, (int, float)) and hot_cache_bytes >= 0):
        raise ValueError(f"hot_cache_bytes must be a number of bytes >= 0, given {hot_cache_bytes!r}")
    if not (isinstance(zipf_exponent, (int, float)) and zipf_exponent > 0):
        raise ValueError(f"zipf_exponent must be a positive number, given {zipf_exponent!r}")
    return dict(table_dtype=table_dtype, table_tier=table_tier, hot_cache_bytes=hot_cache_bytes,
                hot_cache_policy=hot_cache_policy, bucket_distribution=bucket_distribution,
                zipf_exponent=float(zipf_exponent))


# ---- the hot-row cache ------------------------------------------------------------------------------

def hot_cache_spec(accel, opts) -> HotCacheSpec | None:
    """The configured hot-row cache with the options' capacity / policy; an option capacity without a
    configured cache puts one in the SRAM level nearest DRAM (near memory: an SRAM buffer beside the
    units, at their internal bandwidth). None when there is none (or it holds nothing)."""
    hc, cap, policy = accel.lookup.hot_cache, opts.get("hot_cache_bytes"), opts.get("hot_cache_policy")
    if hc is not None:
        spec = HotCacheSpec(hc.capacity_bytes, hc.policy, hc.bandwidth_bytes_per_s, hc.latency_s, hc.energy_per_byte_j)
    elif cap:
        level = accel.memory.sram[0] if accel.memory.sram else None
        if accel.lookup.placement == "near_memory":
            s = nm.spec(accel)
            energy = level.energy_per_byte_j if level else accel.lookup.energy_per_access_j / s.unit_width_bytes
            spec = HotCacheSpec(cap, "lru", s.internal_bandwidth_bytes_per_s, s.access_latency_s, energy)
        elif level is not None:
            spec = HotCacheSpec(cap, "lru", level.bandwidth_bytes_per_s, level.latency_s, level.energy_per_byte_j)
        else:
            return None
    else:
        return None
    spec = replace(spec, capacity_bytes=float(cap) if cap is not None else spec.capacity_bytes,
                   policy=policy or spec.policy)
    return spec if spec.capacity_bytes > 0 else None


# ---- the pass after lowering ------------------------------------------------------------------------

def table_elem_bytes(k: Kernel) -> int:
    return k.extra.get("table_elem_bytes", DTYPE_BYTES[k.dtype])


def _with_table_dtype(k: Kernel, table_dtype: str | None) -> Kernel:
    if table_dtype is None:
        return k
    tb, b = TABLE_DTYPE_BYTES[table_dtype], DTYPE_BYTES[k.dtype]
    g = dict(k.gather)
    if tb != b:
        for key in ("row_bytes", "access_bytes"):
            g[key] = max(1, round(g[key] * tb / b))
        g["table_bytes"] = g["tables"] * g["rows_per_table"] * g["row_bytes"]
    return replace(k, gather=g, extra={**k.extra, "table_elem_bytes": tb})


def _near_memory_kernels(kernels: list[Kernel], workload, accel, opts) -> list[Kernel]:
    """Each lookup op as one command stream to the memory-side units; other ops keep their kernels (a
    hash a fused lookup kernel had absorbed gets its own again: the host still hashes)."""
    by_op: dict[str, list[Kernel]] = {}
    for k in kernels:
        by_op.setdefault(k.op, []).append(k)
    s, out = nm.spec(accel), []
    for op in workload.ops:
        if op.kind is OpKind.LOOKUP:
            d = op.dims
            cmd, summed = nm.bus_bytes(d["tokens"], d["chunks"], d["width"], DTYPE_BYTES[op.dtype], s.command_bytes)
            out.append(Kernel(f"{op.name}:near_memory", op.name, "lookup", op.dtype, op.flops, int(cmd), int(summed),
                              gather=lookup_gather(op), extra={"width": d["width"]}))
        elif op.name in by_op:
            out += by_op[op.name]
        elif opts["lowering"] == "fused":
            out += lower_fused(op, accel.compute.hash_unit is not None)
        else:
            out += lower_torch(op, "embedding_bag", opts["block_d"], accel.kind == "gpu", accel.compute.matrix.cores,
                               accel.compute.matrix.tile_dtypes)
    return out


def adapt(kernels: list[Kernel], workload, accel, opts) -> list[Kernel]:
    """The lowered kernels with lookup hardware applied (module docstring); marks the lookup kernels this
    module costs with extra["lookup_hw"] = what their cost needs."""
    place, tier = accel.lookup.placement, opts.get("table_tier")
    hot = hot_cache_spec(accel, opts)
    if place == "near_memory":
        kernels = _near_memory_kernels(kernels, workload, accel, opts)
    out = []
    for k in kernels:
        if k.gather is None:
            out.append(k)
            continue
        k = _with_table_dtype(k, opts.get("table_dtype"))
        info = {}
        if place == "near_memory":
            info["near_memory"] = True
        if k.extra.get("impl") == "table_stationary":
            info["table_stationary"] = True
        elif tier == "host" or (tier == "sram" and place == "off_chip_cached"):
            info["tier"] = tier
        if hot is not None and place != "on_chip" and "table_stationary" not in info:
            info["hot_cache"] = hot
        if info:
            info.update(bucket_distribution=opts.get("bucket_distribution", "uniform"),
                        zipf_exponent=opts.get("zipf_exponent", 1.1))
            k = replace(k, extra={**k.extra, "lookup_hw": info})
        out.append(k)
    return out


def adapt_key(accel, opts) -> tuple:
    """Everything `adapt` reads besides the workload and the lowering options (a sweep lowers once per key)."""
    place = accel.lookup.placement
    return (place, nm.spec(accel).command_bytes if place == "near_memory" else None, hot_cache_spec(accel, opts),
            accel.kind == "gpu", accel.compute.matrix.cores, *(opts.get(k) for k in OPTION_DEFAULTS))


def replayed_by_des(k: Kernel) -> bool:
    """Lookup kernels the DES replays row by row (near memory, hot-row caches in front of DRAM); the
    others of this module run in the DES with this module's cost."""
    info = k.extra.get("lookup_hw")
    if not info:
        return True
    return not info.get("table_stationary") and "tier" not in info


# ---- where the tables live ---------------------------------------------------------------------------

def table_bytes(workload, table_dtype: str | None = None) -> float:
    """Bytes of every lookup table of one block, with rows of `table_dtype` (default: the op's dtype)."""
    total = 0.0
    for op in workload.ops:
        if op.table is not None:
            r = TABLE_DTYPE_BYTES[table_dtype] / DTYPE_BYTES[op.dtype] if table_dtype else 1.0
            total += op.table.total_bytes * r
    return total


def _tiers(accel) -> list[tuple[str, float, str]]:
    """(tier, capacity, what holds it) from the nearest to the farthest."""
    lk, mem = accel.lookup, accel.memory
    if lk.placement == "near_memory":
        return [("dram", lk.capacity_bytes, "near-memory capacity (lookup.capacity)")]
    out = [("sram", lk.capacity_bytes, "on-chip lookup memory (lookup.capacity)" if lk.placement == "on_chip"
            else "on-chip cache (lookup.capacity)"),
           ("dram", mem.dram.capacity_bytes, "DRAM (memory.dram.capacity)")]
    if mem.host is not None:
        out.append(("host", mem.host.capacity_bytes, f"{mem.host.name} memory (memory.host.capacity)"))
    return out


def place_tables(workload, accel, opts: dict, layers: int = 1) -> dict:
    """opts with `table_tier` resolved ("auto" -> the nearest tier that holds `layers` x the block's
    tables) and `tables_resident` set for on-chip residency; TablePlacementError (one line) when the tier
    asked for cannot hold them. Near-memory placements always check their capacity."""
    if not isinstance(layers, int) or isinstance(layers, bool) or layers < 1:
        raise ValueError(f"layers must be a positive integer, given {layers!r}")
    tier, place = opts.get("table_tier"), accel.lookup.placement
    per_block = table_bytes(workload, opts.get("table_dtype"))
    if per_block == 0 or (tier is None and place != "near_memory"):
        return opts
    total = layers * per_block
    what = (f"{workload.name}" + (f" x {layers} layers" if layers > 1 else "")
            + f": {fmt_bytes(total)} of lookup tables" + (f" ({layers} x {fmt_bytes(per_block)})" if layers > 1 else "")
            + (f" in {opts['table_dtype']} rows" if opts.get("table_dtype") else ""))
    tiers = _tiers(accel)
    if place == "near_memory" and tier in ("sram", "host"):
        raise TablePlacementError(f"table_tier {tier}: {accel.name} sums rows inside its memory "
                                  "(lookup.placement near_memory), so its tables live there (table_tier dram)")
    if tier == "auto":
        fit = next((t for t in tiers if total <= t[1]), None)
        if fit is None:
            raise TablePlacementError(f"{what} fit in none of {accel.name}'s tiers: " + ", ".join(
                f"{desc} {fmt_bytes(cap)}" for _, cap, desc in tiers))
        tier = fit[0]
    named = {t[0]: t for t in tiers}
    if tier is None:
        tier = "dram"
    if tier not in named:
        raise TablePlacementError(f"table_tier host: {accel.name} has no memory.host tier (add one with "
                                  "capacity, bandwidth, latency and energy_per_byte)")
    _, cap, desc = named[tier]
    if total > cap:
        raise TablePlacementError(f"{what} do not fit in {accel.name}'s {desc} of {fmt_bytes(cap)} "
                                  f"(table_tier {tier})")
    resident = opts.get("tables_resident") or (tier == "sram" and place == "on_chip")
    return {**opts, "table_tier": tier if opts.get("table_tier") else None, "tables_resident": resident}


# ---- costs ----------------------------------------------------------------------------------------------

def cost(k: Kernel, accel, stream, bank_mapping: str, tables_resident: bool) -> HwCost:
    """Cost of a lookup kernel marked by `adapt`."""
    info = k.extra["lookup_hw"]
    if info.get("table_stationary"):
        return table_stationary_cost(k, accel, stream)
    if info.get("near_memory"):
        return nm.cost(k, accel, stream, bank_mapping)
    if accel.lookup.placement == "on_chip":
        return on_chip_host_cost(k, accel, stream, bank_mapping, tables_resident)
    return off_chip_cost(k, accel, stream, bank_mapping)


def _host_efficiency(host, access_bytes: float) -> float:
    """Random reads over the host link move whole access_granularity units (64 B: a cache line / TLP)."""
    g = host.access_granularity_bytes
    return access_bytes / (math.ceil(access_bytes / g) * g)


def off_chip_plan(k: Kernel, accel, stream, bank_mapping: str = "interleaved"):
    """(plan, stats, home bandwidth and latency) of an off-chip lookup kernel: which row reads the hot-row
    cache serves, which the cache level behind it catches (the engine's rule: repeats hit while the
    tables fit; every read when the tables are pinned there) and which go to the rows' home (DRAM, or
    the host tier). stats: hwsim.engines.lookups.gather_stats (distinct and cold rows)."""
    g, info, dram, lk = k.gather, k.extra["lookup_hw"], accel.memory.dram, accel.lookup
    st = lookups.gather_stats(k, accel, stream, bank_mapping)
    cache = accel.memory.sram[0] if accel.memory.sram else None
    rows = g["rows"]
    per_row = st.total_bytes / max(rows, 1)
    tier, hot = info.get("tier"), info.get("hot_cache")
    host = accel.memory.host if tier == "host" else None
    if host is not None:
        home_bw, home_lat = host.bandwidth_bytes_per_s * _host_efficiency(host, g["access_bytes"]), host.latency_s
    else:
        home_bw, home_lat = dram.bandwidth_bytes_per_s * gather_efficiency(accel, g["access_bytes"]), dram.latency_s
    fits = min(1.0, lk.capacity_bytes / g["table_bytes"]) if cache else 0.0
    if tier == "sram":  # pinned in the cache: every read hits
        return HotPlan(0.0, 0.0, 0.0, 0, float(rows)), st, home_bw, home_lat
    if hot is None:
        caught = (rows - st.unique_bytes / per_row) * fits if per_row else 0.0
        return HotPlan(0.0, rows - caught, 0.0, 0, caught), st, home_bw, home_lat
    streamed = k.stream_read_bytes + k.stream_write_bytes

    def time_of(hits, home, moved, caught, busiest):
        t = _off_chip_terms(k, accel, st, hot, home_bw, home_lat, streamed, host is not None, hits, home, moved)
        return np.maximum.reduce([np.broadcast_to(v, np.shape(hits)) for v in t.values()])
    return base.hot_plan(g, stream, info, hot, time_of, behind=fits), st, home_bw, home_lat


def _off_chip_terms(k, accel, st, hot, home_bw, home_lat, streamed, home_is_host, hits, home, moved,
                    pinned: bool = False) -> dict:
    """The engine's off-chip terms for these row counts (scalars or arrays over candidate plans): streams
    and home reads share DRAM (their times add) unless the home is the host link; every read passes the
    cache level in its units (a hot-row cache in its own structure moves its hits and fills); chains of
    dependent reads: the cold critical path, and the waves of chains at the mean step (Little's law)."""
    g, dram = k.gather, accel.memory.dram
    cache = accel.memory.sram[0] if accel.memory.sram else None
    rows, per_row = g["rows"], st.total_bytes / max(g["rows"], 1)
    streamed_s = streamed / dram.sustained_bandwidth_bytes_per_s
    home_s = home * per_row / home_bw
    dram_s = np.maximum(streamed_s, home_s) if home_is_host else streamed_s + home_s
    through = cache_moved_bytes(accel, g["accesses"], g["access_bytes"]) / cache.bandwidth_bytes_per_s if cache else 0.0
    sram_s = np.maximum(through, moved * per_row / hot.bandwidth_bytes_per_s) if hot is not None else through + 0 * home
    latency_s = 0.0 * home
    tif = accel.compute.threads_in_flight
    if tif:
        hit_lat = cache.latency_s if cache else home_lat
        in_flight = tif / k.extra.get("program_threads", 1) * k.extra.get("loads_per_thread", 1)
        cold_lat = hit_lat if pinned else home_lat
        if k.extra.get("index_on_chain", True):
            critical = g["chain_length"] * (hit_lat + cold_lat)
        else:
            critical = hit_lat + g["chain_length"] * cold_lat
        # reads that wait on the home: the hot cache's misses, less what the level behind it holds warm
        # (the engine's cold fraction: first reads and repeats by tokens running together)
        fits = min(1.0, accel.lookup.capacity_bytes / g["table_bytes"]) if cache else 0.0
        slow = 0.0 * home if pinned else (1.0 - hits / max(rows, 1)) * (1.0 - (1.0 - st.cold_fraction) * fits)
        step = 2 * hit_lat + slow * (home_lat - hit_lat)
        latency_s = np.maximum(critical, step * g["chains"] * g["chain_length"] / in_flight)
    return {"compute": k.flops / _vector_rate(accel, k.dtype) + 0 * home, "dram": dram_s, "sram": sram_s,
            "latency": latency_s}


def off_chip_cost(k: Kernel, accel, stream, bank_mapping: str = "interleaved") -> HwCost:
    """A token-stationary lookup on a GPU / CPU with its tables in host memory, pinned in the cache
    (tier sram), and / or a hot-row cache in front of them; the engine's off-chip rules otherwise
    (hwsim.engines.lookups.off_chip_cached)."""
    g, info = k.gather, k.extra["lookup_hw"]
    rows = g["rows"]
    tier, hot = info.get("tier"), info.get("hot_cache")
    plan, st, home_bw, home_lat = off_chip_plan(k, accel, stream, bank_mapping)
    host = accel.memory.host if tier == "host" else None
    per_row = st.total_bytes / max(rows, 1)
    streamed = float(k.stream_read_bytes + k.stream_write_bytes)
    t = _off_chip_terms(k, accel, st, hot, home_bw, home_lat, streamed, host is not None, plan.hit_rows,
                        plan.home_rows, plan.cache_rows, pinned=tier == "sram")
    home_bytes, moved = plan.home_rows * per_row, plan.cache_rows * per_row
    hw = {}
    if host is not None:
        hw.update(host_bytes=home_bytes, host_energy_j=home_bytes * host.energy_per_byte_j)
        dram_bytes = streamed
    else:
        dram_bytes = streamed + home_bytes
    sram_bytes = plan.behind_rows * per_row  # what the cache level serves itself
    if hot is not None:
        hw.update(hot_cache_bytes=moved, hot_cache_energy_j=moved * hot.energy_per_byte_j)
    where = {"host": f"{host.name} memory" if host else "", "sram": "pinned in the cache"}.get(tier, "DRAM")
    notes = f"rows from {where}" + (f"; hot-row cache ({hot.policy}) serves {100 * plan.hit_rows / max(rows, 1):.0f}%"
                                    if hot is not None else "")
    return HwCost(base.terms(**{n: float(v) for n, v in t.items()}), dram_bytes, sram_bytes, 0.0, notes, hw)


def on_chip_host_cost(k: Kernel, accel, stream, bank_mapping: str, tables_resident: bool) -> HwCost:
    """Dedicated lookup banks whose tables live in host memory: the share that fits is loaded per pass
    over the host link (the whole tables, or only the rows the op touches if that is cheaper), the rest
    gathered from there row by row."""
    g, lk, host = k.gather, accel.lookup, accel.memory.host
    total, table = g["accesses"] * g["access_bytes"], g["table_bytes"]
    resident = min(1.0, lk.capacity_bytes / table)
    conflict = base.conflict(g, accel.lookup, stream, bank_mapping, k.extra["lookup_hw"])
    row_accesses = g["rows"] * bank_model.span(g["row_bytes"], lk.bank_width_bytes)
    banks_s = resident * row_accesses / lk.banks / accel.clock_hz * conflict + lk.access_latency_s
    unique = base.distinct_of(g, stream, k.extra["lookup_hw"]) * g["row_bytes"]
    whole_s = resident * table / host.bandwidth_bytes_per_s
    touched_s = resident * unique / (host.bandwidth_bytes_per_s * _host_efficiency(host, g["row_bytes"]))
    load_s, load_bytes = (0.0, 0.0) if tables_resident else min((whole_s, resident * table), (touched_s, resident * unique))
    miss = (1 - resident) * total
    host_s = load_s + miss / (host.bandwidth_bytes_per_s * _host_efficiency(host, g["access_bytes"]))
    stream_s = (k.stream_read_bytes + k.stream_write_bytes) / accel.memory.dram.sustained_bandwidth_bytes_per_s
    moved = miss + load_bytes
    return HwCost(base.terms(dram=max(stream_s, host_s), banks=banks_s), float(k.stream_read_bytes + k.stream_write_bytes),
                  0.0, resident * row_accesses, f"tables from {host.name} memory: {fmt_bytes(moved)} over the link",
                  {"host_bytes": moved, "host_energy_j": moved * host.energy_per_byte_j})


def _vector_rate(accel, dtype: str) -> float:
    v = accel.compute.vector
    peak = v.peak_flops_per_s[dtype] if dtype in v.peak_flops_per_s else v.peak_flops_per_s.get(
        "fp32", next(iter(v.peak_flops_per_s.values())))
    return peak * v.efficiency


def table_stationary_cost(k: Kernel, accel, stream) -> HwCost:
    """Table slices (all rows of `tables_per_cta` tables, `cols` columns) held in one core's shared
    memory; each CTA walks the bucketed token lists of its tables, accumulates in registers and scatter-
    adds one fp32 partial sum per (token, column) into L2. The slice shape that makes the kernel fastest
    is chosen. Table rows come from DRAM once per pass (distinct rows touched, or the whole table
    streamed, whichever is faster); without room for one slice in shared memory, slices are held in L2."""
    g, dram = k.gather, accel.memory.dram
    levels = accel.memory.sram
    l2, near = levels[0], levels[-1]
    cores = accel.compute.matrix.cores
    K, R, row_bytes = g["tables"], g["rows_per_table"], g["row_bytes"]
    tb, b = table_elem_bytes(k), DTYPE_BYTES[k.dtype]
    width = k.extra["width"]
    n = g["rows"] / K
    distinct = base.distinct_of(g, stream, k.extra["lookup_hw"])
    lists = n * K * (TOKEN_ID_BYTES + b)
    streamed = k.stream_read_bytes + k.stream_write_bytes
    reads = n * K * width * tb  # every weighted row element read once from where the slice is held
    budget = SLICE_SHARE * near.capacity_bytes / cores
    plans = []
    for cols in sorted({min(width, 32 * j) for j in range(1, max(1, width // 32) + 1)} | {width}):
        slice_bytes = R * cols * tb
        in_smem = slice_bytes <= budget
        per_cta = max(1, min(K, int(budget // slice_bytes))) if in_smem else K
        groups, blocks = math.ceil(K / per_cta), math.ceil(width / cols)
        util = min(1.0, groups * blocks / cores)
        fill = min((g["table_bytes"] / dram.sustained_bandwidth_bytes_per_s, float(g["table_bytes"])),
                   (distinct * row_bytes / (dram.bandwidth_bytes_per_s * gather_efficiency(accel, cols * tb)),
                    distinct * row_bytes))
        # L2 takes the partial sums, the token lists every column block after the first re-reads, and,
        # when no slice fits in shared memory, the row reads themselves
        l2_bytes = groups * n * width * ACCUMULATOR_BYTES + (blocks - 1) * lists + (0.0 if in_smem else reads)
        hold_s = reads / (near.bandwidth_bytes_per_s * util) if in_smem else 0.0
        terms = base.terms(compute=k.flops / (_vector_rate(accel, k.dtype) * util),
                       dram=fill[0] + streamed / dram.sustained_bandwidth_bytes_per_s,
                       sram=max(l2_bytes / l2.bandwidth_bytes_per_s, hold_s), latency=l2.latency_s)
        plans.append((not in_smem, max(terms.values()), cols, terms, fill[1], l2_bytes, in_smem, per_cta, groups))
    best = min(plans)  # shared-memory plans first, then the fastest, then the narrowest slice
    _, _, cols, terms, fill_bytes, l2_bytes, in_smem, per_cta, groups = best
    where = f"{fmt_bytes(R * cols * tb * per_cta)} of {near.name}" if in_smem else l2.name
    notes = (f"table-stationary: {per_cta} table(s) x {cols} columns per CTA in {where}, {groups} partial sums per "
             f"output; {fmt_bytes(fill_bytes)} of table rows from DRAM ({distinct / (g['rows'] or 1):.0%} of reads distinct)")
    return HwCost(terms, streamed + fill_bytes, l2_bytes, 0.0, notes, {})
