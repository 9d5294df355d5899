"""Coalescing a DES timeline: (resource, op, start_s, end_s) intervals, hundreds of thousands of them on a
GPU or CPU preset (one per DRAM burst group), merged per (resource, op) wherever the gap between two is
shorter than a resolution. A Gantt chart drawn at under one pixel per merge and a trace capped at a few
hundred thousand events both come from here; each merged interval keeps how many it stands for and
their busy time, so nothing is lost from the totals."""
from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter

import numpy as np


@dataclass(frozen=True)
class Lane:
    """The merged intervals of one op on one resource (arrays of equal length, seconds)."""
    resource: str
    op: str
    start_s: np.ndarray
    end_s: np.ndarray
    count: np.ndarray   # how many original intervals each merged one covers
    busy_s: np.ndarray  # their summed length (<= end_s - start_s)


def _merge(lane: Lane, gap_s: float) -> Lane:
    """Merge a lane's intervals (sorted by start) that overlap or lie closer than gap_s."""
    s, e = lane.start_s, lane.end_s
    reach = np.maximum.accumulate(e)  # the furthest any earlier interval of the lane extends
    # the gap as capped_lanes measures it (start - end, not end + gap: floats round those differently)
    first = np.flatnonzero(np.r_[True, (s[1:] - reach[:-1]) > gap_s])
    last = np.r_[first[1:], len(s)] - 1
    return Lane(lane.resource, lane.op, s[first], reach[last], np.add.reduceat(lane.count, first),
                np.add.reduceat(lane.busy_s, first))


def lanes(timeline, gap_s: float = 0.0) -> list[Lane]:
    """Merge each (resource, op)'s intervals that overlap or lie closer than gap_s, in first-seen order."""
    if not len(timeline):
        return []
    import pandas as pd

    n = len(timeline)
    # columns through C-level iterators: zip(*timeline) or a Python loop take about a second per 10^6 rows
    res, ops = list(map(itemgetter(0), timeline)), list(map(itemgetter(1), timeline))
    starts = np.fromiter(map(itemgetter(2), timeline), float, n)
    ends = np.fromiter(map(itemgetter(3), timeline), float, n)
    rc, res_names = pd.factorize(np.array(res, dtype=object), sort=False)
    oc, op_names = pd.factorize(np.array(ops, dtype=object), sort=False)
    # one code per (resource, op) pair, numbered in the order the pairs first appear
    codes, pairs = pd.factorize(rc.astype(np.int64) * len(op_names) + oc, sort=False)
    order = np.lexsort((starts, codes))
    codes, starts, ends = codes[order], starts[order], ends[order]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    out = []
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, n]):
        pair = int(pairs[codes[lo]])
        raw = Lane(str(res_names[pair // len(op_names)]), str(op_names[pair % len(op_names)]), starts[lo:hi],
                   ends[lo:hi], np.ones(hi - lo, dtype=np.int64), ends[lo:hi] - starts[lo:hi])
        out.append(_merge(raw, gap_s))
    return out


def capped_lanes(timeline, max_intervals: int) -> tuple[list[Lane], float]:
    """Lanes holding at most `max_intervals` intervals in all (or one per lane, if there are more lanes):
    exact (only touching ones merged) when that fits, else merged across the shortest gaps, just enough
    of them. Returns (lanes, the gap merged across)."""
    exact = lanes(timeline, 0.0)
    if sum(len(lane.start_s) for lane in exact) <= max_intervals:
        return exact, 0.0
    gaps = np.concatenate([lane.start_s[1:] - lane.end_s[:-1] for lane in exact])
    keep = max_intervals - len(exact)  # gaps that may stay open: each one that stays adds an interval
    if keep <= 0:
        gap = float(gaps.max())
    else:  # close every gap up to the keep-th widest; at most keep - 1 (fewer on ties) stay open
        gap = float(np.partition(gaps, len(gaps) - keep)[len(gaps) - keep])
    return [_merge(lane, gap) for lane in exact], gap
