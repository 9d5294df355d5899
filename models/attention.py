"""Multi-head causal self-attention core shared by both blocks (no projections here)."""
from __future__ import annotations

import torch

from models.custom_ops import causal_attention_op


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, batch: int, heads: int) -> torch.Tensor:
    """q, k, v (B*T, d) -> softmax(q k^T / sqrt(d_head)) v, causal, as (B*T, d)."""
    return causal_attention_op(q, k, v, batch, heads)


def check_heads(hidden_size: int, heads: int) -> None:
    if heads <= 0 or hidden_size % heads:
        raise ValueError(f"heads must divide hidden_size, given hidden_size={hidden_size}, heads={heads}")
