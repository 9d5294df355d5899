"""`hwsim calibrate`: the benchmarks at tiny sizes on this CPU, the preset writer (CPU and CUDA) with
figures made up by hand, bad input, and atomic output.

No timing asserts: the figures this machine gives are only checked for physical sense (a copy is
faster than 10 MB/s and slower than 10 TB/s, DRAM is no nearer than a cache) and for agreeing with the
rows they were computed from.
"""
import dataclasses
import math
import os
import re
from pathlib import Path

import pandas as pd
import pytest

import hwsim
from hwsim.calibrate import bench_cpu, calibrate, check_args, microbench as mb, preset_writer, records, timing, validation_set
from hwsim.calibrate.records import FIELDS, CacheLevel, Figure, Machine, Results
from hwsim.cli import main
from hwsim.validate import row_case

torch = pytest.importorskip("torch")
KiB, MiB = 2**10, 2**20
ROUNDING = 5e-3  # the preset writes 3 significant digits

TINY = mb.Sizes(budget_s=0.002, gemm_sizes=(16, 32), gemm_max_call_s=0.05, copy_bytes=1 * MiB, skinny_d=64,
                skinny_tokens=(1, 4), skinny_dtype="fp32", gather_table_bytes=2 * MiB, gather_bytes=64 * KiB,
                chase_bytes=1 * MiB, chase_steps=2000, sdpa=(1, 2, 32, 16), sdpa_dtype="fp32", tiny_op_calls=5)
TINY_MACHINE = Machine("cpu", "test cpu", 2, 8 * 2**30, "test", (CacheLevel("L3", 2 * MiB, "test"),
                       CacheLevel("L2", 256 * KiB, "test"), CacheLevel("L1D", 64 * KiB, "test")), 64, "test",
                       2.0e9, "test", None, "", torch.__version__)


@pytest.fixture(scope="module")
def tiny_ctx():
    ctx = mb.Ctx(torch, "cpu", timing.CpuTimer(timing.Budget(TINY.budget_s, min_reps=2)), TINY, Results(),
                 TINY_MACHINE)
    with torch.no_grad():
        for _, step in bench_cpu.steps(ctx):
            step()
    return ctx


def _rows(ctx, impl):
    return [r for r in ctx.results.rows if r["impl"] == impl]


# ---- the benchmarks, at tiny sizes on this CPU ---------------------------------------------------------

def test_every_benchmark_writes_rows_of_the_schema(tiny_ctx):
    rows = tiny_ctx.results.rows
    assert rows and all(tuple(r) == FIELDS for r in rows)
    assert {r["kind"] for r in rows} == {"ceiling", "micro"}
    assert all(r["timing"] == "wall" and r["time_us"] > 0 for r in rows)
    impls = {r["impl"] for r in rows}
    assert {"gemm_square", "d2d_copy", "random_row_gather", "stream_read", "cache_read", "linear_stream",
            "pointer_chase", "tiny_op", "sdpa_causal", "embedding_bag", "memory_layer_forward",
            "memory_layer_kernels"} <= impls


def test_ceiling_rows_are_rows_validate_can_rebuild(tiny_ctx):
    for r in tiny_ctx.results.rows:
        if r["kind"] == "ceiling":
            workload, opts = row_case({k: (math.nan if v == "" else v) for k, v in r.items()})
            assert workload.ops and opts["lowering"] == "torch"


def test_figures_agree_with_the_rows_they_came_from(tiny_ctx):
    f = tiny_ctx.results.figures
    copy = _rows(tiny_ctx, "d2d_copy")[0]
    assert f["dram.copy"].value == pytest.approx(copy["bytes_moved"] / (copy["time_us"] * 1e-6))
    assert copy["bytes_moved"] == 2 * TINY.copy_bytes  # read + written
    best = max(r["flops"] / (r["time_us"] * 1e-6) for r in _rows(tiny_ctx, "gemm_square") if r["dtype"] == "fp32")
    assert f["matrix.fp32"].value == pytest.approx(best)
    gathers = _rows(tiny_ctx, "random_row_gather")
    assert [int(re.search(r"row_bytes=(\d+)", r["extra"]).group(1)) for r in gathers] == list(mb.GATHER_ROW_BYTES)
    for r in gathers:
        rb = int(re.search(r"row_bytes=(\d+)", r["extra"]).group(1))
        assert r["d_out"] * 2 == rb and r["tokens"] * rb == r["bytes_moved"]  # bf16 rows of rb bytes
        assert f[f"gather.{rb}"].value == pytest.approx(r["bytes_moved"] / (r["time_us"] * 1e-6))
    assert {f"skinny.{n}" for n in TINY.skinny_tokens} <= set(f)
    for key, fig in f.items():
        assert fig.bench in {r["impl"] for r in tiny_ctx.results.rows}
        if key != "memory_layer.wrapper":  # a difference of two timings: noise may make it negative
            assert fig.value > 0 and math.isfinite(fig.value), key


def test_figures_make_physical_sense(tiny_ctx):
    f = tiny_ctx.results.figures
    assert 1e7 < f["dram.copy"].value < 1e13      # 10 MB/s .. 10 TB/s
    assert 1e6 < f["matrix.fp32"].value < 1e14    # no CPU multiplies at 100 TFLOP/s
    assert 1e-8 < f["launch.tiny_op"].value < 1e-2  # dispatching an op costs more than 10 ns, less than 10 ms
    # a dependent read from a farther level never takes less time than one from a nearer level
    assert f["latency.L2"].value <= f["latency.L3"].value <= f["latency.dram"].value
    assert f["latency.L2"].value >= bench_cpu.L1_LATENCY_CYCLES / TINY_MACHINE.clock_hz


def test_matrix_peak_of_a_dtype_without_kernels_is_none(monkeypatch):
    ctx = mb.Ctx(torch, "cpu", timing.CpuTimer(timing.Budget(0.001, 1)), TINY, Results(), TINY_MACHINE)

    def no_kernel(*a, **k):
        raise RuntimeError("no kernel for this dtype")
    monkeypatch.setattr(torch.nn.functional, "linear", no_kernel)
    assert mb.matrix_peak(ctx, "fp16") is None
    assert "matrix.fp16" not in ctx.results.figures and not ctx.results.rows


def test_cpu_timer_is_a_median_or_minimum_of_enough_calls(monkeypatch):
    calls = []
    t = timing.CpuTimer(timing.Budget(0.0, min_reps=7))(lambda: calls.append(1))
    assert len(calls) == 8 and t >= 0  # one warm-up, then the minimum number of repetitions
    # with a clock that advances 1, 2, ..., 7 s over the seven timed calls, the median is 4 s and the minimum 1 s
    for statistic, expected in (("median", 4.0), ("min", 1.0)):
        # the clock is read once for the deadline, then per call: the loop's deadline check, start, end
        ticks = iter([0.0] + [x for i in range(1, 8) for x in (1e3, 10.0 * i, 10.0 * i + i)] + [1e3])
        monkeypatch.setattr(timing.time, "perf_counter", lambda: next(ticks))
        assert timing.CpuTimer(timing.Budget(0.0, min_reps=7), statistic)(lambda: None) == expected
    with pytest.raises(ValueError, match="statistic"):
        timing.CpuTimer(timing.Budget(0.0), "mean")


def test_cache_sizes_from_sysfs_and_lscpu(tmp_path):
    for i, (level, kind, size, shared) in enumerate([(1, "Data", "32K", "0"), (1, "Instruction", "32K", "0"),
                                                     (2, "Unified", "512K", "0"), (3, "Unified", "32768K", "0-1")]):
        d = tmp_path / f"index{i}"
        d.mkdir()
        for name, value in (("level", level), ("type", kind), ("size", size), ("shared_cpu_list", shared),
                            ("coherency_line_size", 64)):
            (d / name).write_text(f"{value}\n")
    caches, line = bench_cpu.caches_from_sysfs(tmp_path, cores=2)
    # per-core L1D and L2 count once per core used, the shared L3 once; biggest level first
    assert [(c.name, c.size_bytes) for c in caches] == [("L3", 32 * MiB), ("L2", 1 * MiB), ("L1D", 64 * KiB)]
    assert line == 64
    text = "L1d cache: 64 KiB (2 instances)\nL1i cache: 64 KiB (2 instances)\nL2 cache: 1 MiB (2 instances)\n" \
           "L3 cache: 32 MiB (1 instance)\n"
    assert [(c.name, c.size_bytes) for c in bench_cpu.caches_from_lscpu(text)] == \
        [("L3", 32 * MiB), ("L2", 1 * MiB), ("L1D", 64 * KiB)]


# ---- the preset writer, with figures made up by hand -----------------------------------------------------

def _fig(value, bench):
    return Figure(value, bench, f"{bench}: made-up figure {value:g}")


CPU_FIGS = {
    "matrix.fp32": _fig(200e9, "gemm_square"), "matrix.bf16": _fig(50e9, "gemm_square"),
    "dram.copy": _fig(20e9, "d2d_copy"), "dram.read": _fig(25e9, "stream_read"),
    "cache.L3.bandwidth": _fig(100e9, "cache_read"), "cache.L2.bandwidth": _fig(300e9, "cache_read"),
    "skinny.1": _fig(18e9, "linear_stream"), "skinny.16": _fig(15e9, "linear_stream"),
    **{f"gather.{rb}": _fig(v, "random_row_gather") for rb, v in
       zip(mb.GATHER_ROW_BYTES, (1.6e9, 3e9, 5e9, 8e9, 12e9, 16e9, 19e9, 25e9))},
    "latency.L2": _fig(4e-9, "pointer_chase"), "latency.L3": _fig(40e-9, "pointer_chase"),
    "latency.dram": _fig(120e-9, "pointer_chase"), "launch.tiny_op": _fig(3e-6, "tiny_op"),
    "attention": _fig(40e9, "sdpa_causal"), "embedding_bag": _fig(5e9, "embedding_bag"),
}


def _write(tmp_path, machine, figs, stock_name):
    stock = hwsim.load_accelerator(stock_name)
    text = preset_writer.preset_text("made-up", machine, figs, stock, quick=True, date="2026-01-01")
    path = tmp_path / "made-up.yaml"
    path.write_text(text)
    return hwsim.load_accelerator(path), text, stock


def _line(text, key, after=None):
    """The first YAML line that sets `key` (after the line containing `after`, if given)."""
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if after in l) if after else 0
    return next(l for l in lines[start:] if re.match(rf"\s*-?\s*{re.escape(key)}:", l))


def test_cpu_preset_puts_each_figure_in_its_field(tmp_path):
    a, text, stock = _write(tmp_path, TINY_MACHINE, CPU_FIGS, "cpu-2core")
    close = lambda x, y: x == pytest.approx(y, rel=ROUNDING)  # noqa: E731
    assert a.kind == "cpu" and a.name == "made-up"
    assert close(a.compute.matrix.peak_flops_per_s["fp32"], 200e9)
    assert close(a.compute.matrix.peak_flops_per_s["bf16"], 50e9)
    assert a.compute.matrix.efficiency == 1.0 and a.compute.matrix.cores == 2
    assert close(a.compute.matrix.attention_efficiency, 40e9 / 200e9)
    assert close(a.memory.dram.bandwidth_bytes_per_s, 20e9) and a.memory.dram.efficiency == 1.0
    assert close(a.memory.dram.latency_s, 120e-9)
    assert a.memory.dram.access_granularity_bytes == 64
    assert [(s.name, s.capacity_bytes) for s in a.memory.sram] == [("L3", 2 * MiB), ("L2", 256 * KiB),
                                                                    ("L1D", 64 * KiB)]
    assert close(a.memory.sram[0].bandwidth_bytes_per_s, 100e9) and close(a.memory.sram[0].latency_s, 40e-9)
    assert a.lookup.capacity_bytes == 2 * MiB and close(a.lookup.access_latency_s, 40e-9)
    # the random reads alone: the op's time (bytes / gathered rate) less its streamed index reads and row
    # writes at the copy rate, capped at 1 (from 1 KiB rows these gathers keep pace with the copy here)
    curve = [(p.row_bytes, p.fraction) for p in a.lookup.gather_efficiency]
    assert [rb for rb, _ in curve] == list(mb.GATHER_ROW_BYTES)
    for (rb, frac), v in zip(curve, (1.6e9, 3e9, 5e9, 8e9, 12e9, 16e9, 19e9, 25e9)):
        reads_s = 1 / v - (1 + 8 / rb) / 20e9  # seconds per gathered byte left for the reads
        assert close(frac, min(1.0, 1 / (reads_s * 20e9)) if reads_s * 20e9 > 1 else 1.0), rb
    # Little's law at the best rate of the reads alone: here the large-row gathers keep pace with the copy,
    # so the reads alone run at the 20 GB/s copy rate (not the 25 GB/s of gathered rows, which counts
    # the op's row writes too): 20 GB/s / 64 B x (120 + 40 ns) = 50 lines in flight
    assert a.compute.threads_in_flight == 50
    if "weight_stream_efficiency" in type(a.memory.dram).model_fields:  # the field of issue 9 item 6
        assert close(a.memory.dram.weight_stream_efficiency, 18e9 / 20e9)  # skinny.1 over the copy
    # a tiny op = dispatch + the shortest kernel (stock cpu-2core's 1 us)
    assert close(a.runtime.launch_overhead_eager_s, 3e-6 - stock.runtime.min_kernel_time_s)
    assert a.runtime.min_kernel_time_s == stock.runtime.min_kernel_time_s
    # what timing cannot measure is the stock preset's
    assert a.energy.mac_j_per_flop["fp32"] == pytest.approx(stock.energy.mac_j_per_flop["fp32"], rel=ROUNDING)
    assert a.technology_nm == stock.technology_nm
    if getattr(stock, "area", None) is not None:
        assert a.area == stock.area
    assert a.memory.dram.energy_per_byte_j == pytest.approx(stock.memory.dram.energy_per_byte_j, rel=ROUNDING)


def test_cpu_preset_comments_name_the_benchmark_or_the_stock_preset(tmp_path):
    _, text, _ = _write(tmp_path, TINY_MACHINE, CPU_FIGS, "cpu-2core")
    assert "gemm_square" in _line(text, "fp32", after="matrix:")
    assert "d2d_copy" in _line(text, "bandwidth", after="dram:")
    assert "pointer_chase" in _line(text, "latency", after="dram:")
    assert "cache_read" in _line(text, "bandwidth", after="name: L3")
    assert "tiny_op" in _line(text, "launch_overhead_eager")
    assert "sdpa_causal" in _line(text, "attention_efficiency")
    assert "Little's law" in _line(text, "threads_in_flight")
    for key in ("technology_nm", "idle_power", "vector_op", "hash_per_chunk", "channels", "burst"):
        assert "as stock cpu-2core" in _line(text, key), key
    gather = [l for l in text.splitlines() if re.match(r"\s*- \[", l)]
    assert len(gather) == 8 and all("random_row_gather" in l for l in gather)
    # every value line says where its number comes from
    for line in text.splitlines():
        if re.match(r"\s*-?\s*\w+: [\d\[]", line):
            assert "#" in line, line


CUDA_MACHINE = Machine("cuda", "made-up GPU", 100, 80 * 2**30, "test", (CacheLevel("L2", 40 * MiB, "test"),), 32,
                       "assumption: 32 B", None, "", 204800, "2048 x 100 SMs", "2.11")
CUDA_FIGS = {
    "matrix.bf16": _fig(700e12, "gemm_square"), "matrix.fp16": _fig(690e12, "gemm_square"),
    "matrix.fp32": _fig(50e12, "gemm_square"), "dram.copy": _fig(3e12, "d2d_copy"),
    "cache.L2.bandwidth": _fig(9e12, "cache_read"), "skinny.1": _fig(1.8e12, "linear_stream"),
    **{f"gather.{rb}": _fig(v, "random_row_gather") for rb, v in
       zip(mb.GATHER_ROW_BYTES, (0.1e12, 0.2e12, 0.4e12, 0.8e12, 1.2e12, 1.3e12, 1.3e12, 1.3e12))},
    "latency.L2": _fig(250e-9, "pointer_chase"), "latency.dram": _fig(700e-9, "pointer_chase"),
    "launch.tiny_op": _fig(8e-6, "tiny_op"), "launch.min_kernel": _fig(1.5e-6, "min_kernel"),
    "launch.latency": _fig(3e-6, "launch_latency"), "launch.graph_kernel": _fig(2.5e-6, "graph_replay"),
    "launch.graph": _fig(5e-6, "graph_replay"), "attention": _fig(280e12, "sdpa_causal"),
}


def test_cuda_preset_puts_each_figure_in_its_field(tmp_path):
    a, text, stock = _write(tmp_path, CUDA_MACHINE, CUDA_FIGS, "h200")
    close = lambda x, y: x == pytest.approx(y, rel=ROUNDING)  # noqa: E731
    assert a.kind == "gpu" and a.compute.matrix.cores == 100 and a.compute.threads_in_flight == 204800
    assert close(a.compute.matrix.peak_flops_per_s["bf16"], 700e12)
    assert close(a.compute.matrix.attention_efficiency, 280e12 / 700e12)
    assert close(a.compute.vector.peak_flops_per_s["fp32"], 50e12)
    assert close(a.compute.vector.peak_flops_per_s["bf16"], 100e12)  # packed: twice fp32
    assert close(a.memory.dram.bandwidth_bytes_per_s, 3e12) and close(a.memory.dram.latency_s, 700e-9)
    assert a.memory.dram.access_granularity_bytes == 32
    # the L2 is measured; shared memory comes from the stock preset
    assert [s.name for s in a.memory.sram] == ["L2", "SMEM"]
    assert a.memory.sram[0].capacity_bytes == 40 * MiB and close(a.memory.sram[0].latency_s, 250e-9)
    assert a.memory.sram[1].capacity_bytes == stock.memory.sram[1].capacity_bytes
    assert close(a.runtime.launch_overhead_eager_s, 8e-6)  # host time per launch; the kernel runs on the GPU
    assert close(a.runtime.launch_overhead_graph_s, 2.5e-6 - 1.5e-6)
    assert close(a.runtime.min_kernel_time_s, 1.5e-6)
    assert close(a.runtime.launch_latency_s, 3e-6) and close(a.runtime.graph_launch_s, 5e-6)
    assert a.runtime.launch_overhead_graph_s <= a.runtime.launch_overhead_eager_s
    assert a.energy.active_power_w == pytest.approx(stock.energy.active_power_w)
    assert "graph_replay" in _line(text, "launch_overhead_graph") and "min_kernel" in _line(text, "min_kernel_time")
    assert "as stock h200" in _line(text, "capacity", after="name: SMEM")


def test_cuda_preset_without_triton_or_profiler_keeps_stock_latencies(tmp_path):
    figs = {k: v for k, v in CUDA_FIGS.items() if not k.startswith(("latency.", "launch.min_kernel"))}
    a, text, stock = _write(tmp_path, CUDA_MACHINE, figs, "h200")
    assert a.memory.dram.latency_s == pytest.approx(stock.memory.dram.latency_s, rel=ROUNDING)
    assert a.runtime.min_kernel_time_s == pytest.approx(stock.runtime.min_kernel_time_s, rel=ROUNDING)
    assert "as stock h200" in _line(text, "latency", after="dram:")


def test_noisy_launch_figures_never_make_graph_dearer_than_eager(tmp_path):
    figs = {**CUDA_FIGS, "launch.graph_kernel": _fig(30e-6, "graph_replay")}
    a, _, _ = _write(tmp_path, CUDA_MACHINE, figs, "h200")  # validation would reject graph > eager
    assert a.runtime.launch_overhead_graph_s <= a.runtime.launch_overhead_eager_s


# ---- bad input: one line, exit 2, nothing written ---------------------------------------------------------

def _one_line(capsys, *args):
    rc = main(["calibrate", *map(str, args)])
    out, err = capsys.readouterr()
    assert rc == 2 and "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwsim calibrate: error:"), err
    return lines[0]


@pytest.mark.parametrize("threads", [0, -1, 10_000])
def test_bad_thread_count(capsys, tmp_path, threads):
    line = _one_line(capsys, "--device", "cpu", f"--threads={threads}", "--name", "box", "--out", tmp_path)
    assert "--threads" in line and str(threads) in line
    with pytest.raises(ValueError, match="--threads"):
        check_args("cuda", "box", tmp_path, "median", 1)  # threads are the CPU's
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("rounds", [0, -2, 21])
def test_bad_round_count(capsys, tmp_path, rounds):
    line = _one_line(capsys, "--device", "cpu", f"--rounds={rounds}", "--name", "box", "--out", tmp_path)
    assert "--rounds" in line and str(rounds) in line
    assert not list(tmp_path.iterdir())


def test_best_of_rounds_keeps_the_highest_rate_the_shortest_time_and_the_fastest_row():
    slow, fast = Results(), Results()
    for res, copy, lat, t_layer, t_gemm in ((slow, 20e9, 90e-9, 300.0, 50.0), (fast, 25e9, 120e-9, 200.0, 60.0)):
        res.row(kind="info", extra="{}")
        res.add("dram.copy", copy, "d2d_copy", f"copy {copy}")
        res.add("latency.dram", lat, "pointer_chase", f"chase {lat}")
        res.add("launch.tiny_op", 2 * lat, "tiny_op", "tiny")
        res.row(kind="ceiling", impl="gemm_square", dtype="fp32", tokens=128, time_us=t_gemm, extra="x")
        res.row(kind="layer", impl="linear", dtype="fp32", tokens=1, d_in=512, d_out=512, time_us=t_layer)
        res.row(kind="layer", impl="linear", dtype="fp32", tokens=1, d_in=512, d_out=512, time_us=t_layer + 1)
    fast.row(kind="layer", impl="linear", dtype="fp32", tokens=16, d_in=512, d_out=512, time_us=5.0)  # one round only
    best = records.best_of([slow, fast])
    # rates: the higher; times: the lower, each with its own round's words
    assert best.figures["dram.copy"].value == 25e9 and best.figures["dram.copy"].detail == "copy 25000000000.0"
    assert best.figures["latency.dram"].value == 90e-9 and best.figures["launch.tiny_op"].value == 180e-9
    # rows in their order, matched by everything but the time (and a repeated row by its occurrence)
    assert [(r["impl"], r["tokens"], r["time_us"]) for r in best.rows] == [
        ("", "", ""), ("gemm_square", 128, 50.0), ("linear", 1, 200.0), ("linear", 1, 201.0), ("linear", 16, 5.0)]


def test_unknown_statistic(tmp_path):
    with pytest.raises(ValueError, match="--statistic"):
        check_args("cpu", "x", tmp_path, "mean")
    assert not list(tmp_path.iterdir())


def test_unknown_device(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["calibrate", "--device", "tpu", "--name", "x", "--out", str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tpu" in err[0] and "cpu" in err[0] and "cuda" in err[0]
    with pytest.raises(ValueError, match="--device"):
        check_args("tpu", "x", tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu(capsys, tmp_path):
    line = _one_line(capsys, "--device", "cuda", "--quick", "--name", "gpu", "--out", tmp_path / "out")
    assert "no CUDA device: torch.cuda.is_available() is False" in line
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden", "box.yaml", "has space", "x" * 65, "-dash"])
def test_bad_name(capsys, tmp_path, name):
    line = _one_line(capsys, "--device", "cpu", f"--name={name}", "--out", tmp_path)
    assert "--name" in line and repr(name) in line
    assert not list(tmp_path.iterdir())


def test_out_is_a_file_or_below_one(capsys, tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert "--out" in _one_line(capsys, "--device", "cpu", "--name", "box", "--out", f)
    assert "--out" in _one_line(capsys, "--device", "cpu", "--name", "box", "--out", f / "sub")
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_unwritable_out(capsys, tmp_path, monkeypatch):
    # a folder nobody can create (even root), and a write refused by the file system
    assert "--out" in _one_line(capsys, "--device", "cpu", "--name", "box", "--out", "/proc/hwsim-calibrate")

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr("tempfile.mkdtemp", refuse)
    line = _one_line(capsys, "--device", "cpu", "--name", "box", "--out", tmp_path / "out")
    assert "--out" in line and "Permission denied" in line
    assert not list(tmp_path.iterdir())


# ---- a whole run at tiny sizes: files, atomicity ---------------------------------------------------------

TINY_CASES = [validation_set.Case(dict(kind="layer", impl="linear", dtype="fp32", tokens=4, d_in=64, d_out=64,
                                       flops=2 * 4 * 64 * 64), 2 * 4 * 64 * 64),
              validation_set.Case(dict(kind="layer", impl="memory_embedding_bag", dtype="fp32", tokens=4, d_in=64,
                                       d_out=64, tau=8, K=8)),
              validation_set.Case(dict(kind="block", impl="memoryformer_e2", dtype="fp32", d_in=64, d_out=64, heads=2,
                                       seq=16, batch=1, tokens=16, tau=8, expand_bits=2), 1)]


@pytest.fixture
def tiny_run(monkeypatch):
    monkeypatch.setattr(bench_cpu, "sizes", lambda quick, machine: TINY)
    monkeypatch.setattr(validation_set, "cases", lambda device, quick, dtypes: TINY_CASES)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # leave the test process's threads alone


def test_a_tiny_run_writes_a_preset_that_loads_and_rows_that_validate(tiny_run, tmp_path, capsys):
    rc = main(["calibrate", "--device", "cpu", "--quick", "--name", "tinybox", "--out", str(tmp_path / "cal")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert sorted(p.name for p in (tmp_path / "cal").iterdir()) == ["measured.csv", "tinybox.yaml", "validation.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["cal"]  # no staging folder left behind
    a = hwsim.load_accelerator(tmp_path / "cal" / "tinybox.yaml")
    m = pd.read_csv(tmp_path / "cal" / "measured.csv")
    assert tuple(m.columns) == FIELDS and set(m["timing"]) == {"wall"}
    assert set(m["kind"]) == {"info", "ceiling", "micro", "layer", "block"}
    # the preset's numbers are the CSV's figures (recomputed here from the rows' own columns)
    copy = m[m["impl"] == "d2d_copy"].iloc[0]
    assert a.memory.dram.bandwidth_bytes_per_s == pytest.approx(copy["bytes_moved"] / copy["time_us"] * 1e6,
                                                                rel=ROUNDING)
    gemm = m[(m["impl"] == "gemm_square") & (m["dtype"] == "fp32")]
    best = (gemm["flops"] / gemm["time_us"] * 1e6).max()
    assert a.compute.matrix.peak_flops_per_s["fp32"] == pytest.approx(best, rel=ROUNDING)
    v = pd.read_csv(tmp_path / "cal" / "validation.csv")
    checked = v[v["kind"].isin(["ceiling", "layer", "block"])]
    assert checked["predicted_us"].notna().all() and (checked["predicted_us"] > 0).all()
    assert "median absolute error" in out and "wall time" in out


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failure_mid_run_leaves_nothing(tiny_run, tmp_path, monkeypatch, error):
    def fail(*a, **k):
        raise error
    monkeypatch.setattr(mb, "random_gathers", fail)
    out = tmp_path / "cal"
    with pytest.raises(type(error)):
        calibrate("cpu", "tinybox", out, quick=True, progress=False)
    assert not out.exists() and not list(tmp_path.iterdir())
    out.mkdir()
    (out / "keep.txt").write_text("a file that was there before")
    with pytest.raises(type(error)):
        calibrate("cpu", "tinybox", out, quick=True, progress=False)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_a_preset_that_does_not_load_is_not_written(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setattr(preset_writer, "preset_text", lambda *a, **k: "name: broken\n")
    with pytest.raises(hwsim.ConfigError):
        calibrate("cpu", "tinybox", tmp_path / "cal", quick=True, progress=False)
    assert not list(tmp_path.iterdir())


def test_no_torch_at_module_load():
    import subprocess
    import sys

    code = ("import sys, hwsim, hwsim.calibrate, hwsim.calibrate.preset_writer, hwsim.calibrate.bench_cpu, "
            "hwsim.calibrate.bench_cuda, hwsim.calibrate.validation_set, hwsim.cli; "
            "print('torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[3],
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_threads_reach_the_benchmarks_and_the_callers_setting_comes_back(monkeypatch):
    from hwsim.calibrate import run_benchmarks

    monkeypatch.setattr(bench_cpu, "sizes", lambda quick, machine: TINY)
    monkeypatch.setattr(validation_set, "cases", lambda device, quick, dtypes: [])
    before = torch.get_num_threads()
    seen = []
    real = mb.tiny_op_cost
    monkeypatch.setattr(mb, "tiny_op_cost", lambda ctx: (seen.append(torch.get_num_threads()), real(ctx))[1])
    results, machine, _ = run_benchmarks(torch, "cpu", True, progress=False, threads=1)
    assert machine.cores == 1 and seen == [1]
    assert '"threads": 1' in results.rows[0]["extra"]  # the info row
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("flags, expected", [(("avx2", "fma"), []), (("avx512f", "avx512_bf16"), []),
                                             (("amx_tile", "amx_bf16", "amx_int8"), ["bf16", "int8"]),
                                             (("amx_tile", "amx_bf16", "amx_int8", "amx_fp16"), ["bf16", "int8", "fp16"])])
def test_cpu_preset_tiles_only_the_dtypes_amx_multiplies(tmp_path, flags, expected):
    # Zen 4's AVX-512 bf16 dot products are vector instructions, with no tile rows to pad; AMX has tiles
    machine = dataclasses.replace(TINY_MACHINE, flags=flags)
    a, text, _ = _write(tmp_path, machine, CPU_FIGS, "cpu-2core")
    assert list(a.compute.matrix.tile_dtypes) == expected
    assert ("AMX" in _line(text, "tile_dtypes"))
