"""KV cache (models/attention.py): a decode step with the cache gives what the full sequence gives at its last
positions, for both block kinds with rotary on. The expected values come from running the whole sequence
without a cache (a different code path: one causal attention over everything, rotary from position 0) and
from attention written out in loops, never from the cached path itself."""
from __future__ import annotations

import math

import pytest
import torch

import models
from models import KVCache, MemoryFormerConfig, TransformerConfig
from models.custom_ops import cached_attention_op
from models.rotary import apply_rotary
from tests.models.test_blocks import randomize

D, HEADS = 32, 4  # head_dim 8: rotary_pct 0.25 rotates 2 dims, 1.0 all 8


def block(kind, rotary_pct, parallel, bias=True):
    if kind == "transformer":
        cfg = TransformerConfig(D, HEADS, rotary_pct=rotary_pct, parallel_residual=parallel, norm="rmsnorm",
                                linear_bias=bias)
    else:
        cfg = MemoryFormerConfig(D, HEADS, tau=4, expand_bits=2, rotary_pct=rotary_pct, parallel_residual=parallel,
                                 norm="rmsnorm", memory_bias=bias, weighting="official")
    torch.manual_seed(1)
    return randomize(models.build_block(cfg, dtype=torch.float64))


@pytest.mark.parametrize("kind", ["transformer", "memoryformer"])
@pytest.mark.parametrize("rotary_pct", [0.25, 1.0])
@pytest.mark.parametrize("parallel", [False, True])
def test_decode_with_cache_equals_the_full_sequence(kind, rotary_pct, parallel):
    blk = block(kind, rotary_pct, parallel)
    batch, prompt, steps = 3, 7, 5
    torch.manual_seed(2)
    x = torch.randn(batch, prompt + steps + 3, D, dtype=torch.float64)
    full = blk(x)  # no cache: every position at once
    cache = KVCache.empty(batch, x.shape[1], D, dtype=torch.float64)
    y, cache = blk(x[:, :prompt], cache)  # prefill that fills the cache
    torch.testing.assert_close(y, full[:, :prompt], rtol=1e-9, atol=1e-9)
    for t in range(prompt, prompt + steps):  # plain decoding: one token per step
        y, cache = blk(x[:, t:t + 1], cache)
        torch.testing.assert_close(y, full[:, t:t + 1], rtol=1e-9, atol=1e-9)
    y, cache = blk(x[:, prompt + steps:], cache)  # three new tokens at once: causal among themselves
    torch.testing.assert_close(y, full[:, prompt + steps:], rtol=1e-9, atol=1e-9)
    assert cache.length == x.shape[1]


@pytest.mark.parametrize("kind", ["transformer", "memoryformer"])
def test_the_cache_holds_rotated_keys_whatever_the_step_sizes(kind):
    # gpt-neox caches k after rotary: the cache filled token by token equals the one a single prefill fills
    blk = block(kind, 0.25, kind == "transformer")
    x = torch.randn(2, 9, D, dtype=torch.float64)
    one = KVCache.empty(2, 9, D, dtype=torch.float64)
    _, one = blk(x, one)
    steps = KVCache.empty(2, 9, D, dtype=torch.float64)
    for t in range(9):
        _, steps = blk(x[:, t:t + 1], steps)
    torch.testing.assert_close(steps.k, one.k, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(steps.v, one.v, rtol=1e-12, atol=1e-12)
    # and the keys differ from unrotated ones (the rotation really happened at positions > 0)
    if kind == "transformer":
        k_plain = blk.qkv(blk.attn_norm(x.reshape(18, D))).split(D, -1)[1].reshape(2, 9, D)
        assert torch.allclose(one.k[:, 0], k_plain[:, 0])  # position 0: rotation by angle 0
        assert not torch.allclose(one.k[:, 1:], k_plain[:, 1:])


def loop_attention(q, k, v, heads, cache_len):
    """Attention written out query by query: the query at position cache_len + i sees keys 0 .. cache_len + i."""
    batch, keys, d = k.shape
    t, dh = q.shape[0] // batch, d // heads
    out = torch.zeros_like(q).reshape(batch, t, d)
    qb = q.reshape(batch, t, d)
    for b in range(batch):
        for h in range(heads):
            cols = slice(h * dh, (h + 1) * dh)
            for i in range(t):
                visible = cache_len + i + 1
                scores = torch.tensor([float(qb[b, i, cols] @ k[b, j, cols]) / math.sqrt(dh) for j in range(visible)],
                                      dtype=q.dtype)
                p = torch.softmax(scores, 0)
                out[b, i, cols] = sum(p[j] * v[b, j, cols] for j in range(visible))
    return out.reshape(batch * t, d)


@pytest.mark.parametrize("cache_len,t", [(0, 4), (5, 1), (5, 3)])
def test_cached_attention_op_sees_the_cache_and_is_causal_among_new_tokens(cache_len, t):
    batch = 2
    q = torch.randn(batch * t, D, dtype=torch.float64)
    k, v = torch.randn(2, batch, cache_len + t, D, dtype=torch.float64)
    torch.testing.assert_close(cached_attention_op(q, k, v, HEADS), loop_attention(q, k, v, HEADS, cache_len),
                               rtol=1e-10, atol=1e-10)


def test_rotary_offset_continues_the_positions():
    batch, total, first = 2, 10, 6
    q, k = torch.randn(2, batch * total, D, dtype=torch.float64)
    q_all, k_all = apply_rotary(q, k, batch, HEADS, 8)
    rows = lambda a: a.reshape(batch, total, D)[:, first:].reshape(-1, D)  # noqa: E731
    q_tail, k_tail = apply_rotary(rows(q), rows(k), batch, HEADS, 8, offset=first)
    torch.testing.assert_close(q_tail, rows(q_all))
    torch.testing.assert_close(k_tail, rows(k_all))


def test_cache_overflow_and_bad_shapes_are_named():
    cache = KVCache.empty(2, 4, D)
    with pytest.raises(ValueError, match="exceed its capacity 4"):
        cache.append(torch.zeros(2 * 5, D), torch.zeros(2 * 5, D))
    with pytest.raises(ValueError, match=r"expected k, v of shape \(batch \* T, 32\)"):
        cache.append(torch.zeros(3, D), torch.zeros(3, D))
    with pytest.raises(ValueError, match="must be positive"):
        KVCache.empty(0, 4, D)
    # a step returns a longer cache and leaves the one it was given as it was (frozen; shared buffers)
    longer = cache.append(torch.ones(2, D), torch.ones(2, D))
    assert (cache.length, longer.length) == (0, 1) and longer.k is cache.k


def test_table2_baselines_refuse_a_cache():
    # their attentions (Linformer's projections over the sequence, cosFormer, Performer) have no KV cache here
    blk = models.build_block(models.CosFormerConfig(D, HEADS))
    with pytest.raises(ValueError, match="modelled for softmax attention only"):
        blk(torch.randn(1, 2, D), KVCache.empty(1, 4, D))
