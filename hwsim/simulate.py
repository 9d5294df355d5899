"""`simulate(workload, accelerator, engine=...)`: one entry point for both fidelity levels."""
from __future__ import annotations

import inspect

from hwsim.config import load_accelerator
from hwsim.engines import footprint as _footprint
from hwsim.engines.footprint import FootprintError, check_fits
from hwsim.engines.lookup_hw import TablePlacementError, place_tables
from hwsim.engines.run import analytic_result
from hwsim.engines.options import MODES, resolve_options
from hwsim.io.memory import des_bytes, ensure_fits
from hwsim.result import Result

ENGINES = ("analytic", "des")
__all__ = ["ENGINES", "MODES", "FootprintError", "TablePlacementError", "fits", "simulate"]


def fits(workload, accelerator, layers: int = 1) -> bool:
    """True when `layers` blocks like `workload` fit in the accelerator's DRAM: every layer's weights and
    tables plus one block's activations against `memory.dram.capacity` (see simulate)."""
    return _footprint.fits(workload, load_accelerator(accelerator), layers)


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


def simulate(workload, accelerator, engine: str = "analytic", layers: int = 1, **options) -> Result:
    """Time, bytes and energy of `workload` on `accelerator` (a preset name, YAML path or Accelerator).

    layers: how many such blocks the model holds in DRAM at once. A workload whose weights and tables
    (times `layers`) do not fit in `memory.dram.capacity` raises FootprintError (a ValueError, one line)
    instead of reporting a time for a machine that cannot hold it; `fits(workload, accel, layers)` asks
    first. The Result is one block's; `Result.summary(layers)` scales it to the model.
    Lookup tables are also checked against where they must live (hwsim.engines.lookup_hw.place_tables:
    TablePlacementError, one line).

    options: mode ("eager" | "graph"; default the accelerator's runtime.mode), lowering ("torch" |
    "fused"; default runtime.lowering), lookup_impl ("embedding_bag" | "gather_sum" | "fused") and
    block_d for the torch lowering, bank_mapping for lookup banks, tables_resident (on-chip lookup
    memories: the tables are already in the banks instead of streaming in once per pass); the DES also takes
    bucket_distribution, zipf_exponent, seed, coarse, tile_tokens, buffers, double_buffer, streams (in-order
    CUDA-like streams: an int, {op: stream} or "dataflow"; default 1 on GPUs and CPUs), overlap (False =
    streams=1, True = "dataflow"), time_attribution, trace_json, progress (hwsim.engines.des.engine). An unknown option is a ValueError naming it and the allowed ones.

    Lookup hardware (hwsim.engines.lookup_hw): lookup_impl "table_stationary" (torch lowering), table_dtype
    (fp32 | bf16 | fp16 | fp8 | int8 rows), table_tier (sram | dram | host | auto; the model's `layers` x
    the block's tables must fit, else TablePlacementError, one line), hot_cache_bytes / hot_cache_policy
    (lru | static_top_k), and for the analytic engine bucket_distribution / zipf_exponent (the bucket law
    that sets distinct rows and hit rates where the workload has no traced index stream).
    """
    _check(workload, engine, options)
    accel = load_accelerator(accelerator)
    check_fits(workload, accel, layers)
    if engine == "analytic":
        opts = place_tables(workload, accel, resolve_options(accel, **options), layers)
        return analytic_result(workload, accel, opts)
    from hwsim.engines.des import simulate_des

    ensure_fits(des_bytes(workload, accel), f"the DES replay of {workload.name} on {accel.name}",
                "lower seq_len or batch")
    return simulate_des(workload, accel, layers=layers, **options)
