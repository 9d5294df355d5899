"""The two custom ops of a Memory Layer: the sign-bit hash and the weighted table lookup.

Both are registered with `torch.library` so that a dispatch-level tracer and
`torch.utils.flop_counter.FlopCounterMode` each see ONE hash op and ONE lookup op (with its
indices), not a pile of small elementwise and gather kernels. Each op has a fake (meta) kernel, so
blocks can be traced on meta tensors, an autograd formula, and a registered FLOP formula.

FLOP conventions (documented in the README, shared with `workloads.flops`):
- lookup: K weighted rows of width h summed per token = one multiply-add per element,
  2 * N * K * h FLOPs exact, N * K * h in the paper's convention (1 MAC = 1 FLOP).
- hash: per element of the input, HASH_FLOPS_PER_ELEMENT exact FLOPs (see below); the paper counts
  N * K * tau.
"""
from __future__ import annotations

import torch
from torch.utils.flop_counter import register_flop_formula

# Exact FLOPs per input element of the hash: sign test (1), bit shift-or into the bucket id (2),
# abs (1), scale by 2/t (1), sigmoid (4: negate, exp, add, reciprocal), product accumulate (1).
HASH_FLOPS_PER_ELEMENT = 10
# The "official" weighting multiplies p by the chunk's L1 norm: one add per element, one mul per chunk.
HASH_OFFICIAL_FLOPS_PER_ELEMENT = 1
HASH_OFFICIAL_FLOPS_PER_CHUNK = 1

WEIGHTINGS = ("paper", "official")


def _hash_reference(x: torch.Tensor, tau: int, temperature: float, official: bool):
    """Plain-torch hash; also the backward's recompute. x: (N, K * tau)."""
    n, d = x.shape
    z = x.view(n, d // tau, tau)  # (N, K, tau)
    # Entry 0 is the most significant bit, as in the paper's figures and official code.
    bit_values = 2 ** torch.arange(tau - 1, -1, -1, device=x.device, dtype=torch.int64)
    buckets = ((z >= 0).to(torch.int64) * bit_values).sum(-1)  # (N, K)
    # Global row ids into the stacked [K * 2^tau, h] table: k * 2^tau + bucket.
    row_ids = buckets + torch.arange(d // tau, device=x.device, dtype=torch.int64) * 2 ** tau
    zf = z.float() if z.dtype in (torch.float16, torch.bfloat16) else z
    # log p = sum_i log sigmoid(2|z_i|/t): the closed form of the softmax over all sign patterns.
    weights = torch.exp(torch.nn.functional.logsigmoid(2 * zf.abs() / temperature).sum(-1))  # (N, K)
    if official:
        weights = weights * zf.abs().sum(-1)
    return row_ids, weights.to(x.dtype)


@torch.library.custom_op("hwsim::sign_hash", mutates_args=())
def sign_hash(x: torch.Tensor, tau: int, temperature: float, official: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """x (N, K*tau) -> row ids k * 2^tau + bucket (N, K) int64 and weights p (N, K) in x's dtype."""
    return _hash_reference(x, tau, temperature, official)


@sign_hash.register_fake
def _(x, tau, temperature, official):
    n, d = x.shape
    return x.new_empty((n, d // tau), dtype=torch.int64), x.new_empty((n, d // tau))


def _hash_setup_context(ctx, inputs, output):
    x, tau, temperature, official = inputs
    ctx.save_for_backward(x)
    ctx.tau, ctx.temperature, ctx.official = tau, temperature, official


def _hash_backward(ctx, grad_buckets, grad_weights):
    (x,) = ctx.saved_tensors
    tau, t = ctx.tau, ctx.temperature
    n, d = x.shape
    z = x.view(n, d // tau, tau)  # (N, K, tau)
    s = torch.sigmoid(2 * z.abs() / t)
    p = s.prod(-1, keepdim=True)  # (N, K, 1)
    # d p / d z_i = p * (1 - sigmoid(2|z_i|/t)) * 2 sign(z_i) / t
    dp_dz = p * (1 - s) * 2 * torch.sign(z) / t
    if ctx.official:
        l1 = z.abs().sum(-1, keepdim=True)
        dw_dz = dp_dz * l1 + p * torch.sign(z)
    else:
        dw_dz = dp_dz
    grad_x = (grad_weights.unsqueeze(-1) * dw_dz).reshape(n, d)
    return grad_x.to(x.dtype), None, None, None


sign_hash.register_autograd(_hash_backward, setup_context=_hash_setup_context)


@torch.library.custom_op("hwsim::table_lookup", mutates_args=())
def table_lookup(tables: torch.Tensor, row_ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """tables (R, h), row_ids (N, K) global row ids, weights (N, K) -> sum_k weights * tables[row_ids] (N, h)."""
    n, k = row_ids.shape
    offsets = torch.arange(n, device=row_ids.device, dtype=torch.int64) * k
    # embedding_bag never materialises the (N, K, h) gather, unlike tables[row_ids].
    return torch.nn.functional.embedding_bag(
        row_ids.reshape(-1), tables, offsets, mode="sum", per_sample_weights=weights.reshape(-1).to(tables.dtype)
    )


@table_lookup.register_fake
def _(tables, row_ids, weights):
    return tables.new_empty((row_ids.shape[0], tables.shape[1]))


def _lookup_setup_context(ctx, inputs, output):
    tables, row_ids, weights = inputs
    ctx.save_for_backward(tables, row_ids, weights)


def _lookup_backward(ctx, grad_out):
    tables, row_ids, weights = ctx.saved_tensors
    n, k = row_ids.shape
    grad_tables = grad_weights = None
    if ctx.needs_input_grad[0]:
        # Only the selected rows receive gradient: p * dL/dy, accumulated where rows repeat.
        contrib = (weights.unsqueeze(-1).to(grad_out.dtype) * grad_out.unsqueeze(1)).reshape(n * k, -1)  # (N*K, h)
        grad_tables = torch.zeros_like(tables).index_add_(0, row_ids.reshape(-1), contrib.to(tables.dtype))
    if ctx.needs_input_grad[2]:
        rows = tables[row_ids]  # (N, K, h)
        grad_weights = (rows * grad_out.unsqueeze(1).to(rows.dtype)).sum(-1).to(weights.dtype)  # (N, K)
    return grad_tables, None, grad_weights


table_lookup.register_autograd(_lookup_backward, setup_context=_lookup_setup_context)


def lookup_flops(tokens: int, chunks: int, width: int) -> int:
    return 2 * tokens * chunks * width


def hash_flops(tokens: int, d_in: int, tau: int, official: bool) -> int:
    flops = HASH_FLOPS_PER_ELEMENT * tokens * d_in
    if official:
        flops += HASH_OFFICIAL_FLOPS_PER_ELEMENT * tokens * d_in + HASH_OFFICIAL_FLOPS_PER_CHUNK * tokens * (d_in // tau)
    return flops


@register_flop_formula(torch.ops.hwsim.table_lookup)
def _lookup_flop_formula(tables_shape, row_ids_shape, weights_shape, out_shape=None, **kwargs) -> int:
    return lookup_flops(row_ids_shape[0], row_ids_shape[1], tables_shape[1])


@register_flop_formula(torch.ops.hwsim.sign_hash)
def _hash_flop_formula(x_shape, tau, temperature, official, out_shape=None, **kwargs) -> int:
    return hash_flops(x_shape[0], x_shape[1], tau, official)


# Attention runs as one op too: on real tensors PyTorch picks a fused kernel, on meta tensors it would
# decompose into a dozen math ops; wrapping it keeps a traced block the same op list on both.
# Exact softmax FLOPs per score: scale, max, subtract, exp, sum, divide.
SOFTMAX_FLOPS_PER_SCORE = 6


@torch.library.custom_op("hwsim::causal_attention", mutates_args=())
def causal_attention_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, batch: int, heads: int) -> torch.Tensor:
    """q, k, v (B*T, d) -> causal softmax(q k^T / sqrt(d_head)) v as (B*T, d)."""
    n, d = q.shape
    seq_len = n // batch
    q4, k4, v4 = (t.reshape(batch, seq_len, heads, d // heads).transpose(1, 2) for t in (q, k, v))  # (B, H, T, dh)
    y = torch.nn.functional.scaled_dot_product_attention(q4, k4, v4, is_causal=True)  # (B, H, T, dh)
    return y.transpose(1, 2).reshape(n, d).contiguous()  # (B*T, d)


@causal_attention_op.register_fake
def _(q, k, v, batch, heads):
    return torch.empty_like(q)


def _attention_setup_context(ctx, inputs, output):
    q, k, v, batch, heads = inputs
    ctx.save_for_backward(q, k, v)
    ctx.batch, ctx.heads = batch, heads


def _attention_backward(ctx, grad_out):
    q, k, v = (t.detach().requires_grad_(True) for t in ctx.saved_tensors)
    with torch.enable_grad():
        n, d = q.shape
        seq_len = n // ctx.batch
        q4, k4, v4 = (t.reshape(ctx.batch, seq_len, ctx.heads, d // ctx.heads).transpose(1, 2) for t in (q, k, v))
        out = torch.nn.functional.scaled_dot_product_attention(q4, k4, v4, is_causal=True)
        out = out.transpose(1, 2).reshape(n, d)
        grads = torch.autograd.grad(out, (q, k, v), grad_out)
    return (*grads, None, None)


causal_attention_op.register_autograd(_attention_backward, setup_context=_attention_setup_context)


def attention_flops(batch: int, seq_len: int, hidden_size: int, heads: int, keys: int | None = None) -> int:
    """Dense count of seq_len query rows against `keys` keys (default seq_len), as the paper and torch's
    FlopCounter do (a causal kernel may skip the masked scores)."""
    keys = seq_len if keys is None else keys
    matmuls = 2 * 2 * batch * seq_len * keys * hidden_size  # Q K^T and P V, 2 FLOPs per multiply-add
    return matmuls + SOFTMAX_FLOPS_PER_SCORE * batch * heads * seq_len * keys


@register_flop_formula(torch.ops.hwsim.causal_attention)
def _attention_flop_formula(q_shape, k_shape, v_shape, batch, heads, out_shape=None, **kwargs) -> int:
    return attention_flops(batch, q_shape[0] // batch, q_shape[1], heads)


# --- decode with a KV cache (models.attention.KVCache) ---------------------------------------------

@torch.library.custom_op("hwsim::kv_append", mutates_args=("k_cache", "v_cache"))
def kv_append_op(k_cache: torch.Tensor, v_cache: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                 start: int) -> None:
    """Write the new tokens' k, v (B*T, d) into rows start .. start + T - 1 of the caches (B, capacity, d),
    in place, as a static cache (and vLLM's reshape_and_cache) does: only the new rows move."""
    batch, _, d = k_cache.shape
    t = k.shape[0] // batch
    k_cache[:, start:start + t].copy_(k.view(batch, t, d))  # (B, T, d)
    v_cache[:, start:start + t].copy_(v.view(batch, t, d))


@kv_append_op.register_fake
def _(k_cache, v_cache, k, v, start):
    return None


def lower_right_causal_attention(q4: torch.Tensor, k4: torch.Tensor, v4: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(dh)) v for T queries that are the LAST T of the S keys' positions: query i sees
    keys 0 .. S - T + i (causal within the new tokens, everything cached before them)."""
    t, s = q4.shape[-2], k4.shape[-2]
    if t == 1:  # one new token sees the whole cache: nothing to mask
        return torch.nn.functional.scaled_dot_product_attention(q4, k4, v4)
    if t == s:  # no cache before them: the plain causal mask
        return torch.nn.functional.scaled_dot_product_attention(q4, k4, v4, is_causal=True)
    # (is_causal=True would align the mask top-left, i.e. hide the cache from the first queries)
    mask = torch.ones(t, s, dtype=torch.bool, device=q4.device).tril(diagonal=s - t)  # (T, S)
    return torch.nn.functional.scaled_dot_product_attention(q4, k4, v4, attn_mask=mask)


@torch.library.custom_op("hwsim::cached_attention", mutates_args=())
def cached_attention_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """q (B*T, d), the new tokens; k, v (B, S, d), the cache's first S = L + T rows (the new tokens' keys and
    values last) -> attention output (B*T, d). The cache rows are a view of the cache, never copied."""
    batch, keys, d = k.shape
    n = q.shape[0]
    t, dh = n // batch, d // heads
    q4 = q.reshape(batch, t, heads, dh).transpose(1, 2)  # (B, H, T, dh)
    k4, v4 = (x.reshape(batch, keys, heads, dh).transpose(1, 2) for x in (k, v))  # (B, H, S, dh)
    y = lower_right_causal_attention(q4, k4, v4)  # (B, H, T, dh)
    return y.transpose(1, 2).reshape(n, d).contiguous()  # (B*T, d)


@cached_attention_op.register_fake
def _(q, k, v, heads):
    return torch.empty_like(q)


@register_flop_formula(torch.ops.hwsim.cached_attention)
def _cached_attention_flop_formula(q_shape, k_shape, v_shape, heads, out_shape=None, **kwargs) -> int:
    batch, keys, d = k_shape
    return attention_flops(batch, q_shape[0] // batch, d, heads, keys)
