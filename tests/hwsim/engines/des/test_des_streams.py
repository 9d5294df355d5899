"""Streams, the shared DRAM queue and the residency choice of the discrete-event engine (issue 8).

- GPUs and CPUs run one stream by default (PyTorch issues every kernel on the current stream): no two
  kernels overlap, and without lookups the DES reproduces the analytic engine's launch pipeline exactly;
- kernels of one stream never overlap; independent branches overlap only on different streams;
- a lone op's DRAM bytes share one queue: its row reads and streamed bytes add, as in the analytic engine;
- bad streams and bad index streams give one clear ValueError naming the op.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import workloads
from hwsim import list_presets, load_accelerator, simulate
from hwsim.engines.des.ordering import assign_streams
from workloads.op import OpKind, Workload

PRESETS = tuple(list_presets())
SERIAL = [p for p in PRESETS if load_accelerator(p).kind in ("gpu", "cpu")]
DATAFLOW = [p for p in PRESETS if p not in SERIAL]


def rel(a: float, b: float) -> float:
    return abs(a - b) / b


def with_stream(w: Workload, op_name: str, stream: np.ndarray) -> Workload:
    ops = tuple(replace(op, index_stream=stream) if op.name == op_name else op for op in w.ops)
    return Workload(w.name, ops, w.meta)


def overlapping(kernels, ops=None) -> list[tuple[str, str]]:
    """Pairs of kernels (of `ops`, default all) that run at the same time, longer than float rounding."""
    k = kernels if ops is None else kernels[kernels["op"].isin(ops)]
    k = k[~k["kernel"].str.endswith(":load_tables")].sort_values("start_s")
    rows = list(k.itertuples())
    return [(a.kernel, b.kernel) for i, a in enumerate(rows) for b in rows[i + 1:]
            if min(a.end_s, b.end_s) - max(a.start_s, b.start_s) > 1e-12]


# ---- one stream on GPUs and CPUs --------------------------------------------------------------------------

@pytest.mark.parametrize("preset", SERIAL)
@pytest.mark.parametrize("mode", ["eager", "graph"])
@pytest.mark.parametrize("lowering", ["torch", "fused"])
def test_single_stream_reproduces_the_analytic_pipeline_without_lookups(preset, mode, lowering):
    """No lookups, one stream: the same kernels one after another, the same launch pipeline; the DES adds
    nothing, so the times agree to rounding (the analytic schedule is the reference: one kernel at a time)."""
    w = workloads.block("transformer", 256, 128, heads=4)
    a = simulate(w, preset, mode=mode, lowering=lowering)
    d = simulate(w, preset, engine="des", mode=mode, lowering=lowering)
    assert d.latency_s == pytest.approx(a.latency_s, rel=1e-9)
    np.testing.assert_allclose(d.kernels["start_s"], a.kernels["start_s"], rtol=1e-9, atol=1e-15)
    assert overlapping(d.kernels) == []


@pytest.mark.parametrize("preset", SERIAL)
@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_no_kernels_overlap_on_one_stream_with_lookups(preset, mode):
    d = simulate(workloads.block("memoryformer", 128, 128, heads=2), preset, engine="des", mode=mode, lowering="fused")
    assert overlapping(d.kernels) == []
    assert not any("ran concurrently" in line for line in d.extra["explanations"])
    assert set(d.extra["streams"].values()) == {0}


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_h200_memoryformer_block_agrees_with_analytic_on_torch_kernels(mode):
    """h200, one stream, uniform buckets (no index-stream contention): the DES runs the analytic engine's
    kernels in the same order. Torch lowering: within 2% (launch-bound); fused: the test below."""
    w = workloads.block("memoryformer", 512, 256, heads=8)
    a = simulate(w, "h200", mode=mode, lowering="torch")
    d = simulate(w, "h200", engine="des", mode=mode, lowering="torch")
    assert rel(d.latency_s, a.latency_s) < 0.02


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_h200_fused_memoryformer_block_agrees_with_analytic(mode):
    """Fused lowering: the lookups are chains of dependent reads; both engines time a lookup's critical path by
    its longest chain (a cold token's misses), not the mean miss fraction (analytic since issue 8)."""
    w = workloads.block("memoryformer", 512, 256, heads=8)
    a = simulate(w, "h200", mode=mode, lowering="fused")
    d = simulate(w, "h200", engine="des", mode=mode, lowering="fused")
    assert rel(d.latency_s, a.latency_s) < 0.05


# ---- several streams, dataflow --------------------------------------------------------------------------

def test_stream_assignment_puts_independent_branches_side_by_side():
    w = workloads.block("memoryformer", 64, 16, heads=2)
    s = assign_streams(w, 3, lambda name: True)
    assert len({s["q.lookup"], s["k.lookup"], s["v.lookup"]}) == 3      # three independent branches
    assert s["attention"] == s["q.lookup"] and s["hash"] == s["attn_norm.norm"]  # a chain continues its stream
    assert set(assign_streams(w, 1, lambda name: True).values()) == {0}
    assert assign_streams(w, "dataflow", lambda name: True) is None
    t = workloads.block("transformer", 64, 16, heads=2)  # parallel residual: the FFN branch has no inputs
    st = assign_streams(t, 2, lambda name: True)
    assert st["fc1.matmul"] != st["qkv.matmul"] and st["fc1.matmul"] == st["ffn_norm.norm"]


@pytest.mark.parametrize("streams", [1, 2, 3, {"k.lookup": 1, "v.lookup": 2}])
def test_kernels_of_one_stream_never_overlap(streams):
    d = simulate(workloads.block("memoryformer", 128, 128, heads=2), "h200", engine="des", mode="graph",
                 lowering="fused", streams=streams)
    by_stream: dict[int, list[str]] = {}
    for op, s in d.extra["streams"].items():
        by_stream.setdefault(s, []).append(op)
    for ops in by_stream.values():
        assert overlapping(d.kernels, ops) == []


def test_streams_from_the_workload_and_overlap_shorthand():
    w = workloads.block("memoryformer", 128, 128, heads=2)
    three = Workload(w.name, w.ops, {**w.meta, "streams": 3})
    opts = dict(engine="des", mode="graph", lowering="fused")
    assert overlapping(simulate(three, "h200", **opts).kernels, ["q.lookup", "k.lookup", "v.lookup"])
    assert overlapping(simulate(w, "h200", overlap=True, **opts).kernels)
    serial = simulate(w, "lut-asic", engine="des", overlap=False)
    assert overlapping(serial.kernels) == [] and serial.extra["streams"] is not None
    assert simulate(w, "lut-asic", engine="des", overlap=False).latency_s == \
        simulate(w, "lut-asic", engine="des", streams=1).latency_s


@pytest.mark.parametrize("preset", DATAFLOW)
def test_dedicated_engines_overlap_independent_ops_by_default(preset):
    """Accelerators built from separate engines run independent ops side by side (dataflow), so the block
    is never slower than on one in-order stream, and some kernels do overlap."""
    w = workloads.block("memoryformer", 128, 256, heads=2)
    d, one = simulate(w, preset, engine="des"), simulate(w, preset, engine="des", streams=1)
    assert d.extra["streams"] is None
    assert overlapping(d.kernels)
    assert d.latency_s <= one.latency_s * (1 + 1e-9)


@pytest.mark.parametrize("bad", [0, -1, 2.5, "two", True, {"q.lookup": -1}])
def test_bad_streams_are_one_clear_error(bad):
    with pytest.raises(ValueError, match="streams"):
        simulate(workloads.block("memoryformer", 64, 16, heads=2), "h200", engine="des", streams=bad)


def test_streams_naming_an_unknown_op_is_refused():
    with pytest.raises(ValueError, match="q.lookupp"):
        simulate(workloads.block("memoryformer", 64, 16, heads=2), "h200", engine="des", streams={"q.lookupp": 1})


# ---- the shared DRAM queue -------------------------------------------------------------------------------

@pytest.mark.parametrize("preset", ["a100", "h200"])
def test_a_lone_gather_moves_rows_and_output_through_one_dram(preset):
    """The rows (random, at the gather efficiency of their size) and the output (streamed) share the DRAM
    channels, so their times add: busy >= rows / (bw x gather efficiency) + output / (bw x efficiency)."""
    from hwsim.engines.analytic import gather_efficiency

    accel = load_accelerator(preset)
    n, row = 100000, 512
    r = simulate(workloads.layer("gather", n, 1, row // 2, table_rows=1 << 20), accel, engine="des", coarse=True)
    dram = accel.memory.dram
    unique = (1 << 20) * (1 - (1 - 2 ** -20) ** n)  # rows read at least once: the rest may hit the cache
    floor = (unique * row / (dram.bandwidth_bytes_per_s * gather_efficiency(accel, row))
             + n * row / dram.sustained_bandwidth_bytes_per_s)
    assert r.ops.loc[0, "busy_s"] >= 0.98 * floor  # 2%: DRAM rows found open move at the streaming rate


@pytest.mark.parametrize("preset", ["a100", "h200"])
def test_a_lone_gather_agrees_with_analytic(preset):
    """Both engines add a gather's row misses (at the gather efficiency) and its streamed bytes (at the copy
    efficiency) on the one DRAM (analytic since issue 8). Rows spread evenly over the DRAM channels (row k in
    DRAM chunk k): within 2%. Rows drawn at random load some channels more than others (100k reads over 40
    or 96 channels: the busiest gets a few % more than the mean), which the DES queues and the analytic
    engine averages: the DES is then slower, by less than 8%."""
    w = workloads.layer("gather", 100000, 1, 256, table_rows=1 << 20)
    even = with_stream(w, "gather", (2 * np.arange(100000, dtype=np.int32))[:, None])  # 512 B rows, 1 KiB chunks
    a, d = simulate(even, preset), simulate(even, preset, engine="des", coarse=True)  # 1563 tiles, not 100k tokens
    assert rel(d.ops.loc[0, "busy_s"], a.ops.loc[0, "busy_s"]) < 0.02
    assert d.extra["busy_s"]["dram busiest channel"] == pytest.approx(d.extra["busy_s"]["dram"], rel=1e-3)
    a, d = simulate(w, preset), simulate(w, preset, engine="des", coarse=True)
    assert 0.99 * a.ops.loc[0, "busy_s"] <= d.ops.loc[0, "busy_s"] < 1.08 * a.ops.loc[0, "busy_s"]


def test_many_tokens_load_the_tables_a_few_read_rows():
    """lut-asic, a Memory Layer: 2048 tokens read 2048 x 64 rows of 1 KiB (134 MB), far more than its 16.8 MB
    of tables, so the tables stream into the banks and no row comes from DRAM; one token reads 64 rows
    (64 KiB), far less than the tables: it does not wait for them, reads its rows from DRAM, and the
    prefetch stops where the op started (a small part of the tables)."""
    many = simulate(workloads.layer("memory", 2048, 512, 512), "lut-asic", engine="des")
    assert many.extra["dram_row_misses"] + many.extra["dram_row_hits"] == 0
    loads = many.kernels[many.kernels["kernel"].str.endswith(":load_tables")]
    assert loads["dram_bytes"].sum() == 64 * 256 * 1024  # every table, once
    one = simulate(workloads.layer("memory", 1, 512, 512), "lut-asic", engine="des")
    assert one.extra["dram_row_misses"] + one.extra["dram_row_hits"] == 64
    assert one.extra["lookup_waits_s"]["lookup"].get("tables", 0.0) == 0.0
    prefetched = one.kernels[one.kernels["kernel"].str.endswith(":load_tables")]["dram_bytes"].sum()
    assert prefetched < 0.1 * 64 * 256 * 1024
    assert any("buckets per table" in line for line in one.extra["explanations"])


def test_table_load_rows_keep_the_op_totals_and_the_latency():
    r = simulate(workloads.block("memoryformer", 128, 1024, heads=2), "lut-asic", engine="des")
    loads = r.kernels[r.kernels["kernel"].str.endswith(":load_tables")]
    assert len(loads) > 0 and (loads["time_s"] == 0).all() and (loads["unit"] == "memory").all()
    assert r.ops["time_s"].sum() == pytest.approx(r.latency_s, rel=1e-12)
    by_op = r.kernels.groupby("op")[["dram_bytes", "busy_s"]].sum()
    ops = r.ops.set_index("op")
    for op in loads["op"]:
        assert ops.loc[op, "dram_bytes"] == pytest.approx(by_op.loc[op, "dram_bytes"])
        assert ops.loc[op, "busy_s"] == pytest.approx(by_op.loc[op, "busy_s"])


# ---- bad index streams -----------------------------------------------------------------------------------

@pytest.mark.parametrize("preset", ["h200", "lut-asic"])
@pytest.mark.parametrize("case", ["too large", "negative", "float", "short"])
def test_bad_bucket_ids_name_the_op_and_range(preset, case):
    w = workloads.layer("memory", 64, 64, 64)
    op = w.op("lookup")
    n, k, r = op.dims["tokens"], op.table.tables, op.table.rows_per_table
    stream = {"too large": np.full((n, k), r, dtype=np.int32),
              "negative": np.full((n, k), -1, dtype=np.int32),
              "float": np.zeros((n, k), dtype=np.float32),
              "short": np.zeros((n - 1, k), dtype=np.int32)}[case]
    pattern = {"too large": rf"op lookup: bucket ids must lie in \[0, {r}\).*from {r} to {r}",
               "negative": r"op lookup: bucket ids must lie in \[0, .*from -1 to -1",
               "float": "op lookup: the index stream must be a 2-D array of integer bucket ids",
               "short": f"op lookup: the index stream has {n - 1} tokens, the op has {n}"}[case]
    with pytest.raises(ValueError, match=pattern):
        simulate(with_stream(w, "lookup", stream), preset, engine="des")


def test_zipf_over_a_table_of_more_than_2_31_rows_draws_valid_ids():
    from hwsim.engines.des.streams import draw_stream

    rows = (1 << 31) + 5
    for dist in ("zipf", "uniform"):
        s = draw_stream(1000, 2, rows, dist, 1.1, seed=1)
        assert s.dtype == np.int64 and s.min() >= 0 and s.max() < rows
    z = draw_stream(40000, 1, rows, "zipf", 1.1, seed=1)
    # P(bucket 0) = 1 / sum_{b=1}^{rows} b^-1.1: the first million terms summed, the rest by the integral
    first = np.sum(1.0 / np.arange(1, 10**6 + 1) ** 1.1)
    rest = ((rows + 0.5) ** -0.1 - (10**6 + 0.5) ** -0.1) / -0.1
    assert (z == 0).mean() == pytest.approx(1 / (first + rest), rel=0.05)
    # and the tail: the share above bucket 2^22 (drawn from the integral) is the weight of that tail
    above = ((rows + 0.5) ** -0.1 - ((1 << 22) + 0.5) ** -0.1) / -0.1 / (first + rest)
    assert (z >= 1 << 22).mean() == pytest.approx(above, rel=0.1)
