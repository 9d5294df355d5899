"""Pareto fronts against brute force: no row on the front is dominated, every row left out is dominated (or
had an error, failed a constraint, or lacked an objective)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.explore.pareto import pareto


def dominates(b, a) -> bool:
    """b dominates a: no worse in every objective, better in at least one (all minimised)."""
    return bool(np.all(b <= a) and np.any(b < a))


def brute_force_check(df, objectives, front):
    vals = df[objectives].to_numpy(dtype=float)
    on = df.index.isin(front.index)
    for i in range(len(df)):
        beaten = any(dominates(vals[j], vals[i]) for j in range(len(df)) if j != i)
        assert on[i] == (not beaten), (i, vals[i])


# small integer ranges make ties and duplicates common, the cases a front finder gets wrong
frames = st.integers(1, 3).flatmap(lambda m: st.lists(
    st.tuples(*[st.integers(0, 6)] * m), min_size=0, max_size=40).map(
        lambda rows: pd.DataFrame(rows, columns=[f"o{k}" for k in range(m)], dtype=float)))


@settings(max_examples=150, deadline=None)
@given(frames)
def test_front_matches_brute_force(df):
    objectives = list(df.columns)
    front = pareto(df, objectives)
    brute_force_check(df, objectives, front)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=60))
def test_front_matches_brute_force_on_reals(rows):
    df = pd.DataFrame(rows, columns=["latency_s", "energy_j", "area_mm2"])
    brute_force_check(df, list(df.columns), pareto(df, list(df.columns)))


def test_errors_infeasible_and_missing_objectives_take_no_part():
    df = pd.DataFrame({"latency_s": [1.0, 0.1, 0.2, np.nan, 2.0],
                       "energy_j": [1.0, 0.1, 0.2, 0.0, 2.0],
                       "feasible": [True, True, False, True, True],
                       "error": ["", "boom", "", "", ""]})
    front = pareto(df, ["latency_s", "energy_j"])
    assert list(front.index) == [0]  # 1 had an error, 2 was infeasible, 3 lacks latency; 4 is dominated by 0
    assert list(front.columns) == list(df.columns)


def test_one_front_per_group():
    df = pd.DataFrame({"model": ["a", "a", "b", "b"], "latency_s": [1.0, 2.0, 5.0, 6.0],
                       "energy_j": [1.0, 2.0, 5.0, 4.0]})
    assert list(pareto(df, ["latency_s", "energy_j"]).index) == [0]
    assert list(pareto(df, ["latency_s", "energy_j"], by="model").index) == [0, 2, 3]


def test_unknown_or_text_objectives_are_refused():
    df = pd.DataFrame({"latency_s": [1.0], "bound": ["dram"]})
    with pytest.raises(ValueError, match="latency"):
        pareto(df, ["latncy_s"])
    with pytest.raises(ValueError, match="not numeric"):
        pareto(df, ["bound"])
