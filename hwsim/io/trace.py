"""Chrome / Perfetto trace of a Result (trace-event JSON, opens in ui.perfetto.dev and chrome://tracing).

Two processes: "kernels" (one thread per op, one complete event per kernel) and, for DES results,
"resources" (one thread per resource: engines, DRAM, SRAM, lookup banks, thread pool, with the op
that used it). Complete events ("ph": "X") carry ts and dur in microseconds, as the format asks;
"M" metadata events name the processes and threads.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

KERNELS_PID, RESOURCES_PID = 1, 2


def _meta(pid: int, tid: int | None, kind: str, name: str) -> dict:
    return {"name": kind, "ph": "M", "pid": pid, "tid": tid or 0, "args": {"name": name}}


def trace_events(result) -> list[dict]:
    events = [_meta(KERNELS_PID, None, "process_name", f"{result.workload} on {result.accelerator} ({result.engine})")]
    ops = list(dict.fromkeys(result.ops["op"])) if len(result.ops) else []
    tid = {op: i + 1 for i, op in enumerate(ops)}
    for op, t in tid.items():
        events.append(_meta(KERNELS_PID, t, "thread_name", op))
    k = result.kernels
    for row in (k.itertuples(index=False) if len(k) else ()):
        events.append({"name": str(row.kernel), "cat": str(row.unit), "ph": "X", "ts": float(row.start_s) * 1e6,
                       "dur": max(float(row.end_s - row.start_s), 0.0) * 1e6, "pid": KERNELS_PID,
                       "tid": tid.get(row.op, 0), "args": {"op": str(row.op), "bound": str(row.bound)}})
    timeline = result.extra.get("timeline") or []
    if timeline:
        events.append(_meta(RESOURCES_PID, None, "process_name", "resources"))
        res_tid: dict[str, int] = {}
        for res, op, start, end in timeline:
            if res not in res_tid:
                res_tid[res] = len(res_tid) + 1
                events.append(_meta(RESOURCES_PID, res_tid[res], "thread_name", res))
            events.append({"name": str(op), "cat": str(res), "ph": "X", "ts": float(start) * 1e6,
                           "dur": max(float(end - start), 0.0) * 1e6, "pid": RESOURCES_PID, "tid": res_tid[res]})
    return events


def write_trace_json(result, path) -> Path:
    """Write the trace atomically: a partial file is never left behind (Ctrl-C, full disk)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"traceEvents": trace_events(result), "displayTimeUnit": "ns"}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
