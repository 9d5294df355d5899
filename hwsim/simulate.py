"""`simulate(workload, accelerator, engine=...)`: one entry point for both fidelity levels."""
from __future__ import annotations

from hwsim.config import load_accelerator
from hwsim.engines.run import analytic_result
from hwsim.engines.options import MODES, resolve_options
from hwsim.result import Result

ENGINES = ("analytic", "des")
__all__ = ["ENGINES", "MODES", "simulate"]


def simulate(workload, accelerator, engine: str = "analytic", **options) -> Result:
    """Time, bytes and energy of `workload` on `accelerator` (a preset name, YAML path or Accelerator).

    options: mode ("eager" | "graph"; default the accelerator's runtime.mode), lowering ("torch" |
    "fused"; default runtime.lowering), lookup_impl ("embedding_bag" | "gather_sum" | "fused") and
    block_d for the torch lowering, bank_mapping for lookup banks, tables_resident (on-chip lookup
    memories: the tables are already in the banks instead of streaming in once per pass); the DES also takes
    bucket_distribution, zipf_exponent, seed, coarse, trace_json, progress.
    """
    accel = load_accelerator(accelerator)
    if engine == "analytic":
        opts = resolve_options(accel, **options)
        return analytic_result(workload, accel, opts)
    if engine == "des":
        from hwsim.engines.des import simulate_des

        return simulate_des(workload, accel, **options)
    raise ValueError(f"engine must be one of {', '.join(ENGINES)}, given {engine!r}")
