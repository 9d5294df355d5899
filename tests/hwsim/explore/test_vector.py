"""The sweep's array path (Evaluator.rows: the engine traced on one point, replayed on arrays) gives every point
the row the scalar fast path (Evaluator.row) gives it, to the bit, and hwsim.simulate's totals: over every
preset, every option the sweep takes, and axes on every kind of config part (hypothesis). The tracer itself
replays Python's arithmetic exactly and sends points down another path where a decision differs."""
from __future__ import annotations

import math
import operator

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import hwsim
import models
from hwsim.config import ConfigError, override
from hwsim.explore import trace
from hwsim.explore.fastpath import Evaluator
from hwsim.explore.sampling import points
from hwsim.explore.spec import OPTION_CHOICES, SpecError, load_spec
from hwsim.explore.program import Program
from hwsim.explore.vector import cover, traced, values
from workloads.builders import preset_block

# axes on each kind of part: DRAM, an SRAM level, the lookup memory, a free mapping (peak rates), the runtime,
# and a top-level setting (clock: the whole config is validated per point)
AXES = {
    "memory.dram.bandwidth": {"logspace": ["0.3 TB/s", "20 TB/s"]},
    "memory.dram.latency": {"range": ["50 ns", "900 ns"]},
    "memory.sram[0].capacity": {"logspace": ["1 MiB", "512 MiB"]},
    "memory.sram[0].bandwidth": {"logspace": ["1 TB/s", "40 TB/s"]},
    "lookup.banks": [16, 64, 512, 4096],
    "lookup.capacity": ["8 MiB", "64 MiB", "1 GiB"],
    "compute.matrix.peak.bf16": {"logspace": ["20 TFLOP/s", "2 PFLOP/s"]},
    "runtime.launch_overhead_eager": {"range": ["0.5 us", "20 us"]},
    "clock": {"range": ["0.5 GHz", "2.5 GHz"]},
}
WORKLOADS = [
    {"model": "memoryformer-tiny", "seq_len": [64, 1024], "batch": [1, 2]},
    {"model": ["memoryformer-tiny", "pythia-70m"], "seq_len": 256},
    {"model": "memoryformer-tiny", "seq_len": [1, 4], "phase": "decode", "kv_len": [0, 300],
     "scope": ["block", "model"]},
    {"kind": ["memoryformer", "linformer"], "hidden_size": 512, "seq_len": 512, "tau": [6, 8]},
]
SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_rows_are_the_scalar_rows(spec) -> list:
    pts = points(spec)
    rows = Evaluator(spec).rows(pts)
    scalar = Evaluator(spec)
    for p, row in zip(pts, rows):
        want = scalar.row(p)
        assert list(row) == list(want)
        assert row == want, {k: (row[k], want[k]) for k in row if row[k] != want[k]}
        for k in ("latency_s", "energy_j", "dram_bytes", "area_mm2"):  # the same bits, not only equal
            assert type(row[k]) is type(want[k])
    return rows


@SLOW
@given(base=st.sampled_from(hwsim.list_presets()), workload=st.sampled_from(WORKLOADS),
       axes=st.lists(st.sampled_from(sorted(AXES)), min_size=1, max_size=4, unique=True),
       options=st.dictionaries(st.sampled_from(sorted(OPTION_CHOICES)), st.integers(0, 3), max_size=3),
       seed=st.integers(0, 2**16))
def test_rows_equal_the_scalar_fast_path_to_the_bit(base, workload, axes, options, seed):
    opts = {k: [OPTION_CHOICES[k][i % len(OPTION_CHOICES[k])]] for k, i in options.items()}
    try:
        spec = load_spec({"base": base, "workload": workload, "options": opts, "axes": {a: AXES[a] for a in axes},
                          "sampling": {"method": "random", "n": 48, "seed": seed}})
    except SpecError:  # an axis this preset does not have (no SRAM level, say)
        assume(False)
    assert_rows_are_the_scalar_rows(spec)


@pytest.mark.parametrize("base", hwsim.list_presets())
def test_rows_are_what_simulate_gives_on_every_preset(base):
    axes = {"memory.dram.bandwidth": AXES["memory.dram.bandwidth"], "lookup.banks": [32, 1024],
            "memory.dram.latency": AXES["memory.dram.latency"]}
    spec = load_spec({"base": base, "workload": {"model": ["memoryformer-tiny", "pythia-70m"], "seq_len": [128, 1024]},
                      "options": {"mode": ["eager", "graph"], "lowering": ["torch", "fused"]},
                      "axes": axes, "sampling": {"method": "lhs", "n": 40, "seed": 11}})
    rows = Evaluator(spec).rows(points(spec))
    ran = 0
    for r in rows[::3]:
        try:
            accel = override(hwsim.load_accelerator(base), {k: r[k] for k in axes})
        except ConfigError:
            assert r["error"]
            continue
        res = hwsim.simulate(preset_block(models.get_preset(r["model"]), r["seq_len"]), accel, mode=r["mode"],
                             lowering=r["lowering"])
        assert (r["latency_s"], r["energy_j"], r["dram_bytes"], r["flops"]) == (
            res.latency_s, res.energy_j, res.dram_bytes, res.flops)
        assert r["bound"] == res.summary()["main_bound"]
        ran += 1
    assert ran >= 10


def test_the_issue_spec_is_covered_by_a_few_traced_paths():
    """Points that differ only in DRAM bandwidth and latency, SRAM capacity and banks share a handful of traced
    paths per kernel (a bound that changes, a product that no longer fits the cache), not one per point."""
    from tests.hwsim.explore.sweep_helpers import ISSUE_SPEC

    spec = load_spec({**ISSUE_SPEC, "sampling": {"method": "lhs", "n": 400, "seed": 0}})
    ev = Evaluator(spec)
    rows = ev.rows(points(spec))
    assert all(r["error"] == "" and r["latency_s"] > 0 for r in rows)
    programs = list(ev._batch._programs.values())
    variants = [v for prog in programs for vs in prog.funcs.values() for v in vs]
    kernels = sum(len(prog.funcs) for prog in programs)
    assert kernels >= 20 and not any(outs is None for _, _, outs in variants)  # no trace failed
    assert len(variants) < 4 * kernels


# ---- the tracer ----------------------------------------------------------------------------------------

OPS = [operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv, operator.mod]


def program(x):
    """Every operation the tracer replays, and decisions (max, min, if) on traced values."""
    a, b, c = x
    y = max(a * b, c + 1.5) - min(a, 3) / (b + 0.25)
    z = math.ceil(y / 7.0) * c + math.floor(a) % 3 + round(b * 1.7) - abs(a - c) // 2.0
    w = -z if z > y else z + 1
    return y, z, w, sum([a, b, c, y]), 2.0 ** 0.5 * a


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-50, 50), st.integers(-20, 20), st.floats(0.01, 1e6)), min_size=1, max_size=30))
def test_a_traced_program_replays_to_the_bit_on_the_points_that_share_its_path(pts):
    leaves = np.array(pts, dtype=np.float64)
    found, left = cover([], leaves, lambda i: traced(program, list(pts[i]), lambda syms: syms))
    covered = set()
    for _, hit, outs in found:
        for n, i in enumerate(hit):
            want = program(pts[i])
            got = [o[n] if isinstance(o, np.ndarray) else o for o in values(outs)]
            assert [float(v) for v in got] == [float(v) for v in want]
            covered.add(int(i))
    assert covered | set(left.tolist()) == set(range(len(pts)))


def test_a_zero_divisor_and_an_untraceable_call_leave_the_points_to_the_scalar_path():
    xs = [2.0, 0.0]
    found, left = cover([], np.array([[v] for v in xs]),
                        lambda i: traced(lambda x: (1.0 / x[0],), [xs[i]], lambda s: s))
    assert [h.tolist() for _, h, _ in found] == [[0]] and left.tolist() == [1]  # Python raises on 1 / 0
    found, left = cover([], np.array([[2.0]]), lambda i: traced(lambda x: (np.sqrt(x[0]),), [2.0], lambda s: s))
    assert not found and left.tolist() == [0]


def test_a_number_leaving_the_tape_pins_its_value():
    with trace.recording(trace.Tape(1)) as tape:
        x = trace.Sym(0, 4.0)
        assert math.sqrt(x) == 2.0 and {x: 1}[4.0] == 1
    mask, _ = tape.evaluate(np.array([[4.0], [4.5]]))
    assert mask.tolist() == [True, False]


def test_merged_paths_share_steps_but_keep_minus_zero_apart_and_take_the_first_path_that_holds():
    prog = Program(1)
    fns = [lambda x: (x[0] + 0.0, x[0] * 2.0), lambda x: (x[0] + -0.0, x[0] * 2.0 if x[0] > 1 else 5.0)]
    for f, fn in enumerate(fns):
        v = traced(fn, [-0.0], lambda s: s)
        prog.add(f, v.tape, v.value)
    v = traced(fns[1], [3.0], lambda s: s)  # the other side of x > 1: a second path of function 1
    prog.add(1, v.tape, v.value)
    assert len(prog.ops) == 3  # x + 0.0, x + -0.0 and x * 2.0 (shared by both functions)
    vals, taken = prog.evaluate(np.array([[-0.0], [3.0]]))
    assert [math.copysign(1, prog.output(vals, f, 0, 0)[0]) for f in (0, 1)] == [1.0, -1.0]  # as Python adds
    (first, ok1), (second, ok2) = taken[1][0]
    assert (first, ok1.tolist(), second, ok2.tolist()) == (0, [True, False], 1, [False, True])
    assert prog.output(vals, 1, 0, 1) == 5.0 and prog.output(vals, 1, 1, 1)[1] == 6.0


def test_threads_sharing_an_evaluator_get_the_rows_one_thread_gets():
    """A Dask worker may run tasks in threads on one Evaluator: tapes are per thread, the paths behind a lock."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.hwsim.explore.sweep_helpers import ISSUE_SPEC

    spec = load_spec({**ISSUE_SPEC, "sampling": {"method": "lhs", "n": 240, "seed": 4}})
    pts = points(spec)
    parts = [pts[i:i + 30] for i in range(0, len(pts), 30)]
    shared = Evaluator(spec)
    with ThreadPoolExecutor(4) as pool:
        threaded = [r for rows in pool.map(shared.rows, parts) for r in rows]
    assert threaded == Evaluator(spec).rows(pts)
