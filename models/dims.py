"""Shape rules shared by the models and the closed-form workloads, with no torch import (a sweep that
builds workloads in closed form must not pay for importing torch)."""
from __future__ import annotations


def rotary_dims(head_dim: int, rotary_pct) -> int:
    """int(head_dim * rotary_pct), as gpt-neox; 0 turns rotary off. Must be even (rotate_half halves it)."""
    if isinstance(rotary_pct, bool) or not isinstance(rotary_pct, (int, float)) or not 0 <= rotary_pct <= 1:
        raise ValueError(f"rotary_pct must be a number in [0, 1] (0 = no rotary), given {rotary_pct!r}")
    dims = int(head_dim * rotary_pct)
    if rotary_pct > 0 and (dims < 2 or dims % 2):
        raise ValueError(f"rotary_pct={rotary_pct} of head_dim={head_dim} gives {dims} rotary dims; rotate_half "
                         f"needs an even number of at least 2")
    return dims
