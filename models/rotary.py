"""Rotary position embeddings, GPT-NeoX style, on the first `rotary_dims` of each head of q and k.

Pythia and the released MemoryFormer configs set `rotary-pct: 0.25`: rotary_dims = int(head_dim * 0.25)
(gpt-neox's rule), the rest of each head passes through. For a head slice x (its first rotary_dims) at
position t: x' = x * cos(t f) + rotate_half(x) * sin(t f), rotate_half(x) = cat(-x[r/2:], x[:r/2]),
f_i = base^(-2i / r) repeated twice (cat(freqs, freqs)), base 10000 (gpt-neox `rotary_emb_base`).

q and k go through ONE custom op, `hwsim::rotary`, so a traced block shows one rotary op, not the
dozen small ops eager PyTorch runs for it (the lowering in hwsim puts those kernels back).
`offset` is the position of the first row: a decode step with a KV cache of L tokens rotates its new
tokens at positions L, L+1, ... (gpt-neox's `offset = layer_past[0].shape[-2]`).
"""
from __future__ import annotations

import torch
from torch.utils.flop_counter import register_flop_formula

from models.dims import rotary_dims  # noqa: F401  (the rule lives where workloads can read it)

ROTARY_BASE = 10000.0
# Exact FLOPs: 3.5 per rotated element, 7 per pair (x_i, x_i+r/2): two * cos, two * sin, two adds and the
# negation rotate_half applies to one of the two. The cos/sin tables are cached in a model (computed once,
# not per call) and the passed-through dims are copies. workloads.flops holds the same count (tested).
ROTARY_FLOPS_PER_ROTATED_PAIR = 7


def cos_sin(seq_len: int, dims: int, base: float, dtype, device, start: int = 0):
    """The (T, r) tables gpt-neox caches, rows for positions start .. start + T - 1, in the model's dtype
    (computed in fp32 as gpt-neox does; in fp64 for an fp64 model)."""
    work = torch.float64 if dtype == torch.float64 else torch.float32
    inv_freq = 1.0 / base ** (torch.arange(0, dims, 2, device=device, dtype=work) / dims)  # (r/2,)
    positions = torch.arange(start, start + seq_len, device=device, dtype=work)  # (T,)
    freqs = torch.outer(positions, inv_freq)  # (T, r/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (T, r)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, batch: int, heads: int) -> torch.Tensor:
    """x (B*T, d), cos/sin (T, r) -> x with each head's first r entries rotated by table row t = row % T,
    op for op as gpt-neox's apply_rotary_pos_emb_torch (and the cat of the passed-through dims)."""
    n, d = x.shape
    seq_len, head_dim, dims = n // batch, d // heads, cos.shape[-1]
    cos, sin = cos[None, :, None, :], sin[None, :, None, :]  # (1, T, 1, r)
    x4 = x.reshape(batch, seq_len, heads, head_dim)  # (B, T, H, dh)
    rot, rest = x4[..., :dims], x4[..., dims:]
    out = rot * cos + rotate_half(rot) * sin
    if dims < head_dim:
        out = torch.cat((out, rest), dim=-1)
    return out.reshape(n, d)


def _rotary_reference(x: torch.Tensor, batch: int, heads: int, dims: int, base: float,
                      offset: int = 0) -> torch.Tensor:
    cos, sin = cos_sin(x.shape[0] // batch, dims, base, x.dtype, x.device, start=offset)
    return rotate(x, cos, sin, batch, heads)


@torch.library.custom_op("hwsim::rotary", mutates_args=())
def rotary_op(q: torch.Tensor, k: torch.Tensor, batch: int, heads: int, dims: int,
              base: float, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """q, k (B*T, d) -> q, k with rotary embeddings on the first `dims` of each head, the T rows of each
    sequence at positions offset .. offset + T - 1."""
    return (_rotary_reference(q, batch, heads, dims, base, offset),
            _rotary_reference(k, batch, heads, dims, base, offset))


@rotary_op.register_fake
def _(q, k, batch, heads, dims, base, offset=0):
    return torch.empty_like(q), torch.empty_like(k)


def _rotary_setup_context(ctx, inputs, output):
    q, k, batch, heads, dims, base, *offset = inputs  # offset is left out where it is the default 0
    offset = offset[0] if offset else 0
    ctx.args = (batch, heads, dims, base, offset)


def _rotary_backward(ctx, grad_q, grad_k):
    # The rotation is orthogonal: its transpose is the rotation by -t, i.e. sin -> -sin. Recompute
    # through autograd on a dummy input instead of writing that out (this path only serves training).
    batch, heads, dims, base, offset = ctx.args
    out = []
    for g in (grad_q, grad_k):
        x = torch.zeros_like(g, requires_grad=True)
        with torch.enable_grad():
            (gx,) = torch.autograd.grad(_rotary_reference(x, batch, heads, dims, base, offset), x, g)
        out.append(gx)
    return out[0], out[1], None, None, None, None, None


rotary_op.register_autograd(_rotary_backward, setup_context=_rotary_setup_context)


def rotary_flops(tokens: int, heads: int, dims: int, tensors: int = 2) -> int:
    return ROTARY_FLOPS_PER_ROTATED_PAIR * tensors * tokens * heads * (dims // 2)


@register_flop_formula(torch.ops.hwsim.rotary)
def _rotary_flop_formula(q_shape, k_shape, batch, heads, dims, base, offset=0, out_shape=None, **kwargs) -> int:
    return rotary_flops(q_shape[0], heads, dims)


def apply_rotary(q: torch.Tensor, k: torch.Tensor, batch: int, heads: int, dims: int, offset: int = 0):
    """q, k (B*T, d) -> rotated q, k (each sequence's rows at positions offset, offset + 1, ...); dims = 0
    leaves them as they are (no op runs)."""
    if dims == 0:
        return q, k
    return rotary_op(q, k, batch, heads, dims, ROTARY_BASE, offset)
