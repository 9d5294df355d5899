"""What the lookup-hardware models share (hwsim.engines.lookup_hw, hwsim.engines.near_memory): the cost
record they return, the bucket law, per-bank (per-unit) loads, and the hot-row cache's plan.

Loads: a row of `span` bank-width chunks starts at the bank its mapping gives it (hwsim.engines.banks) and
covers `span` consecutive banks. From a stream the loads are counted; without one they are expected:
each row carries its probability under the bucket law, and the busiest bank is at least the uniform
balls-in-bins excess (banks.uniform_conflict_factor) and at least the skew's own expected load.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.engines import banks as bank_model
from hwsim.engines import reuse

TERM_NAMES = ("compute", "dram", "sram", "banks", "latency")  # hwsim.engines.analytic.TERMS


@dataclass(frozen=True)
class HwCost:
    """What the analytic engine wraps into a KernelCost: terms (TERM_NAMES), bytes over the DRAM bus, bytes
    the SRAM level nearest DRAM serves, lookup-bank accesses, notes, and `hw`: bytes and joules of the new
    places (internal_bytes, host_bytes, hot_cache_bytes; *_energy_j by hwsim.energy component)."""
    terms: dict
    dram_bytes: float
    sram_bytes: float
    accesses: float
    notes: str
    hw: dict


def terms(**given) -> dict:
    return {t: float(given.get(t, 0.0)) for t in TERM_NAMES}


@dataclass(frozen=True)
class HotCacheSpec:
    capacity_bytes: float
    policy: str
    bandwidth_bytes_per_s: float
    latency_s: float
    energy_per_byte_j: float


@dataclass(frozen=True)
class HotPlan:
    hit_rows: float     # row reads the hot-row cache serves
    home_rows: float    # row reads from the rows' home (misses plus static prefetches)
    cache_rows: float   # rows the hot-row cache moves (hits read, fills written)
    k_static: int       # rows a static cache holds (0 for LRU)
    behind_rows: float = 0.0  # misses the cache level behind it catches (GPU L2: repeats while tables fit)
    mask: np.ndarray | None = None  # (tokens, tables) hot-cache hits, when a stream was given


# ---- the bucket law ---------------------------------------------------------------------------------------

def skewed(info: dict) -> bool:
    return info.get("bucket_distribution", "uniform") != "uniform"


def probs_of(info: dict, rows_per_table: int) -> np.ndarray:
    return reuse.bucket_probs(rows_per_table, info.get("bucket_distribution", "uniform"),
                              info.get("zipf_exponent", 1.1))


def distinct_of(g: dict, stream, info: dict) -> float:
    """Distinct rows the op touches: counted in the stream, or expected under the bucket law."""
    rpt, tables = g["rows_per_table"], g["tables"]
    if stream is not None:
        return float(reuse.distinct_rows(stream))
    return reuse.expected_distinct_rows(g["rows"] / tables, tables, rpt, probs_of(info, rpt) if skewed(info) else None)


# ---- per-bank loads -------------------------------------------------------------------------------------

def spread_float(starts: np.ndarray, span: int, banks: int) -> np.ndarray:
    """hwsim.engines.banks.spread for one op's real-valued (expected) start weights."""
    full, rest = divmod(span, banks)
    out = np.full(banks, full * float(starts.sum()))
    for j in range(rest):
        out += np.roll(starts, j)
    return out


def row_starts(ids: np.ndarray, rows_per_table: int, span: int, banks: int, mapping: str) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    return bank_model.start_banks(ids, ids // rows_per_table, span, banks, mapping).astype(np.int64)


def expected_loads(g: dict, weight: np.ndarray, span: int, banks: int, mapping: str) -> np.ndarray:
    """Expected accesses per bank when global row i carries `weight[i]` reads."""
    start = row_starts(np.arange(len(weight)), g["rows_per_table"], span, banks, mapping)
    return spread_float(np.bincount(start, weights=weight, minlength=banks), span, banks)


def stream_loads(stream: np.ndarray, keep: np.ndarray | None, rows_per_table: int, span: int, banks: int,
                 mapping: str) -> np.ndarray:
    """Accesses per bank over the whole op, from the reads `keep` selects (all if None)."""
    tables = stream.shape[1]
    glob = stream.astype(np.int64) + np.arange(tables, dtype=np.int64) * rows_per_table
    start = row_starts(glob, rows_per_table, span, banks, mapping)
    starts = np.bincount(start.ravel() if keep is None else start[keep], minlength=banks)
    return bank_model.spread(starts[None, :], span, banks)[0].astype(np.float64)


def conflict(g: dict, lookup, stream, mapping: str, info: dict | None = None) -> float:
    """Busiest lookup bank (or memory-side unit) over the mean (see the module docstring)."""
    lk = lookup
    if stream is not None:
        return bank_model.conflict_factor_from_stream(stream, g["rows_per_table"], g["row_bytes"], lk.bank_width_bytes,
                                                      lk.banks, mapping)[0]
    factor = bank_model.uniform_conflict_factor(g["rows"] // g["tables"], g["tables"], g["row_bytes"],
                                                lk.bank_width_bytes, lk.banks, mapping)
    if info and skewed(info):
        span = bank_model.span(g["row_bytes"], lk.bank_width_bytes)
        loads = expected_loads(g, np.tile(probs_of(info, g["rows_per_table"]), g["tables"]), span, lk.banks, mapping)
        factor = max(factor, float(loads.max() / loads.mean()))
    return factor


# ---- the hot-row cache's plan -----------------------------------------------------------------------------

def static_candidates(g: dict, stream, info: dict) -> tuple[np.ndarray, np.ndarray]:
    """(global row ids, reads) a static cache may hold, most read first: the stream's profile, or the rows
    the bucket law expects to be read at least once (most popular rank first, every table alike)."""
    rpt, tables = g["rows_per_table"], g["tables"]
    if stream is not None:
        ids = reuse.static_hot_rows(stream, rpt, tables * rpt)
        keys = (stream.astype(np.int64) + np.arange(tables, dtype=np.int64) * rpt).ravel()
        return ids, np.bincount(keys, minlength=tables * rpt)[ids].astype(np.float64)
    counts = probs_of(info, rpt) * (g["rows"] / tables)
    ranks = np.argsort(-counts, kind="stable")
    ranks = ranks[counts[ranks] >= 1.0]
    ids = (ranks[:, None] + np.arange(tables, dtype=np.int64)[None, :] * rpt).ravel()  # rank-major
    return ids, np.repeat(counts[ranks], tables)


def hot_plan(g: dict, stream, info: dict, hot: HotCacheSpec, time_of, behind: float = 0.0,
             busiest_of=None) -> HotPlan:
    """What the hot-row cache serves for one lookup kernel. `time_of(hits, home, moved, caught, busiest)`
    is the kernel's time for those row counts (numpy arrays over candidate plans); `behind` the share of
    repeated misses the level behind the cache catches; `busiest_of(ids, counts, kmax)` (near memory) the
    busiest unit's accesses when the first k of the candidates are held, k = 0..kmax.
    LRU: replayed (stream) or expected. Static top-k: the k <= capacity rows that make the kernel
    fastest, so more capacity never slows it (a held row read c times saves c - 1 reads from home)."""
    rows, tables, rpt = g["rows"], g["tables"], g["rows_per_table"]
    cap_rows = int(hot.capacity_bytes // max(g["row_bytes"], 1))
    unique = min(distinct_of(g, stream, info), rows)
    if hot.policy == "lru":
        if stream is not None:
            mask = reuse.lru_hits_from_stream(stream, rpt, cap_rows)
            hits = float(mask.sum())
        else:
            mask, hits = None, rows * reuse.expected_lru_hit_fraction(rows / tables, tables, probs_of(info, rpt), cap_rows)
        caught = max(0.0, rows - hits - unique) * behind  # every distinct row misses once, repeats may be caught
        return HotPlan(hits, rows - hits - caught, float(rows), 0, caught, mask)
    ids, counts = static_candidates(g, stream, info)
    kmax = min(cap_rows, len(counts))
    held = np.arange(kmax + 1, dtype=np.float64)
    hits = np.concatenate([[0.0], np.cumsum(counts[:kmax])])
    caught = np.maximum(0.0, (rows - hits) - np.maximum(unique - held, 0.0)) * behind
    home = rows - hits - caught + held
    busiest = busiest_of(ids, counts, kmax) if busiest_of is not None else np.zeros(kmax + 1)
    k = int(np.argmin(time_of(hits, home, hits + held, caught, busiest)))  # first minimum: ties hold fewer rows
    mask = None
    if stream is not None:
        hot_ids = np.zeros(tables * rpt, dtype=bool)
        hot_ids[ids[:k]] = True
        keys = (stream.astype(np.int64) + np.arange(tables, dtype=np.int64) * rpt).ravel()
        mask = hot_ids[keys].reshape(stream.shape)
    return HotPlan(float(hits[k]), float(home[k]), float(hits[k] + k), k, float(caught[k]), mask)


def static_busiest(base_loads: np.ndarray, ids: np.ndarray, counts: np.ndarray, kmax: int, rows_per_table: int,
                   span: int, banks: int, mapping: str, floor=None) -> np.ndarray:
    """Busiest bank's accesses with the first k candidates held, k = 0..kmax: a held row read c times
    leaves its own banks c - 1 reads lighter (its one prefetch read stays there). floor(loads): a lower
    bound on the busiest bank for those loads (the uniform excess, when the loads are expected ones)."""
    loads = base_loads.astype(np.float64).copy()
    starts = row_starts(ids[:kmax], rows_per_table, span, banks, mapping)
    out = np.empty(kmax + 1)
    cover = np.arange(span)
    for k in range(kmax + 1):
        out[k] = max(loads.max(), floor(loads) if floor else 0.0)
        if k < kmax:
            np.subtract.at(loads, (starts[k] + cover) % banks, counts[k] - 1.0)
    return out
