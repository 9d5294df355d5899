"""The Table 2 baselines in hwsim: the kernels their attentions lower to, and how their time scales.

The stage lists below are written from each method's definition (Linformer: project K and V, scores,
softmax, mix; the linear attentions: feature maps, then the KV-first state, key sum, numerator,
denominator, divide); products go to the matrix unit, the rest to the vector unit.
"""
from __future__ import annotations

import pytest

import workloads
from hwsim import list_presets, simulate
from hwsim.lowering import lower
from workloads.builders import BASELINE_KINDS

LINEAR = [("kv_state", "matrix"), ("k_sum", "vector"), ("numerator", "matrix"), ("denominator", "vector"),
          ("normalize", "vector")]
STAGES = {
    "linformer": [("project_k", "matrix"), ("project_v", "matrix"), ("scores", "matrix"), ("softmax", "vector"),
                  ("mix", "matrix")],
    "cosformer": [("feature_map", "vector")] + LINEAR,
    "performer": [("feature_proj", "matrix"), ("feature_map", "vector")] + LINEAR,
}


@pytest.mark.parametrize("kind", BASELINE_KINDS)
@pytest.mark.parametrize("lowering,simt", [("torch", True), ("fused", True), ("torch", False)])
def test_attention_lowers_stage_by_stage(kind, lowering, simt):
    b, s, d, h, k, m = 2, 96, 128, 4, 32, 48
    w = workloads.block(kind, d, s, b, h, proj_len=k, features=m)
    op = w.op("attention")
    kernels = [x for x in lower(w, lowering, simt=simt) if x.op == "attention"]
    assert [(x.name, x.unit) for x in kernels] == [(f"attention:{n}", u) for n, u in STAGES[kind]]
    assert sum(x.flops for x in kernels) == op.flops
    for x in kernels:
        if x.unit == "matrix":
            m_, n_, k_ = x.gemm
            assert x.flops == 2 * m_ * n_ * k_  # a product is its multiply-adds, nothing else
        else:
            assert x.gemm is None
    # the stages read the op's inputs and write its output at least (intermediates come on top)
    assert sum(x.stream_read_bytes for x in kernels) >= op.total_bytes_read
    assert sum(x.stream_write_bytes for x in kernels) >= op.total_bytes_written
    if kind == "linformer":
        # the scores are B H s k; softmax reads and writes each once (bf16)
        softmax = kernels[3]
        assert softmax.stream_read_bytes == softmax.stream_write_bytes == b * h * s * k * 2


@pytest.mark.parametrize("preset", list_presets())
@pytest.mark.parametrize("kind", BASELINE_KINDS)
def test_baselines_simulate_on_every_preset(preset, kind):
    w = workloads.block(kind, 128, 64, 2)
    for engine in ("analytic", "des"):
        r = simulate(w, preset, engine=engine)
        assert r.latency_s > 0 and r.energy_j > 0 and r.flops == w.flops
        row = r.ops.set_index("op").loc["attention"]
        assert row["kind"] == f"{kind}_attention" and row["busy_s"] > 0
        assert row["kernels"] == len(STAGES[kind])


@pytest.mark.parametrize("kind", BASELINE_KINDS)
def test_attention_time_is_linear_in_the_sequence_where_softmax_attention_is_quadratic(kind):
    """On the H200 at long sequences: doubling s doubles these attentions' device time (within 20%) and
    about quadruples full attention's; at s = 16384 each costs less than full attention."""
    def busy(k, s):
        return simulate(workloads.block(k, 1024, s), "h200").ops.set_index("op").loc["attention", "busy_s"]

    ratio = busy(kind, 16384) / busy(kind, 8192)
    full_ratio = busy("transformer", 16384) / busy("transformer", 8192)
    assert 1.6 < ratio < 2.4
    assert 3.2 < full_ratio < 4.4
    assert busy(kind, 16384) < busy("transformer", 16384)
