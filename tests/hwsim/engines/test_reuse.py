"""Batch reuse and hot rows (hwsim.engines.reuse) against brute force: enumerated bucket sequences, a
naive LRU written here, and the published uniform-hashing anchors."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.engines import reuse

PROPERTY = settings(max_examples=40, deadline=None)


def brute_expected_distinct(n: int, probs) -> float:
    """E[distinct] by enumerating every sequence of n draws with its probability."""
    r = len(probs)
    total = 0.0
    for seq in itertools.product(range(r), repeat=n):
        total += np.prod([probs[i] for i in seq]) * len(set(seq))
    return total


@PROPERTY
@given(n=st.integers(0, 5), tau=st.integers(0, 3))
def test_uniform_distinct_rows_equal_brute_force(n, tau):
    r = 2 ** tau
    assert reuse.expected_distinct_uniform(n, r) == pytest.approx(brute_expected_distinct(n, [1 / r] * r), abs=1e-9)
    # the general formula agrees with the closed form 2^tau (1 - (1 - 2^-tau)^n)
    assert reuse.expected_distinct(n, np.full(r, 1 / r)) == pytest.approx(r * (1 - (1 - 1 / r) ** n), abs=1e-9)


@PROPERTY
@given(n=st.integers(0, 4), rows=st.integers(1, 5), s=st.floats(0.1, 2.5))
def test_skewed_distinct_rows_equal_brute_force(n, rows, s):
    p = reuse.bucket_probs(rows, "zipf", s)
    assert reuse.expected_distinct(n, p) == pytest.approx(brute_expected_distinct(n, list(p)), abs=1e-9)


def test_published_uniform_hashing_anchors():
    # lookup-hardware reference, design knob 1: a 256-row table touched by B tokens has about 57, 162
    # and 251 distinct rows at B = 64, 256 and 1024 under uniform hashing
    assert [round(reuse.expected_distinct_uniform(b, 256)) for b in (64, 256, 1024)] == [57, 162, 251]


@PROPERTY
@given(tokens=st.integers(1, 40), tables=st.integers(1, 4), tau=st.integers(1, 4), seed=st.integers(0, 99))
def test_distinct_rows_of_a_stream_are_set_sizes(tokens, tables, tau, seed):
    stream = np.random.default_rng(seed).integers(0, 2 ** tau, size=(tokens, tables))
    assert reuse.distinct_rows(stream) == sum(len(set(stream[:, t].tolist())) for t in range(tables))


def naive_lru_hits(stream, rpt, capacity):
    """A list-based LRU: most recent at the end."""
    cache, hits = [], []
    for row in stream:
        for t, b in enumerate(row):
            key = (t, int(b))
            if key in cache:
                cache.remove(key)
                cache.append(key)
                hits.append(True)
            else:
                cache.append(key)
                if len(cache) > capacity:
                    cache.pop(0)
                hits.append(False)
    return np.array(hits).reshape(stream.shape)


@PROPERTY
@given(tokens=st.integers(1, 30), tables=st.integers(1, 3), tau=st.integers(1, 4), cap=st.integers(0, 20),
       seed=st.integers(0, 99))
def test_lru_replay_matches_a_naive_lru_and_never_hits_less_when_bigger(tokens, tables, tau, cap, seed):
    stream = np.random.default_rng(seed).integers(0, 2 ** tau, size=(tokens, tables))
    hits = reuse.lru_hits_from_stream(stream, 2 ** tau, cap)
    assert (hits == naive_lru_hits(stream, 2 ** tau, cap)).all()
    bigger = reuse.lru_hits_from_stream(stream, 2 ** tau, cap + 1)
    assert (bigger | ~hits).all()  # LRU is a stack algorithm: every hit stays a hit
    if cap >= tables * 2 ** tau:  # holds everything: only first reads miss
        assert int((~hits).sum()) == reuse.distinct_rows(stream)


@PROPERTY
@given(tokens=st.integers(1, 30), tables=st.integers(1, 3), tau=st.integers(1, 4), k=st.integers(0, 30),
       seed=st.integers(0, 99))
def test_static_cache_hits_the_k_most_read_rows(tokens, tables, tau, k, seed):
    stream = np.random.default_rng(seed).integers(0, 2 ** tau, size=(tokens, tables))
    counts = sorted((int((stream[:, t] == b).sum()) for t in range(tables) for b in range(2 ** tau)), reverse=True)
    assert reuse.static_hits_from_stream(stream, 2 ** tau, k).sum() == sum(counts[:k])


@pytest.mark.parametrize("s", [0.0, 0.8, 1.2])
@pytest.mark.parametrize("cap", [8, 32, 128])
def test_che_approximation_is_close_to_a_long_lru_replay(s, cap):
    # one table of 256 rows, 40 000 draws: the steady-state hit rate the replay measures
    rng = np.random.default_rng(1)
    p = reuse.bucket_probs(256, "zipf", s) if s else reuse.bucket_probs(256)
    stream = rng.choice(256, size=(40000, 1), p=p)
    replay = reuse.lru_hits_from_stream(stream, 256, cap)[5000:].mean()  # past the cold start
    assert reuse.che_hit_rate(p, cap) == pytest.approx(replay, abs=0.02)


@PROPERTY
@given(tokens=st.integers(1, 5000), s=st.floats(0.0, 2.0), cap=st.integers(0, 600))
def test_expected_lru_hits_grow_with_capacity_and_respect_compulsory_misses(tokens, s, cap):
    p = reuse.bucket_probs(256, "zipf", s) if s > 0 else reuse.bucket_probs(256)
    h = reuse.expected_lru_hit_fraction(tokens, 2, p, cap)
    assert 0 <= h <= 1 - reuse.expected_distinct(tokens, p) / tokens + 1e-12
    assert reuse.expected_lru_hit_fraction(tokens, 2, p, cap + 7) >= h - 1e-12
