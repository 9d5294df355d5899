"""Which in-order stream each op's kernels go to (CUDA streams, or none: dataflow).

A stream is a queue the device runs in order: a kernel on it starts only after the kernel before it on
the same stream has finished. Ops on different streams (or with no stream, "dataflow") wait only for
their inputs (Op.deps) and their engine. See hwsim.engines.des.engine for the defaults per machine kind.
"""
from __future__ import annotations

from collections.abc import Mapping

DATAFLOW = "dataflow"
SERIAL_KINDS = ("gpu", "cpu")  # PyTorch on one stream / one host thread: kernels in issue order


def check_streams(value) -> None:
    """The `streams` option: None, a positive integer, "dataflow" or {op name: stream index >= 0}."""
    if value is None or value == DATAFLOW:
        return
    if isinstance(value, bool) or not (isinstance(value, int) or isinstance(value, Mapping)):
        raise ValueError(f"streams must be a positive integer, \"{DATAFLOW}\" or a mapping of op name to stream "
                         f"index, given {value!r}")
    if isinstance(value, int) and value < 1:
        raise ValueError(f"streams must be a positive integer, \"{DATAFLOW}\" or a mapping of op name to stream "
                         f"index, given {value!r}")
    if isinstance(value, Mapping):
        bad = {k: v for k, v in value.items() if isinstance(v, bool) or not isinstance(v, int) or v < 0}
        if bad:
            raise ValueError(f"streams: stream indices must be integers >= 0, given {bad!r}")


def resolve_streams(streams, overlap, workload, kind: str):
    """The stream model of a run: an int, a mapping, or DATAFLOW. `streams` wins over `overlap`; without
    either, the workload's meta["streams"], else the machine kind's default."""
    if streams is None and overlap is not None:
        streams = DATAFLOW if overlap else 1
    if streams is None:
        streams = (workload.meta or {}).get("streams")
        check_streams(streams)
    if streams is None:
        streams = 1 if kind in SERIAL_KINDS else DATAFLOW
    if isinstance(streams, Mapping):
        names = {op.name for op in workload.ops}
        unknown = sorted(set(streams) - names)
        if unknown:
            raise ValueError(f"streams names op(s) {unknown} that workload {workload.name!r} does not have; "
                             f"its ops: {', '.join(op.name for op in workload.ops)}")
    return streams


def assign_streams(workload, streams, has_kernels) -> dict[str, int] | None:
    """op name -> stream index (None for dataflow). has_kernels(op name): whether the op launches kernels
    (a hash fused into its lookup does not; its consumers inherit its inputs for the rule below)."""
    if streams == DATAFLOW:
        return None
    if isinstance(streams, Mapping):
        return {op.name: int(streams.get(op.name, 0)) for op in workload.ops}
    n = int(streams)
    if n == 1:
        return {op.name: 0 for op in workload.ops}
    inputs: dict[str, set[str]] = {}  # op -> the ops with kernels it reads, through kernel-less ops
    tail: list[str | None] = [None] * n  # last op on each stream
    used = [-1] * n                       # when each stream last got an op (program order)
    out = {}
    for i, op in enumerate(workload.ops):
        deps = set()
        for d in op.deps:
            deps |= {d} if has_kernels(d) else inputs.get(d, set())
        inputs[op.name] = deps
        if not has_kernels(op.name):
            continue
        # continue the stream whose last op this one reads (no wait across streams for that input) ...
        s = next((j for j in range(n) if tail[j] is not None and tail[j] in deps), None)
        if s is None:  # ... else the stream used least recently (independent branches side by side)
            s = min(range(n), key=lambda j: used[j])
        tail[s], used[s], out[op.name] = op.name, i, s
    return {op.name: out.get(op.name, 0) for op in workload.ops}
