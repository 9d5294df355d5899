"""Batch reuse and hot rows: how many distinct table rows a batch touches, and what a hot-row cache hits.

A lookup op reads `tokens` rows from each of its `tables` tables of `rows_per_table` rows. Rows that
several tokens share need to be fetched only once per pass when the hardware buffers them (a table
slice in shared memory, banks filled row by row), so table traffic is
    min(distinct rows touched, tokens x tables) x row bytes.
Distinct rows come from the traced index stream, or in expectation from the bucket distribution: with
probability p_i for row i, n draws touch sum_i (1 - (1 - p_i)^n) distinct rows; for uniform buckets
(p_i = 2^-tau) that is 2^tau (1 - (1 - 2^-tau)^n).

A hot-row cache of C rows (one per op, its capacity shared by the op's tables, which all see the same
bucket law) hits under two policies:
- "lru": starts cold each pass (the op's tables are not read again until the next pass, after every
  other layer); from a stream, an exact LRU replay; in expectation, Che's approximation (Che, Tung and
  Wang, IEEE JSAC 2002) capped by the compulsory misses (every distinct row misses once). LRU is a
  stack algorithm, so a bigger cache never hits less.
- "static_top_k": the k most used rows (profiled, as RecNMP profiles hot entries) are prefetched before
  the op; each costs one row read from the rows' home. k is chosen up to C to minimise the op's time
  (hwsim.engines.lookup_hw), so a bigger cache never makes it slower.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

DISTRIBUTIONS = ("uniform", "zipf")
POLICIES = ("lru", "static_top_k")


def bucket_probs(rows: int, distribution: str = "uniform", zipf_exponent: float = 1.1) -> np.ndarray:
    """P(row i) for one table: uniform, or a bounded Zipf law 1 / (i + 1)^s, most popular first (the law
    hwsim.engines.des.streams draws from)."""
    if distribution == "uniform":
        return np.full(rows, 1.0 / rows)
    if distribution != "zipf":
        raise ValueError(f"bucket_distribution must be one of {', '.join(DISTRIBUTIONS)}, given {distribution!r}")
    w = 1.0 / np.arange(1, rows + 1, dtype=np.float64) ** zipf_exponent
    return w / w.sum()


def expected_distinct(draws: float, probs: np.ndarray) -> float:
    """Expected distinct rows among `draws` independent draws from `probs`: sum_i 1 - (1 - p_i)^n."""
    p = np.minimum(np.asarray(probs, dtype=np.float64), 1.0)
    if draws <= 0:
        return 0.0
    sure = p >= 1.0  # a certain row: touched by any draw (log1p(-1) would be -inf)
    return float(-np.expm1(draws * np.log1p(-p[~sure])).sum() + sure.sum())


def expected_distinct_uniform(draws: float, rows: int) -> float:
    """2^tau (1 - (1 - 2^-tau)^n) for rows = 2^tau: the uniform case of expected_distinct."""
    return rows * -math.expm1(draws * math.log1p(-1.0 / rows)) if rows > 1 else float(min(draws, rows))


def distinct_rows(stream: np.ndarray) -> int:
    """Distinct (table, row) pairs in an index stream (tokens, tables) of per-table row ids."""
    return int(sum(len(np.unique(stream[:, t])) for t in range(stream.shape[1])))


def expected_distinct_rows(tokens: int, tables: int, rows_per_table: int, probs: np.ndarray | None = None) -> float:
    if probs is None:
        return tables * expected_distinct_uniform(tokens, rows_per_table)
    return tables * expected_distinct(tokens, probs)


# ---- hot-row cache ---------------------------------------------------------------------------------

def lru_hits_from_stream(stream: np.ndarray, rows_per_table: int, capacity_rows: int) -> np.ndarray:
    """Boolean (tokens, tables) mask of the reads an LRU cache of `capacity_rows` rows hits, replaying the
    stream token by token (each token's rows in table order), starting empty."""
    tokens, tables = stream.shape
    hit = np.zeros(tokens * tables, dtype=bool)
    if capacity_rows <= 0:
        return hit.reshape(stream.shape)
    keys = (stream.astype(np.int64) + np.arange(tables, dtype=np.int64) * rows_per_table).ravel().tolist()
    cache: OrderedDict = OrderedDict()
    for i, key in enumerate(keys):
        if key in cache:
            cache.move_to_end(key)
            hit[i] = True
        else:
            cache[key] = None
            if len(cache) > capacity_rows:
                cache.popitem(last=False)
    return hit.reshape(stream.shape)


def row_counts(stream: np.ndarray, rows_per_table: int) -> np.ndarray:
    """Reads of every (table, row), most read first (the profile a static cache is filled from)."""
    tables = stream.shape[1]
    keys = (stream.astype(np.int64) + np.arange(tables, dtype=np.int64) * rows_per_table).ravel()
    counts = np.bincount(keys, minlength=tables * rows_per_table)
    return np.sort(counts[counts > 0])[::-1].astype(np.float64)


def static_hot_rows(stream: np.ndarray, rows_per_table: int, k: int) -> np.ndarray:
    """Global ids (table x rows_per_table + row) of the k most read rows (ties broken by id, as a profiler
    would); never a row the stream does not read."""
    tables = stream.shape[1]
    keys = (stream.astype(np.int64) + np.arange(tables, dtype=np.int64) * rows_per_table).ravel()
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    counts = np.bincount(keys, minlength=tables * rows_per_table)
    order = np.lexsort((np.arange(len(counts)), -counts))[:k]
    return order[counts[order] > 0].astype(np.int64)


def static_hits_from_stream(stream: np.ndarray, rows_per_table: int, k: int) -> np.ndarray:
    """Boolean (tokens, tables) mask of the reads of the k most read rows."""
    tables = stream.shape[1]
    keys = (stream.astype(np.int64) + np.arange(tables, dtype=np.int64) * rows_per_table).ravel()
    hot = np.zeros(tables * rows_per_table, dtype=bool)
    hot[static_hot_rows(stream, rows_per_table, k)] = True
    return hot[keys].reshape(stream.shape)


def expected_counts(tokens: int, tables: int, probs: np.ndarray) -> np.ndarray:
    """Expected reads per (table, row) in a pass, most read first, for rows read at least once on average
    (a static cache never holds a row it expects to read less than once: prefetching it would not pay)."""
    c = np.sort(np.asarray(probs, dtype=np.float64) * tokens)[::-1]
    c = c[c >= 1.0]
    return np.repeat(c, tables)  # every table the same law: each row's count appears once per table


def che_row_hits(probs: np.ndarray, capacity_rows: float) -> np.ndarray:
    """Per-row steady-state LRU hit probabilities of one table's rows under the independent reference
    model with `capacity_rows` rows of cache per table (Che's approximation: the characteristic time t
    solves sum_i 1 - exp(-p_i t) = C, and row i hits with probability 1 - exp(-p_i t))."""
    p = np.asarray(probs, dtype=np.float64)
    if capacity_rows <= 0:
        return np.zeros_like(p)
    if capacity_rows >= len(p):
        return np.ones_like(p)
    lo, hi = 0.0, 1.0
    while np.sum(-np.expm1(-p * hi)) < capacity_rows:
        hi *= 2.0
    for _ in range(100):  # bisection on a monotone function: 100 halvings reach double precision
        mid = 0.5 * (lo + hi)
        if np.sum(-np.expm1(-p * mid)) < capacity_rows:
            lo = mid
        else:
            hi = mid
    return -np.expm1(-p * hi)


def che_hit_rate(probs: np.ndarray, capacity_rows: float) -> float:
    """Steady-state LRU hit rate of one table (Che's approximation, che_row_hits)."""
    return float(np.sum(np.asarray(probs, dtype=np.float64) * che_row_hits(probs, capacity_rows)))


def expected_lru_hit_fraction(tokens: int, tables: int, probs: np.ndarray, capacity_rows: float) -> float:
    """Share of an op's reads an LRU cache of `capacity_rows` rows (shared by its tables) hits in one cold
    pass: Che's steady-state rate, never above 1 - (compulsory misses) / reads."""
    if tokens <= 0:
        return 0.0
    steady = che_hit_rate(probs, capacity_rows / tables)
    cold = expected_distinct(tokens, probs) / tokens
    return max(0.0, min(steady, 1.0 - cold))
