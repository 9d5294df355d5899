"""The analytic engine end to end: lower the ops, cost each kernel, run the launch pipeline, assemble."""
from __future__ import annotations

from hwsim.engines.analytic import kernel_cost, schedule
from hwsim.engines.assemble import assemble
from hwsim.engines.lookup_hw import adapt
from hwsim.lowering import lower
from hwsim.result import Result


def analytic_result(workload, accel, opts) -> Result:
    kernels = lower(workload, opts["lowering"], accel.compute.hash_unit is not None, opts["lookup_impl"],
                    opts["block_d"], simt=accel.kind == "gpu", cores=accel.compute.matrix.cores)
    kernels = adapt(kernels, workload, accel, opts)  # lookup hardware (issue 11)
    streams = {op.name: op.index_stream for op in workload.ops}
    costs = [kernel_cost(k, accel, streams.get(k.op), opts["bank_mapping"], opts["tables_resident"])
             for k in kernels]
    sched = schedule(costs, accel, opts["mode"], opts["host_head_start_s"])
    return assemble(workload, accel, "analytic", opts, sched)
