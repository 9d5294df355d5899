"""Time of a lookup kernel's table-row reads, for each place the tables can live (`lookup.placement`).

Every function returns a LookupCost: its DRAM seconds include the kernel's streamed bytes (indices,
weights, output: `streamed_s`, given by the caller), because bytes that share one DRAM add up in its
time; row misses run at the gather efficiency of their size, streams at the copy efficiency.

- off_chip_cached: rows come from DRAM through the cache (the SRAM level nearest DRAM). A row read again
  hits while the tables fit in `lookup.capacity`; the cache moves every row read in `bank_width` units
  at its own bandwidth, DRAM serves the misses. Chains of dependent reads (a thread walking K tables)
  bound it by latency: the critical path is one chain whose every step misses (the rows are cold when
  the kernel starts, and the first wave of chains touches them together), the throughput bound is
  Little's law over the threads in flight with the average miss fraction.
- on_chip: dedicated banks serve the rows that sit in them; the rest come from DRAM row by row. Unless
  `tables_resident`, what sits in the banks must first come from DRAM, by the cheaper of streaming the
  whole tables and fetching only the rows the op touches. The mapping keeps in the banks the share of
  the tables that minimises the op's time (at most what fits): a larger capacity never slows it down.
- near_memory: logic beside the DRAM banks reads rows at the banks' internal rate; only the kernel's
  streams cross the DRAM bus.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.engines import banks as bank_model
from hwsim.engines.gather import cache_moved_bytes, gather_efficiency


@dataclass(frozen=True)
class GatherStats:
    """What the index stream (or uniform buckets) says about one lookup kernel."""
    total_bytes: float     # accesses x access_bytes
    unique_bytes: float    # bytes of distinct rows touched
    conflict: float        # busiest lookup bank / mean bank load (on-chip banks)
    # row reads that wait for a fill: a row's first read, and its repeats by tokens running at the same
    # time (kernel.extra lockstep_tokens), which wait for the same fill instead of hitting
    cold_fraction: float = 1.0


def cold_rows(tables: int, rows_per_table: int, tokens: int, lockstep: int) -> float:
    """Expected row reads that find their row not yet fetched, when `tokens` tokens read one uniformly drawn
    row of each of `tables` tables, `lockstep` tokens at a time: token t sees the rows of the
    lockstep * floor(t / lockstep) tokens before its group. (lockstep 1: the distinct rows touched.)"""
    keep = (1.0 - 1.0 / rows_per_table) ** lockstep  # a given row unread after one more group
    groups, rest = divmod(tokens, lockstep)
    full = lockstep * (groups if keep == 1.0 else (1.0 - keep ** groups) / (1.0 - keep))
    return tables * (full + rest * keep ** groups)


def cold_rows_of_stream(stream: np.ndarray, lockstep: int) -> int:
    """The same count on a real index stream (tokens, tables): reads in the same token group as the
    row's first read."""
    tokens, tables = stream.shape
    group = np.arange(tokens) // lockstep
    cold = 0
    for t in range(tables):
        col = stream[:, t]
        _, first, inverse = np.unique(col, return_index=True, return_inverse=True)
        cold += int((group == group[first][inverse.ravel()]).sum())
    return cold


@dataclass(frozen=True)
class LookupCost:
    dram_s: float
    cache_through_bytes: float   # bytes the cache level moves (timing)
    cache_hit_bytes: float       # bytes the cache serves itself (energy)
    banks_s: float
    latency_s: float
    dram_bytes: float            # row bytes and table loads from DRAM (streams not included)
    bank_accesses: float
    notes: str = ""


def gather_stats(k, accel, stream, bank_mapping: str) -> GatherStats:
    g, lk = k.gather, accel.lookup
    total = g["accesses"] * g["access_bytes"]
    if stream is not None:
        unique_rows = sum(len(np.unique(stream[:, t])) for t in range(stream.shape[1]))
        unique = unique_rows * g["row_bytes"]
    else:  # expected distinct rows when each table's rows are drawn uniformly
        r = g["rows_per_table"]
        per_table = g["rows"] / g["tables"]
        unique = g["tables"] * r * (1 - (1 - 1 / r) ** per_table) * g["row_bytes"]
    lockstep = int(k.extra.get("lockstep_tokens", 1))
    tokens = g["rows"] // g["tables"]
    if stream is not None:
        cold = cold_rows_of_stream(stream, lockstep) if lockstep > 1 else unique_rows
    else:
        cold = cold_rows(g["tables"], g["rows_per_table"], tokens, lockstep)
    unique = min(unique, total)
    cold_fraction = min(1.0, max(cold / g["rows"], unique / total)) if g["rows"] and total else 1.0
    conflict = 1.0
    if lk.placement == "on_chip":
        if stream is not None:
            conflict, _ = bank_model.conflict_factor_from_stream(stream, g["rows_per_table"], g["row_bytes"],
                                                                 lk.bank_width_bytes, lk.banks, bank_mapping)
        else:
            conflict = bank_model.uniform_conflict_factor(g["rows"] // g["tables"], g["tables"], g["row_bytes"],
                                                          lk.bank_width_bytes, lk.banks, bank_mapping)
    return GatherStats(total, unique, conflict, cold_fraction)


def off_chip_cached(k, accel, st: GatherStats, streamed_s: float) -> LookupCost:
    g, dram = k.gather, accel.memory.dram
    cache = accel.memory.sram[0] if accel.memory.sram else None
    total = st.total_bytes
    hit_frac = min(1.0, accel.lookup.capacity_bytes / g["table_bytes"]) if cache is not None else 0.0
    hits = (total - st.unique_bytes) * hit_frac  # repeats of rows that stay cached
    misses = total - hits
    dram_s = streamed_s + misses / (dram.bandwidth_bytes_per_s * gather_efficiency(accel, g["access_bytes"]))
    through = cache_moved_bytes(accel, g["accesses"], g["access_bytes"]) if cache is not None else 0.0
    latency_s = 0.0
    if accel.compute.threads_in_flight:
        hit_lat = cache.latency_s if cache is not None else dram.latency_s
        # each step reads the row id (or the input chunk it is hashed from), then the row, which hits or
        # misses. Both reads hold a slot in flight for their latency (Little's law, the throughput bound);
        # where the id's read does not wait for the previous row (index_on_chain False) it overlaps the
        # chain, and only the row read lies on the critical path
        def step(miss_frac: float, index: float) -> float:
            return index + miss_frac * dram.latency_s + (1 - miss_frac) * hit_lat

        concurrency = accel.compute.threads_in_flight / k.extra.get("program_threads", 1)
        in_flight = concurrency * k.extra.get("loads_per_thread", 1)
        if k.extra.get("index_on_chain", True):
            critical = g["chain_length"] * step(1.0, hit_lat)
        else:
            critical = hit_lat + g["chain_length"] * step(1.0, 0.0)
        # the latency of a read: cold (first reads, and repeats by tokens running together) or a hit while
        # the tables fit; the DRAM and cache terms above count every fetch once (repeats merge in the cache)
        cold = 1.0 - (1.0 - st.cold_fraction) * hit_frac
        throughput = step(cold, hit_lat) * g["chains"] * g["chain_length"] / in_flight
        latency_s = max(critical, throughput)
    return LookupCost(dram_s, through, hits, 0.0, latency_s, misses, 0.0)


def on_chip(k, accel, st: GatherStats, streamed_s: float, tables_resident: bool) -> LookupCost:
    g, lk, dram = k.gather, accel.lookup, accel.memory.dram
    total, table = st.total_bytes, g["table_bytes"]
    row_accesses = g["rows"] * bank_model.span(g["row_bytes"], lk.bank_width_bytes)
    bank_s_all = row_accesses / lk.banks / accel.clock_hz * st.conflict  # every row from the banks
    miss_s_all = total / (dram.bandwidth_bytes_per_s * gather_efficiency(accel, g["access_bytes"]))
    # ways to fill the banks, per unit share r of the tables held: (seconds, bytes, words)
    fills = [(0.0, 0.0, "")] if tables_resident else [
        (table / dram.sustained_bandwidth_bytes_per_s, table, "streaming the tables"),
        (st.unique_bytes / (dram.bandwidth_bytes_per_s * gather_efficiency(accel, g["row_bytes"])),
         st.unique_bytes, "fetching the rows it touches")]
    r_max = min(1.0, lk.capacity_bytes / table)
    best = None
    lat = lk.access_latency_s
    for load_s, load_bytes, how in fills:
        # dram(r) = streamed + (1 - r) misses + r load, banks(r) = r x (all rows from the banks): the share
        # r that minimises max(dram, banks) is 0 if holding rows costs DRAM time, else where they cross
        dram0, slope = streamed_s + miss_s_all, load_s - miss_s_all
        cross = min(r_max, max(0.0, (dram0 - lat) / (bank_s_all - slope))) if slope < 0 else 0.0
        for r in ((0.0,) if cross == 0.0 else (0.0, cross)):  # 0.0, then cross if it differs
            dram_s, banks_s = dram0 + r * slope, r * bank_s_all
            t = max(dram_s, banks_s + (lat if r > 0 else 0.0))
            if best is None or t < best[0]:
                best = (t, r, dram_s, banks_s, load_s, load_bytes, how)
    _, r, dram_s, banks_s, load_s, load_bytes, how = best
    notes = []
    if r > 0 and st.conflict > 1.05:
        notes.append(f"busiest lookup bank serves {st.conflict:.2f}x the mean")
    if r > 0 and load_s * r > banks_s and how:
        notes.append(f"{how} into the banks ({r * load_bytes / 1e6:.0f} MB from DRAM) outlasts the bank reads "
                     f"{load_s * r / banks_s:.1f}x" if banks_s > 0 else f"{how} into the banks")
    if r < r_max:
        notes.append(f"{100 * r:.0f}% of the rows read from the banks, the rest gathered from DRAM "
                     "(holding more would not pay off)" if r > 0 else "rows gathered from DRAM (the banks "
                     "would not pay off)")
    banks_total = banks_s + lk.access_latency_s if r > 0 else 0.0
    return LookupCost(dram_s, 0.0, 0.0, banks_total, 0.0, (1 - r) * total + r * load_bytes, r * row_accesses,
                      "; ".join(notes))


def near_memory(k, accel, st: GatherStats, streamed_s: float) -> LookupCost:
    lk = accel.lookup
    internal = lk.banks * lk.bank_width_bytes * accel.clock_hz
    banks_s = st.total_bytes / internal + accel.memory.dram.latency_s
    return LookupCost(streamed_s, 0.0, 0.0, banks_s, 0.0, 0.0, st.total_bytes / lk.bank_width_bytes)
