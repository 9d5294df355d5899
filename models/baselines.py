"""The paper's Table 2 baselines: Pythia blocks whose attention is Linformer, cosFormer or Performer.

The paper (section 3.2) "replace[s] the multi-head attention module of Pythia" with each method and keeps
everything else: fused QKV, output projection, FFN d -> 4d -> d with GeLU, LayerNorm, parallel residual.
So each block here is a TransformerBlock with a different attention core (models.efficient_attention).
The paper gives no projection length k (Linformer) nor number of random features m (Performer); the
defaults are 256 each, the values the original papers use most (Linformer: k = 256; Performer: m = 256).
Rotary embeddings are off: none of the three methods uses them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.efficient_attention import (cosformer_attention, linformer_attention, orthogonal_random_features,
                                        performer_attention)
from models.transformer import TransformerBlock, TransformerConfig


def _check_no_rotary(config) -> None:
    if config.rotary_pct:
        raise ValueError(f"{type(config).__name__}: rotary_pct must be 0 (the efficient attentions take no rotary "
                         f"embeddings), given {config.rotary_pct}")


def _check_positive(config, **values) -> None:
    for key, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(f"{type(config).__name__}: {key} must be a positive integer, given {key}={v!r}")


@dataclass(frozen=True)
class LinformerConfig(TransformerConfig):
    proj_len: int = 256  # k: K and V are projected from T rows to k
    max_seq_len: int = 2048  # E and F are (k, max_seq_len); shorter sequences use their first T columns

    def __post_init__(self):
        super().__post_init__()
        _check_no_rotary(self)
        _check_positive(self, proj_len=self.proj_len, max_seq_len=self.max_seq_len)


@dataclass(frozen=True)
class CosFormerConfig(TransformerConfig):
    def __post_init__(self):
        super().__post_init__()
        _check_no_rotary(self)


@dataclass(frozen=True)
class PerformerConfig(TransformerConfig):
    features: int = 256  # m random features per head (W is shared by the heads)
    feature_seed: int = 0  # draws W (fixed at inference; training would redraw it now and then)

    def __post_init__(self):
        super().__post_init__()
        _check_no_rotary(self)
        _check_positive(self, features=self.features)


class LinformerBlock(TransformerBlock):
    def __init__(self, config: LinformerConfig, device=None, dtype=None):
        super().__init__(config, device=device, dtype=dtype)
        kw = dict(device=device, dtype=dtype)
        self.e_proj = nn.Parameter(torch.empty(config.proj_len, config.max_seq_len, **kw))  # (k, T_max)
        self.f_proj = nn.Parameter(torch.empty(config.proj_len, config.max_seq_len, **kw))  # (k, T_max)
        if self.e_proj.device.type != "meta":
            # each projected row sums T rows: scale like a fan-in of T
            nn.init.normal_(self.e_proj, std=config.max_seq_len ** -0.5)
            nn.init.normal_(self.f_proj, std=config.max_seq_len ** -0.5)

    def attention(self, x2: torch.Tensor, batch: int) -> torch.Tensor:
        c = self.config
        seq_len = x2.shape[0] // batch
        if seq_len > c.max_seq_len:
            raise ValueError(f"LinformerBlock: sequence of {seq_len} tokens is longer than max_seq_len={c.max_seq_len}")
        q, k, v = self.qkv(self.attn_norm(x2)).split(c.hidden_size, -1)  # 3 x (B*T, d)
        e, f = self.e_proj[:, :seq_len], self.f_proj[:, :seq_len]  # (k, T) each
        return self.out(linformer_attention(q, k, v, e, f, batch, c.heads))


class CosFormerBlock(TransformerBlock):
    def attention(self, x2: torch.Tensor, batch: int) -> torch.Tensor:
        q, k, v = self.qkv(self.attn_norm(x2)).split(self.config.hidden_size, -1)  # 3 x (B*T, d)
        return self.out(cosformer_attention(q, k, v, batch, self.config.heads))


class PerformerBlock(TransformerBlock):
    def __init__(self, config: PerformerConfig, device=None, dtype=None):
        super().__init__(config, device=device, dtype=dtype)
        dh = config.hidden_size // config.heads
        # a parameter (not a buffer) so that tracers count it as weights; never trained
        self.projection = nn.Parameter(torch.empty(config.features, dh, device=device, dtype=dtype),
                                       requires_grad=False)  # W (m, d_h)
        if self.projection.device.type != "meta":
            gen = torch.Generator().manual_seed(config.feature_seed)
            with torch.no_grad():
                self.projection.copy_(orthogonal_random_features(config.features, dh, gen))

    def attention(self, x2: torch.Tensor, batch: int) -> torch.Tensor:
        q, k, v = self.qkv(self.attn_norm(x2)).split(self.config.hidden_size, -1)  # 3 x (B*T, d)
        return self.out(performer_attention(q, k, v, self.projection, batch, self.config.heads))


# config type -> block type (models.build_block looks here before the Transformer, their base class)
BASELINE_BLOCKS = {LinformerConfig: LinformerBlock, CosFormerConfig: CosFormerBlock, PerformerConfig: PerformerBlock}
