"""Multi-head causal self-attention core shared by both blocks (no projections here), and the KV cache.

KV cache, GPT-NeoX style: each layer keeps the keys (after rotary) and values of every token so far; a
decode step computes q, k, v for its new tokens only, appends k and v, and attends over the whole cache.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from models.custom_ops import cached_attention_op, causal_attention_op, kv_append_op


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, batch: int, heads: int) -> torch.Tensor:
    """q, k, v (B*T, d) -> softmax(q k^T / sqrt(d_head)) v, causal, as (B*T, d)."""
    return causal_attention_op(q, k, v, batch, heads)


def check_heads(hidden_size: int, heads: int) -> None:
    if heads <= 0 or hidden_size % heads:
        raise ValueError(f"heads must divide hidden_size, given hidden_size={hidden_size}, heads={heads}")


@dataclass(frozen=True)
class KVCache:
    """One layer's cache: keys (after rotary) and values in (B, capacity, d) buffers, of which the first
    `length` rows per sequence are filled. A step writes its new rows in place and returns the cache one
    step longer (the buffers are shared, as a static cache preallocates them; nothing is re-copied)."""
    k: torch.Tensor  # (B, capacity, d)
    v: torch.Tensor  # (B, capacity, d)
    length: int = 0

    @classmethod
    def empty(cls, batch: int, capacity: int, width: int, device=None, dtype=None) -> "KVCache":
        if batch <= 0 or capacity <= 0 or width <= 0:
            raise ValueError(f"KVCache: batch, capacity and width must be positive, given "
                             f"batch={batch}, capacity={capacity}, width={width}")
        return cls(torch.zeros(batch, capacity, width, device=device, dtype=dtype),
                   torch.zeros(batch, capacity, width, device=device, dtype=dtype), 0)

    @property
    def capacity(self) -> int:
        return self.k.shape[1]

    def append(self, k: torch.Tensor, v: torch.Tensor) -> "KVCache":
        """k, v (B*T, d) of T new tokens per sequence -> the cache with them in rows length .. length + T - 1."""
        batch, _, d = self.k.shape
        if k.shape != v.shape or k.dim() != 2 or k.shape[1] != d or k.shape[0] % batch:
            raise ValueError(f"KVCache: expected k, v of shape (batch * T, {d}) with batch {batch}, "
                             f"given {tuple(k.shape)} and {tuple(v.shape)}")
        t = k.shape[0] // batch
        if self.length + t > self.capacity:
            raise ValueError(f"KVCache: {self.length} cached + {t} new tokens exceed its capacity {self.capacity}")
        kv_append_op(self.k, self.v, k, v, self.length)
        return KVCache(self.k, self.v, self.length + t)


def cached_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cache: KVCache,
                     heads: int) -> tuple[torch.Tensor, KVCache]:
    """q, k, v (B*T, d) of the new tokens (k already rotated) -> (attention output (B*T, d), the cache with
    k and v appended). The T queries see every cached token and, causally, each other."""
    cache = cache.append(k, v)
    keys, values = cache.k[:, :cache.length], cache.v[:, :cache.length]  # (B, L + T, d) views
    return cached_attention_op(q, keys, values, heads), cache
