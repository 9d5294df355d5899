"""`simulate(workload, accelerator, engine=...)`: one entry point for both fidelity levels."""
from __future__ import annotations

from hwsim.config import load_accelerator
from hwsim.engines.lookup_hw import TablePlacementError, place_tables
from hwsim.engines.run import analytic_result
from hwsim.engines.options import MODES, resolve_options
from hwsim.result import Result

ENGINES = ("analytic", "des")
__all__ = ["ENGINES", "MODES", "TablePlacementError", "simulate"]


def simulate(workload, accelerator, engine: str = "analytic", layers: int = 1, **options) -> Result:
    """Time, bytes and energy of `workload` on `accelerator` (a preset name, YAML path or Accelerator).

    layers: how many such blocks the model holds (its tables are checked against where they must live;
    the Result is one block's, `Result.summary(layers)` scales it).

    options: mode ("eager" | "graph"; default the accelerator's runtime.mode), lowering ("torch" |
    "fused"; default runtime.lowering), lookup_impl ("embedding_bag" | "gather_sum" | "fused") and
    block_d for the torch lowering, bank_mapping for lookup banks, tables_resident (on-chip lookup
    memories: the tables are already in the banks instead of streaming in once per pass); the DES also takes
    bucket_distribution, zipf_exponent, seed, coarse, trace_json, progress.

    Lookup hardware (hwsim.engines.lookup_hw): lookup_impl "table_stationary" (torch lowering), table_dtype
    (fp32 | bf16 | fp16 | fp8 | int8 rows), table_tier (sram | dram | host | auto; the model's `layers` x
    the block's tables must fit, else TablePlacementError, one line), hot_cache_bytes / hot_cache_policy
    (lru | static_top_k), and for the analytic engine bucket_distribution / zipf_exponent (the bucket law
    that sets distinct rows and hit rates where the workload has no traced index stream).
    """
    accel = load_accelerator(accelerator)
    if engine == "analytic":
        opts = place_tables(workload, accel, resolve_options(accel, **options), layers)
        return analytic_result(workload, accel, opts)
    if engine == "des":
        from hwsim.engines.des import simulate_des

        return simulate_des(workload, accel, layers=layers, **options)
    raise ValueError(f"engine must be one of {', '.join(ENGINES)}, given {engine!r}")
