"""PyTorch models of MemoryFormer, its Transformer baseline and the paper's Table 2 baselines (Linformer,
cosFormer, Performer). Knows nothing of workloads or hwsim.

Names load lazily (PEP 562): the presets (`PRESETS`, `get_preset`) are plain dataclasses, and a sweep that only
needs a preset's sizes must not pay the seconds torch takes to import."""
from __future__ import annotations

import importlib

_WHERE = {"KVCache": "attention", "MemoryLayer": "memory_layer", "MemoryBlock": "memoryformer", "MemoryFormerBlock": "memoryformer",
          "MemoryFormerConfig": "memoryformer", "TransformerBlock": "transformer", "TransformerConfig": "transformer",
          "PRESETS": "presets", "ModelPreset": "presets", "get_preset": "presets", "build_block": "presets",
          "RMSNorm": "norms", "NORMS": "norms",
          **{n: "baselines" for n in ("LinformerBlock", "LinformerConfig", "CosFormerBlock", "CosFormerConfig",
                                      "PerformerBlock", "PerformerConfig")}}
_SUBMODULES = ("attention", "baselines", "custom_ops", "dims", "efficient_attention", "memory_layer", "memoryformer", "norms",
               "presets", "rotary",
               "transformer")

__all__ = list(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f"models.{_WHERE[name]}"), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"models.{name}")
    raise AttributeError(f"module 'models' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_WHERE, *_SUBMODULES])
