"""MemoryFormer block (reference section 2): Memory Layers replace every fully-connected layer."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.attention import KVCache, cached_attention, causal_attention, check_heads
from models.custom_ops import WEIGHTINGS
from models.memory_layer import MAX_TAU, MemoryLayer, check_memory_layer_shape
from models.norms import check_norm, make_norm
from models.rotary import apply_rotary, rotary_dims


@dataclass(frozen=True)
class MemoryFormerConfig:
    """Defaults: the block as the paper sketches it (LayerNorm, no rotary, no Memory Layer bias, sequential
    residual), which its FLOP formulas count. The released configs differ: see models.presets."""
    hidden_size: int = 512
    heads: int = 8
    tau: int = 8
    expand_bits: int = 2
    temperature: float = 1.0
    weighting: str = "paper"
    gelu: bool = False  # Table 6: a GeLU between M1 and M2 changes nothing measurable; off by default
    share_qkv_hash: bool = True  # the paper hashes Norm(X) once for Q, K and V; False hashes it three times
    norm: str = "layernorm"  # the two block norms; the Memory Block's mid norm is a LayerNorm either way
    rotary_pct: float = 0.0  # rotary on this share of each head's dims of q and k (0 = off)
    memory_bias: bool = False  # a bias vector added to every Memory Layer's output
    parallel_residual: bool = False  # True: Y = X + MHA(Norm(X)) + MemoryBlock(Norm(X)) (GPT-J style)

    def __post_init__(self):
        check_heads(self.hidden_size, self.heads)
        check_norm(self.norm)
        rotary_dims(self.hidden_size // self.heads, self.rotary_pct)
        check_memory_layer_shape(self.hidden_size, self.hidden_size, self.tau)
        if self.expand_bits < 0 or self.tau + self.expand_bits > MAX_TAU:
            raise ValueError(f"expand_bits must be >= 0 with tau + expand_bits <= {MAX_TAU} (M2 hashes chunks of "
                             f"tau + expand_bits bits), given tau={self.tau}, expand_bits={self.expand_bits}")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, given {self.weighting!r}")

    @property
    def num_chunks(self) -> int:
        return self.hidden_size // self.tau

    @property
    def rotary_dims(self) -> int:
        return rotary_dims(self.hidden_size // self.heads, self.rotary_pct)

    @property
    def memory_block_width(self) -> int:
        """Width of M1's output, (tau + e) * K: M2 reads it as K chunks of tau + e bits."""
        return (self.tau + self.expand_bits) * self.num_chunks


class MemoryBlock(nn.Module):
    """The FFN replacement: M2(Norm(M1(x))), M1: d -> (tau+e)K, M2: K chunks of (tau+e) bits -> d."""

    def __init__(self, config: MemoryFormerConfig, device=None, dtype=None):
        super().__init__()
        c, kw = config, dict(device=device, dtype=dtype)
        layer_kw = dict(temperature=c.temperature, weighting=c.weighting, bias=c.memory_bias, **kw)
        self.gelu = c.gelu
        self.m1 = MemoryLayer(c.hidden_size, c.memory_block_width, c.tau, **layer_kw)
        # a LayerNorm even when the block norms are RMSNorms: the released code's Memory Block is
        # nn.Sequential(MemoryLayer, nn.LayerNorm, MemoryLayer)
        self.mid_norm = nn.LayerNorm(c.memory_block_width, **kw)
        self.m2 = MemoryLayer(c.memory_block_width, c.hidden_size, c.tau + c.expand_bits, **layer_kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.m1(x)  # (..., (tau+e)K)
        if self.gelu:
            h = F.gelu(h)
        return self.m2(self.mid_norm(h))  # (..., d)


class MemoryFormerBlock(nn.Module):
    """Z = X + MHA(Q, K, V) (no output projection; Q, K, V share one hash); Y = Z + MemoryBlock(Norm(Z)).
    With rotary, q and k are rotated between their lookups and attention; with parallel_residual,
    Y = X + MHA(..Norm(X)..) + MemoryBlock(Norm(X))."""

    def __init__(self, config: MemoryFormerConfig, device=None, dtype=None):
        super().__init__()
        self.config = c = config
        kw = dict(device=device, dtype=dtype)
        layer_kw = dict(temperature=c.temperature, weighting=c.weighting, bias=c.memory_bias, **kw)
        self.attn_norm = make_norm(c.norm, c.hidden_size, **kw)
        self.q = MemoryLayer(c.hidden_size, c.hidden_size, c.tau, **layer_kw)
        self.k = MemoryLayer(c.hidden_size, c.hidden_size, c.tau, **layer_kw)
        self.v = MemoryLayer(c.hidden_size, c.hidden_size, c.tau, **layer_kw)
        self.ffn_norm = make_norm(c.norm, c.hidden_size, **kw)
        self.memory_block = MemoryBlock(c, **kw)

    def memory_layers(self) -> dict[str, MemoryLayer]:
        return {"q": self.q, "k": self.k, "v": self.v, "m1": self.memory_block.m1, "m2": self.memory_block.m2}

    def forward(self, x: torch.Tensor, cache: KVCache | None = None):
        """x (B, T, d) -> y (B, T, d); with a cache (decode: T new tokens after cache.length cached ones),
        (y, the cache with their k, v appended). The Memory Layers see only the new tokens."""
        c = self.config
        batch, seq_len, d = x.shape
        x2 = x.reshape(batch * seq_len, d)  # (B*T, d)
        h = self.attn_norm(x2)
        if c.share_qkv_hash:
            hashed = self.q.hash(h)  # one hash of Norm(X) serves Q, K and V (same sizes, same tau)
            q, k, v = self.q(h, hashed), self.k(h, hashed), self.v(h, hashed)  # 3 x (B*T, d)
        else:
            q, k, v = self.q(h), self.k(h), self.v(h)
        q, k = apply_rotary(q, k, batch, c.heads, c.rotary_dims, offset=0 if cache is None else cache.length)
        if cache is None:
            a = causal_attention(q, k, v, batch, c.heads)
        else:
            a, cache = cached_attention(q, k, v, cache, c.heads)
        z = x2 + a
        y = z + self.memory_block(self.ffn_norm(x2 if c.parallel_residual else z))
        y = y.view(batch, seq_len, d)
        return y if cache is None else (y, cache)
