"""`simulate(workload, accelerator, engine=...)`: one entry point for both fidelity levels."""
from __future__ import annotations

from hwsim.config import load_accelerator
from hwsim.engines import footprint as _footprint
from hwsim.engines.footprint import FootprintError, check_fits
from hwsim.engines.run import analytic_result
from hwsim.engines.options import MODES, resolve_options
from hwsim.result import Result

ENGINES = ("analytic", "des")
__all__ = ["ENGINES", "MODES", "FootprintError", "fits", "simulate"]


def fits(workload, accelerator, layers: int = 1) -> bool:
    """True when `layers` blocks like `workload` fit in the accelerator's DRAM: every layer's weights and
    tables plus one block's activations against `memory.dram.capacity` (see simulate)."""
    return _footprint.fits(workload, load_accelerator(accelerator), layers)


def simulate(workload, accelerator, engine: str = "analytic", layers: int = 1, **options) -> Result:
    """Time, bytes and energy of `workload` on `accelerator` (a preset name, YAML path or Accelerator).

    layers: how many such blocks the model holds in DRAM at once. A workload whose weights and tables
    (times `layers`) do not fit in `memory.dram.capacity` raises FootprintError (a ValueError, one line)
    instead of reporting a time for a machine that cannot hold it; `fits(workload, accel, layers)` asks
    first. The Result is one block's; `Result.summary(layers)` scales it to the model.

    options: mode ("eager" | "graph"; default the accelerator's runtime.mode), lowering ("torch" |
    "fused"; default runtime.lowering), lookup_impl ("embedding_bag" | "gather_sum" | "fused") and
    block_d for the torch lowering, bank_mapping for lookup banks, tables_resident (on-chip lookup
    memories: the tables are already in the banks instead of streaming in once per pass); the DES also takes
    bucket_distribution, zipf_exponent, seed, coarse, trace_json, progress.
    """
    accel = load_accelerator(accelerator)
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, given {engine!r}")
    check_fits(workload, accel, layers)
    if engine == "analytic":
        opts = resolve_options(accel, **options)
        return analytic_result(workload, accel, opts)
    if engine == "des":
        from hwsim.engines.des import simulate_des

        return simulate_des(workload, accel, **options)
    raise ValueError(f"engine must be one of {', '.join(ENGINES)}, given {engine!r}")
