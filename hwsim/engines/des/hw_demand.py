"""DES demand of lookup hardware (hwsim.engines.lookup_hw): near-memory units and hot-row caches,
replayed unit by unit on the same resources as any lookup.

- near memory: every row read not served by the hot-row cache goes to its memory-side unit (the lookup
  banks of the Machine, one FIFO server per unit), which spends `access_s` per unit_width access (the
  slower of reading and multiply-adding it); commands stream in over the DRAM channels tile by tile and
  the summed rows stream out (the kernel's stream bytes); nothing is summed on the host;
- hot-row cache in front of DRAM (GPU / CPU): its hits go to the cache server, every other read to the
  DRAM channels by address (instead of the first-read rule of the plain replay); LRU fills and the
  static cache's prefetch are charged as the analytic engine does (hwsim.engines.lookup_base.hot_plan,
  whose hit mask is replayed here).
"""
from __future__ import annotations

import numpy as np

from hwsim.engines import banks as bank_model
from hwsim.engines import lookup_hw
from hwsim.engines import near_memory as nm
from hwsim.engines import reuse
from hwsim.engines.des.streams import _GOLDEN, LookupDemand, Tiling, _chunks


def applies(kernel) -> bool:
    """Lookup kernels this module replays: near memory, or a hot-row cache in front of DRAM."""
    info = kernel.extra.get("lookup_hw")
    return bool(info) and lookup_hw.replayed_by_des(kernel)


def _per_unit(x: np.ndarray, tile: Tiling) -> np.ndarray:
    """(tokens, tables) -> sum per unit of issue (token, or tile of tokens)."""
    per_token = x.sum(axis=1, dtype=np.float64)
    if not tile.coarse:
        return per_token
    first = np.searchsorted(tile.unit_of_token(), np.arange(tile.units))
    return np.add.reduceat(per_token, first)


def demand(kernel, cost, stream: np.ndarray, accel, tile: Tiling, bank_mapping: str, table_base: int) -> LookupDemand:
    g, info, dram = kernel.gather, kernel.extra["lookup_hw"], accel.memory.dram
    tokens, tables = stream.shape
    rpt, row_bytes = g["rows_per_table"], g["row_bytes"]
    bytes_per_row = g["accesses"] * g["access_bytes"] / max(g["rows"], 1)
    units, unit_of_token, unit_tok = tile.units, tile.unit_of_token(), tile.unit_tokens()
    glob = stream.astype(np.int64) + np.arange(tables, dtype=np.int64) * rpt
    hot = info.get("hot_cache")
    rows_per_unit = unit_tok * tables
    common = dict(op=kernel.op, placement=accel.lookup.placement, tiling=tile, rows=int(stream.size),
                  write_bytes=kernel.stream_write_bytes * unit_tok / tokens,
                  read_bytes_per_tile=kernel.stream_read_bytes * tile.tile_sizes() / tokens,
                  bytes_per_row=bytes_per_row)

    if info.get("near_memory"):
        s = nm.spec(accel)
        plan, *_ = nm.plan(kernel, accel, stream, bank_mapping)
        in_banks = ~plan.mask if plan.mask is not None else np.ones(stream.shape, dtype=bool)
        span = bank_model.span(row_bytes, s.unit_width_bytes)
        t_ids = np.broadcast_to(np.arange(tables, dtype=np.int64), stream.shape)
        key = bank_model.start_banks(glob, t_ids, span, s.units, bank_mapping).astype(np.int64)
        key += unit_of_token[:, None] * s.units
        starts = np.bincount(key[in_banks], minlength=units * s.units).reshape(units, s.units)
        loads = bank_model.spread(starts, span, s.units).astype(np.float64)
        if plan.k_static:  # the static cache's rows are read from their own units before the first unit
            held = reuse.static_hot_rows(stream, rpt, plan.k_static)
            start = bank_model.start_banks(held, held // rpt, span, s.units, bank_mapping).astype(np.int64)
            loads[0] += bank_model.spread(np.bincount(start, minlength=s.units)[None, :], span, s.units)[0]
        access_s = s.access_s(lookup_hw.table_elem_bytes(kernel))
        hit_s = None
        if hot is not None:
            moved = _per_unit(plan.mask, tile) if hot.policy == "static_top_k" else rows_per_unit.copy()
            moved[0] += plan.k_static
            hit_s = moved * row_bytes / hot.bandwidth_bytes_per_s
        empty = _chunks(np.zeros(0, dtype=np.int64), bytes_per_row, np.zeros(0, dtype=np.int64), dram)
        c_unit, ch, bk, page, size = empty
        return LookupDemand(
            **common, bank_s=(loads * access_s).astype(np.float32), bank_requests=loads.sum(axis=0),
            chunk_ptr=np.zeros(units + 1, dtype=np.int64), chunk_channel=ch, chunk_bank=bk, chunk_page=page,
            chunk_bytes=size, miss_s_per_byte=0.0, hit_s=hit_s, mlp_s=None, chain_s=np.zeros(units),
            accumulate_s=np.zeros(units), hit_rows=int(plan.hit_rows), miss_rows=int(in_banks.sum()))

    # off-chip rows behind a hot-row cache (home: DRAM): the cache's hits, then the engine's rule for the
    # rest (a row's first read goes to DRAM, repeats hit the cache level behind while the tables fit)
    plan, st, home_bw, home_lat = lookup_hw.off_chip_plan(kernel, accel, stream, bank_mapping)
    cache = accel.memory.sram[0] if accel.memory.sram else None
    per_row = st.total_bytes / max(g["rows"], 1)
    hit_bw = hot.bandwidth_bytes_per_s
    l2_bw = cache.bandwidth_bytes_per_s if cache else home_bw
    l2_lat = cache.latency_s if cache else home_lat
    flat = glob.ravel()
    first_read = np.full(tables * rpt, flat.size)
    np.minimum.at(first_read, flat, np.arange(flat.size))
    first = np.zeros(flat.size, dtype=bool)
    first[first_read[first_read < flat.size]] = True
    lk = accel.lookup
    fits = min(1.0, lk.capacity_bytes / g["table_bytes"]) if accel.memory.sram else 0.0
    repeat_misses = ((flat.astype(np.uint64) * _GOLDEN) % (1 << 32)) >= fits * (1 << 32)
    hot_hit = plan.mask.ravel()
    to_dram = ~hot_hit & (first | repeat_misses)
    caught = (~hot_hit & ~to_dram).reshape(stream.shape)
    miss_idx = np.flatnonzero(to_dram)
    addr = table_base + flat[miss_idx] * int(row_bytes)
    unit = unit_of_token[miss_idx // tables]
    if plan.k_static:  # prefetch of the static cache's rows, before the first unit
        hot_rows = reuse.static_hot_rows(stream, rpt, plan.k_static)
        addr = np.concatenate([table_base + hot_rows * int(row_bytes), addr])
        unit = np.concatenate([np.zeros(len(hot_rows), dtype=unit.dtype), unit])
    c_unit, ch, bk, page, size = _chunks(addr, bytes_per_row, unit, dram)
    home_per_unit = _per_unit(to_dram.reshape(stream.shape), tile)
    home_per_unit[0] += plan.k_static
    moved = _per_unit(plan.mask, tile) if hot.policy == "static_top_k" else rows_per_unit.copy()
    moved[0] += plan.k_static
    mlp_s, chain_s = None, np.zeros(units)
    if accel.compute.threads_in_flight:  # each row read is a chain step: the row id (a hit), then the row
        # reads waiting on the home: the hot cache's misses less what the level behind holds warm (the
        # analytic cold fraction, hwsim.engines.lookup_hw._off_chip_terms)
        fits_all = min(1.0, lk.capacity_bytes / g["table_bytes"]) if accel.memory.sram else 0.0
        slow = (rows_per_unit - _per_unit(plan.mask, tile)) * (1.0 - (1.0 - st.cold_fraction) * fits_all)
        step_sum = 2 * l2_lat * rows_per_unit + (home_lat - l2_lat) * slow
        in_flight = accel.compute.threads_in_flight / kernel.extra.get("program_threads", 1) * \
            kernel.extra.get("loads_per_thread", 1)
        mlp_s = step_sum * (g["chains"] * g["chain_length"] / max(g["rows"], 1)) / in_flight
        chain_s = np.full(units, g["chain_length"] * (l2_lat + home_lat))  # a chain's steps start cold
    hit_s = moved * per_row / hit_bw + _per_unit(caught, tile) * per_row / l2_bw
    return LookupDemand(
        **common, bank_s=None, bank_requests=None, chunk_ptr=np.searchsorted(c_unit, np.arange(units + 1)),
        chunk_channel=ch, chunk_bank=bk, chunk_page=page, chunk_bytes=size,
        miss_s_per_byte=dram.channels / home_bw, hit_s=hit_s, mlp_s=mlp_s, chain_s=chain_s,
        accumulate_s=cost.terms_s["compute"] * unit_tok / tokens, hit_rows=int(plan.hit_rows),
        miss_rows=int(len(miss_idx)))
