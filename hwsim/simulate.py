"""`simulate(workload, accelerator, engine=...)`: one entry point for both fidelity levels."""
from __future__ import annotations

from hwsim.banks import BANK_MAPPINGS
from hwsim.config import load_accelerator
from hwsim.kernels import LOOKUP_IMPLS, LOWERINGS, lower
from hwsim.result import OP_COLUMNS, Result

ENGINES = ("analytic", "des")
MODES = ("eager", "graph")


def resolve_options(accel, mode=None, lowering=None, lookup_impl="embedding_bag", block_d=128,
                    bank_mapping="interleaved", host_head_start_s=0.0, tables_resident=False) -> dict:
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
                host_head_start_s=host_head_start_s, tables_resident=bool(tables_resident))


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
        return _analytic(workload, accel, opts)
    if engine == "des":
        from hwsim import des

        return des.simulate_des(workload, accel, **options)
    raise ValueError(f"engine must be one of {', '.join(ENGINES)}, given {engine!r}")


def _analytic(workload, accel, opts) -> Result:
    from hwsim.analytic import kernel_cost, schedule
    from hwsim.energy import kernel_energy

    kernels = lower(workload, opts["lowering"], accel.compute.hash_unit is not None, opts["lookup_impl"],
                    opts["block_d"], simt=accel.kind == "gpu",
                    cores=accel.compute.matrix.cores)
    streams = {op.name: op.index_stream for op in workload.ops}
    costs = [kernel_cost(k, accel, streams.get(k.op), opts["bank_mapping"], opts["tables_resident"])
             for k in kernels]
    sched = schedule(costs, accel, opts["mode"], opts["host_head_start_s"])
    return assemble(workload, accel, "analytic", opts, sched, kernel_energy)


def assemble(workload, accel, engine: str, opts, sched, kernel_energy, extra=None, time_s=None) -> Result:
    """Per-op rows from scheduled kernels (shared by the engines so both report the same way).
    Plain dict sums, one DataFrame at the end: a block assembles in well under a millisecond.
    time_s: the part of the latency charged to each kernel; default: how far it moves the latest end
    so far, in launch order (kernels one after another); the DES passes its rule for overlapping kernels."""
    import pandas as pd

    from hwsim.analytic import TERMS as terms

    krows, prev_end = [], 0.0
    per_op: dict[str, dict] = {}
    for i, s in enumerate(sched):
        c = s.cost
        energy = kernel_energy(c, accel)
        dyn = sum(energy.values())
        charged = max(0.0, s.end_s - prev_end) if time_s is None else time_s[i]
        row = {"kernel": c.kernel.name, "op": c.kernel.op, "unit": c.kernel.unit, "start_s": s.start_s,
               "end_s": s.end_s, "time_s": charged, "busy_s": c.busy_s, "launch_stall_s": s.stall_s,
               "bound": c.bound, "dram_bytes": c.dram_bytes, "sram_bytes": c.sram_bytes,
               "lookup_bytes": c.lookup_accesses * accel.lookup.bank_width_bytes, "dynamic_energy_j": dyn,
               **{f"{t}_s": c.terms_s[t] for t in terms}, "notes": c.notes,
               **{f"{comp}_energy_j": v for comp, v in energy.items()}}
        krows.append(row)
        prev_end = max(prev_end, s.end_s)
        agg = per_op.setdefault(c.kernel.op, {"time_s": 0.0, "busy_s": 0.0, "launch_stall_s": 0.0, "dram_bytes": 0.0,
                                              "sram_bytes": 0.0, "lookup_bytes": 0.0, "dynamic_energy_j": 0.0,
                                              "kernels": 0, "notes": [], "max_busy": -1.0, "bound": "none",
                                              **{f"{t}_s": 0.0 for t in terms}})
        for key in ("time_s", "busy_s", "launch_stall_s", "dram_bytes", "sram_bytes", "lookup_bytes",
                    "dynamic_energy_j", *(f"{t}_s" for t in terms)):
            agg[key] += row[key]
        agg["kernels"] += 1
        if c.notes:
            agg["notes"].append(c.notes)
        if c.busy_s > agg["max_busy"]:
            agg["max_busy"], agg["bound"] = c.busy_s, c.bound
    idle_w = accel.energy.idle_power_w
    rows = []
    for op in workload.ops:
        agg = per_op.get(op.name)
        if agg is None:  # absorbed into another op's kernel (e.g. a hash fused into its lookup)
            rows.append({"op": op.name, "kind": op.kind.value, "flops": op.flops, "flops_paper": op.flops_paper,
                         "bound": "none", "kernels": 0, "notes": "", **dict.fromkeys(
                             [c for c in OP_COLUMNS if c.endswith(("_s", "_bytes", "_j"))], 0.0)})
            continue
        bound = "launch" if agg["launch_stall_s"] > agg["busy_s"] else agg["bound"]
        rows.append({"op": op.name, "kind": op.kind.value, "time_s": agg["time_s"], "busy_s": agg["busy_s"],
                     "launch_stall_s": agg["launch_stall_s"], "bound": bound, "flops": op.flops,
                     "flops_paper": op.flops_paper, "dram_bytes": agg["dram_bytes"], "sram_bytes": agg["sram_bytes"],
                     "lookup_bytes": agg["lookup_bytes"], "energy_j": agg["dynamic_energy_j"] + idle_w * agg["time_s"],
                     "dynamic_energy_j": agg["dynamic_energy_j"], "static_energy_j": idle_w * agg["time_s"],
                     "kernels": agg["kernels"], **{f"{t}_s": agg[f"{t}_s"] for t in terms},
                     "notes": "; ".join(agg["notes"])})
    ops = pd.DataFrame(rows, columns=list(OP_COLUMNS))
    return Result(workload.name, accel.name, engine, ops, pd.DataFrame(krows), dict(opts), extra or {})
