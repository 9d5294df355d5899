"""The lookup demand stream of the DES: where every table-row read goes, precomputed with numpy.

A lookup kernel issues its reads in *units*: one token at a time (fine mode, every lookup replayed)
or one tile of tokens at a time (coarse mode). For each unit this module says, before the simulation
runs, how much work each lookup bank, DRAM channel, cache and thread pool gets:

- on_chip / near_memory: accesses per bank (a row covers `span` banks from its start bank, mapped by
  hwsim.engines.banks: interleaved / by_table / hashed); on_chip rows of tables larger than the banks come
  from DRAM (the banks hold the first `cut` buckets of each table, hwsim.engines.des.residency);
- off_chip_cached: a row's first read misses the cache, repeats hit while the tables fit (the analytic
  engine's rule, row by row) at the cache's own rate for whole sectors; misses go to DRAM channels by
  address (row-buffer-sized chunks interleaved over channels, then banks); every row read is a chain step
  for Little's law, and a unit's rows are back when its longest chain is.

Without a traced stream, buckets are drawn (uniform or Zipf) from a seeded generator.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from hwsim.engines import banks as bank_model
from hwsim.engines.analytic import gather_efficiency

DISTRIBUTIONS = ("uniform", "zipf")
_GOLDEN = 0x9E3779B1  # Knuth's multiplicative hash (as hwsim.engines.banks): which rows of an oversized table stay cached


_EXACT_ZIPF_ROWS = 1 << 22  # up to this many rows per table, Zipf draws invert the exact CDF


def draw_stream(tokens: int, tables: int, rows_per_table: int, distribution: str = "uniform",
                zipf_exponent: float = 1.1, seed: int = 0, salt: str = "") -> np.ndarray:
    """Bucket ids (tokens, tables), int32 (int64 for tables of 2^31 rows or more), reproducible from
    (seed, salt). uniform: every bucket equally likely; zipf: P(bucket b) proportional to
    1 / (b + 1)^zipf_exponent (bucket 0 the most popular in every table, a bounded Zipf over the table's
    rows; above 4 M rows per table, the tail past the first 4 M buckets is drawn from the integral of the
    weights, which keeps the draw's memory bounded)."""
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"bucket_distribution must be one of {', '.join(DISTRIBUTIONS)}, given {distribution!r}")
    dtype = np.int32 if rows_per_table <= np.iinfo(np.int32).max else np.int64
    rng = np.random.default_rng([int(seed), zlib.crc32(salt.encode())])
    if distribution == "uniform":
        return rng.integers(0, rows_per_table, size=(tokens, tables), dtype=dtype)
    u = rng.random((tokens, tables))
    s, head = float(zipf_exponent), min(rows_per_table, _EXACT_ZIPF_ROWS)
    cdf = np.cumsum(1.0 / np.arange(1, head + 1) ** s)
    tail = _power_integral(head + 0.5, rows_per_table + 0.5, s) if rows_per_table > head else 0.0
    total = cdf[-1] + tail
    mass = u * total
    drawn = np.searchsorted(cdf, mass, side="right").astype(np.float64)
    far = mass >= cdf[-1]
    if far.any():  # bucket b carries the weight of x^-s over [b + 0.5, b + 1.5)
        drawn[far] = np.floor(_power_inverse(head + 0.5, mass[far] - cdf[-1], s) - 0.5)
    return np.clip(drawn, 0, rows_per_table - 1).astype(dtype)


def _power_integral(a: float, b: float, s: float) -> float:
    """The integral of x^-s from a to b."""
    if abs(s - 1.0) < 1e-12:
        return math.log(b / a)
    return (b ** (1.0 - s) - a ** (1.0 - s)) / (1.0 - s)


def _power_inverse(a: float, v: np.ndarray, s: float) -> np.ndarray:
    """x such that the integral of t^-s from a to x is v."""
    if abs(s - 1.0) < 1e-12:
        return a * np.exp(v)
    return (a ** (1.0 - s) + v * (1.0 - s)) ** (1.0 / (1.0 - s))


def check_stream(op_name: str, stream: np.ndarray, tokens: int | None, rows_per_table: int) -> None:
    """A stream the DES can replay: integer bucket ids within the op's tables, one row per token; else one
    ValueError naming the op and the range (not an IndexError deep in the replay)."""
    if stream.ndim != 2 or stream.dtype.kind not in "iu":
        raise ValueError(f"op {op_name}: the index stream must be a 2-D array of integer bucket ids, given "
                         f"{stream.ndim}-D {stream.dtype}")
    if tokens is not None and stream.shape[0] != tokens:
        raise ValueError(f"op {op_name}: the index stream has {stream.shape[0]} tokens, the op has {tokens}")
    if stream.size:
        lo, hi = int(stream.min()), int(stream.max())
        if lo < 0 or hi >= rows_per_table:
            raise ValueError(f"op {op_name}: bucket ids must lie in [0, {rows_per_table}) (its tables have "
                             f"{rows_per_table} rows each), given ids from {lo} to {hi}")


def cache_efficiency(accel, access_bytes: float) -> float:
    """Fraction of the cache's bandwidth that random reads of `access_bytes` contiguous bytes reach: the
    cache moves whole sectors (dram.access_granularity, the unit it fills), so part of a sector read is
    wasted. Row activations, which set the DRAM gather curve, do not happen on a hit, so that curve does
    not apply (timing hits with it made a larger cache slower than DRAM)."""
    g = accel.memory.dram.access_granularity_bytes
    return access_bytes / (math.ceil(access_bytes / g) * g)


@dataclass(frozen=True)
class Tiling:
    """Tokens split into tiles (the pipelining and coarse unit) and units of issue (token or tile)."""
    tokens: int
    tile_tokens: int
    coarse: bool

    @property
    def tiles(self) -> int:
        return -(-self.tokens // self.tile_tokens)

    @property
    def units(self) -> int:
        return self.tiles if self.coarse else self.tokens

    def tile_sizes(self) -> np.ndarray:
        """Tokens per tile (the last one may be short)."""
        sizes = np.full(self.tiles, float(self.tile_tokens))
        if self.tiles:
            sizes[-1] = self.tokens - self.tile_tokens * (self.tiles - 1)
        return sizes

    def unit_of_token(self) -> np.ndarray:
        t = np.arange(self.tokens)
        return t // self.tile_tokens if self.coarse else t

    def unit_tile(self) -> np.ndarray:
        u = np.arange(self.units)
        return u if self.coarse else u // self.tile_tokens

    def unit_tokens(self) -> np.ndarray:
        return np.bincount(self.unit_of_token(), minlength=self.units).astype(np.float64)


def tiling(tokens: int, tile_tokens: int | None, coarse: bool, tiles_per_op: int = 64,
           min_tile_tokens: int = 16) -> Tiling:
    """Default tile: 1/64 of the tokens, but at least 16 tokens (buffers of a few tokens would expose
    every transient bank conflict, which deep request queues even out)."""
    t = tile_tokens if tile_tokens else max(math.ceil(tokens / tiles_per_op), min_tile_tokens)
    return Tiling(tokens, max(1, min(int(t), tokens)), coarse)


@dataclass(frozen=True, eq=False)
class LookupDemand:
    """What one lookup kernel asks of the memories, unit by unit (arrays of length `units` unless noted)."""
    op: str
    placement: str
    tiling: Tiling
    rows: int                      # table-row reads (tokens x tables)
    bank_s: np.ndarray | None      # (units, banks) seconds of work per lookup bank
    bank_requests: np.ndarray | None  # (banks,) accesses over the whole kernel
    chunk_ptr: np.ndarray          # (units + 1,) slices of the chunk arrays: DRAM reads of rows that miss
    chunk_channel: np.ndarray
    chunk_bank: np.ndarray
    chunk_page: np.ndarray
    chunk_bytes: np.ndarray
    miss_s_per_byte: float         # channel time per byte of a read that opens a DRAM row (gather curve)
    hit_s: np.ndarray | None       # cache (SRAM) seconds
    mlp_s: np.ndarray | None       # Little's-law thread-pool seconds
    chain_s: np.ndarray            # shortest time from issue to rows ready (dependent chain steps)
    accumulate_s: np.ndarray       # vector-unit seconds summing the rows (0 where adder trees do it)
    write_bytes: np.ndarray        # output bytes written after the unit is summed
    read_bytes_per_tile: np.ndarray  # (tiles,) indices and weights streamed in, in proportion to its tokens
    hit_rows: int
    miss_rows: int
    bytes_per_row: float

    @property
    def units(self) -> int:
        return self.tiling.units

    def channel_requests(self, channels: int) -> np.ndarray:
        return np.bincount(self.chunk_channel, minlength=channels)


def _chunks(addr: np.ndarray, nbytes: float, unit: np.ndarray, dram) -> tuple:
    """Split each row read [addr, addr + nbytes) at interleave boundaries: (unit, channel, bank, page, bytes)."""
    g = int(dram.row_buffer_bytes or dram.access_granularity_bytes)
    channels, banks = int(dram.channels), int(dram.banks_per_channel)
    addr = addr.astype(np.int64)
    first = addr // g
    last = (addr + max(int(nbytes), 1) - 1) // g
    width = int((last - first).max()) + 1 if len(addr) else 1
    if width == 1:  # every row within one chunk (the usual case: rows no larger than a DRAM row)
        size = np.full(len(addr), float(nbytes))
        return unit, first % channels, (first // channels) % banks, first // (channels * banks), size
    c = first[:, None] + np.arange(width)                                  # (rows, width) chunk ids
    valid = c <= last[:, None]
    lo = np.maximum(addr[:, None], c * g)
    hi = np.minimum(addr[:, None] + nbytes, (c + 1) * g)
    c, size = c[valid], (hi - lo)[valid].astype(np.float64)
    units = np.repeat(unit, valid.sum(axis=1))
    return units, c % channels, (c // channels) % banks, c // (channels * banks), size


def _longest_chains(miss: np.ndarray, chain_length: int, hit_s: float, dram_s: float, tile: Tiling,
                    first_token: np.ndarray) -> np.ndarray:
    """Per unit, its longest chain of dependent reads (the unit's rows are back when its slowest chain is):
    each step reads a row id (a hit), then the row (a hit or, where `miss`, a DRAM read). A chain is
    `chain_length` consecutive tables of one token (the fused kernel walks a token's K tables; PyTorch's
    kernels make every row read a chain of one). The longest, not the mean: a unit with one miss among
    many hits still waits for that miss, so more tokens (more reuse) never shorten the critical path."""
    tokens, tables = miss.shape
    step = 2 * hit_s + miss * (dram_s - hit_s)                             # (tokens, tables)
    if tables % chain_length == 0:
        per_token = step.reshape(tokens, tables // chain_length, chain_length).sum(axis=2).max(axis=1)
    else:  # chains that straddle tokens: bounded by chain_length of the token's slowest steps
        per_token = chain_length * step.max(axis=1)
    return np.maximum.reduceat(per_token, first_token) if tile.coarse else per_token


def lookup_demand(kernel, cost, stream: np.ndarray, accel, tile: Tiling, bank_mapping: str,
                  table_base: int, cut: int | None = None) -> LookupDemand:
    """Demand of one lookup kernel; `cost` is its analytic KernelCost (for the accumulate time), `stream`
    its bucket ids (tokens, tables), `table_base` where its tables start in DRAM, `cut` how many buckets
    of each table the lookup banks hold (on_chip; hwsim.engines.des.residency; default: all that fit)."""
    g, lk, dram = kernel.gather, accel.lookup, accel.memory.dram
    tokens, tables = stream.shape
    rpt, row_bytes = g["rows_per_table"], g["row_bytes"]
    bytes_per_row = g["accesses"] * g["access_bytes"] / max(g["rows"], 1)
    units = tile.units
    unit_of_token = tile.unit_of_token()
    unit_tok = tile.unit_tokens()
    first_token = np.searchsorted(unit_of_token, np.arange(units))         # rows of a unit are contiguous

    def per_unit(x):  # (tokens, tables) -> sum per unit
        per_token = x.sum(axis=1, dtype=np.float64)
        return per_token if not tile.coarse else np.add.reduceat(per_token, first_token)

    glob = stream.astype(np.int64)
    glob += np.arange(tables, dtype=np.int64) * rpt                        # (tokens, tables) global row ids
    bank_s = bank_requests = hit_s = mlp_s = None
    chain_s = np.zeros(units)
    hits = 0

    if lk.placement in ("on_chip", "near_memory"):
        if cut is None:
            resident = 1.0 if lk.placement == "near_memory" else min(1.0, lk.capacity_bytes / g["table_bytes"])
            cut = math.floor(resident * rpt + 1e-9)
        in_banks = stream < cut if cut < rpt else None
        row_span = bank_model.span(row_bytes, lk.bank_width_bytes)
        t_ids = np.broadcast_to(np.arange(tables, dtype=np.int64), stream.shape)
        key = bank_model.start_banks(glob, t_ids, row_span, lk.banks, bank_mapping).astype(np.int64)
        key += unit_of_token[:, None] * lk.banks
        starts = np.bincount(key.ravel() if in_banks is None else key[in_banks],
                             minlength=units * lk.banks).reshape(units, lk.banks)
        loads = bank_model.spread(starts, row_span, lk.banks)
        bank_requests = loads.sum(axis=0)
        bank_s = (loads / accel.clock_hz).astype(np.float32)                # a bank serves one access per cycle
        miss = np.zeros(stream.shape, bool) if in_banks is None else ~in_banks
    else:  # off_chip_cached
        flat = glob.ravel()
        first_read = np.full(tables * rpt, flat.size)
        np.minimum.at(first_read, flat, np.arange(flat.size))              # where each row is read first
        miss = np.zeros(flat.shape, dtype=bool)
        miss[first_read[first_read < flat.size]] = True
        fits = min(1.0, lk.capacity_bytes / g["table_bytes"])
        if fits < 1.0:  # a fixed share of the rows stays cached; the rest misses on every read
            miss |= ((flat.astype(np.uint64) * _GOLDEN) % (1 << 32)) >= fits * (1 << 32)
        miss = miss.reshape(stream.shape)
        misses_per_unit = per_unit(miss)
        rows_per_unit = unit_tok * tables
        hits = int(stream.size - misses_per_unit.sum())
        cache = accel.memory.sram[0] if accel.memory.sram else None
        if cache is not None:
            eff = cache_efficiency(accel, g["access_bytes"])
            hit_s = (rows_per_unit - misses_per_unit) * bytes_per_row / (cache.bandwidth_bytes_per_s * eff)
        tif = accel.compute.threads_in_flight
        if tif:  # each row read is a chain step: read the row id (a hit), then the row (hit or miss)
            hit_lat = cache.latency_s if cache else dram.latency_s
            step_sum = 2 * hit_lat * rows_per_unit + (dram.latency_s - hit_lat) * misses_per_unit
            in_flight = tif / kernel.extra.get("program_threads", 1) * kernel.extra.get("loads_per_thread", 1)
            mlp_s = step_sum * (g["chains"] * g["chain_length"] / max(g["rows"], 1)) / in_flight
            chain_s = _longest_chains(miss, int(g["chain_length"]), hit_lat, dram.latency_s, tile, first_token)

    miss_idx = np.flatnonzero(miss)
    addr = table_base + glob.ravel()[miss_idx] * int(row_bytes)
    c_unit, ch, bk, page, size = _chunks(addr, bytes_per_row, unit_of_token[miss_idx // tables], dram)
    eff_miss = gather_efficiency(accel, g["access_bytes"])
    return LookupDemand(
        op=kernel.op, placement=lk.placement, tiling=tile, rows=int(stream.size), bank_s=bank_s,
        bank_requests=bank_requests, chunk_ptr=np.searchsorted(c_unit, np.arange(units + 1)),
        chunk_channel=ch, chunk_bank=bk, chunk_page=page, chunk_bytes=size,
        miss_s_per_byte=dram.channels / (dram.bandwidth_bytes_per_s * eff_miss),
        hit_s=hit_s, mlp_s=mlp_s, chain_s=chain_s,
        accumulate_s=cost.terms_s["compute"] * unit_tok / tokens,
        write_bytes=kernel.stream_write_bytes * unit_tok / tokens,
        read_bytes_per_tile=kernel.stream_read_bytes * tile.tile_sizes() / tokens,
        hit_rows=hits, miss_rows=int(len(miss_idx)), bytes_per_row=bytes_per_row)
