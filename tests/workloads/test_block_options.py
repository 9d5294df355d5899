"""Blocks as the released models run them: RMSNorm, rotary embeddings, Memory Layer biases, residual style.

Expected values come from re-derivations written here in plain loops (the released Memory Layer formula,
rotary as a rotation of coordinate pairs, gpt-neox's RMSNorm) and the released configs (typed in with their
sources), never from the program's own output. Their lowering: tests/hwsim/test_block_option_kernels.py.
"""
from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import models
from models import MemoryFormerBlock, MemoryFormerConfig, MemoryLayer, TransformerBlock, TransformerConfig
from models.norms import RMSNorm
from tests.models.test_blocks import manual_causal_attention, randomize
from tests.workloads.test_workloads import assert_same_ops
from workloads import OpKind, block, trace
from workloads import builders as B


COMBOS = list(itertools.product(["transformer", "memoryformer"], ["layernorm", "rmsnorm"], [0.0, 0.25, 1.0],
                                [False, True], [False, True]))


def config(kind, d, heads, norm, rotary_pct, bias, parallel, **mf):
    if kind == "transformer":
        return TransformerConfig(d, heads, norm=norm, rotary_pct=rotary_pct, linear_bias=bias, parallel_residual=parallel)
    return MemoryFormerConfig(d, heads, norm=norm, rotary_pct=rotary_pct, memory_bias=bias,
                              parallel_residual=parallel, **mf)


def bias_option(kind, bias):
    return {"linear_bias": bias} if kind == "transformer" else {"memory_bias": bias}


# --- traced == closed form, op by op, for every combination -------------------------------------------

@pytest.mark.parametrize("kind,norm,rotary_pct,bias,parallel", COMBOS)
def test_traced_equals_closed_form_for_every_option(kind, norm, rotary_pct, bias, parallel):
    # head_dim 16: rotary_pct 0.25 rotates 4 dims, 1.0 all 16
    mf = dict(tau=4, expand_bits=1) if kind == "memoryformer" else {}
    blk = models.build_block(config(kind, 64, 4, norm, rotary_pct, bias, parallel, **mf), device="meta",
                             dtype=torch.float16)
    traced = trace(blk, torch.empty(3, 40, 64, device="meta", dtype=torch.float16))
    assert "unmodelled_ops" not in traced.meta
    built = block(kind, 64, 40, 3, 4, dtype="fp16", norm=norm, rotary_pct=rotary_pct, parallel_residual=parallel,
                  **bias_option(kind, bias), **mf)
    assert_same_ops(traced, built)
    kinds = [op.kind for op in built]
    assert (OpKind.ROTARY in kinds) == (rotary_pct > 0)
    assert sum(op.dims.get("rms", 0) for op in built) == (2 if norm == "rmsnorm" else 0)  # mid norm: LayerNorm


@pytest.mark.parametrize("kind", ["transformer", "memoryformer"])
def test_traced_on_real_tensors_equals_closed_form_released_options(kind):
    mf = dict(tau=4, expand_bits=2, weighting="official") if kind == "memoryformer" else {}
    blk = models.build_block(config(kind, 32, 2, "rmsnorm", 0.25, True, kind == "transformer", **mf))
    traced = trace(blk, torch.randn(2, 9, 32))
    built = block(kind, 32, 9, 2, 2, dtype="fp32", norm="rmsnorm", rotary_pct=0.25,
                  parallel_residual=kind == "transformer", **bias_option(kind, True), **mf)
    assert_same_ops(traced, built)


def test_memoryformer_op_order_and_bytes_with_every_option():
    d, s, heads, tau, e, b = 64, 10, 4, 8, 2, 2
    n, k = s, d // tau
    w = block("memoryformer", d, s, 1, heads, tau, e, norm="rmsnorm", rotary_pct=0.25, memory_bias=True)
    names = [op.name for op in w]
    # every Memory Layer's bias add follows its lookup; rotary sits between the Q/K/V layers and attention
    for layer in ("q", "k", "v", "memory_block.m1", "memory_block.m2"):
        assert names.index(f"{layer}.add") == names.index(f"{layer}.lookup") + 1
        assert w.op(f"{layer}.add").bytes_read["weights"] == w.op(f"{layer}.lookup").dims["width"] * b
    assert names.index("v.add") < names.index("rotary") < names.index("attention")
    rot = w.op("rotary")
    assert rot.deps == ("q.add", "k.add") and w.op("attention").deps == ("rotary", "v.add")
    r = int(d // heads * 0.25)  # 4 rotary dims per head
    assert rot.bytes_read == {"weights": 2 * s * r * b, "tables": 0, "activations": 2 * n * d * b, "indices": 0}
    # RMSNorm reads its scale only (no shift); the mid norm stays a LayerNorm (released Memory Block)
    assert w.op("attn_norm.norm").bytes_read["weights"] == d * b
    assert w.op("memory_block.mid_norm.norm").bytes_read["weights"] == 2 * (tau + e) * k * b


def test_parallel_residual_feeds_both_branches_the_block_input():
    for kind in ("transformer", "memoryformer"):
        par = block(kind, 64, 8, parallel_residual=True)
        seq = block(kind, 64, 8, parallel_residual=False)
        assert par.op("ffn_norm.norm").deps == () and seq.op("ffn_norm.norm").deps == ("add",)
    # None: each kind's own style (Pythia parallel, MemoryFormer sequential)
    assert block("transformer", 64, 8).op("ffn_norm.norm").deps == ()
    assert block("memoryformer", 64, 8).op("ffn_norm.norm").deps == ("add",)


# --- the Memory Layer against the released formula, in loops -----------------------------------------

def released_memory_layer(x, tables, bias, tau):
    """memory_module/memory.py of the released code, re-derived: per token and chunk, the bucket id is the
    chunk's sign bits (z >= 0 -> 1) read most significant first; the weight is
    sum|z| / prod(1 + exp(-2|z|)) = sum|z| * prod sigmoid(2|z|) (compute_code_score_torch); the output is
    sum_k w_k * T_k[id_k] + bias."""
    n_tok, d = x.shape
    rows = 2 ** tau
    out = torch.zeros(n_tok, tables.shape[1], dtype=torch.float64)
    for n in range(n_tok):
        for k in range(d // tau):
            z = [float(v) for v in x[n, k * tau:(k + 1) * tau]]
            bucket = 0
            for v in z:
                bucket = 2 * bucket + (1 if v >= 0 else 0)
            weight = sum(abs(v) for v in z)
            for v in z:
                weight /= 1 + math.exp(-2 * abs(v))
            out[n] += weight * tables[k * rows + bucket]
        out[n] += bias
    return out


@pytest.mark.parametrize("d_in,d_out,tau", [(12, 7, 4), (16, 5, 8)])
def test_memory_layer_with_bias_equals_the_released_formula(d_in, d_out, tau):
    torch.manual_seed(1)
    layer = MemoryLayer(d_in, d_out, tau, weighting="official", bias=True, dtype=torch.float64)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(6, d_in, dtype=torch.float64)
    x[0, :tau] = 0.0  # exact zeros hash to bit 1 (z >= 0)
    x[1, 1] = -0.0
    expected = released_memory_layer(x, layer.tables.detach(), layer.bias.detach(), tau)
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)
    # without the bias the output differs by exactly the bias
    plain = MemoryLayer(d_in, d_out, tau, weighting="official", dtype=torch.float64)
    plain.load_state_dict({"tables": layer.tables.detach()})
    torch.testing.assert_close(layer(x) - plain(x), layer.bias.detach().expand(6, d_out), rtol=1e-12, atol=1e-12)


def test_memory_layer_bias_defaults_off_and_is_a_parameter():
    assert MemoryLayer(8, 4, 4).bias is None
    layer = MemoryLayer(8, 4, 4, bias=True, device="meta")
    assert dict(layer.named_parameters())["bias"].shape == (4,)


# --- RMSNorm and rotary against their formulas --------------------------------------------------------

def test_rms_norm_is_gpt_neox_formula_eps_outside_the_root():
    x = torch.randn(5, 16, dtype=torch.float64) * 0.1
    norm = RMSNorm(16, eps=0.5, dtype=torch.float64)
    with torch.no_grad():
        norm.weight.normal_()
    rms = torch.sqrt((x * x).mean(-1, keepdim=True))
    torch.testing.assert_close(norm(x), norm.weight * x / (rms + 0.5), rtol=1e-12, atol=1e-12)
    inside = norm.weight * x / torch.sqrt((x * x).mean(-1, keepdim=True) + 0.5)
    assert (norm(x) - inside).abs().max() > 1e-3  # not torch.nn.RMSNorm's eps placement
    assert RMSNorm(8).eps == 1e-8  # gpt-neox rms_norm_epsilon


def rotary_by_pairs(x, batch, heads, dims, base=10000.0):
    """Each head's pair (x_i, x_{i + r/2}), i < r/2, turned by the angle t * base^(-2i / r) at position t."""
    n, d = x.shape
    seq_len, head_dim = n // batch, d // heads
    out = x.clone()
    for row in range(n):
        t = row % seq_len
        for h in range(heads):
            for i in range(dims // 2):
                a, c = h * head_dim + i, h * head_dim + i + dims // 2
                theta = t * base ** (-2 * i / dims)
                out[row, a] = x[row, a] * math.cos(theta) - x[row, c] * math.sin(theta)
                out[row, c] = x[row, c] * math.cos(theta) + x[row, a] * math.sin(theta)
    return out


@pytest.mark.parametrize("pct", [0.25, 0.5, 1.0])
def test_rotary_rotates_coordinate_pairs_by_position(pct):
    batch, seq, heads, d = 2, 5, 2, 16
    dims = int(d // heads * pct)
    q, k = torch.randn(batch * seq, d, dtype=torch.float64), torch.randn(batch * seq, d, dtype=torch.float64)
    q2, k2 = torch.ops.hwsim.rotary(q, k, batch, heads, dims, 10000.0)
    torch.testing.assert_close(q2, rotary_by_pairs(q, batch, heads, dims), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(k2, rotary_by_pairs(k, batch, heads, dims), rtol=1e-12, atol=1e-12)


def test_rotary_scores_depend_only_on_the_distance():
    # the same q and k at every position: q'_t . k'_s is a function of t - s alone
    seq, d = 12, 8
    q = torch.randn(1, d, dtype=torch.float64).expand(seq, d).contiguous()
    k = torch.randn(1, d, dtype=torch.float64).expand(seq, d).contiguous()
    q2, k2 = torch.ops.hwsim.rotary(q, k, 1, 1, d, 10000.0)
    scores = q2 @ k2.T
    for t in range(seq - 1):
        for s in range(seq - 1):
            assert scores[t + 1, s + 1] == pytest.approx(float(scores[t, s]), abs=1e-9)
    assert abs(scores[0, 0] - scores[0, 3]) > 1e-6


@pytest.mark.parametrize("pct,head_dim,needle", [(1.5, 64, "[0, 1]"), (-0.1, 64, "[0, 1]"), (0.3, 64, "19"),
                                                 (0.1, 8, "0 rotary dims"), (float("nan"), 64, "nan")])
def test_bad_rotary_pct_is_named(pct, head_dim, needle):
    for call in (lambda: TransformerConfig(head_dim * 2, 2, rotary_pct=pct),
                 lambda: block("transformer", head_dim * 2, 8, heads=2, rotary_pct=pct)):
        with pytest.raises(ValueError) as info:
            call()
        assert "rotary" in str(info.value) and needle in str(info.value)


def test_bad_norm_is_named():
    with pytest.raises(ValueError, match="'batchnorm'"):
        MemoryFormerConfig(64, 4, norm="batchnorm")
    with pytest.raises(ValueError, match="'batchnorm'"):
        block("memoryformer", 64, 8, norm="batchnorm")
    with pytest.raises(ValueError, match="'whatever'"):
        block("memoryformer", 64, 8, weighting="whatever")


# --- whole blocks against hand compositions ----------------------------------------------------------

def rms(x, weight, eps=1e-8):
    return weight * x / (torch.sqrt((x * x).mean(-1, keepdim=True)) + eps)


@pytest.mark.parametrize("parallel", [False, True])
def test_memoryformer_block_with_released_options_equals_hand_composition(parallel):
    cfg = MemoryFormerConfig(32, 4, tau=4, expand_bits=2, weighting="official", norm="rmsnorm", rotary_pct=0.25,
                             memory_bias=True, parallel_residual=parallel)
    blk = randomize(MemoryFormerBlock(cfg, dtype=torch.float64))
    x = torch.randn(2, 6, 32, dtype=torch.float64)
    x2 = x.reshape(12, 32)
    h = rms(x2, blk.attn_norm.weight)
    q, k, v = blk.q(h), blk.k(h), blk.v(h)  # each Memory Layer adds its own bias
    q, k = rotary_by_pairs(q, 2, 4, 2), rotary_by_pairs(k, 2, 4, 2)  # head_dim 8 x 0.25 = 2 dims
    z = x2 + manual_causal_attention(q, k, v, 2, 4)
    u = rms(x2 if parallel else z, blk.ffn_norm.weight)
    mid = blk.memory_block.mid_norm
    expected = z + blk.memory_block.m2(F.layer_norm(blk.memory_block.m1(u), (48,), mid.weight, mid.bias))
    torch.testing.assert_close(blk(x), expected.reshape(2, 6, 32), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("parallel", [False, True])
def test_transformer_block_with_options_equals_hand_composition(parallel):
    cfg = TransformerConfig(32, 2, norm="rmsnorm", rotary_pct=0.25, linear_bias=False, parallel_residual=parallel)
    blk = randomize(TransformerBlock(cfg, dtype=torch.float64))
    assert blk.qkv.bias is None and blk.fc2.bias is None
    x = torch.randn(2, 5, 32, dtype=torch.float64)
    x2 = x.reshape(10, 32)
    qkv = rms(x2, blk.attn_norm.weight) @ blk.qkv.weight.T
    q, k = rotary_by_pairs(qkv[:, :32], 2, 2, 4), rotary_by_pairs(qkv[:, 32:64], 2, 2, 4)
    z = x2 + manual_causal_attention(q, k, qkv[:, 64:], 2, 2) @ blk.out.weight.T
    u = rms(x2 if parallel else z, blk.ffn_norm.weight) @ blk.fc1.weight.T
    ffn = (0.5 * u * (1 + torch.erf(u / math.sqrt(2)))) @ blk.fc2.weight.T
    torch.testing.assert_close(blk(x), (z + ffn).reshape(2, 5, 32), rtol=1e-10, atol=1e-10)


# --- FLOPs and parameters ------------------------------------------------------------------------------

def test_registered_flop_formulas_give_the_stated_counts():
    d, s, b, heads = 64, 12, 2, 4
    n, r = b * s, int(d // heads * 0.25)
    blk = MemoryFormerBlock(MemoryFormerConfig(d, heads, tau=8, norm="rmsnorm", rotary_pct=0.25, memory_bias=True))
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        blk(torch.randn(b, s, d))
    counts = fc.get_flop_counts()["Global"]
    # rotary: 7 FLOPs per rotated pair (2 x cos, 2 x sin, 2 adds, 1 negation), q and k
    assert counts[torch.ops.hwsim.rotary] == 7 * 2 * n * heads * (r // 2)
    # RMSNorm: 5 FLOPs per element, two block norms of d
    assert counts[torch.ops.hwsim.rms_norm] == 5 * 2 * n * d
    w = block("memoryformer", d, s, b, heads, 8, dtype="fp32", norm="rmsnorm", rotary_pct=0.25, memory_bias=True)
    assert w.op("rotary").flops == counts[torch.ops.hwsim.rotary]
    assert sum(op.flops for op in w if op.dims.get("rms")) == counts[torch.ops.hwsim.rms_norm]
    assert sum(op.flops_paper for op in w if op.kind in (OpKind.ROTARY, OpKind.NORM)) == 0  # the paper counts none


@pytest.mark.parametrize("kind,norm,bias", list(itertools.product(["transformer", "memoryformer"],
                                                                  ["layernorm", "rmsnorm"], [False, True])))
def test_block_parameters_count_the_module(kind, norm, bias):
    from workloads.memory import block_parameters

    mf = dict(tau=8, expand_bits=1) if kind == "memoryformer" else {}
    blk = models.build_block(config(kind, 64, 4, norm, 0.25, bias, False, **mf), device="meta")
    counted = {"weights": 0, "tables": 0}
    for name, p in blk.named_parameters():
        counted["tables" if name.endswith("tables") else "weights"] += p.numel()
    assert block_parameters(kind, 64, norm=norm, rotary_pct=0.25, **bias_option(kind, bias), **mf) == counted


# --- presets: the released configs, typed in from their sources -------------------------------------------

def test_memoryformer_presets_follow_the_released_configs():
    # github.com/C0-Design/MemoryFormer configs/memoryformer_tiny.yml, _small.yml and memory_module/memory.py
    for name in ("memoryformer-tiny", "memoryformer-small", "memoryformer-base"):
        cfg = models.get_preset(name).block_config()
        assert (cfg.norm, cfg.rotary_pct, cfg.parallel_residual, cfg.memory_bias, cfg.weighting,
                cfg.share_qkv_hash) == ("rmsnorm", 0.25, False, True, "official", True)
        blk = models.build_block(cfg, device="meta")
        assert all(layer.bias is not None for layer in blk.memory_layers().values())
        assert not any(isinstance(m, torch.nn.Linear) for m in blk.modules())  # no output projection
        assert models.get_preset(name).follows


def test_pythia_presets_follow_pythia():
    # Pythia (GPT-NeoX configs): LayerNorm, rotary_pct 0.25, gpt_j_residual true, biases
    for name in ("pythia-70m", "pythia-160m", "pythia-410m"):
        cfg = models.get_preset(name).block_config()
        assert (cfg.norm, cfg.rotary_pct, cfg.parallel_residual, cfg.linear_bias) == ("layernorm", 0.25, True, True)
        assert cfg.rotary_dims == 16  # head_dim 64 (reference Table 1 shapes) x 0.25
        assert models.get_preset(name).follows


def test_preset_block_variants():
    p = models.get_preset("memoryformer-base")
    released = B.preset_block(p, 64)
    assert released.op("rotary") and released.op("q.add") and released.op("attn_norm.norm").dims["rms"] == 1
    paper = B.preset_block(p, 64, variant="paper")
    assert paper.ops == block("memoryformer", 1024, 64, 1, 16).ops  # block()'s defaults are the paper block
    bench = B.preset_block(p, 64, variant="bench")
    assert [op.name for op in bench if op.kind == OpKind.HASH][:3] == ["q.hash", "k.hash", "v.hash"]
    # options after the variant win; a MemoryFormer option does not touch a Transformer
    t = B.preset_block(models.get_preset("pythia-410m"), 64, variant="paper", rotary_pct=0.5, memory_bias=True)
    assert t.op("rotary").dims["rotary_dims"] == 32 and not any(op.name.endswith(".add") for op in t)
    with pytest.raises(ValueError, match="'sideways'"):
        B.preset_block(p, 64, variant="sideways")
    with pytest.raises(ValueError, match="dropout"):
        B.preset_block(p, 64, dropout=0.1)


def test_paper_figures_use_the_paper_block():
    from workloads.paper import figure1_rows, table1_rows

    for row in table1_rows(models.PRESETS.values()):
        p = models.get_preset(row["model"])
        assert row["flops"] == block(p.kind, p.hidden_size, 2048, 1, p.heads).flops
        assert row["flops"] < B.preset_block(p, 2048).flops  # the released block does more
    for row in figure1_rows(hidden_sizes=(512,), seq_lens=(1024,)):
        w = block(row["model"], 512, 1024)
        assert not any(op.kind == OpKind.ROTARY or op.dims.get("rms") for op in w)
        assert row["flops"] == w.flops
