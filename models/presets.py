"""Named model presets from the paper's Table 1 (reference section 2). No torch at import: the modules
load when a block is built."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelPreset:
    name: str
    kind: str  # "transformer" | "memoryformer"
    layers: int
    hidden_size: int
    heads: int
    tau: int | None = None
    expand_bits: int | None = None

    @property
    def num_chunks(self) -> int | None:
        return None if self.tau is None else self.hidden_size // self.tau

    def block_config(self):
        from models.memoryformer import MemoryFormerConfig
        from models.transformer import TransformerConfig

        if self.kind == "transformer":
            return TransformerConfig(hidden_size=self.hidden_size, heads=self.heads)
        return MemoryFormerConfig(hidden_size=self.hidden_size, heads=self.heads, tau=self.tau,
                                  expand_bits=self.expand_bits)


# Table 1: Pythia-70M/160M/410M and MemoryFormer-tiny/small/base share layers and widths; tau = 8, e = 2.
PRESETS: dict[str, ModelPreset] = {p.name: p for p in [
    ModelPreset("pythia-70m", "transformer", 6, 512, 8),
    ModelPreset("pythia-160m", "transformer", 12, 768, 12),
    ModelPreset("pythia-410m", "transformer", 24, 1024, 16),
    ModelPreset("memoryformer-tiny", "memoryformer", 6, 512, 8, tau=8, expand_bits=2),
    ModelPreset("memoryformer-small", "memoryformer", 12, 768, 12, tau=8, expand_bits=2),
    ModelPreset("memoryformer-base", "memoryformer", 24, 1024, 16, tau=8, expand_bits=2),
]}


def get_preset(name: str) -> ModelPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown model preset {name!r}; available: {', '.join(PRESETS)}") from None


def build_block(config, device=None, dtype=None):
    """A block module from a TransformerConfig or MemoryFormerConfig."""
    from models.memoryformer import MemoryFormerBlock, MemoryFormerConfig
    from models.transformer import TransformerBlock, TransformerConfig

    if isinstance(config, TransformerConfig):
        return TransformerBlock(config, device=device, dtype=dtype)
    if isinstance(config, MemoryFormerConfig):
        return MemoryFormerBlock(config, device=device, dtype=dtype)
    raise TypeError(f"expected a TransformerConfig or MemoryFormerConfig, given {type(config).__name__}")
