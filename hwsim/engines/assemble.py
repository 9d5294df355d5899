"""Per-op Result rows from scheduled kernels, shared by both engines so that they report the same way."""
from __future__ import annotations

from hwsim.area import area_breakdown
from hwsim.energy import kernel_energy
from hwsim.engines.analytic import TERMS as terms
from hwsim.result import OP_COLUMNS, Result

HW_BYTES = ("internal_bytes", "host_bytes", "hot_cache_bytes")  # lookup hardware (hwsim.engines.lookup_hw)


def assemble(workload, accel, engine: str, opts, sched, energy_fn=kernel_energy, extra=None, time_s=None) -> Result:
    """Per-op rows from scheduled kernels (shared by the engines so both report the same way).
    Plain dict sums, one DataFrame at the end: a block assembles in well under a millisecond.
    energy_fn: dynamic energy of a kernel by component (the DES passes one with its own busy time).
    time_s: the part of the latency charged to each kernel; default: how far it moves the latest end
    so far, in launch order (kernels one after another); the DES passes its rule for overlapping kernels."""
    import pandas as pd

    krows, prev_end = [], 0.0
    per_op: dict[str, dict] = {}
    for i, s in enumerate(sched):
        c = s.cost
        energy = energy_fn(c, accel)
        dyn = sum(energy.values())
        charged = max(0.0, s.end_s - prev_end) if time_s is None else time_s[i]
        row = {"kernel": c.kernel.name, "op": c.kernel.op, "unit": c.kernel.unit, "start_s": s.start_s,
               "end_s": s.end_s, "time_s": charged, "busy_s": c.busy_s, "launch_stall_s": s.stall_s,
               "bound": c.bound, "dram_bytes": c.dram_bytes, "sram_bytes": c.sram_bytes,
               "lookup_bytes": c.lookup_accesses * accel.lookup.bank_width_bytes, "dynamic_energy_j": dyn,
               **{key: float(getattr(c, "hw", {}).get(key, 0.0)) for key in HW_BYTES},
               **{f"{t}_s": c.terms_s[t] for t in terms}, "notes": c.notes,
               **{f"{comp}_energy_j": v for comp, v in energy.items()}}
        krows.append(row)
        prev_end = max(prev_end, s.end_s)
        agg = per_op.setdefault(c.kernel.op, {"time_s": 0.0, "busy_s": 0.0, "launch_stall_s": 0.0, "dram_bytes": 0.0,
                                              "sram_bytes": 0.0, "lookup_bytes": 0.0, "dynamic_energy_j": 0.0,
                                              **dict.fromkeys(HW_BYTES, 0.0),
                                              "kernels": 0, "notes": [], "max_busy": -1.0, "bound": "none",
                                              **{f"{t}_s": 0.0 for t in terms}})
        for key in ("time_s", "busy_s", "launch_stall_s", "dram_bytes", "sram_bytes", "lookup_bytes",
                    "dynamic_energy_j", *(f"{t}_s" for t in terms), *HW_BYTES):
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
                     **{key: agg[key] for key in HW_BYTES},
                     "notes": "; ".join(agg["notes"])})
    ops = pd.DataFrame(rows, columns=list(OP_COLUMNS))
    return Result(workload.name, accel.name, engine, ops, pd.DataFrame(krows), dict(opts), extra or {},
                  area_breakdown(accel))
