"""`simulate(workload, accelerator, engine=...)`: one entry point for both fidelity levels."""
from __future__ import annotations

from hwsim.banks import BANK_MAPPINGS
from hwsim.config import load_accelerator
from hwsim.kernels import LOOKUP_IMPLS, LOWERINGS, lower
from hwsim.result import OP_COLUMNS, Result

ENGINES = ("analytic", "des")
MODES = ("eager", "graph")


def resolve_options(accel, mode=None, lowering=None, lookup_impl="embedding_bag", block_d=128,
                    bank_mapping="interleaved", host_head_start_s=0.0) -> dict:
    mode = mode or accel.runtime.mode
    lowering = lowering or accel.runtime.lowering
    for name, value, allowed in [("mode", mode, MODES), ("lowering", lowering, LOWERINGS),
                                 ("lookup_impl", lookup_impl, LOOKUP_IMPLS), ("bank_mapping", bank_mapping, BANK_MAPPINGS)]:
        if value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}, given {value!r}")
    if not isinstance(block_d, int) or block_d <= 0:
        raise ValueError(f"block_d must be a positive integer, given {block_d!r}")
    if host_head_start_s < 0:
        raise ValueError(f"host_head_start_s must be >= 0, given {host_head_start_s!r}")
    return dict(mode=mode, lowering=lowering, lookup_impl=lookup_impl, block_d=block_d, bank_mapping=bank_mapping,
                host_head_start_s=host_head_start_s)


def simulate(workload, accelerator, engine: str = "analytic", **options) -> Result:
    """Time, bytes and energy of `workload` on `accelerator` (a preset name, YAML path or Accelerator).

    options: mode ("eager" | "graph"; default the accelerator's runtime.mode), lowering ("torch" |
    "fused"; default runtime.lowering), lookup_impl ("embedding_bag" | "gather_sum" | "fused") and
    block_d for the torch lowering, bank_mapping for lookup banks; the DES also takes
    bucket_distribution, zipf_exponent, seed, coarse, trace_json, progress.
    """
    accel = load_accelerator(accelerator)
    if engine == "analytic":
        opts = resolve_options(accel, **options)
        return _analytic(workload, accel, opts)
    if engine == "des":
        from hwsim import des

        return des.simulate_des(workload, accel, **options)
    raise ValueError(f"engine must be one of {', '.join(ENGINES)}, given {engine!r}")


def _analytic(workload, accel, opts) -> Result:
    import pandas as pd

    from hwsim.analytic import kernel_cost, schedule
    from hwsim.energy import kernel_energy

    kernels = lower(workload, opts["lowering"], accel.compute.hash_unit is not None, opts["lookup_impl"],
                    opts["block_d"])
    streams = {op.name: op.index_stream for op in workload.ops}
    costs = [kernel_cost(k, accel, streams.get(k.op), opts["bank_mapping"]) for k in kernels]
    sched = schedule(costs, accel, opts["mode"], opts["host_head_start_s"])
    return assemble(workload, accel, "analytic", opts, sched, kernel_energy)


def assemble(workload, accel, engine: str, opts, sched, kernel_energy, extra=None) -> Result:
    """Per-op rows from scheduled kernels (shared by the engines so both report the same way)."""
    import pandas as pd

    krows, prev_end = [], 0.0
    for s in sched:
        c = s.cost
        energy = kernel_energy(c, accel)
        krows.append({"kernel": c.kernel.name, "op": c.kernel.op, "unit": c.kernel.unit, "start_s": s.start_s,
                      "end_s": s.end_s, "time_s": s.end_s - prev_end, "busy_s": c.busy_s, "launch_stall_s": s.stall_s,
                      "bound": c.bound, "dram_bytes": c.dram_bytes, "sram_bytes": c.sram_bytes,
                      "lookup_bytes": c.lookup_accesses * accel.lookup.bank_width_bytes,
                      "dynamic_energy_j": sum(energy.values()),
                      **{f"{t}_s": v for t, v in c.terms_s.items()}, "notes": c.notes,
                      **{f"{comp}_energy_j": v for comp, v in energy.items()}})
        prev_end = s.end_s
    kdf = pd.DataFrame(krows)
    idle_w = accel.energy.idle_power_w
    rows = []
    for op in workload.ops:
        ks = kdf[kdf["op"] == op.name] if len(kdf) else kdf
        time_s = float(ks["time_s"].sum()) if len(ks) else 0.0
        busy = float(ks["busy_s"].sum()) if len(ks) else 0.0
        stall = float(ks["launch_stall_s"].sum()) if len(ks) else 0.0
        if len(ks) == 0:
            bound = "none"
        elif stall > busy:
            bound = "launch"
        else:
            bound = ks.loc[ks["busy_s"].idxmax(), "bound"]
        dyn = float(ks["dynamic_energy_j"].sum()) if len(ks) else 0.0
        rows.append({"op": op.name, "kind": op.kind.value, "time_s": time_s, "busy_s": busy, "launch_stall_s": stall,
                     "bound": bound, "flops": op.flops, "flops_paper": op.flops_paper,
                     "dram_bytes": float(ks["dram_bytes"].sum()) if len(ks) else 0.0,
                     "sram_bytes": float(ks["sram_bytes"].sum()) if len(ks) else 0.0,
                     "lookup_bytes": float(ks["lookup_bytes"].sum()) if len(ks) else 0.0,
                     "energy_j": dyn + idle_w * time_s, "dynamic_energy_j": dyn, "static_energy_j": idle_w * time_s,
                     "kernels": len(ks),
                     **{f"{t}_s": float(ks[f"{t}_s"].sum()) if len(ks) else 0.0
                        for t in ("compute", "dram", "sram", "banks", "latency")},
                     "notes": "; ".join(n for n in ks["notes"] if n) if len(ks) else ""})
    ops = pd.DataFrame(rows, columns=list(OP_COLUMNS))
    return Result(workload.name, accel.name, engine, ops, kdf, dict(opts), extra or {})
