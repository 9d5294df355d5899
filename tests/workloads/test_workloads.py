"""Workloads: traced blocks vs closed-form builders, and FLOPs against the paper's formulas.

Expected numbers come from the reference (Tables 1 and 3, the derived Figure 1 table) or from
formulas written out here term by term, never from the program's output.
"""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

import models
import workloads
from workloads import Op, OpKind, TableGeometry, Workload, block, layer, trace
from workloads import flops as F
from workloads.flops import paper_block_flops

SEQ_LENS = (128, 2048)
FIELDS = ("name", "kind", "dtype", "inputs", "outputs", "flops", "flops_paper", "bytes_read", "bytes_written",
          "deps", "dims", "table")


def preset_block_args(p):
    return dict(kind=p.kind, hidden_size=p.hidden_size, heads=p.heads, tau=p.tau or 8, expand_bits=p.expand_bits or 2)


def assert_same_ops(traced: Workload, built: Workload):
    assert [op.name for op in traced] == [op.name for op in built]
    for a, b in zip(traced, built):
        for f in FIELDS:
            assert getattr(a, f) == getattr(b, f), (a.name, f, getattr(a, f), getattr(b, f))
    assert traced.flops == built.flops
    assert traced.flops_paper == built.flops_paper
    assert traced.bytes_by_role() == built.bytes_by_role()


# --- traced (meta) == closed form -----------------------------------------------------------------

@pytest.mark.parametrize("seq_len", SEQ_LENS)
@pytest.mark.parametrize("name", sorted(models.PRESETS))
def test_meta_trace_equals_closed_form(name, seq_len):
    p = models.get_preset(name)
    blk = models.build_block(p.block_config(), device="meta", dtype=torch.bfloat16)
    x = torch.empty(1, seq_len, p.hidden_size, device="meta", dtype=torch.bfloat16)
    traced = trace(blk, x)
    assert "unmodelled_ops" not in traced.meta
    assert not traced.has_index_streams  # meta tensors carry geometry only
    assert_same_ops(traced, workloads.builders.preset_block(p, seq_len))  # the released block options
    # and the paper's block of the same preset
    paper = models.build_block(p.block_config(**workloads.builders.preset_options(p, "paper")), device="meta",
                               dtype=torch.bfloat16)
    a = preset_block_args(p)
    built = block(a["kind"], a["hidden_size"], seq_len, 1, a["heads"], a["tau"], a["expand_bits"])
    assert_same_ops(trace(paper, x), built)


@pytest.mark.parametrize("kind,cfg,kw", [
    ("memoryformer", models.MemoryFormerConfig(64, 4, tau=4, expand_bits=1, gelu=True, weighting="official"),
     dict(tau=4, expand_bits=1, gelu=True, weighting="official")),
    ("transformer", models.TransformerConfig(64, 4, parallel_residual=False), dict(parallel_residual=False)),
])
def test_meta_trace_equals_closed_form_variants(kind, cfg, kw):
    blk = models.build_block(cfg, device="meta", dtype=torch.float16)
    traced = trace(blk, torch.empty(3, 40, 64, device="meta", dtype=torch.float16))
    built = block(kind, 64, 40, batch=3, heads=4, dtype="fp16", **kw)
    assert_same_ops(traced, built)


def test_cpu_trace_has_index_streams():
    tau, e, d, batch, seq = 4, 2, 32, 2, 9
    blk = models.MemoryFormerBlock(models.MemoryFormerConfig(d, 4, tau=tau, expand_bits=e))
    traced = trace(blk, torch.randn(batch, seq, d))
    built = block("memoryformer", d, seq, batch, 4, tau, e, dtype="fp32")
    assert_same_ops(traced, built)
    assert traced.has_index_streams and not built.has_index_streams
    lookups = [op for op in traced if op.kind == OpKind.LOOKUP]
    assert len(lookups) == 5
    tokens, k = batch * seq, d // tau
    for op in lookups:
        bits = op.dims["tau"]
        assert bits == (tau + e if op.name.endswith("m2.lookup") else tau)
        s = op.index_stream
        assert s.shape == (tokens, k) == (tokens, op.table.tables)
        assert np.issubdtype(s.dtype, np.integer)
        assert s.min() >= 0 and s.max() < 2 ** bits
        assert op.table.rows_per_table == 2 ** bits
    # The M1 stream is the sign buckets of Norm(Z) recomputed by hand (entry 0 most significant).
    x = torch.randn(1, 5, d)
    m1 = [op for op in trace(blk, x) if op.name == "memory_block.m1.lookup"][0]
    with torch.no_grad():
        x2 = x.reshape(5, d)
        h = blk.attn_norm(x2)
        z = x2 + models.attention.causal_attention(blk.q(h), blk.k(h), blk.v(h), 1, 4)
        u = blk.ffn_norm(z).reshape(5, k, tau)
    expected = ((u >= 0).long() * torch.tensor([8, 4, 2, 1])).sum(-1).numpy()
    np.testing.assert_array_equal(m1.index_stream, expected)


def test_trace_weight_bytes_equal_parameter_bytes():
    # Each weight is read once: the traced weight bytes are the module's parameter bytes.
    blk = models.TransformerBlock(models.TransformerConfig(128, 2), device="meta", dtype=torch.bfloat16)
    w = trace(blk, torch.empty(2, 16, 128, device="meta", dtype=torch.bfloat16))
    assert w.bytes_by_role()["weights"] == sum(p.numel() * 2 for p in blk.parameters())
    assert w.bytes_by_role()["tables"] == 0


def test_memoryformer_table_bytes_are_rows_fetched():
    d, s, tau, e = 64, 10, 8, 2
    k, b = d // tau, 2
    w = block("memoryformer", d, s, 1, 4, tau, e)
    # One row (width h, bf16) per token per chunk: Q, K, V and M2 rows are d wide, M1 rows (tau + e) K.
    assert w.bytes_by_role()["tables"] == s * k * b * (3 * d + (tau + e) * k + d)
    storage = {op.name: op.table.total_bytes for op in w if op.kind == OpKind.LOOKUP}
    assert storage["q.lookup"] == k * 2 ** tau * d * b
    assert storage["memory_block.m2.lookup"] == k * 2 ** (tau + e) * d * b


# --- FLOPs against the paper's formulas ------------------------------------------------------------

@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("seq_len", SEQ_LENS)
@pytest.mark.parametrize("d", [512, 768, 1024])
def test_transformer_paper_flops(d, seq_len, batch):
    s = seq_len
    w = block("transformer", d, s, batch)
    assert w.flops_paper == batch * (2 * s * s * d + 12 * s * d * d)


def test_transformer_exact_flops_term_by_term():
    d, s, b, h = 256, 100, 2, 4
    n = b * s
    macs = 12 * n * d * d
    biases = n * (3 * d + d + 4 * d + d)
    attention = 2 * (2 * b * s * s * d) + F.SOFTMAX_FLOPS_PER_SCORE * b * h * s * s
    norms = F.LAYERNORM_FLOPS_PER_ELEMENT * 2 * n * d
    gelu = F.GELU_FLOPS_PER_ELEMENT * n * 4 * d
    adds = F.ADD_FLOPS_PER_ELEMENT * 2 * n * d
    assert block("transformer", d, s, b, h).flops == 2 * macs + biases + attention + norms + gelu + adds


def memoryformer_paper_flops(s, d, tau, e):
    """Written out from the reference: attention 2 s^2 d; a Memory Layer costs s K (tau + h).
    Q, K and V share ONE hash of Norm(X) (s K tau once), then three lookups of width d; M1 hashes d
    inputs and looks up (tau + e) K wide rows; M2 hashes (tau + e) K inputs and looks up d wide rows."""
    k = d // tau
    qkv = s * k * tau + 3 * s * k * d
    m1 = s * k * (tau + (tau + e) * k)
    m2 = s * k * (tau + e + d)
    return 2 * s * s * d + qkv + m1 + m2


@pytest.mark.parametrize("seq_len", SEQ_LENS)
@pytest.mark.parametrize("name", ["memoryformer-tiny", "memoryformer-small", "memoryformer-base"])
def test_memoryformer_paper_flops(name, seq_len):
    p = models.get_preset(name)
    d, s = p.hidden_size, seq_len
    w = block("memoryformer", d, s, 1, p.heads, p.tau, p.expand_bits)
    assert w.flops_paper == memoryformer_paper_flops(s, d, p.tau, p.expand_bits)
    paper_rounded = 2 * s * s * d + 6 * (d // p.tau) * s * d
    assert abs(w.flops_paper - paper_rounded) <= 0.15 * paper_rounded
    # And the exact FC part is close to 5.25 s d^2 / tau (reference section 3).
    fc = w.flops_paper - 2 * s * s * d
    assert fc == pytest.approx(5.25 * s * d * d / p.tau, rel=0.02)


# Table 1 (G FLOPs, one block, s = 2048): (total, without attention).
TABLE1 = {
    ("transformer", 512): (10.7, 6.4), ("memoryformer", 512): (4.7, 0.4),
    ("transformer", 768): (20.9, 14.5), ("memoryformer", 768): (7.35, 0.906),
    ("transformer", 1024): (34.4, 25.8), ("memoryformer", 1024): (10.2, 1.6),
}


@pytest.mark.parametrize("kind,d", sorted(TABLE1))
def test_paper_block_flops_table1(kind, d):
    total, fc = TABLE1[(kind, d)]
    digits_total = 2 if (kind, d) == ("memoryformer", 768) else 1
    digits_fc = 3 if (kind, d) == ("memoryformer", 768) else 1
    assert round(paper_block_flops(kind, d, 2048) / 1e9, digits_total) == total
    assert round(paper_block_flops(kind, d, 2048, with_attention=False) / 1e9, digits_fc) == fc


# Derived Figure 1 table (reference section 5), G FLOPs per block, tau = 8.
FIGURE1 = {  # d: (s=1024 Transformer, s=1024 MemoryFormer, s=2048 Transformer, s=2048 MemoryFormer)
    512: (4.29, 1.28, 10.74, 4.70),
    1024: (15.03, 2.95, 34.36, 10.20),
    1536: (32.21, 5.03, 70.87, 16.51),
    2048: (55.83, 7.52, 120.26, 23.62),
    2560: (85.90, 10.40, 182.54, 31.54),
    3072: (122.41, 13.69, 257.70, 40.27),
}


@pytest.mark.parametrize("d", sorted(FIGURE1))
def test_paper_block_flops_figure1(d):
    got = (paper_block_flops("transformer", d, 1024), paper_block_flops("memoryformer", d, 1024),
           paper_block_flops("transformer", d, 2048), paper_block_flops("memoryformer", d, 2048))
    assert tuple(round(g / 1e9, 2) for g in got) == FIGURE1[d]


def test_figure1_memoryformer_share_at_2048():
    # "At s = d = 2048 the MemoryFormer block needs about 19% of the Transformer block's FLOPs."
    share = paper_block_flops("memoryformer", 2048, 2048) / paper_block_flops("transformer", 2048, 2048)
    assert abs(share - 0.19) < 0.01


def test_paper_block_flops_bad_kind():
    with pytest.raises(ValueError, match="'mlp'"):
        paper_block_flops("mlp", 512, 2048)


# Table 3: Memory Layer Q alone, s = 2048, output width 512: (d_in, tau, G FLOPs, table MB).
TABLE3 = [(512, 4, 0.14, 2.1), (512, 8, 0.07, 16.8), (510, 10, 0.054, 53.5)]


@pytest.mark.parametrize("d_in,tau,gflops,mb", TABLE3)
def test_table3_memory_layer(d_in, tau, gflops, mb):
    s, h = 2048, 512
    k = d_in // tau
    w = layer("memory", s, d_in, h, tau=tau, dtype="fp16")
    assert w.flops_paper == s * k * (tau + h)  # reference section 3: one Memory Layer ~ s K (tau + h)
    if tau == 10:
        # s K (tau + h) = 0.0545 G; the reference prints 0.054 (formula) and the paper 0.06.
        assert abs(w.flops_paper / 1e9 - gflops) / gflops < 0.01
    else:
        assert round(w.flops_paper / 1e9, 2) == gflops
    lookup = w.op("lookup")
    assert lookup.table == TableGeometry(k, 2 ** tau, h * 2)
    assert lookup.table.total_bytes == k * 2 ** tau * 512 * 2
    assert round(lookup.table.total_bytes / 1e6, 1) == mb


def test_attention_products_match_torch_flop_counter():
    # Torch's own bmm formula on an explicit attention (dense, as the paper counts it).
    b, s, d, h = 2, 24, 64, 4
    q, k, v = (torch.randn(b, h, s, d // h) for _ in range(3))
    with FlopCounterMode(display=False) as fc:
        torch.softmax(q @ k.transpose(-1, -2), -1) @ v
    torch_flops = sum(fc.get_flop_counts()["Global"].values())
    op = layer("attention", b * s, d, heads=h, batch=b).op("attention")
    assert torch_flops == 2 * op.flops_paper == 4 * b * s * s * d


def test_memoryformer_lookup_flops_match_flop_counter():
    d, s, b, tau, e = 64, 12, 2, 8, 2
    blk = models.MemoryFormerBlock(models.MemoryFormerConfig(d, 4, tau=tau, expand_bits=e))
    with FlopCounterMode(display=False) as fc:
        blk(torch.randn(b, s, d))
    n, k = b * s, d // tau
    assert fc.get_flop_counts()["Global"][torch.ops.hwsim.table_lookup] == 2 * n * k * (3 * d + (tau + e) * k + d)
    w = block("memoryformer", d, s, b, 4, tau, e, dtype="fp32")
    assert sum(op.flops for op in w if op.kind == OpKind.LOOKUP) == 2 * n * k * (3 * d + (tau + e) * k + d)


# --- layer() ---------------------------------------------------------------------------------------

def test_layer_linear():
    n, di, do = 10, 24, 40
    w = layer("linear", n, di, do)
    (op,) = w.ops
    assert op.kind == OpKind.MATMUL
    assert (op.flops, op.flops_paper) == (2 * n * di * do, n * di * do)
    assert op.bytes_read["activations"] == n * di * 2 and op.bytes_read["weights"] == di * do * 2
    assert op.bytes_written["activations"] == n * do * 2
    wb = layer("linear", n, di, do, bias=True, dtype="fp32")
    assert wb.flops == 2 * n * di * do + n * do
    assert wb.ops[0].bytes_read["weights"] == (di * do + do) * 4
    assert layer("linear", n, di).ops[0].dims == {"m": n, "n": di, "k": di, "bias": 0}


def test_layer_memory_and_hash():
    n, di, do, tau = 6, 32, 20, 4
    k = di // tau
    w = layer("memory", n, di, do, tau=tau)
    assert [op.kind for op in w] == [OpKind.HASH, OpKind.LOOKUP]
    assert w.ops[1].deps == ("hash",)
    assert w.flops_paper == n * k * (tau + do)
    assert w.op("lookup").flops == 2 * n * k * do
    assert w.op("lookup").bytes_read["tables"] == n * k * do * 2
    assert w.op("lookup").bytes_read["indices"] == n * k * 8
    assert w.op("lookup").bytes_written["activations"] == n * do * 2
    h = layer("memory_hash", n, di, do, tau=tau)
    assert [op.kind for op in h] == [OpKind.HASH]
    assert h.flops_paper == n * k * tau
    assert h.ops[0].bytes_written["indices"] == n * k * 8


def test_layer_attention_norm_gelu():
    a = layer("attention", 3 * 16, 64, heads=4, batch=3)
    assert a.ops[0].kind == OpKind.ATTENTION
    assert a.flops_paper == 2 * 3 * 16 * 16 * 64
    assert a.ops[0].dims["seq_len"] == 16 and a.ops[0].dims["head_dim"] == 16
    nrm = layer("norm", 7, 32)
    assert nrm.ops[0].kind == OpKind.NORM and nrm.flops_paper == 0 and nrm.flops > 0
    g = layer("gelu", 7, 32)
    assert g.ops[0].kind == OpKind.ELEMENTWISE and g.flops_paper == 0 and g.flops > 0
    assert set(workloads.LAYER_KINDS) == {"linear", "memory", "memory_hash", "attention", "norm", "gelu", "gather", "copy"}


@pytest.mark.parametrize("call,needles", [
    (lambda: layer("conv", 8, 16), ["kind", "'conv'"]),
    (lambda: layer("linear", 0, 16), ["tokens=0"]),
    (lambda: layer("linear", -3, 16), ["tokens=-3"]),
    (lambda: layer("linear", 8, 0), ["d_in=0"]),
    (lambda: layer("linear", 8, 16, 0), ["d_out=0"]),
    (lambda: layer("memory", 8, 30, tau=8), ["d_in=30", "tau=8"]),
    (lambda: layer("memory_hash", 8, 30, tau=4), ["d_in=30", "tau=4"]),
    (lambda: layer("memory", 8, 32, tau=0), ["tau=0"]),
    (lambda: layer("attention", 10, 64, heads=4, batch=3), ["tokens=10", "batch=3"]),
    (lambda: layer("linear", 8, 16, dtype="fp12"), ["'fp12'"]),
    (lambda: block("lstm", 64, 8), ["kind", "'lstm'"]),
    (lambda: block("transformer", 64, 0), ["seq_len=0"]),
    (lambda: block("transformer", 64, 8, heads=5), ["hidden_size=64", "heads=5"]),
    (lambda: block("memoryformer", 100, 8, heads=4, tau=8), ["hidden_size=100", "tau=8"]),
    (lambda: block("memoryformer", 64, 8, tau=8, expand_bits=13), ["expand_bits=13"]),
    (lambda: block("memoryformer", 64, 8, weighting="bogus"), ["weighting='bogus'", "paper", "official"]),
    (lambda: block("memoryformer", 64, 8, heads=2.0), ["heads=2.0"]),
    (lambda: block("memoryformer", 64, 8, expand_bits=1.5), ["expand_bits=1.5"]),
])
def test_builder_errors_name_the_argument(call, needles):
    with pytest.raises(ValueError) as info:
        call()
    for needle in needles:
        assert needle in str(info.value)


# --- Workload invariants -----------------------------------------------------------------------------

def tiny_op(name, deps=(), flops=10):
    return Op(name, OpKind.ELEMENTWISE, "bf16", ((4,),), ((4,),), flops, 0, {"activations": 8},
              {"activations": 8}, deps)


def test_workload_rejects_duplicate_names():
    with pytest.raises(ValueError, match="'a'"):
        Workload("w", (tiny_op("a"), tiny_op("b"), tiny_op("a")))


def test_workload_deps_must_name_earlier_ops():
    with pytest.raises(ValueError, match="later"):
        Workload("w", (tiny_op("a", deps=("later",)), tiny_op("later")))
    with pytest.raises(ValueError, match="ghost"):
        Workload("w", (tiny_op("a"), tiny_op("b", deps=("ghost",))))
    assert len(Workload("w", (tiny_op("a"), tiny_op("b", deps=("a",))))) == 2


def test_op_rejects_unknown_role_and_dtype():
    with pytest.raises(ValueError, match="bogus"):
        Op("x", OpKind.OTHER, "bf16", (), (), 0, 0, {"bogus": 1}, {})
    with pytest.raises(ValueError, match="fp7"):
        Op("x", OpKind.OTHER, "fp7", (), (), 0, 0, {}, {})


@pytest.mark.parametrize("kind", ["transformer", "memoryformer"])
def test_to_dataframe_one_row_per_op_and_totals(kind):
    w = block(kind, 128, 64, 2)
    df = w.to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert len(df) == len(w.ops)
    assert list(df["op"]) == [op.name for op in w]
    assert df["flops"].sum() == w.flops == sum(op.flops for op in w)
    assert df["flops_paper"].sum() == w.flops_paper
    assert df["total_bytes"].sum() == w.total_bytes
    read_cols = [c for c in df.columns if c.endswith("_read_bytes")]
    written_cols = [c for c in df.columns if c.endswith("_written_bytes")]
    assert len(read_cols) == len(written_cols) == 4
    assert df[read_cols + written_cols].to_numpy().sum() == w.total_bytes
    assert sum(w.bytes_by_role().values()) == w.total_bytes
    assert df["tables"].gt(0).sum() == (5 if kind == "memoryformer" else 0)


# --- property ---------------------------------------------------------------------------------------

@settings(max_examples=80, deadline=None)
@given(kind=st.sampled_from(["transformer", "memoryformer"]), d=st.integers(1, 16).map(lambda i: 64 * i),
       s=st.integers(1, 512), batch=st.integers(1, 4))
def test_exact_flops_at_least_twice_paper_flops(kind, d, s, batch):
    w = block(kind, d, s, batch)
    # Every counted MAC is 2 exact FLOPs; what the paper leaves out (bias, softmax, norms) can only add.
    assert w.flops >= 2 * w.flops_paper
    for op in w:
        assert op.flops >= 2 * op.flops_paper
        assert op.total_bytes > 0
    assert w.total_bytes > 0
    assert w.flops_paper > 0


@pytest.mark.parametrize("weighting", ["paper", "official"])
def test_flop_formulas_registered_with_torch_match_the_workload(weighting):
    """models/ registers FLOP formulas for its custom ops (it may not import workloads); they must give
    the same counts as workloads.flops for hash, lookup and attention."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import models

    cfg = models.MemoryFormerConfig(64, 4, tau=8, weighting=weighting)
    block = models.MemoryFormerBlock(cfg)
    x = torch.randn(2, 16, 64)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        block(x)
    counted = counter.get_total_flops()
    w = workloads.block("memoryformer", 64, 16, batch=2, heads=4, tau=8, weighting=weighting, dtype="fp32")
    expected = sum(op.flops for op in w.ops if op.kind.value in ("hash", "lookup", "attention"))
    assert counted == expected
