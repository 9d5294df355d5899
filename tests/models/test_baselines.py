"""The Table 2 baselines (Linformer, cosFormer, Performer), checked against hand-written forms of each attention.

Each reference here is written from the method's definition (the papers' formulas), in float64, with the
T x T attention matrix formed explicitly: the models compute KV-first and never form it.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import models
from models import (CosFormerBlock, CosFormerConfig, LinformerBlock, LinformerConfig, PerformerBlock, PerformerConfig,
                    TransformerBlock, TransformerConfig)
from models.efficient_attention import (cosformer_attention, linformer_attention, orthogonal_random_features,
                                        performer_attention)

torch.manual_seed(0)
B, T, D, H = 2, 12, 32, 4
DH = D // H


def heads(x):
    """(B*T, d) -> (B, H, T, d_h)."""
    return x.reshape(B, -1, H, DH).permute(0, 2, 1, 3)


def merge(y):
    return y.permute(0, 2, 1, 3).reshape(-1, D)


def softmax_attention(q, k, v):
    """Bidirectional softmax(q k^T / sqrt(d_h)) v per head, q (B*T, d), k and v (B*S, d)."""
    q4, k4, v4 = heads(q), heads(k), heads(v)
    p = torch.softmax(q4 @ k4.transpose(-1, -2) / math.sqrt(DH), -1)  # (B, H, T, S)
    return merge(p @ v4)


def normalised(a, v4):
    """out_i = sum_j a_ij v_j / sum_j a_ij: the QK-first form of a linear attention."""
    return merge((a @ v4) / a.sum(-1, keepdim=True))


def qkv(n=B * T, positive_heads=False):
    q, k, v = (torch.randn(n, D, dtype=torch.float64) for _ in range(3))
    if positive_heads:
        # every head of q and k has one positive coordinate in common, so relu(q_i) . relu(k_j) > 0
        q[:, ::DH], k[:, ::DH] = q[:, ::DH].abs() + 0.1, k[:, ::DH].abs() + 0.1
    return q, k, v


# --- Linformer -------------------------------------------------------------------------------------------

def test_linformer_with_identity_projections_is_softmax_attention():
    # k = T and E = F = I: K' = K and V' = V, so Linformer is plain (unmasked) softmax attention
    q, k, v = qkv()
    eye = torch.eye(T, dtype=torch.float64)
    torch.testing.assert_close(linformer_attention(q, k, v, eye, eye, B, H), softmax_attention(q, k, v))


def test_linformer_projects_keys_and_values_along_the_sequence():
    proj = 5
    q, k, v = qkv()
    e, f = torch.randn(proj, T, dtype=torch.float64), torch.randn(proj, T, dtype=torch.float64)
    kp = torch.cat([e @ k[b * T:(b + 1) * T] for b in range(B)])  # (B*k, d): E K per sequence, by hand
    vp = torch.cat([f @ v[b * T:(b + 1) * T] for b in range(B)])
    torch.testing.assert_close(linformer_attention(q, k, v, e, f, B, H), softmax_attention(q, kp, vp))


# --- cosFormer -------------------------------------------------------------------------------------------

def test_cosformer_kv_first_equals_qk_first():
    q, k, v = qkv(positive_heads=True)
    i = torch.arange(1, T + 1, dtype=torch.float64)
    reweight = torch.cos(math.pi / 2 * (i[:, None] - i[None, :]) / T)  # cos(pi/2 (i - j) / M), M = T
    a = (F.relu(heads(q)) @ F.relu(heads(k)).transpose(-1, -2)) * reweight  # (B, H, T, T)
    torch.testing.assert_close(cosformer_attention(q, k, v, B, H), normalised(a, heads(v)))


def test_cosformer_ignores_negative_parts():
    # the ReLU feature map: the negative coordinates of q and k change nothing
    q, k, v = qkv(positive_heads=True)
    more_negative = lambda x: torch.where(x < 0, 3 * x, x)  # noqa: E731
    torch.testing.assert_close(cosformer_attention(q, k, v, B, H),
                               cosformer_attention(more_negative(q), more_negative(k), v, B, H))


# --- Performer -------------------------------------------------------------------------------------------

def favor_features(x4, w):
    """phi(x) = exp(W x - |x|^2 / 2) / sqrt(m), x scaled by d_h^-1/4 (FAVOR+, no stabiliser)."""
    x4 = x4 * DH ** -0.25
    return torch.exp(x4 @ w.T - x4.square().sum(-1, keepdim=True) / 2) / math.sqrt(w.shape[0])


def test_performer_kv_first_equals_qk_first():
    q, k, v = qkv()
    w = orthogonal_random_features(24, DH, torch.Generator().manual_seed(1), torch.float64)
    a = favor_features(heads(q), w) @ favor_features(heads(k), w).transpose(-1, -2)  # (B, H, T, T)
    torch.testing.assert_close(performer_attention(q, k, v, w, B, H), normalised(a, heads(v)))


def test_performer_estimates_softmax_attention():
    # phi(q) . phi(k) is an unbiased estimate of exp(q . k / sqrt(d_h)); with many features the normalised
    # output approaches softmax attention (inputs kept small: the estimator's variance grows like
    # exp(|q|^2 + |k|^2)). The yardstick: attention that ignores q and k (the mean of v) misses by `blind`.
    q, k, v = qkv()
    q, k = 0.3 * q, 0.3 * k
    w = orthogonal_random_features(4096, DH, torch.Generator().manual_seed(2), torch.float64)
    approx, exact = performer_attention(q, k, v, w, B, H), softmax_attention(q, k, v)
    blind = merge(heads(v).mean(-2, keepdim=True).expand(-1, -1, T, -1))
    error = (approx - exact).abs().mean() / exact.abs().mean()
    assert error < 0.025
    assert error < (blind - exact).abs().mean() / exact.abs().mean() / 3


def test_orthogonal_random_features_are_orthogonal_blocks_of_gaussian_norm():
    w = orthogonal_random_features(20, 8, torch.Generator().manual_seed(0), torch.float64)
    assert w.shape == (20, 8)
    for start in (0, 8):  # full blocks of d_h rows: orthogonal
        blk = w[start:start + 8]
        gram = blk @ blk.T
        torch.testing.assert_close(gram - torch.diag(gram.diagonal()), torch.zeros(8, 8, dtype=torch.float64))
    # row norms are those of Gaussian rows: chi with 8 degrees of freedom, mean about sqrt(8)
    assert 1.5 < w.norm(dim=1).mean() < 4.0


# --- blocks --------------------------------------------------------------------------------------------

def randomize(module):
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.5 if p.ndim == 1 else 1.0 / math.sqrt(p.shape[-1]))
    return module


def hand_block(blk, x, core):
    """Pythia's parallel-residual block with `core(q, k, v)` in place of causal attention."""
    b, t, d = x.shape
    x2 = x.reshape(b * t, d)
    h = F.layer_norm(x2, (d,), blk.attn_norm.weight, blk.attn_norm.bias)
    q, k, v = (h @ blk.qkv.weight.T + blk.qkv.bias).split(d, -1)
    attn = core(q, k, v) @ blk.out.weight.T + blk.out.bias
    u = F.layer_norm(x2, (d,), blk.ffn_norm.weight, blk.ffn_norm.bias) @ blk.fc1.weight.T + blk.fc1.bias
    ffn = F.gelu(u) @ blk.fc2.weight.T + blk.fc2.bias
    return (x2 + attn + ffn).reshape(b, t, d)


def test_linformer_block_is_pythia_with_projected_keys_and_values():
    blk = randomize(LinformerBlock(LinformerConfig(D, H, proj_len=4, max_seq_len=20), dtype=torch.float64))
    x = torch.randn(B, T, D, dtype=torch.float64)
    e, f = blk.e_proj[:, :T], blk.f_proj[:, :T]  # a sequence shorter than max_seq_len uses the first T columns

    def core(q, k, v):
        kp = torch.cat([e @ k[i * T:(i + 1) * T] for i in range(B)])
        vp = torch.cat([f @ v[i * T:(i + 1) * T] for i in range(B)])
        return softmax_attention(q, kp, vp)

    torch.testing.assert_close(blk(x), hand_block(blk, x, core))


@pytest.mark.parametrize("block_type,config,op", [
    (CosFormerBlock, CosFormerConfig(D, H), lambda blk: lambda q, k, v: cosformer_attention(q, k, v, B, H)),
    (PerformerBlock, PerformerConfig(D, H, features=16),
     lambda blk: lambda q, k, v: performer_attention(q, k, v, blk.projection, B, H)),
])
def test_linear_attention_blocks_keep_pythias_block(block_type, config, op):
    blk = randomize(block_type(config, dtype=torch.float64))
    x = torch.randn(B, T, D, dtype=torch.float64)
    torch.testing.assert_close(blk(x), hand_block(blk, x, op(blk)))
    # same parameters as a TransformerBlock, apart from the attention's own (Performer's fixed W)
    own = {n for n, _ in TransformerBlock(TransformerConfig(D, H), device="meta").named_parameters()}
    assert {n for n, _ in blk.named_parameters()} - own == ({"projection"} if block_type is PerformerBlock else set())


@pytest.mark.parametrize("config", [LinformerConfig(D, H, proj_len=4, max_seq_len=T), CosFormerConfig(D, H),
                                    PerformerConfig(D, H, features=16)])
def test_baseline_blocks_backward(config):
    blk = randomize(models.build_block(config))
    x = torch.randn(B, T, D, requires_grad=True)
    blk(x).square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, p in blk.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    if isinstance(blk, PerformerBlock):
        assert not blk.projection.requires_grad  # random features are drawn, not trained


def test_build_block_picks_the_baseline_over_its_transformer_base():
    for config, cls in [(LinformerConfig(D, H), LinformerBlock), (CosFormerConfig(D, H), CosFormerBlock),
                        (PerformerConfig(D, H), PerformerBlock), (TransformerConfig(D, H), TransformerBlock)]:
        assert type(models.build_block(config, device="meta")) is cls


@pytest.mark.parametrize("make,needle", [
    (lambda: LinformerConfig(D, H, rotary_pct=0.25), "rotary_pct must be 0"),
    (lambda: LinformerConfig(D, H, proj_len=0), "proj_len must be a positive integer"),
    (lambda: PerformerConfig(D, H, features=-3), "features must be a positive integer"),
    (lambda: CosFormerConfig(D, 5), "heads must divide hidden_size"),
])
def test_baseline_config_errors(make, needle):
    with pytest.raises(ValueError, match=needle):
        make()


def test_linformer_rejects_a_sequence_longer_than_its_projections():
    blk = LinformerBlock(LinformerConfig(D, H, proj_len=4, max_seq_len=8))
    with pytest.raises(ValueError, match="longer than max_seq_len=8"):
        blk(torch.randn(1, 9, D))
