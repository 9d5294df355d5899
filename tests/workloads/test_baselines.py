"""The Table 2 baselines as workloads: traced == closed form, FLOPs term by term, and the paper's Table 2.

Expected FLOPs are written out here from each method's definition (s tokens, d = H d_h, Linformer's k,
Performer's m), never taken from the program's output.
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

import models
import workloads
from workloads import OpKind, block, trace
from workloads.builders import BASELINE_KINDS, options_for
from workloads.efficient import stages
from workloads.paper import TABLE2_PRINTED_GFLOPS, table2_rows

FIELDS = ("name", "kind", "dtype", "inputs", "outputs", "flops", "flops_paper", "bytes_read", "bytes_written",
          "deps", "dims", "table")
CONFIGS = {"linformer": models.LinformerConfig, "cosformer": models.CosFormerConfig,
           "performer": models.PerformerConfig}
KIND_OF = {"linformer": OpKind.LINFORMER_ATTENTION, "cosformer": OpKind.COSFORMER_ATTENTION,
           "performer": OpKind.PERFORMER_ATTENTION}


def assert_same_ops(traced, built):
    assert "unmodelled_ops" not in traced.meta
    assert [op.name for op in traced] == [op.name for op in built]
    for a, b in zip(traced, built):
        for f in FIELDS:
            assert getattr(a, f) == getattr(b, f), (a.name, f, getattr(a, f), getattr(b, f))
    assert traced.flops == built.flops and traced.flops_paper == built.flops_paper
    assert traced.bytes_by_role() == built.bytes_by_role()


def config(kind, d, heads, **kw):
    extra = {"linformer": dict(proj_len=kw.get("proj_len", 256), max_seq_len=2048),
             "performer": dict(features=kw.get("features", 256))}.get(kind, {})
    base = {k: v for k, v in kw.items() if k not in ("proj_len", "features")}
    return CONFIGS[kind](hidden_size=d, heads=heads, **base, **extra)


# --- traced == closed form --------------------------------------------------------------------------

@pytest.mark.parametrize("kind", BASELINE_KINDS)
def test_meta_trace_equals_closed_form_at_pythia_410m(kind):
    # the Table 2 setting: d 1024, 16 heads, s 2048 (meta tensors: geometry only, no memory)
    blk = models.build_block(config(kind, 1024, 16), device="meta", dtype=torch.bfloat16)
    traced = trace(blk, torch.empty(1, 2048, 1024, device="meta", dtype=torch.bfloat16))
    built = block(kind, 1024, 2048)
    assert_same_ops(traced, built)
    assert built.op("attention").kind is KIND_OF[kind]


@pytest.mark.parametrize("kind,kw", [
    ("linformer", dict(proj_len=7, parallel_residual=False, linear_bias=False)),
    ("cosformer", dict(norm="rmsnorm", parallel_residual=False)),
    ("performer", dict(features=24, linear_bias=False, norm="rmsnorm")),
])
def test_cpu_trace_equals_closed_form_variants(kind, kw):
    blk = models.build_block(config(kind, 64, 4, **kw))
    traced = trace(blk, torch.randn(3, 40, 64))
    assert_same_ops(traced, block(kind, 64, 40, batch=3, heads=4, dtype="fp32", **kw))


def test_linformer_weights_are_the_projections_of_the_sequence_used():
    # E and F are (k, max_seq_len) parameters; a sequence of T tokens reads their first T columns only
    d, k, t = 64, 8, 100
    blk = models.build_block(models.LinformerConfig(d, 4, proj_len=k, max_seq_len=2048), device="meta",
                             dtype=torch.bfloat16)
    op = trace(blk, torch.empty(1, t, d, device="meta", dtype=torch.bfloat16)).op("attention")
    assert op.bytes_read["weights"] == 2 * k * t * 2  # E and F, bf16


# --- FLOPs, term by term ------------------------------------------------------------------------------

S, D, H = 2048, 1024, 16
DH = D // H
FC = 12 * S * D * D  # QKV 3 s d^2 + output s d^2 + FFN 8 s d^2 (reference section 3)


def test_linformer_paper_flops_by_hand():
    k = 256
    # E K and F V: (k x s)(s x d) each; Q K'^T and P V': (s x d)(d x k), per head summed over heads
    assert block("linformer", D, S, proj_len=k).op("attention").flops_paper == 2 * k * S * D + 2 * S * k * D


def test_cosformer_paper_flops_by_hand():
    f = 2 * DH  # features per head: relu(x) sin and relu(x) cos
    # per head: state k^T v (f x s)(s x d_h), numerator q (k^T v) (s x f)(f x d_h), denominator q . sum k (s f)
    per_head = f * S * DH + S * f * DH + S * f
    assert block("cosformer", D, S).op("attention").flops_paper == H * per_head


def test_performer_paper_flops_by_hand():
    m = 256
    # per head: W q and W k (s x d_h)(d_h x m) each, state phi(k)^T v (m x s)(s x d_h), numerator
    # phi(q) (phi(k)^T v) (s x m)(m x d_h), denominator phi(q) . sum phi(k) (s m)
    per_head = 2 * S * DH * m + m * S * DH + S * m * DH + S * m
    assert block("performer", D, S, features=m).op("attention").flops_paper == H * per_head


@pytest.mark.parametrize("kind", BASELINE_KINDS)
def test_baselines_keep_the_transformers_fc_layers(kind):
    base, w = block("transformer", D, S), block(kind, D, S)
    assert [op.name for op in w] == [op.name for op in base]
    assert [op for op in w if op.name != "attention"] == [op for op in base if op.name != "attention"]
    assert w.flops_paper - w.op("attention").flops_paper == FC


def test_exact_flops_by_hand():
    n, k, m = 2 * 100, 16, 32  # batch 2 x 100 tokens
    d, h = 64, 4
    dh = d // h
    # Linformer: 4 products of n k d multiply-adds at 2 FLOPs each, softmax 6 per score (n H k scores)
    assert block("linformer", d, 100, 2, h, proj_len=k).op("attention").flops == 2 * 4 * n * k * d + 6 * n * h * k
    # cosFormer: maps 3 per element of q and k; 2 products of n d (2 d_h) MACs; sum of k's 2 n d features;
    # denominator 2 n d MACs; a divide per output element
    assert block("cosformer", d, 100, 2, h).op("attention").flops == (
        3 * 2 * n * d + 2 * 2 * (n * d * 2 * dh) + 2 * n * d + 2 * 2 * n * d + n * d)
    # Performer: 4 products of n d m MACs; maps 3 per input element (2 n d) and 5 per feature (2 n H m);
    # sum of phi(k) (n H m), denominator n H m MACs, a divide per output element
    assert block("performer", d, 100, 2, h, features=m).op("attention").flops == (
        2 * 4 * n * d * m + 3 * 2 * n * d + 5 * 2 * n * h * m + n * h * m + 2 * n * h * m + n * d)


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(BASELINE_KINDS), heads=st.sampled_from([1, 2, 4, 8]), dh=st.sampled_from([8, 16, 64]),
       s=st.integers(1, 300), batch=st.integers(1, 3), extra=st.integers(1, 300))
def test_stages_sum_to_the_op(kind, heads, dh, s, batch, extra):
    w = block(kind, heads * dh, s, batch, heads, proj_len=extra, features=extra)
    op = w.op("attention")
    st_ = stages(op)
    # two derivations of the same count: workloads.flops (closed formulas) and workloads.efficient (stages)
    assert sum(x.flops for x in st_) == op.flops
    assert sum(x.macs for x in st_) == op.flops_paper
    for x in st_:
        if x.gemm is not None:
            m, n, k = x.gemm
            assert m * n * k == x.macs  # each product's shape accounts for its multiply-adds
            assert x.elementwise_flops == 0
        assert x.read_elements > 0 and x.write_elements > 0
    assert w.flops >= 2 * w.flops_paper


@pytest.mark.parametrize("kind", BASELINE_KINDS)
def test_torch_flop_counter_agrees(kind):
    """models/ registers its own FLOP formulas for the three ops (it may not import workloads)."""
    blk = models.build_block(config(kind, 64, 4, proj_len=8, features=16))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        blk(torch.randn(2, 16, 64))
    w = block(kind, 64, 16, 2, 4, dtype="fp32", proj_len=8, features=16)
    # torch counts its Linear layers as 2 m n k without biases; the attention op by our formula
    linear = sum(2 * op.dims["m"] * op.dims["n"] * op.dims["k"] for op in w if op.kind is OpKind.MATMUL)
    assert counter.get_total_flops() == linear + w.op("attention").flops


# --- Table 2 ------------------------------------------------------------------------------------------

def gflops(x):
    return round(x / 1e9, 1)


def test_table2_transformer_and_memoryformer_rows_match_the_paper():
    rows = {r["model"]: r for r in table2_rows()}
    # 12 s d^2 + 2 s^2 d = 25.770 + 8.590 = 34.360 G -> 34.4; MemoryFormer-base 2 s^2 d + 6 K s d with K = 128:
    # 8.590 + 1.611 = 10.201 -> 10.2 (Table 1's numbers; Table 2 repeats them)
    assert gflops(rows["pythia-410m"]["flops_paper"]) == TABLE2_PRINTED_GFLOPS["pythia-410m"] == 34.4
    assert gflops(rows["memoryformer-base"]["flops_paper"]) == TABLE2_PRINTED_GFLOPS["memoryformer-base"] == 10.2


def test_table2_linformer_documented_difference():
    # 12 s d^2 = 25.770 G; 4 s k d = 4 * 2048 * 256 * 1024 = 2.147 G -> 27.917 G against the printed 26.1:
    # 1.82 G above. The printed figure leaves 26.1 - 25.770 = 0.330 G for attention = 4 s k d at
    # k = 0.330e9 / (4 * 2048 * 1024) = 39.4; with k = 39, 25.770 + 0.327 = 26.097 -> 26.1.
    row = {r["model"]: r for r in table2_rows()}["linformer"]
    assert row["printed_gflops"] == 26.1
    assert row["flops_paper"] / 1e9 - 26.1 == pytest.approx(1.817, abs=0.001)
    assert "k = 39" in row["note"]
    assert gflops({r["model"]: r for r in table2_rows(proj_len=39)}["linformer"]["flops_paper"]) == 26.1


def test_table2_performer_documented_difference():
    # 4 s d m + s H m = 4 * 2048 * 1024 * 256 + 2048 * 16 * 256 = 2.1475 + 0.0084 = 2.156 G -> 27.926 G against
    # the printed 26.7: 1.23 G above. The printed figure leaves 26.7 - 25.770 = 0.930 G = m (4 s d + s H),
    # m = 0.930e9 / 8.421e6 = 110.5; with m = 110: 25.770 + 0.926 = 26.696 -> 26.7.
    row = {r["model"]: r for r in table2_rows()}["performer"]
    assert row["flops_paper"] / 1e9 - 26.7 == pytest.approx(1.226, abs=0.001)
    assert "m = 110" in row["note"]
    assert gflops({r["model"]: r for r in table2_rows(features=110)}["performer"]["flops_paper"]) == 26.7


def test_table2_cosformer_documented_difference():
    # per head, f = 2 d_h = 128 features: 2 products of s f d_h and the denominator s f, times 16 heads:
    # 4 s d d_h + 2 s d = 4 * 2048 * 1024 * 64 + 2 * 2048 * 1024 = 0.5369 + 0.0042 = 0.541 G -> 26.311 G against
    # the printed 30.0: 3.69 G below. No setting closes it (cosFormer has no free size): the printed figure is
    # near linear attention counted as one head of width d with one term, 12 s d^2 + 2 s d^2 = 30.06 G.
    row = {r["model"]: r for r in table2_rows()}["cosformer"]
    assert row["flops_paper"] / 1e9 - 30.0 == pytest.approx(-3.689, abs=0.001)
    assert "30.06 G" in row["note"]


def test_table2_printed_values_only_at_the_papers_setting():
    rows = table2_rows(seq_len=1024)
    assert all(r["printed_gflops"] is None and r["note"] == "" for r in rows)


# --- options and errors ---------------------------------------------------------------------------------

def test_options_for_baselines():
    opts = dict(norm="rmsnorm", rotary_pct=0.25, memory_bias=True, proj_len=64, features=32)
    assert options_for("linformer", opts) == dict(norm="rmsnorm", proj_len=64)
    assert options_for("performer", opts) == dict(norm="rmsnorm", features=32)
    assert options_for("cosformer", opts) == dict(norm="rmsnorm")


@pytest.mark.parametrize("call,needle", [
    (lambda: block("linformer", 64, 16, rotary_pct=0.25), "rotary_pct must be 0 for a linformer block"),
    (lambda: block("linformer", 64, 16, proj_len=0), "proj_len must be a positive integer"),
    (lambda: block("performer", 64, 16, features=-1), "features must be a positive integer"),
    (lambda: block("reformer", 64, 16), "performer"),  # the message lists the kinds, the new ones included
])
def test_baseline_builder_errors(call, needle):
    with pytest.raises(ValueError, match=needle):
        call()


def test_block_kinds_exported():
    assert set(BASELINE_KINDS) <= set(workloads.BLOCK_KINDS)
