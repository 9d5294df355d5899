"""Pareto fronts: the rows no other row beats in every objective (all objectives minimised).

Rows with an error, an infeasible row (a constraint failed) and rows missing an objective take no part.
Sorting the rows lexicographically by the objectives means a row can only be dominated by rows before it,
and only by one already on the front (whatever dominates a dominated row dominates what it dominates), so
each row is checked against the front so far: O(n x front), a few ms for 10,000 rows.
"""
from __future__ import annotations


def pareto(df, objectives, by=None):
    """The non-dominated rows of `df` for `objectives` (column names, each minimised), every column kept,
    in the order of `df`. `by`: a column (or list) to take a separate front for each group of."""
    import numpy as np
    import pandas as pd

    objectives = [objectives] if isinstance(objectives, str) else list(objectives)
    check_columns(df, objectives, by)
    ok = df[objectives].notna().all(axis=1)
    if "error" in df:
        ok &= df["error"].fillna("") == ""
    if "feasible" in df:
        ok &= df["feasible"].fillna(False).astype(bool)
    cand = df[ok]
    if by is None:
        keep = cand.index[_front(cand[objectives].to_numpy(dtype=np.float64))]
    else:
        groups = [g for _, g in cand.groupby(by, sort=True, dropna=False)]
        keep = pd.Index([]).append([g.index[_front(g[objectives].to_numpy(dtype=np.float64))] for g in groups]) \
            if groups else pd.Index([])
    return df.loc[df.index.isin(keep)]


def _front(values):
    """Positions of the non-dominated rows of an (n, m) array."""
    import numpy as np

    if len(values) == 0:
        return np.zeros(0, dtype=int)
    order = np.lexsort(values.T[::-1])  # by the first objective, then the second, ...
    front: list[int] = []
    for i in order:
        v = values[i]
        if front:
            f = values[front]
            if np.any(np.all(f <= v, axis=1) & np.any(f < v, axis=1)):
                continue
        front.append(i)
    return np.sort(np.array(front, dtype=int))


def dominated(a, b) -> bool:
    """Is a dominated by b (b no worse in every objective, better in one)?"""
    return all(y <= x for x, y in zip(a, b)) and any(y < x for x, y in zip(a, b))


def check_columns(df, objectives, by=None) -> None:
    from hwsim.config.errors import did_you_mean

    if not objectives:
        raise ValueError("--objectives: name at least one column, e.g. latency_s,energy_j")
    for c in [*objectives, *([by] if isinstance(by, str) else by or [])]:
        if c not in df.columns:
            raise ValueError(f"--objectives/--by: no column {c!r} in the dataset" + did_you_mean(c, df.columns))
    for c in objectives:
        if not (df[c].dtype.kind in "fiu" or df[c].isna().all()):
            raise ValueError(f"--objectives: column {c!r} is not numeric (it holds {df[c].dtype})")
