"""How much of an op's tables a dedicated lookup memory holds (on_chip placement), chosen per op.

The lookup memory holds the first `cut` buckets of every table (the lowest bucket ids; with Zipf draws
the most popular); reads of the others go to DRAM row by row. Holding more rows is not always faster:
loading 16 MiB of tables to serve the 64 rows one token reads costs more than reading those rows from
DRAM, unless the load ran while earlier ops did. So the cut is the one with the least estimated time,
decided when the op starts (hwsim.engines.des.tables, which knows how much has been prefetched by then):

    estimate(cut) = seconds until the cut's rows are in the banks + max(banks(cut), dram rows(cut) + streamed bytes)

banks: the held rows' accesses on the busiest bank (every bank at one access per cycle); dram rows: the
other rows on the busiest DRAM channel (a hot bucket's rows all sit on one) at the gather efficiency of
their size, and no faster than one DRAM latency per window of tokens the lookup memory keeps in flight;
streamed bytes: the op's indices, weights and output, which share the DRAM channels with the row reads.
With tables_resident the rows are in the banks and in DRAM, and the same rule (no load) decides which
copy each is read from (cold rows from DRAM can relieve a hot bank). The cuts form a fixed grid per table
size up to what the capacity allows, so a larger capacity only adds choices.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from hwsim.engines import banks as bank_model
from hwsim.engines.analytic import gather_efficiency


@functools.lru_cache(maxsize=256)
def candidate_cuts(rows_per_table: int, max_cut: int, steps_per_octave: int = 4) -> np.ndarray:
    """Cuts the choice considers: 0 and a geometric grid over 1 .. rows_per_table (every cut up to 4, then
    steps of 19%) that depends on the table alone, up to max_cut. A larger capacity thus only adds
    candidates (the choice is monotone); a capacity between grid points uses the point below it."""
    n = int(math.ceil(math.log2(max(rows_per_table, 2)) * steps_per_octave)) + 1
    grid = np.unique(np.round(np.geomspace(1, rows_per_table, num=n)).astype(np.int64))
    cuts = np.concatenate([[0], grid[grid <= max_cut]])
    cuts.flags.writeable = False  # shared between calls
    return cuts


def _held_loads(first_cut: np.ndarray, start: np.ndarray, reads: np.ndarray, span: int, n: int,
                n_cuts: int) -> np.ndarray:
    """(n_cuts + 1, n) accesses per server (bank or channel): row i < n_cuts from the reads held at cut i,
    the last row from all reads. Per distinct table row: held from cut index first_cut on, `reads` reads,
    starting at server `start` and covering `span` neighbours (hwsim.engines.banks.spread)."""
    counts = np.bincount(first_cut * n + start, weights=reads, minlength=(n_cuts + 1) * n)
    held = np.cumsum(counts.astype(np.int64).reshape(n_cuts + 1, n), axis=0)
    return bank_model.spread(held, span, n)


@dataclass(frozen=True, eq=False)
class CutCosts:
    """The candidate cuts of one lookup op and what the op costs at each, loading aside."""
    cuts: np.ndarray        # buckets per table the banks may hold (0 first)
    fixed_s: np.ndarray     # max(banks, DRAM rows + streamed bytes) per cut
    bucket_bytes: float     # bytes one bucket of every table takes (tables x row bytes)

    def best(self, load_s=0.0) -> int:
        """The cut with the least load_s + fixed_s (load_s: seconds until each cut's rows are in the banks);
        among equal ones the largest (rows in the banks spare DRAM energy)."""
        estimate = load_s + self.fixed_s
        best = np.flatnonzero(estimate <= estimate.min() * (1 + 1e-9))
        return int(self.cuts[best[-1]])


def cut_costs(kernel, stream: np.ndarray, accel, bank_mapping: str, ahead_tokens: int = 0,
              table_base: int = 0) -> CutCosts:
    """CutCosts of an on-chip lookup kernel (see the module docstring). ahead_tokens: how many tokens' row
    reads the lookup memory keeps in flight (0: no bound); table_base: where the op's tables start in DRAM
    (which channels its rows live on)."""
    g, lk, dram = kernel.gather, accel.lookup, accel.memory.dram
    rpt = int(g["rows_per_table"])
    tables = stream.shape[1]
    max_cut = min(rpt, math.floor(lk.capacity_bytes / max(tables * g["row_bytes"], 1) + 1e-9))
    cuts = candidate_cuts(rpt, max(max_cut, 0))
    bytes_per_row = g["accesses"] * g["access_bytes"] / max(g["rows"], 1)
    # every distinct table row read, and how often (bank and channel depend on the row alone)
    small = tables * rpt < np.iinfo(np.int32).max  # int32 row ids halve the memory traffic
    glob = (stream.astype(np.int32, copy=False) if small else stream.astype(np.int64)) \
        + np.arange(tables, dtype=np.int32 if small else np.int64) * rpt  # (tokens, tables) global rows
    if tables * rpt <= 4 * glob.size:
        reads = np.bincount(glob.ravel(), minlength=tables * rpt)
        rows = np.flatnonzero(reads)
        reads = reads[rows]
    else:
        rows, reads = np.unique(glob, return_counts=True)
    t_ids, buckets = np.divmod(rows, rpt)
    first_cut = np.searchsorted(cuts, buckets, side="right")            # a row is held from this cut on
    # banks: the held rows' accesses on the busiest bank, one access per cycle
    row_span = bank_model.span(g["row_bytes"], lk.bank_width_bytes)
    start = bank_model.start_banks(rows, t_ids, row_span, lk.banks, bank_mapping).astype(np.int64)
    banks_s = _held_loads(first_cut, start, reads, row_span, lk.banks, len(cuts))[:-1].max(axis=1) / accel.clock_hz
    # DRAM: the other rows on the busiest channel (chunks of a DRAM row interleaved over the channels, as
    # hwsim.engines.des.streams places them), at the gather efficiency of their size
    chunk = int(dram.row_buffer_bytes or dram.access_granularity_bytes)
    n_ch = int(dram.channels)
    first = (table_base + rows * int(g["row_bytes"])) // chunk % n_ch
    ch_span = max(1, math.ceil(bytes_per_row / chunk))
    loads = _held_loads(first_cut, first, reads, ch_span, n_ch, len(cuts))
    per_channel = loads[-1][None, :] - loads[:-1]                          # reads not held, per cut
    eff = gather_efficiency(accel, g["access_bytes"])
    chunk_bytes = bytes_per_row / ch_span
    dram_rows_s = per_channel.max(axis=1) * chunk_bytes * n_ch / (dram.bandwidth_bytes_per_s * eff)
    if ahead_tokens:  # tokens with a row in DRAM wait a DRAM latency, `ahead_tokens` of them at a time
        token_max = np.sort(stream.max(axis=1)) if stream.size else np.zeros(0)
        waiting = len(token_max) - np.searchsorted(token_max, cuts, side="left")
        dram_rows_s = np.maximum(dram_rows_s, np.ceil(waiting / ahead_tokens) * dram.latency_s)
    stream_s = (kernel.stream_read_bytes + kernel.stream_write_bytes) / dram.sustained_bandwidth_bytes_per_s
    return CutCosts(cuts, np.maximum(banks_s, dram_rows_s + stream_s), float(tables * g["row_bytes"]))
