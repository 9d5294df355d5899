"""CPU-specific costs: eager dispatch that the CPU runs itself (no launch queue), transcendental functions
charged at the vector unit's special-function rate, and the fp32 hash without its no-op cast.

Expected values are derived here from the preset's own numbers (launch overhead, peaks, rates), never
from the engine's output."""
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import workloads
from hwsim import list_presets, load_accelerator, simulate
from hwsim.engines.analytic import host_runs_kernels
from hwsim.lowering import lower
from workloads.builders import layer

EXAMPLES = int(os.environ.get("HWSIM_LAW_EXAMPLES", "40"))
CPUS = tuple(p for p in list_presets() if load_accelerator(p).kind == "cpu")
OTHERS = tuple(p for p in list_presets() if load_accelerator(p).kind != "cpu")


def test_there_are_cpu_and_other_presets():
    assert CPUS and OTHERS


@pytest.mark.parametrize("preset", CPUS)
def test_cpu_eager_time_is_dispatch_plus_kernel_for_every_kernel(preset):
    # the dispatching thread runs each op before it dispatches the next: nothing overlaps
    accel = load_accelerator(preset)
    w = workloads.block("memoryformer", 64, 8, 1, 2, dtype="fp32")
    r = simulate(w, accel, mode="eager", lowering="torch")
    kernels = r.ops["kernels"].sum()
    assert host_runs_kernels(accel)
    expected = kernels * accel.runtime.launch_overhead_eager_s + r.ops["busy_s"].sum()
    assert r.latency_s == pytest.approx(expected + accel.runtime.launch_latency_s, rel=1e-9)


@pytest.mark.parametrize("preset", OTHERS)
def test_an_accelerator_hides_dispatch_behind_running_kernels(preset):
    # a GPU's host queues launches while earlier kernels run: never slower than dispatch + kernel in turn
    accel = load_accelerator(preset)
    w = workloads.block("memoryformer", 256, 256, 1, 4, dtype="bf16")
    r = simulate(w, accel, mode="eager", lowering="torch")
    serial = r.ops["kernels"].sum() * accel.runtime.launch_overhead_eager_s + r.ops["busy_s"].sum()
    assert not host_runs_kernels(accel)
    assert r.latency_s <= serial + accel.runtime.launch_latency_s + 1e-15


@pytest.mark.parametrize("preset", CPUS)
def test_des_agrees_with_the_analytic_engine_on_cpu_dispatch(preset):
    w = workloads.block("memoryformer", 64, 8, 1, 2, dtype="fp32")
    a = simulate(w, preset, engine="analytic", mode="eager", lowering="torch").latency_s
    d = simulate(w, preset, engine="des", mode="eager", lowering="torch").latency_s
    assert d == pytest.approx(a, rel=0.02)


@pytest.mark.parametrize("preset", CPUS)
def test_gelu_costs_its_flops_plus_one_special_function_per_element(preset):
    rate = 2.0e9
    accel = load_accelerator(preset).with_overrides({"compute.vector.special_function_per_s": rate})
    n, d = 256, 1024
    w = layer("gelu", n, d, dtype="fp32")
    (k,) = [k for k in lower(w, "torch") if k.unit == "vector"]
    assert k.special_ops == n * d
    row = simulate(w, accel, lowering="torch").ops.iloc[0]
    v = accel.compute.vector
    flops_s = k.flops / (v.peak_flops_per_s["fp32"] * v.efficiency)
    assert row["compute_s"] == pytest.approx(flops_s + n * d / rate, rel=1e-9)
    plain = simulate(w, load_accelerator(preset), lowering="torch").ops.iloc[0]  # no rate: FLOPs only
    assert plain["compute_s"] == pytest.approx(flops_s, rel=1e-9)


@pytest.mark.parametrize("dtype, kernels", [("fp32", 15), ("bf16", 16)])
def test_the_torch_hash_has_no_cast_kernel_in_fp32(dtype, kernels):
    # Tensor.float() of an fp32 tensor returns the tensor itself (data/calibration/h200/h200_bench.py
    # hash_and_weights runs z.abs().float()): one kernel fewer than in bf16
    w = layer("memory_hash", 4, 64, 64, tau=8, dtype=dtype)
    ks = lower(w, "torch")
    assert len(ks) == kernels
    assert any(k.name.endswith(":to_float") for k in ks) == (dtype != "fp32")
    # the logsigmoid (exp and log1p per element) and the exp per chunk are the special functions
    assert sum(k.special_ops for k in ks) == 2 * 4 * 64 + 4 * 8


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(preset=st.sampled_from(CPUS), rate=st.floats(1e8, 1e11), factor=st.floats(1.0, 8.0),
       seq=st.integers(1, 48), more=st.integers(0, 48), kind=st.sampled_from(["transformer", "memoryformer"]),
       lowering=st.sampled_from(["torch", "fused"]))
def test_special_function_laws(preset, rate, factor, seq, more, kind, lowering):
    # a faster special-function rate never takes more time; more tokens never take less
    base = load_accelerator(preset).with_overrides({"compute.vector.special_function_per_s": rate})
    fast = base.with_overrides({"compute.vector.special_function_per_s": rate * factor})
    w = workloads.block(kind, 64, seq, 1, 2, dtype="fp32")
    slow_r, fast_r = simulate(w, base, lowering=lowering), simulate(w, fast, lowering=lowering)
    assert fast_r.latency_s <= slow_r.latency_s * (1 + 1e-9)
    assert (fast_r.ops["busy_s"].to_numpy() <= slow_r.ops["busy_s"].to_numpy() * (1 + 1e-9)).all()
    bigger = simulate(workloads.block(kind, 64, seq + more, 1, 2, dtype="fp32"), base, lowering=lowering)
    assert bigger.latency_s >= slow_r.latency_s * (1 - 1e-9)


# ---- matrix tiles: which dtypes pad their rows ---------------------------------------------------------

@pytest.mark.parametrize("preset", CPUS)
def test_a_dtype_off_the_tiles_computes_only_the_rows_it_has(preset):
    # 4 tokens x 4096 x 4096 bf16: on AMX tiles the 4 rows pad to tile[0] = 16; on vector FMAs (a CPU without
    # AMX) they do not, so the compute term is 16 / 4 = 4x smaller (same tiles over the columns, same waves)
    amx = load_accelerator(preset)
    assert "bf16" in amx.compute.matrix.tile_dtypes and amx.compute.matrix.tile[0] == 16
    no_amx = amx.with_overrides({"compute.matrix.tile_dtypes": []})
    w = layer("linear", 4, 4096, 4096, dtype="bf16")
    tiled = simulate(w, amx, lowering="fused").ops.iloc[0]["compute_s"]
    vector = simulate(w, no_amx, lowering="fused").ops.iloc[0]["compute_s"]
    assert tiled == pytest.approx(4 * vector, rel=1e-9)


def test_a_one_token_product_off_the_tiles_is_a_matrix_vector_product():
    # PyTorch's one-token product in a dtype with no tiles reads the weight in place (no packed copy)
    w = layer("linear", 1, 512, 512, dtype="bf16")
    on = lower(w, "torch", simt=False, cores=2, tile_dtypes=("bf16", "int8"))
    off = lower(w, "torch", simt=False, cores=2, tile_dtypes=())
    assert [k.unit for k in on] == ["memory", "matrix"]  # weight pack, then the tiled product
    assert [k.unit for k in off] == ["vector"] and off[0].gemm is None
    assert off[0].stream_read_bytes == on[1].stream_read_bytes  # the weight and the token, once


def test_tile_dtypes_must_be_known_dtypes():
    from hwsim.config import ConfigError

    with pytest.raises(ConfigError, match="tile_dtypes"):
        load_accelerator("cpu-2core").with_overrides({"compute.matrix.tile_dtypes": ["bf17"]})
