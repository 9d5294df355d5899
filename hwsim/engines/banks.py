"""Where table rows live in lookup banks, and what that costs in conflicts.

A row of `row_bytes` occupies `span = ceil(row_bytes / bank_width)` consecutive banks. Mappings
(the `bank_mapping` simulate option):
- "interleaved": global row g (= table * rows_per_table + bucket) starts at bank (g * span) mod banks,
  so consecutive rows sit side by side and a whole table is spread over all banks;
- "by_table": table t starts at bank (t * span) mod banks whatever the bucket, so the K rows of one
  token never collide unless K * span > banks, but one table always hits the same banks;
- "hashed": the start bank is a hash of g that mixes all its bits (splitmix64's finaliser), so no
  stride and no bank count, power of two or not, lines rows up on a few banks.
Each token's K row reads are issued together; a bank serves one access per cycle, so a token takes
as many cycles as its busiest bank.
"""
from __future__ import annotations

import math

import numpy as np

BANK_MAPPINGS = ("interleaved", "by_table", "hashed")


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (Steele, Lea, Flood 2014): every output bit depends on every input bit.
    A multiplicative hash taken mod 2^k keeps only the low bits of g, so for a power-of-two bank count it
    is a permutation of "interleaved" and inherits its conflicts."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def span(row_bytes: float, bank_width: float) -> int:
    return max(1, math.ceil(row_bytes / bank_width))


def start_banks(global_rows: np.ndarray, tables: np.ndarray, row_span: int, banks: int, mapping: str) -> np.ndarray:
    if mapping == "interleaved":
        return (global_rows * row_span) % banks
    if mapping == "by_table":
        return (tables * row_span) % banks
    if mapping == "hashed":
        return (mix64(global_rows) % np.uint64(banks)).astype(np.int64)
    raise ValueError(f"bank_mapping must be one of {BANK_MAPPINGS}, given {mapping!r}")


def spread(starts: np.ndarray, row_span: int, banks: int) -> np.ndarray:
    """Accesses per bank (n, banks) from row start counts (n, banks): a row starting at bank s covers
    banks s .. s + span - 1 (mod banks)."""
    full, rest = divmod(row_span, banks)
    out = np.zeros(starts.shape, dtype=np.int64)
    if full:
        out += full * starts.sum(axis=1, keepdims=True)
    if rest:  # circular box sum of width `rest`, ending at each bank
        ext = np.concatenate([starts[:, banks - rest + 1:], starts], axis=1) if rest > 1 else starts
        cs = np.zeros((starts.shape[0], ext.shape[1] + 1), dtype=np.int64)
        np.cumsum(ext, axis=1, out=cs[:, 1:])
        out += cs[:, rest:rest + banks] - cs[:, :banks]
    return out



def bank_loads(stream: np.ndarray, rows_per_table: int, row_span: int, banks: int, mapping: str) -> np.ndarray:
    """Accesses per bank per token: (tokens, banks) from an index stream (tokens, tables) of bucket ids."""
    tokens, tables = stream.shape
    t_ids = np.broadcast_to(np.arange(tables), stream.shape)
    g = stream.astype(np.int64) + t_ids * rows_per_table
    start = start_banks(g, t_ids, row_span, banks, mapping).astype(np.int64)  # (tokens, tables)
    key = (np.arange(tokens)[:, None] * banks + start).ravel()
    starts = np.bincount(key, minlength=tokens * banks).reshape(tokens, banks)  # rows starting at each bank
    return spread(starts, row_span, banks)


def conflict_factor_from_stream(stream: np.ndarray, rows_per_table: int, row_bytes: float, bank_width: float,
                                banks: int, mapping: str = "interleaved") -> tuple[float, np.ndarray]:
    """(busiest bank's accesses / mean accesses per bank, accesses per bank) over the whole stream.
    Deep per-bank queues let transient conflicts even out, so the long-run bound is the busiest bank."""
    loads = bank_loads(stream, rows_per_table, span(row_bytes, bank_width), banks, mapping).sum(axis=0)
    mean = loads.sum() / banks
    return float(loads.max() / mean) if mean > 0 else 1.0, loads


def expected_max_load(balls: float, bins: float) -> float:
    """Fullest-bin load when `balls` land uniformly at random in `bins` bins (bins may be fractional: a
    row spanning s of B banks is a ball in one of B / s bins). The heavily loaded form of Raab & Steger
    (1998), m/n + sqrt(2 (m/n) ln n), with ln n held at 1 below n = e, capped at all the balls: it never
    falls as balls are added, never rises as bins are added (more banks never add conflicts), and over a
    whole op (m >> n) it is the regime that matters."""
    if bins <= 1.0 or balls <= 0:
        return float(max(balls, 0.0))
    mean = balls / bins
    return float(min(balls, mean + math.sqrt(2.0 * mean * max(math.log(bins), 1.0))))


def uniform_conflict_factor(tokens: int, tables: int, row_bytes: float, bank_width: float, banks: int,
                            mapping: str = "interleaved") -> float:
    """Busiest bank / mean bank load over a whole op when buckets are uniform (no stream given)."""
    s = span(row_bytes, bank_width)
    placements = tokens * tables
    if placements <= 0:
        return 1.0
    mean = placements * s / banks
    if mapping == "by_table":
        # deterministic: table t always covers banks t*s .. t*s + s - 1 (mod banks), once per token
        cover = np.zeros(banks)
        for t in range(tables):
            cover[(t * s + np.arange(s)) % banks] += 1
        return float(cover.max() * tokens / mean)
    # every row starts at a uniformly random bank: q = s // banks full turns over every bank, then the
    # rest of the row covers `rest` neighbours, like a ball in one of banks / rest bins
    q, rest = divmod(s, banks)
    busiest = q * placements + (expected_max_load(placements, banks / rest) if rest else 0.0)
    return max(1.0, busiest / mean)
