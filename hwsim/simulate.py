"""`simulate(workload, accelerator, engine=...)`: one entry point for both fidelity levels."""
from __future__ import annotations

import inspect

from hwsim.config import load_accelerator
from hwsim.engines.run import analytic_result
from hwsim.engines.options import MODES, resolve_options
from hwsim.io.memory import des_bytes, ensure_fits
from hwsim.result import Result

ENGINES = ("analytic", "des")
__all__ = ["ENGINES", "MODES", "simulate"]


def analytic_options() -> tuple[str, ...]:
    """The options both engines take: resolve_options' keywords (read from it, so the two never drift)."""
    return tuple(p for p in inspect.signature(resolve_options).parameters if p != "accel")


def des_options() -> tuple[str, ...]:
    from hwsim.engines.des.engine import DES_DEFAULTS  # simpy: imported only when asked

    return tuple(DES_DEFAULTS)


def _check(workload, engine: str, options: dict) -> None:
    """One clear ValueError for what would otherwise be a TypeError or AttributeError deep in an engine."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, given {engine!r}")
    allowed = analytic_options() + (des_options() if engine == "des" else ())
    unknown = [k for k in options if k not in allowed]
    if unknown:
        des_only = [k for k in unknown if engine != "des" and k in des_options()]
        hint = f" ({', '.join(des_only)}: engine='des' only)" if des_only else ""
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for the {engine} engine{hint}; "
                         f"options: {', '.join(allowed)}")
    if not hasattr(workload, "ops") or not hasattr(workload, "name"):
        raise ValueError(f"workload must be a workloads.Workload (workloads.block, layer, trace or load), "
                         f"given {type(workload).__name__}")


def simulate(workload, accelerator, engine: str = "analytic", **options) -> Result:
    """Time, bytes and energy of `workload` on `accelerator` (a preset name, YAML path or Accelerator).

    options: mode ("eager" | "graph"; default the accelerator's runtime.mode), lowering ("torch" |
    "fused"; default runtime.lowering), lookup_impl ("embedding_bag" | "gather_sum" | "fused") and
    block_d for the torch lowering, bank_mapping for lookup banks, tables_resident (on-chip lookup
    memories: the tables are already in the banks instead of streaming in once per pass); the DES also takes
    bucket_distribution, zipf_exponent, seed, coarse, tile_tokens, buffers, double_buffer, overlap,
    time_attribution, trace_json, progress. An unknown option is a ValueError naming it and the allowed ones.
    """
    _check(workload, engine, options)
    accel = load_accelerator(accelerator)
    if engine == "analytic":
        opts = resolve_options(accel, **options)
        return analytic_result(workload, accel, opts)
    from hwsim.engines.des import simulate_des

    ensure_fits(des_bytes(workload, accel), f"the DES replay of {workload.name} on {accel.name}",
                "lower seq_len or batch")
    return simulate_des(workload, accel, **options)
