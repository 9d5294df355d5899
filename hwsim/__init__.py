"""hwsim: hardware/model co-design simulator for MemoryFormer and Transformer blocks.

Never imports torch at module load: sweep workers start fast."""
from hwsim.config import Accelerator, ConfigError, list_presets, load_accelerator, override
from hwsim.explore import pareto, sweep
from hwsim.result import Result
from hwsim.simulate import ENGINES, FootprintError, fits, simulate

__all__ = ["Accelerator", "ConfigError", "Result", "ENGINES", "FootprintError", "fits", "list_presets",
           "load_accelerator", "override", "pareto", "simulate", "sweep"]
