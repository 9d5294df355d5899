"""Discrete-event engine: agreement with the analytic engine where nothing contends, departures (with the
reason stated) where something does, the Result contract, the trace format, reproducible draws, coarse
vs fine mode, overlap of independent ops, clean Ctrl-C.

Expected values come from the analytic engine on the same inputs, from constructed index streams whose
bank loads are known by construction, and from the definitions (sums, formats), never from the DES itself.
"""
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import workloads
from hwsim.engines import banks as bank_model
from hwsim import list_presets, load_accelerator, simulate
from hwsim.io import progress as des_progress
from hwsim.report import des_plots
from hwsim.engines.des.report import attribute
from hwsim.engines.banks import spread
from hwsim.engines.des.streams import draw_stream
from hwsim.io.trace import write_trace_json
from workloads.op import OpKind, Workload

PRESETS = tuple(list_presets())


def with_streams(w: Workload, make) -> Workload:
    """The same workload with an index stream attached to every lookup op: make(op) -> (tokens, tables)."""
    return Workload(w.name, tuple(replace(op, index_stream=make(op)) if op.kind is OpKind.LOOKUP else op
                                  for op in w.ops), w.meta)


def balanced(op) -> np.ndarray:
    """Token i reads bucket (i + t) mod rows of table t. On lut-asic (512 banks, 1 KiB rows over 16 banks,
    interleaved) a row starts at bank 16 * (bucket mod 32), so each token covers every bank exactly twice."""
    n, k, r = op.dims["tokens"], op.table.tables, op.table.rows_per_table
    return ((np.arange(n)[:, None] + np.arange(k)) % r).astype(np.int32)


def zipf(op, s: float = 1.5) -> np.ndarray:
    return draw_stream(op.dims["tokens"], op.table.tables, op.table.rows_per_table, "zipf", s, seed=3, salt=op.name)


def rel(a: float, b: float) -> float:
    return abs(a - b) / b


# ---- agreement where nothing contends ----------------------------------------------------------------

@pytest.mark.parametrize("preset", ["h200", "lut-asic"])
def test_single_matmul_agrees_with_analytic(preset):
    w = workloads.layer("linear", 2048, 1024, 1024)
    a, d = simulate(w, preset), simulate(w, preset, engine="des")
    assert rel(d.latency_s, a.latency_s) < 0.02
    assert d.ops["time_s"].sum() == pytest.approx(d.latency_s, rel=1e-12)
    assert d.ops.loc[0, "bound"] == a.ops.loc[0, "bound"]


@pytest.mark.parametrize("coarse", [False, True])
def test_balanced_memory_layer_agrees_on_lut_asic(coarse):
    w = with_streams(workloads.layer("memory", 2048, 512, 512), balanced)
    loads = bank_model.bank_loads(w.op("lookup").index_stream, 256, 16, 512, "interleaved")
    assert (loads == 2).all()  # the construction: every bank twice per token
    opts = dict(tables_resident=True)
    a = simulate(w, "lut-asic", **opts)
    d = simulate(w, "lut-asic", engine="des", double_buffer=False, coarse=coarse, **opts)
    assert rel(d.latency_s, a.latency_s) < 0.02
    load = d.extra["bank_load"]["lookup"]
    assert load.min() == load.max() == 2 * 2048
    assert not any("served" in line for line in d.extra["explanations"])  # no conflicts to report


def test_hash_lookup_double_buffering_beats_the_serial_sum_and_says_so():
    w = with_streams(workloads.layer("memory", 2048, 512, 512), balanced)
    a = simulate(w, "lut-asic", tables_resident=True)
    d = simulate(w, "lut-asic", engine="des", tables_resident=True)
    hash_s = a.ops.set_index("op").loc["hash", "busy_s"]
    assert d.latency_s < a.latency_s - 0.5 * hash_s  # most of the hash hides behind the row reads
    assert any("pipelined" in line for line in d.extra["explanations"])
    assert "pipelined with hash" in d.ops.set_index("op").loc["lookup", "notes"]


@pytest.mark.parametrize("kind", ["transformer", "linformer", "cosformer", "performer"])
def test_serial_des_reproduces_the_analytic_schedule_without_lookups(kind):
    """One kernel at a time (overlap=False) and no lookups: the same launch pipeline, the same times."""
    for preset in PRESETS:
        w = workloads.block(kind, 256, 128)
        a, d = simulate(w, preset), simulate(w, preset, engine="des", overlap=False)
        assert d.latency_s == pytest.approx(a.latency_s, rel=1e-9), preset
        np.testing.assert_allclose(d.ops["time_s"], a.ops["time_s"], rtol=1e-9, atol=1e-15)


# ---- departures where something contends ------------------------------------------------------------

def test_zipf_stream_on_few_banks_is_slower_and_names_the_bank():
    w = with_streams(workloads.layer("memory", 1024, 512, 512), zipf)
    even = with_streams(workloads.layer("memory", 1024, 512, 512), balanced)
    d = simulate(w, "lut-asic", engine="des", tables_resident=True, double_buffer=False)
    u = simulate(even, "lut-asic", engine="des", tables_resident=True, double_buffer=False)
    load = d.extra["bank_load"]["lookup"]
    busiest = int(np.argmax(load))
    assert load[busiest] > 3 * load.mean()  # Zipf over buckets, interleaved: bucket 0 of every table on bank 0..15
    # the busiest bank serves one access per cycle: a lower bound on the op (the DES may read some cold rows
    # from DRAM instead, which the analytic engine does not, so the analytic time is no bound here)
    assert d.latency_s >= load[busiest] / load_accelerator("lut-asic").clock_hz
    assert d.latency_s > 3 * u.latency_s  # the same rows spread evenly over the banks
    assert any(f"bank {busiest} served" in line for line in d.extra["explanations"])
    assert f"bank {busiest} served" in d.ops.set_index("op").loc["lookup", "notes"]


@pytest.mark.parametrize("preset,opts", [("lut-asic", {}),
                                         ("h200", {"mode": "graph", "lowering": "fused", "streams": 3})])
def test_qkv_lookups_overlap_in_the_timeline(preset, opts):
    """On lut-asic by default (dataflow: the lookup memory takes several ops' reads); on a GPU only when the
    workload puts the branches on streams of their own (one stream runs its kernels in order)."""
    w = workloads.block("memoryformer", 256, 256)
    d = simulate(w, preset, engine="des", **opts)
    ops = d.kernels.groupby("op").agg(start=("start_s", "min"), end=("end_s", "max"))
    spans = [(ops.loc[f"{p}.lookup", "start"], ops.loc[f"{p}.lookup", "end"]) for p in "qkv"]
    assert max(s for s, _ in spans) < min(e for _, e in spans)
    assert any("ran concurrently" in line and "q.lookup" in line for line in d.extra["explanations"])


def test_qkv_lookups_share_the_banks_at_once_when_tables_are_resident():
    d = simulate(workloads.block("memoryformer", 256, 256), "lut-asic", engine="des", tables_resident=True)
    use = {p: [(s, e) for res, op, s, e in d.extra["timeline"] if res == "lookup banks" and op == f"{p}.lookup"]
           for p in "qkv"}
    first_end = min(max(e for _, e in use[p]) for p in "qkv")
    assert all(min(s for s, _ in use[p]) < first_end for p in "qkv")


# ---- the Result contract ------------------------------------------------------------------------------

@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("kind", ["memoryformer", "transformer", "linformer", "cosformer", "performer"])
def test_every_preset_returns_the_analytic_columns(preset, kind):
    w = workloads.block(kind, 64, 32)
    a, d = simulate(w, preset), simulate(w, preset, engine="des")
    assert list(d.ops.columns) == list(a.ops.columns)
    assert list(d.ops["op"]) == list(a.ops["op"])
    assert list(d.kernels.columns) == list(a.kernels.columns)
    assert d.engine == "des" and d.latency_s > 0 and d.energy_j > 0
    assert d.ops["time_s"].sum() == pytest.approx(d.latency_s, rel=1e-9)
    assert (d.ops["flops"] == a.ops["flops"]).all()
    assert set(d.extra["utilisation"]) >= {"matrix", "vector", "dram"}
    assert all(0 <= u <= 1 + 1e-9 for u in d.extra["utilisation"].values())
    assert isinstance(d.extra["explanations"], list) and d.extra["explanations"][0].startswith("DES latency")


@pytest.mark.parametrize("rule", ["latest", "shared"])
def test_op_times_add_up_to_the_latency_when_ops_overlap(rule):
    d = simulate(workloads.block("memoryformer", 128, 256), "lut-asic", engine="des", time_attribution=rule)
    assert d.ops["time_s"].sum() == pytest.approx(d.latency_s, rel=1e-12)
    assert (d.ops["time_s"] >= 0).all()


def test_attribution_rules_on_known_intervals():
    assert attribute([0.0, 1.0], [2.0, 3.0], "latest") == pytest.approx([1.0, 2.0])
    assert attribute([0.0, 1.0], [2.0, 3.0], "shared") == pytest.approx([1.5, 1.5])
    assert attribute([0.0, 2.0], [1.0, 3.0], "latest") == pytest.approx([1.0, 2.0])  # the gap goes to the next
    assert attribute([0.5], [1.0], "shared") == pytest.approx([1.0])  # the lead-in too


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0, 5)), min_size=1, max_size=12),
       st.sampled_from(["latest", "shared"]))
def test_attribution_always_sums_to_the_makespan(intervals, rule):
    starts = [s for s, _ in intervals]
    ends = [s + d for s, d in intervals]
    out = attribute(starts, ends, rule)
    assert sum(out) == pytest.approx(max(ends), rel=1e-9, abs=1e-12)
    assert min(out) >= 0


def test_trace_json_is_trace_event_format(tmp_path):
    path = tmp_path / "sub" / "trace.json"
    d = simulate(workloads.block("memoryformer", 64, 64), "lut-asic", engine="des", trace_json=str(path))
    doc = json.loads(path.read_text())
    assert doc["displayTimeUnit"] == "ns"
    events = doc["traceEvents"]
    complete = [e for e in events if e["ph"] == "X"]
    assert len(complete) >= len(d.kernels)
    for e in complete:
        assert {"name", "cat", "ph", "ts", "dur", "pid", "tid"} <= set(e)
        assert isinstance(e["name"], str) and isinstance(e["cat"], str)
        assert isinstance(e["ts"], (int, float)) and isinstance(e["dur"], (int, float)) and e["dur"] >= 0
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int)
    assert all(e["ph"] == "M" and "name" in e["args"] for e in events if e["ph"] != "X")
    # microseconds: the last kernel ends at the latency
    assert max(e["ts"] + e["dur"] for e in complete) == pytest.approx(d.latency_s * 1e6, rel=1e-9)
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary file left beside it
    write_trace_json(simulate(workloads.block("memoryformer", 64, 64), "h200"), tmp_path / "analytic.json")
    assert json.loads((tmp_path / "analytic.json").read_text())["traceEvents"]


# ---- draws, modes, options ----------------------------------------------------------------------------

def test_bucket_draws_are_reproducible_and_skewed():
    a = draw_stream(512, 16, 256, "zipf", 1.2, seed=7, salt="q")
    assert (a == draw_stream(512, 16, 256, "zipf", 1.2, seed=7, salt="q")).all()
    assert (a != draw_stream(512, 16, 256, "zipf", 1.2, seed=8, salt="q")).any()
    counts = np.bincount(a.ravel(), minlength=256)
    assert counts.argmax() == 0 and counts[0] > 10 * counts[128:].mean()
    u = draw_stream(4096, 16, 256, "uniform", seed=1)
    assert u.min() == 0 and u.max() == 255 and np.bincount(u.ravel()).std() < 0.2 * 256
    w = workloads.block("memoryformer", 128, 128)
    r1 = simulate(w, "lut-asic", engine="des", bucket_distribution="zipf", seed=5)
    r2 = simulate(w, "lut-asic", engine="des", bucket_distribution="zipf", seed=5)
    r3 = simulate(w, "lut-asic", engine="des", bucket_distribution="zipf", seed=6)
    assert r1.latency_s == r2.latency_s
    assert all((r1.extra["bank_load"][k] == r2.extra["bank_load"][k]).all() for k in r1.extra["bank_load"])
    assert any((r1.extra["bank_load"][k] != r3.extra["bank_load"][k]).any() for k in r1.extra["bank_load"])
    assert r1.extra["drawn_streams"] == ["q.lookup", "k.lookup", "v.lookup", "memory_block.m1.lookup",
                                         "memory_block.m2.lookup"]


@pytest.mark.parametrize("preset", ["lut-asic", "h200", "tpu-v4"])
def test_coarse_mode_within_2_percent_of_fine(preset):
    w = with_streams(workloads.block("memoryformer", 128, 1024),
                     lambda op: draw_stream(op.dims["tokens"], op.table.tables, op.table.rows_per_table, seed=2,
                                            salt=op.name))
    fine = simulate(w, preset, engine="des")
    coarse = simulate(w, preset, engine="des", coarse=True)
    assert rel(coarse.latency_s, fine.latency_s) < 0.02
    assert coarse.extra["units"] * 8 <= fine.extra["units"]  # a tile per step instead of a token
    assert coarse.extra["lookups"] == fine.extra["lookups"]


@pytest.mark.parametrize("mapping", bank_model.BANK_MAPPINGS)
@pytest.mark.parametrize("row_span,banks", [(1, 64), (3, 64), (16, 512), (70, 64), (128, 64)])
def test_per_unit_bank_loads_match_hwsim_banks(mapping, row_span, banks):
    stream = np.random.default_rng(0).integers(0, 100, (37, 12)).astype(np.int32)
    expected = bank_model.bank_loads(stream, 100, row_span, banks, mapping)
    t_ids = np.broadcast_to(np.arange(12), stream.shape)
    start = bank_model.start_banks(stream.astype(np.int64) + t_ids * 100, t_ids, row_span, banks, mapping)
    counts = np.zeros((37, banks), dtype=np.int64)
    np.add.at(counts, (np.arange(37)[:, None].repeat(12, 1), start.astype(np.int64)), 1)
    np.testing.assert_array_equal(spread(counts, row_span, banks), expected)


def test_other_lookup_memories_run():
    w = workloads.block("memoryformer", 128, 128)
    lut = load_accelerator("lut-asic")
    near = simulate(w, lut.with_overrides({"lookup.placement": "near_memory"}), engine="des")
    assert near.latency_s > 0 and near.extra["bank_load_unit"]["q.lookup"] == "lookup bank"
    # tables larger than the banks: the rows that do not fit are read from DRAM, row by row (resident tables,
    # so that the choice between loading tables and reading the rows a short stream needs is not made)
    small = simulate(w, lut.with_overrides({"lookup.capacity": "512 KiB"}), engine="des", tables_resident=True)
    full = simulate(w, lut, engine="des", tables_resident=True)
    assert full.extra["dram_row_hits"] + full.extra["dram_row_misses"] == 0
    assert small.extra["dram_row_hits"] + small.extra["dram_row_misses"] > 0
    gpu = simulate(w, "h200", engine="des", lowering="fused", mode="graph")
    assert gpu.extra["bank_load_unit"]["q.lookup"] == "DRAM channel"


def test_bad_options_are_reported():
    w = workloads.layer("linear", 16, 16, 16)
    with pytest.raises(ValueError, match="bucket_distribution"):
        simulate(w, "h200", engine="des", bucket_distribution="pareto")
    with pytest.raises(ValueError, match="unknown option.*tile_size for the des engine; options: .*tile_tokens"):
        simulate(w, "h200", engine="des", tile_size=3)  # named, with the options allowed
    with pytest.raises(ValueError, match="time_attribution"):
        simulate(w, "h200", engine="des", time_attribution="first")


# ---- plots, progress, interruption ------------------------------------------------------------------

def test_plots_show_every_kernel_and_the_busiest_bank():
    """The Gantt chart's top panel holds one rectangle per kernel, spanning its start and end; the bank-load
    figure marks each lookup op's busiest bank at its load over the mean. The figure is built from the
    Result's tables, so they are the independent record to compare with."""
    from matplotlib.collections import PolyCollection

    d = simulate(workloads.block("memoryformer", 128, 128), "lut-asic", engine="des")
    gantt = des_plots.gantt_figure(d)
    (top,) = [c for c in gantt.axes[0].collections if isinstance(c, PolyCollection)]
    boxes = np.array([p.vertices[:4] for p in top.get_paths()])  # x in us, y = row of the op
    assert len(boxes) == len(d.kernels)
    np.testing.assert_allclose(np.sort(boxes[:, :, 0].min(axis=1)), np.sort(d.kernels["start_s"] * 1e6), rtol=1e-9)
    np.testing.assert_allclose(np.sort(boxes[:, :, 0].max(axis=1)), np.sort(d.kernels["end_s"] * 1e6), rtol=1e-9)
    assert len(gantt.axes) == 2  # and the resources panel
    banks = des_plots.bank_load_figure(d)
    marks = [l for l in banks.axes[0].lines if l.get_marker() == "o"]
    assert len(marks) == len(d.extra["bank_load"]) == 5
    for mark, load in zip(marks, d.extra["bank_load"].values()):
        assert mark.get_xdata()[0] == np.argmax(load)
        assert mark.get_ydata()[0] == pytest.approx(load.max() / load.mean())
    fig = des_plots.gantt_figure(simulate(workloads.block("transformer", 64, 32), "h200"))  # analytic works too
    assert len(fig.axes) == 1


def test_gantt_drawing_is_bounded_however_long_the_timeline():
    """A timeline of 10^6 intervals (a long run on a GPU preset) is drawn as at most GANTT_PIXELS
    rectangles per (resource, op) lane, never one per interval, and still covers every busy moment."""
    from matplotlib.collections import PolyCollection

    d = simulate(workloads.block("memoryformer", 64, 64), "h200", engine="des")
    span = d.latency_s
    starts = np.sort(np.random.default_rng(1).uniform(0, span, 10**6))
    timeline = [("dram", f"op{i % 4}", s, s + span * 1e-7) for i, s in enumerate(starts.tolist())]
    fig = des_plots.gantt_figure(replace(d, extra={**d.extra, "timeline": timeline}))
    (boxes,) = [c for c in fig.axes[1].collections if isinstance(c, PolyCollection)]
    assert len(boxes.get_paths()) <= 4 * des_plots.GANTT_PIXELS
    x0 = min(p.vertices[:, 0].min() for p in boxes.get_paths())
    x1 = max(p.vertices[:, 0].max() for p in boxes.get_paths())
    assert x0 == pytest.approx(starts[0] * 1e6) and x1 == pytest.approx((starts[-1] + span * 1e-7) * 1e6)


def test_progress_bar_text():
    out = io.StringIO()
    p = des_progress.Progress(10, "DES x", stream=out, interval_s=0.0, delay_s=0.0)
    for _ in range(10):
        p.advance()
    p.close()
    assert "100%" in out.getvalue() and "10/10" in out.getvalue() and out.getvalue().endswith("\n")


def test_interrupt_propagates_cleanly_and_writes_nothing(tmp_path, monkeypatch):
    calls = {"n": 0}

    def advance(self, n=1):
        calls["n"] += 1
        if calls["n"] == 50:
            raise KeyboardInterrupt

    monkeypatch.setattr(des_progress.Progress, "advance", advance)
    path = tmp_path / "trace.json"
    with pytest.raises(KeyboardInterrupt) as info:
        simulate(workloads.block("memoryformer", 128, 256), "lut-asic", engine="des", progress=True,
                 trace_json=str(path))
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_in_a_real_run(tmp_path):
    """SIGINT while the progress bar runs: KeyboardInterrupt, no simpy frames, no trace file."""
    trace = tmp_path / "t.json"
    code = ("import workloads, hwsim\n"
            "w = workloads.block('memoryformer', 512, 16384)\n"
            f"hwsim.simulate(w, 'lut-asic', engine='des', progress=True, trace_json={str(trace)!r})\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, env=env,
                         cwd=str(Path(__file__).resolve().parents[4]))
    seen = b""
    while b"%" not in seen:  # wait for the bar: the simulation is running
        chunk = p.stderr.read1(256)
        if not chunk:
            break
        seen += chunk
    p.send_signal(signal.SIGINT)
    err = (seen + p.stderr.read()).decode()
    assert p.wait(timeout=60) != 0
    assert "KeyboardInterrupt" in err and "simpy" + os.sep not in err  # no frames from simpy's event loop
    assert "interrupted" in err
    assert not trace.exists() and list(tmp_path.iterdir()) == []
