"""Named model presets: shapes from the paper's Table 1 (reference section 2), block options from the
released models.

- memoryformer-*: the authors' released configs (github.com/C0-Design/MemoryFormer,
  configs/memoryformer_tiny.yml and _small.yml: `"norm": "rmsnorm"`, `"pos-emb": "rotary"`,
  `"rotary-pct": 0.25`, `"gpt-j-residual": false` (sequential residual), `"del_dense": true` (no output
  projection); memory_module/memory.py: every MemoryLayer adds `self.bias`, and its weight is
  compute_code_score_torch's sum|z| / prod(1 + exp(-2|z|)) = the "official" weighting, t = 1).
  The released small config has 6 layers and 8 heads; the presets keep Table 1's 12 layers and 12 heads.
- pythia-*: Pythia's configs (EleutherAI/pythia, GPT-NeoX: `norm: layernorm`, `rotary_pct: 0.25`,
  `gpt_j_residual: true` (parallel residual), biases on every Linear).

`block_options()` gives these options as keyword arguments of workloads.block and the block configs;
workloads.builders.BLOCK_VARIANTS replaces some of them for the "paper" blocks (what the paper's FLOP
formulas count) and the "bench" blocks (what data/calibration/*/ ran).
"""
from __future__ import annotations

from dataclasses import dataclass

# No torch at import: the presets are plain data (a sweep resolves them by the thousand); the block modules
# load when a config or block is built.


@dataclass(frozen=True)
class ModelPreset:
    name: str
    kind: str  # "transformer" | "memoryformer"
    layers: int
    hidden_size: int
    heads: int
    tau: int | None = None
    expand_bits: int | None = None
    norm: str = "layernorm"
    rotary_pct: float = 0.0
    parallel_residual: bool = False
    bias: bool = False  # Linear biases (Transformer) or Memory Layer biases (MemoryFormer)
    weighting: str = "paper"  # MemoryFormer only
    follows: str = ""  # which released model the block options follow
    # Token embedding and LM head rows. Pythia: "vocab_size": 50304 in every EleutherAI/pythia-* config.json
    # (GPT-NeoX's 50277 tokens padded to a multiple of 128); with it the Pythia paper's parameter counts
    # (Biderman et al. 2023, Table 1: 70,426,624 / 162,322,944 / 405,334,016) come out exactly.
    # MemoryFormer trains on the Pile with the same GPT-NeoX code and tokenizer: assumed the same.
    vocab_size: int = 50304

    @property
    def num_chunks(self) -> int | None:
        return None if self.tau is None else self.hidden_size // self.tau

    def block_options(self) -> dict:
        """This preset's block options as keyword arguments of workloads.block and the block config."""
        opts = dict(norm=self.norm, rotary_pct=self.rotary_pct, parallel_residual=self.parallel_residual)
        if self.kind == "transformer":
            return dict(opts, linear_bias=self.bias)
        return dict(opts, memory_bias=self.bias, weighting=self.weighting)

    def block_config(self, **overrides):
        """The block config with this preset's released options, `overrides` replacing any of them."""
        from models.memoryformer import MemoryFormerConfig
        from models.transformer import TransformerConfig

        opts = {**self.block_options(), **overrides}
        if self.kind == "transformer":
            return TransformerConfig(hidden_size=self.hidden_size, heads=self.heads, **opts)
        return MemoryFormerConfig(hidden_size=self.hidden_size, heads=self.heads, tau=self.tau,
                                  expand_bits=self.expand_bits, **opts)


_PYTHIA = dict(norm="layernorm", rotary_pct=0.25, parallel_residual=True, bias=True,
               follows="Pythia (GPT-NeoX): LayerNorm, rotary on 25% of head dims, parallel residual, biases")
_MEMORYFORMER = dict(norm="rmsnorm", rotary_pct=0.25, parallel_residual=False, bias=True, weighting="official",
                     follows="released MemoryFormer configs: RMSNorm, rotary on 25% of head dims, sequential "
                             "residual, no output projection, a bias on every Memory Layer, official weighting")

# Table 1: Pythia-70M/160M/410M and MemoryFormer-tiny/small/base share layers and widths; tau = 8, e = 2.
PRESETS: dict[str, ModelPreset] = {p.name: p for p in [
    ModelPreset("pythia-70m", "transformer", 6, 512, 8, **_PYTHIA),
    ModelPreset("pythia-160m", "transformer", 12, 768, 12, **_PYTHIA),
    ModelPreset("pythia-410m", "transformer", 24, 1024, 16, **_PYTHIA),
    ModelPreset("memoryformer-tiny", "memoryformer", 6, 512, 8, tau=8, expand_bits=2, **_MEMORYFORMER),
    ModelPreset("memoryformer-small", "memoryformer", 12, 768, 12, tau=8, expand_bits=2, **_MEMORYFORMER),
    ModelPreset("memoryformer-base", "memoryformer", 24, 1024, 16, tau=8, expand_bits=2, **_MEMORYFORMER),
]}


def get_preset(name: str) -> ModelPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown model preset {name!r}; available: {', '.join(PRESETS)}") from None


def build_block(config, device=None, dtype=None):
    """A block module from a TransformerConfig or MemoryFormerConfig (or a Table 2 baseline's config)."""
    from models.baselines import BASELINE_BLOCKS
    from models.memoryformer import MemoryFormerBlock, MemoryFormerConfig
    from models.transformer import TransformerBlock, TransformerConfig

    if type(config) in BASELINE_BLOCKS:  # subclasses of TransformerConfig: checked first
        return BASELINE_BLOCKS[type(config)](config, device=device, dtype=dtype)
    if isinstance(config, TransformerConfig):
        return TransformerBlock(config, device=device, dtype=dtype)
    if isinstance(config, MemoryFormerConfig):
        return MemoryFormerBlock(config, device=device, dtype=dtype)
    raise TypeError(f"expected a TransformerConfig or MemoryFormerConfig, given {type(config).__name__}")
