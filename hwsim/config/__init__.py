"""Accelerator configs: units (parsing "4.8 TB/s" into SI), the schema (pydantic, validated all at once), error
reporting with file, key path, expected and given value, and the presets (presets/*.yaml, every number cited)."""
from hwsim.config.schema import *  # noqa: F401,F403  (the schema module's __all__ is the package's API)
from hwsim.config.schema import __all__  # noqa: F401
