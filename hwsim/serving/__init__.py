"""Serving a whole model: does it fit the device, and what does generating tokens cost (prefill, then decode
steps against a growing KV cache)."""
from hwsim.serving.fit import check_fit
from hwsim.serving.generate import Generation, decode_points, generate

__all__ = ["check_fit", "decode_points", "generate", "Generation"]
