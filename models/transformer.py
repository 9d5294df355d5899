"""Baseline Transformer block, Pythia / GPT-NeoX style (reference section 2)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.attention import KVCache, cached_attention, causal_attention, check_heads
from models.norms import check_norm, make_norm
from models.rotary import apply_rotary, rotary_dims


@dataclass(frozen=True)
class TransformerConfig:
    """Defaults: the block the paper's formulas count (LayerNorm, no rotary, biases, parallel residual);
    Pythia itself adds rotary on 25% of head dims (models.presets)."""
    hidden_size: int = 512
    heads: int = 8
    ffn_mult: int = 4
    parallel_residual: bool = True  # Pythia: attention and FFN both read the block input
    norm: str = "layernorm"
    rotary_pct: float = 0.0  # rotary on this share of each head's dims of q and k (0 = off)
    linear_bias: bool = True  # biases on the four Linear layers (Pythia has them)

    def __post_init__(self):
        check_heads(self.hidden_size, self.heads)
        check_norm(self.norm)
        rotary_dims(self.hidden_size // self.heads, self.rotary_pct)

    @property
    def rotary_dims(self) -> int:
        return rotary_dims(self.hidden_size // self.heads, self.rotary_pct)


class TransformerBlock(nn.Module):
    """Fused QKV, (rotary on q, k), causal attention, output projection, FFN d -> 4d -> d with GeLU."""

    def __init__(self, config: TransformerConfig, device=None, dtype=None):
        super().__init__()
        self.config = config
        d, f = config.hidden_size, config.ffn_mult * config.hidden_size
        kw = dict(device=device, dtype=dtype)
        bias = config.linear_bias
        self.attn_norm = make_norm(config.norm, d, **kw)
        self.qkv = nn.Linear(d, 3 * d, bias=bias, **kw)
        self.out = nn.Linear(d, d, bias=bias, **kw)
        self.ffn_norm = make_norm(config.norm, d, **kw)
        self.fc1 = nn.Linear(d, f, bias=bias, **kw)
        self.fc2 = nn.Linear(f, d, bias=bias, **kw)

    def qkv_rotated(self, x2: torch.Tensor, batch: int, offset: int = 0):
        """q, k, v (B*T, d) of the rows of x2, q and k rotated at positions offset, offset + 1, ..."""
        c = self.config
        q, k, v = self.qkv(self.attn_norm(x2)).split(c.hidden_size, -1)  # 3 x (B*T, d)
        q, k = apply_rotary(q, k, batch, c.heads, c.rotary_dims, offset)
        return q, k, v

    def attention(self, x2: torch.Tensor, batch: int) -> torch.Tensor:
        q, k, v = self.qkv_rotated(x2, batch)
        return self.out(causal_attention(q, k, v, batch, self.config.heads))

    def decode_attention(self, x2: torch.Tensor, batch: int, cache: KVCache):
        """The new tokens' attention over the cache and themselves -> (output (B*T, d), the longer cache)."""
        if type(self).attention is not TransformerBlock.attention:  # a Table 2 baseline's own attention
            raise ValueError(f"{type(self).__name__}: decoding with a KV cache is modelled for softmax attention only")
        q, k, v = self.qkv_rotated(x2, batch, offset=cache.length)
        y, cache = cached_attention(q, k, v, cache, self.config.heads)
        return self.out(y), cache

    def ffn(self, x2: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(self.ffn_norm(x2))))

    def forward(self, x: torch.Tensor, cache: KVCache | None = None):
        """x (B, T, d) -> y (B, T, d); with a cache (decode: T new tokens after cache.length cached ones),
        (y, the cache with them appended)."""
        batch, seq_len, d = x.shape
        x2 = x.reshape(batch * seq_len, d)  # (B*T, d)
        a, cache = (self.attention(x2, batch), None) if cache is None else self.decode_attention(x2, batch, cache)
        if self.config.parallel_residual:
            y = x2 + a + self.ffn(x2)
        else:
            h = x2 + a
            y = h + self.ffn(h)
        y = y.view(batch, seq_len, d)
        return y if cache is None else (y, cache)
