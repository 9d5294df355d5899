"""Does a whole model fit the device's DRAM? Weights, Memory Layer tables and the KV cache, all at once.

A model that does not fit is never simulated: a serving system would have to page or shard it, which the
engines do not model, so its numbers would look better than any real run."""
from __future__ import annotations

from hwsim.config.units import fmt_bytes


def check_fit(preset, accel, batch: int, context_len: int, dtype: str = "bf16", variant: str = "released",
              **options):
    """workloads.ModelBytes of `preset` with a KV cache of batch x context_len tokens; a ValueError (one line,
    with the byte counts) when they exceed accel.memory.dram.capacity_bytes."""
    from workloads.model import model_bytes

    mb = model_bytes(preset, batch, context_len, dtype, variant, **options)
    cap = accel.memory.dram.capacity_bytes
    if mb.total_bytes > cap:
        raise ValueError(
            f"{preset.name} does not fit {accel.name}'s DRAM: weights {mb.weights_bytes} B + tables {mb.tables_bytes} B"
            f" + KV cache {mb.kv_cache_bytes} B (batch {batch} x {context_len} tokens) = {mb.total_bytes} B "
            f"({fmt_bytes(mb.total_bytes)}) > memory.dram.capacity {int(cap)} B ({fmt_bytes(cap)}); not simulated")
    return mb
