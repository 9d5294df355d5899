"""How much of an op's tables a dedicated lookup memory holds (on_chip placement), chosen per op.

The lookup memory holds the first `cut` buckets of every table (the lowest bucket ids; with Zipf draws
the most popular); reads of the others go to DRAM row by row. Before its op runs, the held share
streams in from DRAM (unless tables_resident). Holding more rows is not always faster: loading 16 MiB
of tables to serve the 200 rows one token reads costs more than reading those rows from DRAM. So the
cut is the one with the least estimated time among the cuts the capacity allows (a fixed grid per table
size: a larger capacity only adds choices, so it never makes the chosen estimate worse), from the op's
own index stream:

    estimate(cut) = load(cut) + max(banks(cut), dram rows(cut) + streamed bytes)

load: the held rows at the streaming bandwidth (0 when tables_resident); banks: the held rows' bank
accesses on the busiest bank (every bank at one access per cycle); dram rows: the other rows at the
gather efficiency of their size, and no faster than one DRAM latency per window of tokens the lookup
memory keeps in flight; streamed bytes: the op's indices, weights and output, which share the DRAM
channels with the row reads. With tables_resident the rows are in the banks and in DRAM, and the
same rule decides which copy each is read from (cold rows from DRAM can relieve a hot bank).
"""
from __future__ import annotations

import math

import numpy as np

from hwsim.engines import banks as bank_model
from hwsim.engines.analytic import gather_efficiency


def candidate_cuts(rows_per_table: int, max_cut: int, steps_per_octave: int = 16) -> np.ndarray:
    """Cuts the choice considers: 0 and a geometric grid over 1 .. rows_per_table (every cut up to 16, then
    steps of 4.4%) that depends on the table alone, up to max_cut. A larger capacity thus only adds
    candidates (the choice is monotone); a capacity between grid points uses the point below it."""
    n = int(math.ceil(math.log2(max(rows_per_table, 2)) * steps_per_octave)) + 1
    grid = np.unique(np.round(np.geomspace(1, rows_per_table, num=n)).astype(np.int64))
    return np.concatenate([[0], grid[grid <= max_cut]])


def choose_cut(kernel, stream: np.ndarray, accel, bank_mapping: str, tables_resident: bool,
               ahead_tokens: int = 0) -> int:
    """Buckets per table the lookup memory holds for this lookup kernel (see the module docstring).
    ahead_tokens: how many tokens' row reads the lookup memory keeps in flight (0: no bound)."""
    g, lk, dram = kernel.gather, accel.lookup, accel.memory.dram
    rpt = int(g["rows_per_table"])
    if lk.placement == "near_memory":
        return rpt
    max_cut = min(rpt, math.floor(lk.capacity_bytes / max(g["tables"] * g["row_bytes"], 1) + 1e-9))
    if max_cut <= 0:
        return 0
    cuts = candidate_cuts(rpt, max_cut)
    tables = stream.shape[1]
    bytes_per_row = g["accesses"] * g["access_bytes"] / max(g["rows"], 1)
    row_span = bank_model.span(g["row_bytes"], lk.bank_width_bytes)
    # accesses per bank for each cut: rows with bucket < cut, at their start banks (spread over span)
    t_ids = np.broadcast_to(np.arange(tables, dtype=np.int64), stream.shape)
    glob = stream.astype(np.int64) + t_ids * rpt
    start = bank_model.start_banks(glob, t_ids, row_span, lk.banks, bank_mapping).astype(np.int64).ravel()
    order = np.argsort(stream.ravel(), kind="stable")
    sorted_buckets = stream.ravel()[order]
    held = np.searchsorted(sorted_buckets, cuts, side="left")          # reads of held rows, per cut
    starts = np.zeros((len(cuts), lk.banks), dtype=np.int64)
    prev = 0
    for i, n in enumerate(held):  # cumulative start-bank counts, one slice of the sorted reads per cut
        if i:
            starts[i] = starts[i - 1]
        if n > prev:
            starts[i] += np.bincount(start[order[prev:n]], minlength=lk.banks)
            prev = n
    busiest = bank_model.spread(starts, row_span, lk.banks).max(axis=1)
    banks_s = busiest / accel.clock_hz
    eff = gather_efficiency(accel, g["access_bytes"])
    dram_rows_s = (stream.size - held) * bytes_per_row / (dram.bandwidth_bytes_per_s * eff)
    if ahead_tokens:  # tokens with a row in DRAM wait a DRAM latency, `ahead_tokens` of them at a time
        token_max = np.sort(stream.max(axis=1)) if stream.size else np.zeros(0)
        waiting = len(token_max) - np.searchsorted(token_max, cuts, side="left")
        dram_rows_s = np.maximum(dram_rows_s, np.ceil(waiting / ahead_tokens) * dram.latency_s)
    stream_s = (kernel.stream_read_bytes + kernel.stream_write_bytes) / dram.sustained_bandwidth_bytes_per_s
    load_s = 0.0 if tables_resident else cuts * tables * g["row_bytes"] / dram.sustained_bandwidth_bytes_per_s
    estimate = load_s + np.maximum(banks_s, dram_rows_s + stream_s)
    # the least estimate; among equal ones the largest cut (a load may hide behind earlier ops)
    best = np.flatnonzero(estimate <= estimate.min() * (1 + 1e-9))
    return int(cuts[best[-1]])
