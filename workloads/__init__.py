"""Workloads: what a block does, op by op. Closed-form builders need no torch; `trace` imports it lazily."""
from workloads.builders import BLOCK_KINDS, LAYER_KINDS, PHASES, block, layer
from workloads.model import ModelBytes, model_bytes, model_step
from workloads.op import DTYPE_BYTES, ROLES, Op, OpKind, TableGeometry, Workload

__all__ = ["block", "layer", "model_step", "model_bytes", "ModelBytes", "PHASES", "trace", "trace_preset", "Op", "OpKind", "TableGeometry", "Workload", "ROLES",
           "DTYPE_BYTES", "BLOCK_KINDS", "LAYER_KINDS", "save", "load"]


def __getattr__(name):
    # torch takes seconds to import; sweep workers that only build closed-form Workloads never pay it.
    if name in ("trace", "trace_preset"):
        from workloads import tracer
        return getattr(tracer, name)
    if name in ("save", "load"):
        from workloads import io
        return getattr(io, name)
    raise AttributeError(f"module 'workloads' has no attribute {name!r}")
