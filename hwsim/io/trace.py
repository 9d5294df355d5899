"""Chrome / Perfetto trace of a Result (trace-event JSON, opens in ui.perfetto.dev and chrome://tracing).

Two processes: "kernels" (one thread per op, one complete event per kernel) and, for DES results,
"resources" (one thread per resource: engines, DRAM, SRAM, lookup banks, thread pool, with the op
that used it). Complete events ("ph": "X") carry ts and dur in microseconds, as the format asks;
"M" metadata events name the processes and threads.

Size: every kernel gets its own event. The resource timeline of a DES run on a GPU or CPU preset holds
hundreds of thousands of intervals (millions at long sequences); past MAX_RESOURCE_EVENTS they are
aggregated: each op's intervals on a resource merge across the shortest gaps, just enough of them to
fit (hwsim.io.intervals.capped_lanes). A merged event spans its first start to its last end and carries
args {"intervals": how many it stands for, "busy_us": their summed length}; the process is named
"resources (aggregated: gaps under X us merged)" so that it is never mistaken for the raw timeline.
"""
from __future__ import annotations

import json
from pathlib import Path

from hwsim.io.files import write_bytes
from hwsim.io.intervals import capped_lanes

KERNELS_PID, RESOURCES_PID = 1, 2
MAX_RESOURCE_EVENTS = 100_000  # about 15 MB of JSON; Perfetto and chrome://tracing stay responsive


def _meta(pid: int, tid: int | None, kind: str, name: str) -> dict:
    return {"name": kind, "ph": "M", "pid": pid, "tid": tid or 0, "args": {"name": name}}


def trace_events(result, max_resource_events: int = MAX_RESOURCE_EVENTS) -> list[dict]:
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
        merged, gap = capped_lanes(timeline, max_resource_events)
        label = "resources" if gap == 0 else f"resources (aggregated: gaps under {gap * 1e6:.3g} us merged)"
        events.append(_meta(RESOURCES_PID, None, "process_name", label))
        res_tid: dict[str, int] = {}
        for lane in merged:
            if lane.resource not in res_tid:
                res_tid[lane.resource] = len(res_tid) + 1
                events.append(_meta(RESOURCES_PID, res_tid[lane.resource], "thread_name", lane.resource))
            tid, name, cat = res_tid[lane.resource], str(lane.op), lane.resource
            ts, dur = (lane.start_s * 1e6).tolist(), ((lane.end_s - lane.start_s) * 1e6).tolist()
            for t, d, count, busy in zip(ts, dur, lane.count.tolist(), (lane.busy_s * 1e6).tolist()):
                e = {"name": name, "cat": cat, "ph": "X", "ts": t, "dur": d, "pid": RESOURCES_PID, "tid": tid}
                if count > 1:
                    e["args"] = {"intervals": count, "busy_us": busy}
                events.append(e)
    return events


def write_trace_json(result, path) -> Path:
    """Write the trace atomically: a partial file is never left behind (Ctrl-C, full disk)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"traceEvents": trace_events(result), "displayTimeUnit": "ns"}
    # one string, one write: json.dump's many small writes take 3x as long
    return write_bytes(path, json.dumps(doc).encode("utf-8"))
