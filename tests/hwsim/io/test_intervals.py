"""Coalescing a timeline for plots and traces: nothing lost from the totals, bounded however long the run.

Expected values come from brute force over the raw intervals (a boolean time grid), never from the
coalescer itself."""
import json
import os

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import workloads
from hwsim import simulate
from hwsim.io.intervals import capped_lanes, lanes
from hwsim.io.trace import trace_events, write_trace_json

interval = st.tuples(st.sampled_from(["dram", "banks"]), st.sampled_from(["q", "k"]),
                     st.integers(0, 200), st.integers(1, 20))


def raw(intervals):
    return [(r, o, s / 10, (s + d) / 10) for r, o, s, d in intervals]


def covered(intervals, res, op, grid=2200):
    """Brute force: which of the 0.1-wide grid cells any interval of (res, op) covers."""
    cells = np.zeros(grid, bool)
    for r, o, s, e in intervals:
        if (r, o) == (res, op):
            cells[int(round(s * 10)):int(round(e * 10))] = True
    return cells


@settings(max_examples=80, deadline=None)
@given(st.lists(interval, min_size=1, max_size=60))
def test_exact_lanes_cover_the_same_time_and_keep_every_interval(intervals):
    tl = raw(intervals)
    merged = lanes(tl)
    assert len({(l.resource, l.op) for l in merged}) == len(merged) == len({(r, o) for r, o, *_ in tl})
    for lane in merged:
        mine = [(r, o, s, e) for r, o, s, e in tl if (r, o) == (lane.resource, lane.op)]
        assert lane.count.sum() == len(mine)
        assert lane.busy_s.sum() == pytest.approx(sum(e - s for *_, s, e in mine))
        cells = np.zeros(2200, bool)
        for s, e in zip(lane.start_s, lane.end_s):
            cells[int(round(s * 10)):int(round(e * 10))] = True
        np.testing.assert_array_equal(cells, covered(tl, lane.resource, lane.op))
        assert (lane.start_s[1:] > lane.end_s[:-1]).all()  # disjoint, sorted, gaps stay gaps


@settings(max_examples=60, deadline=None)
@given(st.lists(interval, min_size=1, max_size=80), st.integers(4, 40))
@example([("dram", "q", 0, 1), ("dram", "k", 0, 1), ("banks", "q", 0, 1), ("banks", "k", 2, 20),
          ("banks", "k", 109, 1)], 4)  # the widest gap, 10.9 - 2.2, must close although 2.2 + 8.7 != 10.9 in floats
def test_capped_lanes_never_exceed_the_cap_and_only_fill_short_gaps(intervals, cap):
    tl = raw(intervals)
    merged, gap = capped_lanes(tl, cap)
    n_lanes = len(merged)
    assert sum(len(l.start_s) for l in merged) <= max(cap, n_lanes)
    for lane in merged:
        mine = covered(tl, lane.resource, lane.op)
        cells = np.zeros(2200, bool)
        for s, e in zip(lane.start_s, lane.end_s):
            cells[int(round(s * 10)):int(round(e * 10))] = True
        assert (cells >= mine).all()  # every busy moment is still shown
        # what was added is gaps of at most `gap`: every run of added cells is that short
        added = np.flatnonzero(cells & ~mine)
        runs = np.split(added, np.flatnonzero(np.diff(added) > 1) + 1) if len(added) else []
        assert all(len(r) / 10 <= gap + 1e-9 for r in runs)


def test_a_million_intervals_stay_within_the_trace_cap():
    rng = np.random.default_rng(0)
    starts = np.sort(rng.uniform(0, 1e-3, 10**6))
    tl = [("dram", f"op{i % 5}", s, s + 2e-10) for i, s in enumerate(starts.tolist())]
    merged, gap = capped_lanes(tl, 100_000)
    assert sum(len(l.start_s) for l in merged) <= 100_000
    assert sum(int(l.count.sum()) for l in merged) == 10**6
    assert sum(float(l.busy_s.sum()) for l in merged) == pytest.approx(10**6 * 2e-10, rel=1e-6)
    assert 0 < gap < 1e-3 / (100_000 / 5)  # only gaps shorter than the mean spacing were closed


def test_des_trace_is_exact_below_the_cap_and_aggregated_above(tmp_path):
    """On h200 a DES block has ~20k resource intervals: under the cap every one is an event with its own
    start; with a cap of 500, at most 500 resource events that still add up to the same busy time."""
    d = simulate(workloads.block("memoryformer", 256, 512), "h200", engine="des")
    tl = d.extra["timeline"]
    busy = {}
    for r, o, s, e in tl:
        busy[r] = busy.get(r, 0.0) + (e - s) * 1e6
    exact = [e for e in trace_events(d) if e["ph"] == "X" and e["pid"] == 2]
    assert sum(e["dur"] for e in exact) <= sum(busy.values()) * (1 + 1e-9)  # overlaps merged, never added
    small = [e for e in trace_events(d, max_resource_events=500) if e["ph"] == "X" and e["pid"] == 2]
    assert len(tl) > 1000 and len(small) <= 500
    assert sum(e.get("args", {}).get("intervals", 1) for e in small) == sum(e.get("args", {}).get("intervals", 1)
                                                                          for e in exact)
    per_res = {}
    for e in small:
        per_res[e["cat"]] = per_res.get(e["cat"], 0.0) + e.get("args", {}).get("busy_us", e["dur"])
    for r in busy:
        assert per_res[r] == pytest.approx(busy[r], rel=1e-9)
    meta = [e for e in trace_events(d, max_resource_events=500) if e["ph"] == "M" and e["pid"] == 2]
    assert "aggregated" in meta[0]["args"]["name"]
    path = write_trace_json(d, tmp_path / "t.json")
    assert json.loads(path.read_text())["traceEvents"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, not a private (0600) temp file
