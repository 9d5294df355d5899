"""PyTorch models of MemoryFormer, its Transformer baseline and the paper's Table 2 baselines (Linformer,
cosFormer, Performer). Knows nothing of workloads or hwsim."""
from models.baselines import (CosFormerBlock, CosFormerConfig, LinformerBlock, LinformerConfig, PerformerBlock,
                              PerformerConfig)
from models.memory_layer import MemoryLayer
from models.memoryformer import MemoryBlock, MemoryFormerBlock, MemoryFormerConfig
from models.norms import NORMS, RMSNorm
from models.presets import PRESETS, ModelPreset, build_block, get_preset
from models.transformer import TransformerBlock, TransformerConfig

__all__ = ["MemoryLayer", "MemoryBlock", "MemoryFormerBlock", "MemoryFormerConfig", "TransformerBlock",
           "TransformerConfig", "PRESETS", "ModelPreset", "get_preset", "build_block", "RMSNorm", "NORMS",
           "LinformerBlock", "LinformerConfig", "CosFormerBlock", "CosFormerConfig", "PerformerBlock",
           "PerformerConfig"]
