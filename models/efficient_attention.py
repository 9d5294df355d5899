"""The efficient attentions of the paper's Table 2 (Linformer, cosFormer, Performer) as torch.library ops.

Each runs as ONE custom op, as causal_attention does, so that a dispatch-level tracer and torch's
FlopCounterMode see one attention op (not the dozen products and elementwise ops inside), on real and on
meta tensors alike. Inputs are q, k, v as (B*T, d) rows; heads split d into d_h = d / heads.

All three are the bidirectional (unmasked) forms. Linformer cannot be causal (E and F mix every position);
the linear attentions are computed KV-first: a (features x d_h) state per head, then each query against
it, which is what makes them linear in T.

- Linformer (Wang et al. 2020): K' = E K, V' = F V with E, F (k x T) learned, shared by the heads
  ("headwise sharing"); softmax(Q K'^T / sqrt(d_h)) V'.
- cosFormer (Qin et al. 2022): ReLU feature maps and the cos re-weighting cos(pi/2 (i - j) / M), M = T,
  split by cos(a - b) = cos a cos b + sin a sin b into two linear-attention terms: the features
  [relu(x_i) sin(pi i / 2M), relu(x_i) cos(pi i / 2M)] (2 d_h of them, positions i = 1..T, as the
  authors' code).
- Performer (Choromanski et al. 2021), FAVOR+: phi(x) = exp(W x - |x|^2 / 2) / sqrt(m) on x scaled by
  d_h^-1/4 (so phi(q).phi(k) estimates exp(q.k / sqrt(d_h))), W (m x d_h) orthogonal random features shared
  by the heads. A per-row max (queries) and a per-head max (keys) are subtracted before exp: constant
  factors that cancel in the normalised output, kept for the range of exp.

FLOPs (registered with torch's FlopCounter; workloads.flops states the same conventions and a test holds
them equal): 2 per multiply-add; per element 6 for softmax, 3 for the cosFormer feature map (relu,
x sin, x cos), 3 per input element (scale by d_h^-1/4, square, sum) and 5 per feature (max, subtract the
half squared norm, subtract the max, exp, scale by 1/sqrt(m)) for FAVOR+,
1 for each sum and each divide of the normalisation.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import register_flop_formula

SOFTMAX_FLOPS_PER_SCORE = 6
COSFORMER_FEATURE_FLOPS_PER_ELEMENT = 3
PERFORMER_FLOPS_PER_INPUT_ELEMENT = 3
PERFORMER_FLOPS_PER_FEATURE = 5
NORMALISER_EPS = 1e-6  # the linear attentions' denominators are clamped to at least this (cosFormer's code)


def _heads(x: torch.Tensor, batch: int, heads: int) -> torch.Tensor:
    """(B*T, d) -> (B, H, T, d_h)."""
    n, d = x.shape
    return x.reshape(batch, n // batch, heads, d // heads).transpose(1, 2)


def _merge(y: torch.Tensor) -> torch.Tensor:
    """(B, H, T, d_h) -> (B*T, d)."""
    b, h, t, dh = y.shape
    return y.transpose(1, 2).reshape(b * t, h * dh).contiguous()


def linear_attention_kv_first(qf: torch.Tensor, kf: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """qf, kf (B, H, T, f) non-negative features, v (B, H, T, d_h) -> (B, H, T, d_h):
    qf_i (sum_j kf_j^T v_j) / qf_i . sum_j kf_j, never forming the T x T matrix."""
    kv = kf.transpose(-1, -2) @ v  # (B, H, f, d_h)
    ksum = kf.sum(-2)  # (B, H, f)
    num = qf @ kv  # (B, H, T, d_h)
    den = (qf * ksum.unsqueeze(-2)).sum(-1, keepdim=True)  # (B, H, T, 1)
    return num / den.clamp_min(NORMALISER_EPS)


# --- Linformer --------------------------------------------------------------------------------------

def _linformer_reference(q, k, v, e_proj, f_proj, batch: int, heads: int):
    n, d = q.shape
    t = n // batch
    kp = e_proj @ k.reshape(batch, t, d)  # (B, k, d): E K per sequence
    vp = f_proj @ v.reshape(batch, t, d)  # (B, k, d)
    kp4, vp4 = (x.reshape(batch, -1, heads, d // heads).transpose(1, 2) for x in (kp, vp))  # (B, H, k, d_h)
    y = F.scaled_dot_product_attention(_heads(q, batch, heads), kp4, vp4)  # (B, H, T, d_h), no mask
    return _merge(y)


@torch.library.custom_op("hwsim::linformer_attention", mutates_args=())
def linformer_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, e_proj: torch.Tensor,
                        f_proj: torch.Tensor, batch: int, heads: int) -> torch.Tensor:
    """q, k, v (B*T, d), e_proj, f_proj (k, T) -> softmax(Q (E K)^T / sqrt(d_h)) (F V) as (B*T, d)."""
    return _linformer_reference(q, k, v, e_proj, f_proj, batch, heads)


@linformer_attention.register_fake
def _(q, k, v, e_proj, f_proj, batch, heads):
    return torch.empty_like(q)


def linformer_flops(batch: int, seq_len: int, hidden_size: int, heads: int, proj_len: int) -> int:
    """E K and F V (B k T d MACs each), Q K'^T and P V' (B T k d each), softmax on B H T k scores."""
    n = batch * seq_len
    return 2 * (4 * n * proj_len * hidden_size) + SOFTMAX_FLOPS_PER_SCORE * n * heads * proj_len


@register_flop_formula(torch.ops.hwsim.linformer_attention)
def _linformer_flop_formula(q_shape, k_shape, v_shape, e_shape, f_shape, batch, heads, out_shape=None, **kw):
    return linformer_flops(batch, q_shape[0] // batch, q_shape[1], heads, e_shape[0])


# --- cosFormer --------------------------------------------------------------------------------------

def cosformer_features(x4: torch.Tensor) -> torch.Tensor:
    """(B, H, T, d_h) -> (B, H, T, 2 d_h): [relu(x_i) sin(pi i / 2T), relu(x_i) cos(pi i / 2T)], i = 1..T."""
    t = x4.shape[-2]
    angle = (math.pi / 2) * torch.arange(1, t + 1, device=x4.device, dtype=x4.dtype).unsqueeze(-1) / t  # (T, 1)
    r = F.relu(x4)
    return torch.cat([r * torch.sin(angle), r * torch.cos(angle)], -1)


def _wide(x: torch.Tensor) -> torch.Tensor:
    """At least fp32 inside the linear attentions: their sums over T lose too much in 16 bits."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _cosformer_reference(q, k, v, batch: int, heads: int):
    dtype = q.dtype
    q4, k4, v4 = (_heads(_wide(x), batch, heads) for x in (q, k, v))
    y = linear_attention_kv_first(cosformer_features(q4), cosformer_features(k4), v4)
    return _merge(y).to(dtype)


@torch.library.custom_op("hwsim::cosformer_attention", mutates_args=())
def cosformer_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, batch: int, heads: int) -> torch.Tensor:
    """q, k, v (B*T, d) -> cosFormer linear attention (bidirectional, KV-first) as (B*T, d)."""
    return _cosformer_reference(q, k, v, batch, heads)


@cosformer_attention.register_fake
def _(q, k, v, batch, heads):
    return torch.empty_like(q)


def cosformer_flops(batch: int, seq_len: int, hidden_size: int, heads: int) -> int:
    """Feature maps (3 per element of q and k); with f = 2 d_h features: the state kf^T v and the numerator
    qf (kf^T v), n H f d_h MACs each; sum of kf (n H f adds); the denominator qf . ksum (n H f MACs);
    one divide per output element."""
    n, d = batch * seq_len, hidden_size
    dh = d // heads
    f_total = n * heads * 2 * dh  # feature elements of q (or of k)
    return (COSFORMER_FEATURE_FLOPS_PER_ELEMENT * 2 * n * d + 2 * (2 * f_total * dh) + f_total + 2 * f_total + n * d)


@register_flop_formula(torch.ops.hwsim.cosformer_attention)
def _cosformer_flop_formula(q_shape, k_shape, v_shape, batch, heads, out_shape=None, **kw):
    return cosformer_flops(batch, q_shape[0] // batch, q_shape[1], heads)


# --- Performer (FAVOR+) -----------------------------------------------------------------------------

def orthogonal_random_features(features: int, head_dim: int, generator=None, dtype=None) -> torch.Tensor:
    """W (m, d_h): stacked blocks of d_h orthogonal rows (Haar-random, from the QR of a Gaussian matrix), each
    row rescaled to the norm of a Gaussian row, so that each row is marginally N(0, I) (FAVOR+'s positive
    orthogonal features)."""
    blocks = []
    for _ in range(-(-features // head_dim)):
        g = torch.randn(head_dim, head_dim, generator=generator, dtype=torch.float64)
        q, r = torch.linalg.qr(g)
        # signs of R's diagonal fixed to +: without this Q is not uniformly (Haar) distributed, and the
        # feature directions are biased (Mezzadri 2007); so would be the kernel estimate
        blocks.append((q * torch.sign(torch.diagonal(r))).T)
    w = torch.cat(blocks)[:features]
    norms = torch.randn(features, head_dim, generator=generator, dtype=torch.float64).norm(dim=1, keepdim=True)
    return (w * norms).to(dtype or torch.get_default_dtype())


def performer_features(x4: torch.Tensor, w: torch.Tensor, is_query: bool) -> torch.Tensor:
    """(B, H, T, d_h) -> (B, H, T, m): exp(W x - |x|^2 / 2 - max) / sqrt(m), x scaled by d_h^-1/4."""
    dh, m = x4.shape[-1], w.shape[0]
    x4 = x4 * dh ** -0.25
    wx = x4 @ w.T  # (B, H, T, m)
    half_sq = x4.square().sum(-1, keepdim=True) / 2  # (B, H, T, 1)
    stab = wx.amax(-1, keepdim=True) if is_query else wx.amax((-2, -1), keepdim=True)
    return torch.exp(wx - half_sq - stab) * m ** -0.5


def _performer_reference(q, k, v, projection, batch: int, heads: int):
    dtype = q.dtype
    w = _wide(projection)
    q4, k4, v4 = (_heads(_wide(x), batch, heads) for x in (q, k, v))
    y = linear_attention_kv_first(performer_features(q4, w, True), performer_features(k4, w, False), v4)
    return _merge(y).to(dtype)


@torch.library.custom_op("hwsim::performer_attention", mutates_args=())
def performer_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, projection: torch.Tensor, batch: int,
                        heads: int) -> torch.Tensor:
    """q, k, v (B*T, d), projection W (m, d_h) -> FAVOR+ linear attention (bidirectional) as (B*T, d)."""
    return _performer_reference(q, k, v, projection, batch, heads)


@performer_attention.register_fake
def _(q, k, v, projection, batch, heads):
    return torch.empty_like(q)


def performer_flops(batch: int, seq_len: int, hidden_size: int, heads: int, features: int) -> int:
    """W q and W k (n d m MACs each), the feature maps (3 per input element, 5 per feature), the state
    phi(k)^T v and the numerator phi(q) (phi(k)^T v) (n d m MACs each), sum of phi(k) (n H m adds), the
    denominator (n H m MACs) and one divide per output element."""
    n, d, m = batch * seq_len, hidden_size, features
    phi = n * heads * m  # feature elements of q (or of k)
    return (2 * (2 * n * d * m) + PERFORMER_FLOPS_PER_INPUT_ELEMENT * 2 * n * d + PERFORMER_FLOPS_PER_FEATURE * 2 * phi
            + 2 * (2 * n * d * m) + phi + 2 * phi + n * d)


@register_flop_formula(torch.ops.hwsim.performer_attention)
def _performer_flop_formula(q_shape, k_shape, v_shape, w_shape, batch, heads, out_shape=None, **kw):
    return performer_flops(batch, q_shape[0] // batch, q_shape[1], heads, w_shape[0])


# --- autograd: recompute the reference under autograd (these ops exist to be counted and timed) -------

def _recompute_backward(reference, n_tensors: int):
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs[:n_tensors])
        ctx.rest = inputs[n_tensors:]

    def backward(ctx, grad_out):
        tensors = [t.detach().requires_grad_(t.is_floating_point()) for t in ctx.saved_tensors]
        with torch.enable_grad():
            out = reference(*tensors, *ctx.rest)
            grads = torch.autograd.grad(out, tensors, grad_out, allow_unused=True)
        return (*grads, *([None] * len(ctx.rest)))

    return backward, setup_context


for _op, _ref, _n in ((linformer_attention, _linformer_reference, 5), (cosformer_attention, _cosformer_reference, 3),
                      (performer_attention, _performer_reference, 4)):
    _bw, _setup = _recompute_backward(_ref, _n)
    _op.register_autograd(_bw, setup_context=_setup)
