"""MemoryFormer and Transformer blocks (reference section 2), checked against hand-written compositions."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import models
from models import (MemoryBlock, MemoryFormerBlock, MemoryFormerConfig, MemoryLayer, TransformerBlock,
                    TransformerConfig, build_block, get_preset)
from tests.dispatch_helpers import CallCounter

torch.manual_seed(0)


def manual_causal_attention(q, k, v, batch, heads):
    """softmax(q k^T / sqrt(d_head)) v with an explicit causal mask; q, k, v (B*T, d)."""
    n, d = q.shape
    t, dh = n // batch, d // heads
    q4, k4, v4 = (a.reshape(batch, t, heads, dh).permute(0, 2, 1, 3) for a in (q, k, v))  # (B, H, T, dh)
    scores = q4 @ k4.transpose(-1, -2) / math.sqrt(dh)  # (B, H, T, T)
    mask = torch.ones(t, t, dtype=torch.bool).tril()
    scores = scores.masked_fill(~mask, float("-inf"))
    out = torch.softmax(scores, -1) @ v4  # (B, H, T, dh)
    return out.permute(0, 2, 1, 3).reshape(n, d)


def randomize(module):
    """LayerNorm starts as identity; give every parameter random values so all paths matter."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.5 if p.ndim == 1 else 1.0 / math.sqrt(p.shape[-1]))
    return module


# --- MemoryFormer block ---------------------------------------------------------------------------

@pytest.mark.parametrize("weighting", ["paper", "official"])
def test_memoryformer_block_equals_hand_composition(weighting):
    cfg = MemoryFormerConfig(hidden_size=32, heads=4, tau=4, expand_bits=2, weighting=weighting)
    blk = randomize(MemoryFormerBlock(cfg, dtype=torch.float64))
    x = torch.randn(2, 6, 32, dtype=torch.float64)
    y = blk(x)
    assert y.shape == x.shape

    x2 = x.reshape(12, 32)
    h = F.layer_norm(x2, (32,), blk.attn_norm.weight, blk.attn_norm.bias)
    # No output projection after attention (reference section 2).
    z = x2 + manual_causal_attention(blk.q(h), blk.k(h), blk.v(h), 2, 4)
    u = F.layer_norm(z, (32,), blk.ffn_norm.weight, blk.ffn_norm.bias)
    wide = blk.memory_block.m1(u)
    assert wide.shape == (12, (4 + 2) * 8)  # M1: d -> (tau + e) K
    mid = F.layer_norm(wide, (48,), blk.memory_block.mid_norm.weight, blk.memory_block.mid_norm.bias)
    expected = z + blk.memory_block.m2(mid)
    torch.testing.assert_close(y, expected.reshape(2, 6, 32), rtol=1e-10, atol=1e-10)


def test_memory_block_geometry():
    cfg = MemoryFormerConfig(hidden_size=64, heads=4, tau=8, expand_bits=2)
    mb = MemoryBlock(cfg, device="meta")
    k = 64 // 8
    assert (mb.m1.d_in, mb.m1.d_out, mb.m1.tau, mb.m1.num_chunks) == (64, 10 * k, 8, k)
    assert (mb.m2.d_in, mb.m2.d_out, mb.m2.tau, mb.m2.num_chunks) == (10 * k, 64, 10, k)
    assert mb.m1.tables.shape == (k * 2 ** 8, 10 * k)
    assert mb.m2.tables.shape == (k * 2 ** 10, 64)


def test_memoryformer_block_backward():
    cfg = MemoryFormerConfig(hidden_size=32, heads=2, tau=4, expand_bits=1)
    blk = randomize(MemoryFormerBlock(cfg))
    x = torch.randn(2, 5, 32, requires_grad=True)
    blk(x).square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, p in blk.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
        if name.endswith("tables"):
            # Sparse: at most tokens x K rows touched per table stack.
            rows_touched = int((p.grad.abs().sum(1) > 0).sum())
            layer = blk.get_submodule(name.rsplit(".", 1)[0])
            assert rows_touched <= 10 * layer.num_chunks < p.shape[0]




def test_qkv_share_one_hash_in_dispatch_order():
    blk = MemoryFormerBlock(MemoryFormerConfig(hidden_size=32, heads=4, tau=4))
    counter = CallCounter()
    with counter, torch.no_grad():
        blk(torch.randn(1, 4, 32))
    calls = [c for c in counter.calls if c.startswith("hwsim.")]
    first_attention = calls.index("hwsim.causal_attention")
    before = calls[:first_attention]
    assert before.count("hwsim.sign_hash") == 1
    assert before.count("hwsim.table_lookup") == 3
    assert calls.count("hwsim.sign_hash") == 3  # shared QKV hash, M1, M2
    assert calls.count("hwsim.table_lookup") == 5


def test_qkv_share_one_hash_in_trace():
    from workloads import OpKind, trace

    cfg = MemoryFormerConfig(hidden_size=32, heads=4, tau=4)
    blk = MemoryFormerBlock(cfg)
    x = torch.randn(2, 5, 32)
    w = trace(blk, x)
    names = [op.name for op in w]
    before = w.ops[:names.index("attention")]
    hashes = [op for op in before if op.kind == OpKind.HASH]
    lookups = [op for op in before if op.kind == OpKind.LOOKUP]
    assert len(hashes) == 1
    assert [op.name for op in lookups] == ["q.lookup", "k.lookup", "v.lookup"]
    assert all(op.deps == (hashes[0].name,) for op in lookups)
    # Same buckets for Q, K and V, and they are the sign buckets of Norm(X), computed here by hand.
    streams = [op.index_stream for op in lookups]
    np.testing.assert_array_equal(streams[0], streams[1])
    np.testing.assert_array_equal(streams[0], streams[2])
    with torch.no_grad():
        h = blk.attn_norm(x.reshape(10, 32)).reshape(10, 8, 4)  # (N, K, tau)
    bits = (h >= 0).long().numpy()
    expected = bits[..., 0] * 8 + bits[..., 1] * 4 + bits[..., 2] * 2 + bits[..., 3]
    np.testing.assert_array_equal(streams[0], expected)


def test_optional_gelu_in_memory_block():
    base = MemoryFormerConfig(hidden_size=32, heads=4, tau=4, expand_bits=2)
    with_gelu = MemoryFormerConfig(hidden_size=32, heads=4, tau=4, expand_bits=2, gelu=True)
    assert base.gelu is False  # off by default (Table 6)
    plain = randomize(MemoryBlock(base, dtype=torch.float64))
    gelu = MemoryBlock(with_gelu, dtype=torch.float64)
    gelu.load_state_dict(plain.state_dict())
    x = torch.randn(9, 32, dtype=torch.float64)
    mid = gelu.mid_norm
    expected = gelu.m2(F.layer_norm(F.gelu(gelu.m1(x)), (48,), mid.weight, mid.bias))
    torch.testing.assert_close(gelu(x), expected, rtol=1e-12, atol=1e-12)
    expected_plain = plain.m2(F.layer_norm(plain.m1(x), (48,), mid.weight, mid.bias))
    torch.testing.assert_close(plain(x), expected_plain, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(gelu(x), plain(x))


def test_memoryformer_block_has_no_fully_connected_layer():
    blk = MemoryFormerBlock(MemoryFormerConfig(hidden_size=64, heads=4, tau=8), device="meta")
    assert not any(isinstance(m, torch.nn.Linear) for m in blk.modules())
    assert len([m for m in blk.modules() if isinstance(m, MemoryLayer)]) == 5
    assert set(blk.memory_layers()) == {"q", "k", "v", "m1", "m2"}


# --- Transformer block ------------------------------------------------------------------------------

def manual_transformer(blk, x, parallel):
    b, t, d = x.shape
    heads = blk.config.heads
    x2 = x.reshape(b * t, d)

    def attention(inp):
        h = F.layer_norm(inp, (d,), blk.attn_norm.weight, blk.attn_norm.bias)
        qkv = h @ blk.qkv.weight.T + blk.qkv.bias
        q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
        return manual_causal_attention(q, k, v, b, heads) @ blk.out.weight.T + blk.out.bias

    def ffn(inp):
        h = F.layer_norm(inp, (d,), blk.ffn_norm.weight, blk.ffn_norm.bias)
        u = h @ blk.fc1.weight.T + blk.fc1.bias
        u = 0.5 * u * (1 + torch.erf(u / math.sqrt(2)))
        return u @ blk.fc2.weight.T + blk.fc2.bias

    if parallel:
        y = x2 + attention(x2) + ffn(x2)
    else:
        z = x2 + attention(x2)
        y = z + ffn(z)
    return y.reshape(b, t, d)


def test_transformer_block_parallel_vs_sequential():
    par = randomize(TransformerBlock(TransformerConfig(hidden_size=32, heads=4), dtype=torch.float64))
    seq = TransformerBlock(TransformerConfig(hidden_size=32, heads=4, parallel_residual=False), dtype=torch.float64)
    seq.load_state_dict(par.state_dict())
    x = torch.randn(2, 7, 32, dtype=torch.float64)
    y_par, y_seq = par(x), seq(x)
    assert y_par.shape == y_seq.shape == x.shape
    torch.testing.assert_close(y_par, manual_transformer(par, x, True), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(y_seq, manual_transformer(seq, x, False), rtol=1e-10, atol=1e-10)
    assert (y_par - y_seq).abs().max() > 1e-3


def test_transformer_default_is_parallel_residual_with_4x_ffn():
    cfg = TransformerConfig()
    assert cfg.parallel_residual is True  # Pythia
    blk = TransformerBlock(TransformerConfig(hidden_size=64, heads=4), device="meta")
    assert blk.fc1.weight.shape == (256, 64) and blk.fc2.weight.shape == (64, 256)
    assert blk.qkv.weight.shape == (192, 64) and blk.out.weight.shape == (64, 64)


def test_transformer_block_backward():
    blk = randomize(TransformerBlock(TransformerConfig(hidden_size=32, heads=2)))
    x = torch.randn(3, 4, 32, requires_grad=True)
    blk(x).square().mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, p in blk.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_attention_is_causal():
    blk = randomize(MemoryFormerBlock(MemoryFormerConfig(hidden_size=32, heads=4, tau=4), dtype=torch.float64))
    x = torch.randn(1, 6, 32, dtype=torch.float64)
    y = blk(x)
    x2 = x.clone()
    x2[:, 4:] = torch.randn(1, 2, 32, dtype=torch.float64)
    y2 = blk(x2)
    torch.testing.assert_close(y[:, :4], y2[:, :4], rtol=0, atol=1e-12)
    assert not torch.allclose(y[:, 4:], y2[:, 4:])


# --- presets (Table 1, typed in from the reference) ------------------------------------------------

TABLE1 = {
    # name: (kind, layers, hidden, heads, tau, K, e)
    "pythia-70m": ("transformer", 6, 512, 8, None, None, None),
    "pythia-160m": ("transformer", 12, 768, 12, None, None, None),
    "pythia-410m": ("transformer", 24, 1024, 16, None, None, None),
    "memoryformer-tiny": ("memoryformer", 6, 512, 8, 8, 64, 2),
    "memoryformer-small": ("memoryformer", 12, 768, 12, 8, 96, 2),
    "memoryformer-base": ("memoryformer", 24, 1024, 16, 8, 128, 2),
}


def test_presets_cover_table1_exactly():
    assert set(models.PRESETS) == set(TABLE1)


@pytest.mark.parametrize("name", sorted(TABLE1))
def test_preset_values(name):
    kind, layers, hidden, heads, tau, k, e = TABLE1[name]
    p = get_preset(name)
    assert (p.name, p.kind, p.layers, p.hidden_size, p.heads) == (name, kind, layers, hidden, heads)
    assert (p.tau, p.num_chunks, p.expand_bits) == (tau, k, e)
    cfg = p.block_config()
    blk = build_block(cfg, device="meta")
    assert blk.config.hidden_size == hidden and blk.config.heads == heads
    if kind == "memoryformer":
        assert isinstance(blk, MemoryFormerBlock)
        assert (cfg.tau, cfg.num_chunks, cfg.expand_bits) == (tau, k, e)
        assert blk.q.tables.shape == (k * 2 ** tau, hidden)
        assert blk.memory_block.m2.tables.shape == (k * 2 ** (tau + e), hidden)
    else:
        assert isinstance(blk, TransformerBlock)
        assert blk.config.parallel_residual is True


def test_memoryformer_presets_share_layers_and_widths_with_pythia():
    for small, big in [("memoryformer-tiny", "pythia-70m"), ("memoryformer-small", "pythia-160m"),
                       ("memoryformer-base", "pythia-410m")]:
        a, b = get_preset(small), get_preset(big)
        assert (a.layers, a.hidden_size, a.heads) == (b.layers, b.hidden_size, b.heads)


def test_table5_memory_block_storage_of_tiny():
    # Table 5, e = 2: 64 tables of 256 x 640 (M1) and 64 of 1024 x 512 (M2), fp16 -> 88.1 MB.
    cfg = get_preset("memoryformer-tiny").block_config()
    mb = MemoryBlock(cfg, device="meta", dtype=torch.float16)
    total = sum(l.tables.numel() * 2 for l in (mb.m1, mb.m2))
    assert round(total / 1e6, 1) == 88.1


def test_unknown_preset_and_config():
    with pytest.raises(ValueError, match="nope"):
        get_preset("nope")
    with pytest.raises(TypeError, match="dict"):
        build_block({"hidden_size": 64})
