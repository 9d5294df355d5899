"""The block options in hwsim: the kernels eager PyTorch launches for RMSNorm, rotary and biases, and the
calibration rows still rebuilt as the blocks the scripts ran.

Expected kernel counts come from torch.profiler on an H200 (benchmarks/data/h200_kernel_counts.csv, taken by
benchmarks/h200_block_options.py) and from the ops the eager implementations dispatch; the bench blocks from
data/calibration/h200/h200_bench.py, read by hand.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

import models
from models import MemoryFormerConfig, TransformerConfig
from models.norms import _rms_norm_reference
from models.rotary import cos_sin, rotate
from tests.dispatch_helpers import CallCounter
from tests.workloads.test_workloads import assert_same_ops
from workloads import OpKind, block, trace

REPO = Path(__file__).resolve().parents[2]
MEASURED = REPO / "data" / "calibration" / "h200" / "measured.csv"
KERNEL_COUNTS = REPO / "benchmarks" / "data" / "h200_kernel_counts.csv"


# --- the calibration rows still describe the blocks the scripts ran -------------------------------------

def test_validation_block_rows_are_the_bench_models():
    from hwsim.validate import row_case

    rows = pd.read_csv(MEASURED)
    rows = rows[(rows["kind"] == "block") & ~rows["impl"].str.contains("fused|graph")]
    assert len(rows)
    seen = set()
    for row in rows.to_dict("records"):
        w, _ = row_case(row)
        kind = "transformer" if row["impl"] == "transformer" else "memoryformer"
        key = (kind, row["d_in"], row["seq"], row["batch"], row["impl"])
        if key in seen:
            continue
        seen.add(key)
        mf = dict(tau=8, expand_bits=int(row["impl"][-1])) if kind == "memoryformer" else {}
        # h200_bench.py: pre-LayerNorm, no rotary, sequential residuals, Linear biases, no Memory Layer
        # bias, every Memory Layer hashing its own input
        cfg = (TransformerConfig(int(row["d_in"]), int(row["heads"]), parallel_residual=False) if kind == "transformer"
               else MemoryFormerConfig(int(row["d_in"]), int(row["heads"]), share_qkv_hash=False, **mf))
        blk = models.build_block(cfg, device="meta", dtype=torch.bfloat16)
        x = torch.empty(int(row["batch"]), int(row["seq"]), int(row["d_in"]), device="meta", dtype=torch.bfloat16)
        assert_same_ops(trace(blk, x), w)


# --- lowering: the kernels eager PyTorch launches ---------------------------------------------------------

def test_torch_lowering_launches_the_kernels_measured_on_an_h200():
    from hwsim.lowering import lower

    measured = pd.read_csv(KERNEL_COUNTS).set_index("piece")["kernels"]

    def kernels(w, kind_test):
        return len([k for k in lower(w, "torch") if kind_test(w.op(k.op))])

    w25 = block("transformer", 1024, 64, heads=16, rotary_pct=0.25, norm="rmsnorm")
    w1 = block("transformer", 1024, 64, heads=16, rotary_pct=1.0)
    assert kernels(w25, lambda op: op.kind == OpKind.ROTARY) == measured["rotary_pct0.25_q_and_k"] == 12
    assert kernels(w1, lambda op: op.kind == OpKind.ROTARY) == measured["rotary_pct1_q_and_k"] == 10
    assert kernels(w25, lambda op: op.name == "attn_norm.norm") == measured["rmsnorm_neox"] == 5
    assert kernels(w1, lambda op: op.name == "attn_norm.norm") == measured["layernorm"] == 1
    mf = block("memoryformer", 64, 8, memory_bias=True)
    assert kernels(mf, lambda op: op.name == "q.add") == measured["bias_add"] == 1


def test_torch_lowering_matches_the_ops_the_eager_implementation_dispatches():
    from hwsim.lowering import lower
    from workloads.tracer import VIEW_OPS

    views = {str(v) for v in VIEW_OPS}
    q, k = torch.randn(2 * 8, 64), torch.randn(2 * 8, 64)
    x = torch.randn(16, 64)
    for pct in (0.25, 1.0):
        dims = int(16 * pct)
        cos, sin = cos_sin(8, dims, 10000.0, q.dtype, q.device)  # cached in a model, not per call
        counter = CallCounter()
        with counter:
            rotate(q, cos, sin, 2, 4), rotate(k, cos, sin, 2, 4)
        computing = [c for c in counter.calls if c not in views]  # views launch nothing
        w = block("transformer", 64, 8, 2, 4, rotary_pct=pct)
        assert len([kk for kk in lower(w, "torch") if kk.op == "rotary"]) == len(computing), computing
    scale, counter = torch.ones(64), CallCounter()
    with counter:
        _rms_norm_reference(x, scale, 1e-8)
    w = block("transformer", 64, 16, norm="rmsnorm")
    assert len([kk for kk in lower(w, "torch") if kk.op == "attn_norm.norm"]) == len(counter.calls)


@pytest.mark.parametrize("pct", [0.25, 1.0])
def test_lowered_rotary_and_rms_norm_do_the_ops_work(pct):
    from hwsim.lowering import lower

    w = block("memoryformer", 1024, 128, 2, 16, norm="rmsnorm", rotary_pct=pct, memory_bias=True)
    for name in ("rotary", "attn_norm.norm"):
        op, ks = w.op(name), [k for k in lower(w, "torch") if k.op == name]
        assert sum(k.flops for k in ks) >= op.flops  # rotary: exactly 3.5 per rotated element
        assert sum(k.stream_write_bytes for k in ks) >= op.total_bytes_written
        assert all(k.unit == "vector" for k in ks)
    assert sum(k.flops for k in lower(w, "torch") if k.op == "rotary") == w.op("rotary").flops
    fused = [k for k in lower(w, "fused") if k.op == "rotary"]
    assert len(fused) == 1 and fused[0].stream_read_bytes == w.op("rotary").total_bytes_read


def test_each_released_option_adds_time_on_the_h200_at_one_token():
    # eager at one token is launch-bound (h200 README): more kernels, more time; none of them is free
    import hwsim

    base = hwsim.simulate(block("memoryformer", 1024, 1, 1, 16), "h200").latency_s
    for opts in (dict(rotary_pct=0.25), dict(norm="rmsnorm"), dict(memory_bias=True)):
        assert hwsim.simulate(block("memoryformer", 1024, 1, 1, 16, **opts), "h200").latency_s > base, opts
