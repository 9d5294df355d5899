"""The block norms: LayerNorm (Pythia, the paper's sketch) or RMSNorm as gpt-neox runs it (the released
MemoryFormer configs set `"norm": "rmsnorm"`).

RMSNorm runs as one custom op, `hwsim::rms_norm`, so that a dispatch-level tracer and torch's FlopCounter
see one norm (as they see one `native_layer_norm`), not the five small ops that compute it. Its formula
is gpt-neox's (megatron/model/norms.py, RMSNorm): y = scale * x / (||x||_2 / sqrt(d) + eps), eps added
to the RMS, outside the root, eps = 1e-8 (gpt-neox's default `rms_norm_epsilon`), no shift.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import register_flop_formula

NORMS = ("layernorm", "rmsnorm")
RMS_NORM_EPS = 1e-8
# Exact FLOPs per element (the same convention as LayerNorm's 8): square, sum, divide by the RMS,
# scale, + 1 shared (the per-row root, 1/sqrt(d) and + eps spread over the row). workloads.flops holds
# the same number; a test checks they agree.
RMSNORM_FLOPS_PER_ELEMENT = 5


def check_norm(norm) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, given {norm!r}")


def _rms_norm_reference(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # gpt-neox, op for op (eager: vector_norm, mul, add, div, mul = 5 kernels)
    rms = x.norm(2, dim=-1, keepdim=True) * x.shape[-1] ** -0.5
    return weight * (x / (rms + eps))


@torch.library.custom_op("hwsim::rms_norm", mutates_args=())
def rms_norm_op(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """x (..., d), weight (d,) -> weight * x / (||x|| / sqrt(d) + eps)."""
    return _rms_norm_reference(x, weight, eps)


@rms_norm_op.register_fake
def _(x, weight, eps):
    return torch.empty_like(x)


def _rms_setup_context(ctx, inputs, output):
    x, weight, eps = inputs
    ctx.save_for_backward(x, weight)
    ctx.eps = eps


def _rms_backward(ctx, grad_out):
    x, weight = (t.detach().requires_grad_(True) for t in ctx.saved_tensors)
    with torch.enable_grad():
        grads = torch.autograd.grad(_rms_norm_reference(x, weight, ctx.eps), (x, weight), grad_out)
    return grads[0], grads[1], None


rms_norm_op.register_autograd(_rms_backward, setup_context=_rms_setup_context)


def rms_norm_flops(elements: int) -> int:
    return RMSNORM_FLOPS_PER_ELEMENT * elements


@register_flop_formula(torch.ops.hwsim.rms_norm)
def _rms_flop_formula(x_shape, weight_shape, eps, out_shape=None, **kwargs) -> int:
    n = 1
    for s in x_shape:
        n *= s
    return rms_norm_flops(n)


class RMSNorm(nn.Module):
    """gpt-neox RMSNorm over the last dim: a learned scale (initialised to 1), no shift."""

    def __init__(self, width: int, eps: float = RMS_NORM_EPS, device=None, dtype=None):
        super().__init__()
        self.width, self.eps = width, eps
        self.weight = nn.Parameter(torch.ones(width, device=device, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm_op(x, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.width}, eps={self.eps}"


def make_norm(norm: str, width: int, device=None, dtype=None) -> nn.Module:
    check_norm(norm)
    if norm == "rmsnorm":
        return RMSNorm(width, device=device, dtype=dtype)
    return nn.LayerNorm(width, device=device, dtype=dtype)
