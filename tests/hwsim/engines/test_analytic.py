"""Analytic engine: physical properties that hold for any workload and machine, and hand-derived checks.

Expected values come from the accelerator configs' datasheet numbers, the reference (paper) shapes and
the calibration README (data/calibration/h200/README.md), never from the engine's own output.
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import models
import workloads
from hwsim import list_presets, load_accelerator, simulate
from workloads.builders import lookup_op
from workloads.op import Workload

PRESETS = tuple(list_presets())
REL = 1e-9  # float round-off allowance for "never slower" and "equals the sum"


# ---- strategies: small random workloads ---------------------------------------------------------------

@st.composite
def layer_workloads(draw):
    kind = draw(st.sampled_from(["linear", "memory", "memory_hash", "attention", "norm", "gelu", "gather", "copy"]))
    dtype = draw(st.sampled_from(["bf16", "fp32"]))
    if kind in ("memory", "memory_hash"):
        tau = draw(st.sampled_from([4, 8]))
        d_in = tau * draw(st.integers(1, 24))
        return workloads.layer(kind, draw(st.integers(1, 256)), d_in, draw(st.sampled_from([16, 64, 96, 256])),
                               tau=tau, dtype=dtype)
    if kind == "attention":
        batch = draw(st.integers(1, 2))
        kv_len = draw(st.one_of(st.none(), st.integers(0, 4096)))  # None: prefill; else a decode step
        return workloads.layer("attention", batch * draw(st.integers(1, 128)), 64 * draw(st.integers(1, 3)),
                               batch=batch, dtype=dtype, phase="prefill" if kv_len is None else "decode", kv_len=kv_len)
    if kind == "gather":
        return workloads.layer("gather", draw(st.integers(1, 512)), 1, draw(st.sampled_from([16, 64, 512])),
                               dtype=dtype, table_rows=draw(st.integers(1, 4096)))
    return workloads.layer(kind, draw(st.integers(1, 512)), draw(st.integers(1, 512)),
                           draw(st.integers(1, 512)), dtype=dtype, bias=draw(st.booleans()))


@st.composite
def block_workloads(draw):
    kind = draw(st.sampled_from(["transformer", "memoryformer"]))
    hidden = 64 * draw(st.integers(1, 4))
    kv_len = draw(st.one_of(st.none(), st.integers(0, 4096)))  # None: prefill; else a decode step
    return workloads.block(kind, hidden, draw(st.integers(1, 128)), draw(st.integers(1, 2)),
                           phase="prefill" if kv_len is None else "decode", kv_len=kv_len,
                           expand_bits=draw(st.integers(0, 2)), dtype=draw(st.sampled_from(["bf16", "fp32"])),
                           share_qkv_hash=draw(st.booleans()), norm=draw(st.sampled_from(["layernorm", "rmsnorm"])),
                           rotary_pct=draw(st.sampled_from([0.0, 0.25, 1.0])), memory_bias=draw(st.booleans()),
                           linear_bias=draw(st.booleans()), parallel_residual=draw(st.sampled_from([None, False, True])))


@st.composite
def baseline_workloads(draw):
    """The paper's Table 2 baselines: Linformer, cosFormer, Performer blocks."""
    kind = draw(st.sampled_from(workloads.builders.BASELINE_KINDS))
    return workloads.block(kind, 64 * draw(st.integers(1, 4)), draw(st.integers(1, 128)), draw(st.integers(1, 2)),
                           dtype=draw(st.sampled_from(["bf16", "fp32"])),
                           norm=draw(st.sampled_from(["layernorm", "rmsnorm"])), linear_bias=draw(st.booleans()),
                           parallel_residual=draw(st.sampled_from([None, False, True])),
                           proj_len=draw(st.integers(1, 256)), features=draw(st.integers(1, 256)))


any_workload = st.one_of(layer_workloads(), block_workloads(), baseline_workloads())
# documented simulate options; None = the accelerator's own default. (lookup_impl "fused" moves a hash's
# work into its lookup's kernel, so per-op bounds do not apply to it.)
options = st.fixed_dictionaries({"mode": st.sampled_from([None, "eager", "graph"]),
                                 "lowering": st.sampled_from([None, "torch", "fused"]),
                                 "lookup_impl": st.sampled_from([None, "embedding_bag", "gather_sum"]),
                                 "bank_mapping": st.sampled_from([None, "interleaved", "by_table", "hashed"]),
                                 "tables_resident": st.sampled_from([None, True])})
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(workload, accel, opts):
    return simulate(workload, accel, **{k: v for k, v in opts.items() if v is not None})


def doubled(mapping) -> dict:
    return {k: 2 * v for k, v in mapping.items()}


def faster_machines(accel):
    """The machine with one resource doubled, each in turn (dotted override keys, as sweeps use them)."""
    c = accel.compute
    yield "dram bandwidth", accel.with_overrides(
        {"memory.dram.bandwidth_bytes_per_s": 2 * accel.memory.dram.bandwidth_bytes_per_s})
    yield "matrix peak", accel.with_overrides({"compute.matrix.peak_flops_per_s": doubled(c.matrix.peak_flops_per_s)})
    yield "vector peak", accel.with_overrides({"compute.vector.peak_flops_per_s": doubled(c.vector.peak_flops_per_s)})
    if accel.memory.sram:
        yield "cache bandwidth", accel.with_overrides(
            {"memory.sram[0].bandwidth_bytes_per_s": 2 * accel.memory.sram[0].bandwidth_bytes_per_s})


# ---- properties ---------------------------------------------------------------------------------------

@PROPERTY
@given(w=any_workload, preset=st.sampled_from(PRESETS), opts=options)
def test_doubling_a_resource_never_makes_anything_slower(w, preset, opts):
    base_accel = load_accelerator(preset)
    base = run(w, base_accel, opts)
    for what, faster_accel in faster_machines(base_accel):
        # the override really took effect (else this test would pass vacuously)
        assert faster_accel != base_accel, what
        faster = run(w, faster_accel, opts)
        assert faster.latency_s <= base.latency_s * (1 + REL), (what, faster.latency_s, base.latency_s)
        # per op: the device time of its kernels. (time_s also holds the wait for the host to launch the
        # op, which grows when the op before it finishes sooner, so it is not monotone op by op.)
        slower = faster.ops["busy_s"].to_numpy() > base.ops["busy_s"].to_numpy() * (1 + REL)
        assert not slower.any(), (what, list(base.ops["op"][slower]))


@PROPERTY
@given(w=any_workload, preset=st.sampled_from(PRESETS), opts=options)
def test_totals_are_the_sums_of_the_op_rows(w, preset, opts):
    accel = load_accelerator(preset)
    r = run(w, accel, opts)
    ops, kernels = r.ops, r.kernels
    assert len(ops) == len(w.ops)
    assert list(ops["op"]) == [op.name for op in w.ops]
    # per-op time covers the whole run: the op rows add up to the end of the last kernel
    assert ops["time_s"].sum() == pytest.approx(r.latency_s, rel=1e-9)
    assert r.latency_s == pytest.approx(float(kernels["end_s"].max()), rel=1e-12)
    # energy: the op rows add up, and they agree with the kernel rows plus idle power over the run
    assert r.energy_j == pytest.approx(ops["energy_j"].sum(), rel=1e-9)
    assert r.energy_j == pytest.approx(kernels["dynamic_energy_j"].sum() + accel.energy.idle_power_w * r.latency_s,
                                       rel=1e-9)
    assert np.allclose(ops["energy_j"], ops["dynamic_energy_j"] + ops["static_energy_j"], rtol=1e-9, atol=0)
    # bytes and FLOPs
    assert r.dram_bytes == pytest.approx(ops["dram_bytes"].sum(), rel=1e-9)
    assert r.dram_bytes == pytest.approx(kernels["dram_bytes"].sum(), rel=1e-9)
    assert r.flops == w.flops
    assert (ops["time_s"] >= 0).all() and (ops["energy_j"] >= 0).all() and (ops["dram_bytes"] >= 0).all()


@PROPERTY
@given(w=any_workload, preset=st.sampled_from(PRESETS), opts=options)
def test_no_op_beats_the_roofline(w, preset, opts):
    accel = load_accelerator(preset)
    r = run(w, accel, opts)
    # the fastest any unit of this machine computes, over every dtype it lists
    peak_flops = max(max(accel.compute.matrix.peak_flops_per_s.values()),
                     max(accel.compute.vector.peak_flops_per_s.values()))
    peak_dram = accel.memory.dram.bandwidth_bytes_per_s  # datasheet peak, not the sustained figure
    # a result may stay in an on-chip scratchpad instead of going to DRAM: it is written at the faster rate
    peak_write = max([peak_dram] + [lv.bandwidth_bytes_per_s for lv in accel.memory.sram if lv.kind == "scratchpad"])
    rows = r.ops.set_index("op")
    for op in w.ops:
        row = rows.loc[op.name]
        # A causal attention kernel may skip the masked upper triangle, but never more than half of the
        # products (op.flops counts attention dense, as the paper does).
        must_compute = op.flops / 2 if op.kind.value == "attention" and op.dims.get("causal") else op.flops
        # Bytes that must leave the chip at least: the op's result. (Its compulsory reads are an upper bound
        # on DRAM traffic, not a lower one: an input may still sit in a cache.)
        must_write = op.total_bytes_written
        lower = max(must_compute / peak_flops, must_write / peak_write)
        assert row["busy_s"] >= lower * (1 - REL), (op.name, row["busy_s"], lower)
        assert row["time_s"] >= row["busy_s"] * (1 - REL), op.name  # launch waits only add
        assert row["bound"] in {"compute", "dram", "sram", "banks", "latency", "min_kernel", "launch"}


def test_fused_lookup_impl_leaves_a_lone_hash_as_pytorch_runs_it():
    """The fused Triton kernel is hash + gather + sum of one Memory Layer; a hash that no lookup reads has
    nothing to fuse with, so it runs as PyTorch's kernels: the lookup impl must change nothing."""
    w = workloads.layer("memory_hash", 8192, 2048, 2048)
    fused, plain = simulate(w, "h200", lookup_impl="fused"), simulate(w, "h200", lookup_impl="embedding_bag")
    assert fused.latency_s == plain.latency_s and fused.ops["kernels"].sum() == plain.ops["kernels"].sum() == 16


def test_fused_lookup_impl_leaves_a_plain_gather_as_pytorch_runs_it():
    """A plain row gather (table[idx]: no hash, no weights) is not a Memory Layer: the same kernel either way."""
    w = workloads.layer("gather", 1024, 1, 64, table_rows=4096)
    fused, plain = simulate(w, "h200", lookup_impl="fused"), simulate(w, "h200", lookup_impl="embedding_bag")
    assert fused.latency_s == plain.latency_s
    assert list(fused.kernels["kernel"]) == list(plain.kernels["kernel"])


# ---- hand-derived operating points on the H200 ---------------------------------------------------------

def test_large_square_bf16_gemm_on_h200_matches_the_measured_ceiling():
    h200 = load_accelerator("h200")
    m = 8192
    r = simulate(workloads.layer("linear", m, m, m, dtype="bf16"), h200)
    # measured.csv, ceiling gemm_square bf16 8192^3: 1371.58 us (801.6 TFLOP/s)
    assert r.latency_s == pytest.approx(1371.58e-6, rel=0.10)
    # and never faster than the datasheet peak allows (989 TFLOP/s dense bf16)
    assert r.latency_s >= 2 * m**3 / 989e12


def test_large_square_bf16_gemm_on_h200_is_labelled_compute_bound():
    r = simulate(workloads.layer("linear", 8192, 8192, 8192, dtype="bf16"), "h200")
    assert r.ops.loc[0, "bound"] == "compute"


def test_one_gib_copy_on_h200_is_dram_bound_at_the_measured_rate():
    r = simulate(workloads.layer("copy", 2**28, 1, dtype="fp32"), "h200")  # 1 GiB of fp32 read, 1 GiB written
    assert r.ops.loc[0, "bound"] == "dram"
    assert r.dram_bytes == 2 * 2**30
    # measured.csv, ceiling d2d_copy: 2 GiB moved in 507.616 us (4230 GB/s)
    assert r.latency_s == pytest.approx(507.616e-6, rel=0.05)
    assert r.latency_s >= 2 * 2**30 / 4.8e12  # h200 datasheet: 4.8 TB/s


def test_one_token_product_on_h200_streams_its_weight_below_the_copy_rate():
    h200 = load_accelerator("h200")
    d = 2048
    weight = d * d * 2
    r = simulate(workloads.layer("linear", 1, d, d, dtype="bf16"), h200, lowering="fused")
    assert r.kernels.loc[0, "bound"] == "dram"  # the kernel; the op as a whole waits for its launch
    assert r.ops.loc[0, "dram_s"] >= weight / 4.8e12  # never faster than the datasheet's 4.8 TB/s
    # without the weight-stream field the product streams at the copy rate: strictly faster
    plain = h200.with_overrides({"memory.dram.weight_stream_efficiency": None})
    assert plain.memory.dram.weight_stream_bandwidth_bytes_per_s == plain.memory.dram.sustained_bandwidth_bytes_per_s
    faster = simulate(workloads.layer("linear", 1, d, d, dtype="bf16"), plain, lowering="fused")
    assert weight / 4.8e12 <= faster.ops.loc[0, "dram_s"] < r.ops.loc[0, "dram_s"]
    # measured.csv, layer linear bf16, 1 token, 2048 x 2048, eager (PyTorch's kernels): 9.600 us per call
    eager = simulate(workloads.layer("linear", 1, d, d, dtype="bf16"), h200,
                     host_head_start_s=256 * 2**20 / h200.memory.dram.sustained_bandwidth_bytes_per_s)
    assert eager.latency_s == pytest.approx(9.600e-6, rel=0.25)


@pytest.mark.parametrize("tokens", [2048, 8192])
def test_wide_products_are_not_weight_streams(tokens):
    # activations in plus results out outweigh the d x d weight: the product streams at the copy rate
    h200 = load_accelerator("h200")
    plain = h200.with_overrides({"memory.dram.weight_stream_efficiency": None})
    w = workloads.layer("linear", tokens, 2048, 2048, dtype="bf16")
    assert simulate(w, h200).ops.loc[0, "dram_s"] == simulate(w, plain).ops.loc[0, "dram_s"]


def test_memory_layer_on_h200_matches_the_measured_rows_and_is_latency_bound():
    h200 = load_accelerator("h200")
    head_start = 256 * 2**20 / h200.memory.dram.sustained_bandwidth_bytes_per_s  # do_bench's L2 flush (README)
    # measured.csv, layer memory_embedding_bag, d_in = d_out = 2048, tau 8, eager: us by tokens
    measured = {2048: 3165.84, 8192: 12621.1}
    got = {}
    for n, us in measured.items():
        r = simulate(workloads.layer("memory", n, 2048, 2048, tau=8), h200, host_head_start_s=head_start)
        assert r.ops.set_index("op").loc["lookup", "bound"] == "latency"
        assert r.latency_s * 1e6 == pytest.approx(us, rel=0.25), n
        got[n] = r.latency_s
    # the fixed costs have faded: 4x the tokens takes 3.99x the time, measured
    assert got[8192] / got[2048] == pytest.approx(measured[8192] / measured[2048], rel=0.05)
    # Little's law: throughput = concurrency / latency, so twice the threads in flight halve the latency term
    d, tau, n = 512, 8, 65536
    base = simulate(workloads.layer("memory", n, d, d, tau=tau), h200).ops.set_index("op").loc["lookup"]
    more = h200.with_overrides({"compute.threads_in_flight": 2 * h200.compute.threads_in_flight})
    row = simulate(workloads.layer("memory", n, d, d, tau=tau), more).ops.set_index("op").loc["lookup"]
    assert row["latency_s"] == pytest.approx(base["latency_s"] / 2, rel=1e-6)


# ---- on-chip lookup banks (lut-asic) -------------------------------------------------------------------

LUT_TOKENS, LUT_TABLES, LUT_TAU, LUT_WIDTH = 16384, 32, 8, 512  # rows of 512 bf16 = 1 KiB: 16 banks wide


def lookup_workload(stream: np.ndarray) -> Workload:
    op = lookup_op("lookup", LUT_TOKENS, LUT_TABLES, LUT_TAU, LUT_WIDTH, "bf16", index_stream=stream)
    return Workload("lookup-only", (op,))


def balanced_stream() -> np.ndarray:
    """Every bank gets the same load under the interleaved mapping: global row g = t * 256 + bucket starts at
    bank 16 g mod 512, i.e. one of 32 slots (g mod 32); bucket = token mod 32 sends every table's rows to
    each slot equally often (256 is a multiple of 32, so the table offset does not shift the slot)."""
    tokens = np.arange(LUT_TOKENS)
    return np.broadcast_to((tokens % 32)[:, None], (LUT_TOKENS, LUT_TABLES)).copy()


def test_on_chip_lookup_with_resident_tables_is_bank_bound_at_the_bank_rate():
    lut = load_accelerator("lut-asic")
    assert lut.lookup.placement == "on_chip"
    r = simulate(lookup_workload(balanced_stream()), lut, tables_resident=True)
    row = r.ops.loc[0]
    rows = LUT_TOKENS * LUT_TABLES
    row_bytes = LUT_WIDTH * 2
    # lut-asic.yaml: 512 banks of 64 B, one access per bank per cycle at 1.0 GHz
    expected = rows * math.ceil(row_bytes / 64) / 512 / 1.0e9
    assert row["bound"] == "banks"
    assert row["banks_s"] == pytest.approx(expected, rel=0.01)
    assert row["time_s"] == pytest.approx(expected, rel=0.05)
    assert "busiest" not in row["notes"]  # a balanced stream has no hot bank


def test_skewed_stream_is_slower_by_the_busiest_bank_factor_and_says_so():
    lut = load_accelerator("lut-asic")
    balanced = simulate(lookup_workload(balanced_stream()), lut, tables_resident=True).ops.loc[0]
    # every token picks bucket 0 in every table: all rows start at bank 0 and cover banks 0..15, so
    # 16 of the 512 banks serve everything: the busiest bank has 512 / 16 = 32x the mean load
    skewed = simulate(lookup_workload(np.zeros((LUT_TOKENS, LUT_TABLES), dtype=np.int64)), lut,
                      tables_resident=True).ops.loc[0]
    factor = 512 / 16
    assert skewed["time_s"] > balanced["time_s"]
    # bank time per row read from the banks (the hot banks may hand part of the rows to DRAM gathers,
    # which the engine does where that is faster, so compare per access)
    lat = lut.lookup.access_latency_s
    per_access = [(r["banks_s"] - lat) / r["lookup_bytes"] for r in (skewed, balanced)]
    assert per_access[0] == pytest.approx(factor * per_access[1], rel=0.01)
    assert "busiest" in skewed["notes"]
    assert f"{factor:.2f}x" in skewed["notes"]


# ---- energy --------------------------------------------------------------------------------------------

def test_static_energy_is_idle_power_times_latency():
    for preset, w in [("h200", workloads.layer("linear", 1024, 1024, 1024)),
                      ("lut-asic", workloads.block("memoryformer", 256, 64))]:
        accel = load_accelerator(preset)
        r = simulate(w, accel)
        assert r.static_energy_j == pytest.approx(accel.energy.idle_power_w * r.latency_s, rel=1e-9)
        assert r.energy_j == pytest.approx(r.static_energy_j + r.dynamic_energy_j, rel=1e-9)


def test_energy_of_a_large_bf16_gemm_on_h200_matches_the_measured_joules():
    h200 = load_accelerator("h200")
    m = 8192
    r = simulate(workloads.layer("linear", m, m, m, dtype="bf16"), h200)
    # energy.csv, gemm_square bf16 8192^3: 1.12909 J per call, of which 0.9315 J above idle (NVML, 120.2 W idle)
    assert r.energy_j == pytest.approx(1.12909, rel=0.30)
    assert r.dynamic_energy_j == pytest.approx(0.9315, rel=0.30)
    # the product reads A and B and writes C at least once
    assert r.dram_bytes >= 3 * m * m * 2


# ---- the qualitative result ----------------------------------------------------------------------------

def preset_block(name: str, seq_len: int = 2048, batch: int = 1):
    p = models.PRESETS[name]
    return workloads.block(p.kind, p.hidden_size, seq_len, batch, heads=p.heads, tau=p.tau or 8,
                           expand_bits=p.expand_bits if p.expand_bits is not None else 2)


# measured.csv, eager blocks at seq 2048, batch 8 (the Transformer GPU-bound, not host-bound):
# (d, heads): (transformer us, memoryformer_e2 us)
MEASURED_BLOCKS = {(512, 8): (406.336, 7365.31), (768, 12): (661.664, 15991.7)}


@pytest.mark.parametrize("d,heads", sorted(MEASURED_BLOCKS))
def test_memoryformer_block_is_as_much_slower_on_h200_as_measured(d, heads):
    """The calibration blocks (h200_bench.py): TBlock with sequential residuals; MFBlock whose Q, K, V each
    hash their input again. Measured slowdowns 18.1x (d 512) and 24.2x (d 768)."""
    h200 = load_accelerator("h200")
    head_start = 256 * 2**20 / h200.memory.dram.sustained_bandwidth_bytes_per_s
    tf = workloads.block("transformer", d, 2048, 8, heads, parallel_residual=False)
    mf = workloads.block("memoryformer", d, 2048, 8, heads, tau=8, expand_bits=2, share_qkv_hash=False)
    rt, rm = (simulate(w, h200, host_head_start_s=head_start) for w in (tf, mf))
    t_us, m_us = MEASURED_BLOCKS[(d, heads)]
    assert rm.latency_s / rt.latency_s == pytest.approx(m_us / t_us, rel=0.25)
    lookups = rm.ops[rm.ops["kind"] == "lookup"]
    assert len(lookups) == 5  # q, k, v, m1, m2
    assert lookups["time_s"].sum() > 0.5 * rm.latency_s  # the lookups are where the time goes
    assert set(lookups["bound"]) <= {"latency", "dram"}


def test_memoryformer_base_needs_the_papers_share_of_flops():
    mf, tf = preset_block("memoryformer-base"), preset_block("pythia-410m")
    rm, rt = simulate(mf, "h200"), simulate(tf, "h200")
    # reference Table 1: 10.2 vs 34.4 GFLOPs per block (paper convention), by the paper's 6 K s d formula;
    # the exact op sum of the same terms (flops_paper) is 10.0 G
    assert rm.flops_paper / rt.flops_paper == pytest.approx(10.0 / 34.4, abs=0.01)
    assert rm.flops_paper / 1e9 == pytest.approx(10.0, abs=0.05) and rt.flops_paper / 1e9 == pytest.approx(34.4, abs=0.05)


def test_memoryformer_block_is_faster_than_the_transformer_on_the_lookup_asic():
    mf, tf = preset_block("memoryformer-base"), preset_block("pythia-410m")
    lut = load_accelerator("lut-asic")
    rm, rt = simulate(mf, lut, tables_resident=True), simulate(tf, lut, tables_resident=True)
    assert rm.latency_s < rt.latency_s
    assert set(rm.ops.loc[rm.ops["kind"] == "lookup", "bound"]) == {"banks"}


# ---- hand-derived operating points on the 2-core CPU (cpu-2core.yaml) ------------------------------------
# Little's law on each core's outstanding misses: threads_in_flight = 2 cores x 16 L1 fill buffers, each
# dependent row read waits the LLC lookup of its row id (33 ns) plus DRAM (99 ns): 132 ns per cache line.
CPU_STEP_S = 33e-9 + 99e-9
CPU_LINE = 64


def _kernel(r, suffix):
    (row,) = r.kernels[r.kernels["kernel"].str.endswith(suffix)].to_dict("records")
    return row


@pytest.mark.parametrize("dtype,d", [("fp32", 512), ("bf16", 2048)])
def test_cpu_embedding_bag_at_many_tokens_is_bound_by_fill_buffers(dtype, d):
    cpu = load_accelerator("cpu-2core")
    n, k = 4096, d // 8
    row_bytes = d * (4 if dtype == "fp32" else 2)
    r = simulate(workloads.layer("memory", n, d, d, tau=8, dtype=dtype), cpu, lowering="torch")
    eb = _kernel(r, ":embedding_bag")
    # 4096 tokens touch every row of every table; repeats hit for the share of the table the 3.75 MiB LLC
    # share holds, and a hit waits the LLC (33 ns) instead of DRAM (99 ns). The two cores take a token each,
    # in step: a token's row is cold unless a token of an earlier pair read it, (255/256)^(2 floor(t/2))
    total, table = n * k * row_bytes, k * 256 * row_bytes
    x = (255 / 256) ** 2
    cold = 2 * (1 - x ** (n // 2)) / (1 - x) / n
    miss = 1 - (1 - cold) * min(1.0, 3.75 * 2**20 / table)
    step = 33e-9 + miss * 99e-9 + (1 - miss) * 33e-9
    # every row is read whole, one fill buffer per 64 B line: n K lines-per-row line reads over 32 buffers
    expected = n * k * (row_bytes // CPU_LINE) * step / 32
    assert eb["latency_s"] == pytest.approx(expected, rel=1e-6)
    assert eb["bound"] == "latency"
    # about 15.5 GB/s of gathered rows when they miss, whatever the row size (measured: near 15 GB/s)
    assert total / eb["busy_s"] == pytest.approx(2 * 16 * CPU_LINE / CPU_STEP_S, rel=0.07)


def test_cpu_embedding_bag_of_one_token_runs_on_one_core():
    # embedding_bag splits its work over bags: one token is one bag, so only one core's 16 buffers work
    cpu = load_accelerator("cpu-2core")
    d = 2048
    one = _kernel(simulate(workloads.layer("memory", 1, d, d, tau=8, dtype="fp32"), cpu, lowering="torch"),
                  ":embedding_bag")
    lines = (d // 8) * (d * 4 // CPU_LINE)
    assert one["latency_s"] == pytest.approx(lines * CPU_STEP_S / 16, rel=0.02)


def test_cpu_fp32_matrix_vector_product_streams_its_weight_once():
    cpu = load_accelerator("cpu-2core")
    d = 2048
    r = simulate(workloads.layer("linear", 1, d, d, dtype="fp32"), cpu, lowering="torch")
    (k,) = r.kernels.to_dict("records")  # no packing, no 16-row tile: AVX-512 dot products
    assert k["unit"] == "vector"
    assert k["dram_s"] == pytest.approx((d * d + 2 * d) * 4 / 46.4e9, rel=1e-6)  # cpu-2core.yaml: 46.4 GB/s


@pytest.mark.parametrize("tokens,dtype", [(16, "fp32"), (1, "bf16"), (1024, "bf16")])
def test_cpu_products_pack_their_weight_first(tokens, dtype):
    cpu = load_accelerator("cpu-2core")
    d = 1024
    w_bytes = d * d * (4 if dtype == "fp32" else 2)
    r = simulate(workloads.layer("linear", tokens, d, d, dtype=dtype), cpu, lowering="torch")
    pack, product = r.kernels.to_dict("records")
    assert pack["kernel"].endswith(":weight_pack") and product["unit"] == "matrix"
    # one read and one write of the weight at the streaming rate, before the product starts
    assert pack["dram_bytes"] == 2 * w_bytes
    assert pack["dram_s"] == pytest.approx(2 * w_bytes / 46.4e9, rel=1e-9)
    assert product["start_s"] >= pack["end_s"]


@pytest.mark.parametrize("preset", ["h200", "h100", "a100"])
def test_gpu_products_do_not_pack(preset):
    r = simulate(workloads.layer("linear", 16, 1024, 1024, dtype="bf16"), preset, lowering="torch")
    assert list(r.kernels["unit"]) == ["matrix"]
