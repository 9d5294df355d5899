"""The analytic engine end to end: lower the ops, cost each kernel, run the launch pipeline, assemble."""
from __future__ import annotations

from hwsim.engines.analytic import kernel_cost, schedule, scratchpad_bytes
from hwsim.engines.assemble import assemble
from hwsim.engines.lookup_hw import adapt
from hwsim.lowering import lower
from hwsim.result import Result


def lower_for(workload, accel, opts) -> list:
    """The workload's kernels on this accelerator, with these options: what every analytic path costs."""
    kernels = lower(workload, opts["lowering"], accel.compute.hash_unit is not None, opts["lookup_impl"],
                    opts["block_d"], simt=accel.kind == "gpu", cores=accel.compute.matrix.cores,
                    scratchpad_bytes=scratchpad_bytes(accel), tile_dtypes=accel.compute.matrix.tile_dtypes)
    return adapt(kernels, workload, accel, opts)  # lookup hardware (issue 11)


def kernel_costs(workload, accel, opts) -> list:
    """Every kernel of the workload, lowered and costed alone (KernelCost, in launch order)."""
    kernels = lower_for(workload, accel, opts)
    streams = {op.name: op.index_stream for op in workload.ops}
    return [kernel_cost(k, accel, streams.get(k.op), opts["bank_mapping"], opts["tables_resident"])
            for k in kernels]


def analytic_result(workload, accel, opts) -> Result:
    costs = kernel_costs(workload, accel, opts)
    sched = schedule(costs, accel, opts["mode"], opts["host_head_start_s"])
    return assemble(workload, accel, "analytic", opts, sched)
