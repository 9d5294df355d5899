"""Why the DES and the analytic engine differ, in words computed from the run (Result.extra["explanations"]
and the ops' notes): what overlapped, what was pipelined, what queued, which bank or DRAM channel got
more than its share, which tables streamed in when, how the cache and DRAM rows behaved."""
from __future__ import annotations

import numpy as np

from hwsim.config.units import fmt_bytes, fmt_time


def _pct(a: float, b: float) -> float:
    return 100.0 * (a - b) / b if b > 0 else 0.0


def headline(latency: float, analytic_latency: float) -> str:
    diff = _pct(latency, analytic_latency)
    return (f"DES latency {fmt_time(latency)} vs analytic {fmt_time(analytic_latency)} on the same index streams "
            f"({diff:+.1f}%" + (", within 2%)" if abs(diff) <= 2 else ")"))


def _op_spans(sim) -> dict[str, tuple[float, float]]:
    spans: dict[str, tuple[float, float]] = {}
    for kp in sim.plans:
        s, e = kp.start_s - sim.offset_s, kp.end_s - sim.offset_s
        a, b = spans.get(kp.op, (s, e))
        spans[kp.op] = (min(a, s), max(b, e))
    return spans


def _concurrent_groups(sim, spans, min_s: float) -> list[tuple[list[str], float]]:
    """Groups of ops (not a pipelined hash/lookup pair) whose spans overlap, and for how long."""
    names = list(spans)
    pipelined = {(kp.op, d) for kp in sim.plans if kp.hash_tiles is not None
                 for d in sim.workload.op(kp.op).deps}
    parent = {n: n for n in names}

    def root(x):
        while parent[x] != x:
            x = parent[x]
        return x
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if (a, b) in pipelined or (b, a) in pipelined:
                continue
            lo, hi = max(spans[a][0], spans[b][0]), min(spans[a][1], spans[b][1])
            if hi - lo > min_s:
                parent[root(b)] = root(a)
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(root(n), []).append(n)
    out = []
    for g in groups.values():
        if len(g) < 2:
            continue
        cuts = sorted({x for n in g for x in spans[n]})
        both = sum(b - a for a, b in zip(cuts, cuts[1:])
                   if sum(spans[n][0] <= a and spans[n][1] >= b for n in g) >= 2)
        out.append((g, both))
    return out


def explain(sim, latency: float) -> tuple[list[str], dict[str, str]]:
    """Human-readable reasons, computed from the run, where the DES departs from a device that runs one
    kernel at a time at its analytic speed: overlap, pipelining, contention, conflicts, table loads,
    caches. (lines for Result.extra["explanations"], notes per op)"""
    m, accel = sim.machine, sim.accel
    lines: list[str] = []
    notes: dict[str, list[str]] = {}
    spans = _op_spans(sim)
    min_s = 0.01 * latency
    shared_res: dict[str, set] = {}
    for res, op, s, e in m.timeline.rows:
        shared_res.setdefault(op, set()).add(res)
    for group, both in _concurrent_groups(sim, spans, min_s):
        common = sorted(set.intersection(*(shared_res.get(o, set()) for o in group)))
        lines.append(f"{', '.join(group)} ran concurrently for {fmt_time(both)} (independent ops overlap"
                     + (f"; they share {', '.join(common)})" if common else ")"))
    for kp in sim.plans:
        if kp.hash_tiles is None:
            continue
        hash_op = next(d for d in sim.workload.op(kp.op).deps if sim.workload.op(d).kind.value == "hash")
        hidden = max(0.0, spans[hash_op][1] - spans[kp.op][0])
        if hidden <= 0:
            continue
        t = kp.demand.tiling
        lines.append(f"{hash_op} and {kp.op} pipelined in {t.tiles} tiles of {t.tile_tokens} tokens (double "
                     f"buffering): {fmt_time(hidden)} of hashing overlaps the row reads")
        notes.setdefault(kp.op, []).append(f"pipelined with {hash_op}: {fmt_time(hidden)} overlapped")
    waits: dict[str, list[tuple[float, str]]] = {}
    for (res, op), s in m.queue_s.items():
        if s > min_s:
            waits.setdefault(res, []).append((s, op))
    for res, items in waits.items():
        items.sort(reverse=True)
        lines.append(f"{res} contended: " + ", ".join(f"{op} waited {fmt_time(s)}" for s, op in items[:4]))
    for kp in sim.plans:
        d = kp.demand
        if d is None:
            continue
        span = kp.end_s - kp.start_s
        if d.bank_requests is not None:
            text = _imbalance(kp, "bank", d.bank_requests, 1.0 / accel.clock_hz, "banks", "accesses")
        else:
            chan = d.channel_requests(accel.memory.dram.channels)
            per_read = float(d.chunk_bytes.mean()) * d.miss_s_per_byte if len(d.chunk_bytes) else 0.0
            text = _imbalance(kp, "DRAM channel", chan, per_read, "dram", "row reads")
        if text:
            lines.append(f"{kp.op}: {text}")
            notes.setdefault(kp.op, []).append(text)
        rpt = kp.kernel.gather["rows_per_table"]
        if d.placement == "on_chip" and kp.cut is not None and kp.cut < rpt:
            text = (f"the lookup banks hold {kp.cut} of {rpt} buckets per table; {d.miss_rows} of {d.rows} row "
                    f"reads went to DRAM (estimated faster than loading or holding more, see "
                    f"hwsim.engines.des.residency)")
            lines.append(f"{kp.op}: {text}")
            notes.setdefault(kp.op, []).append(text)
        load = kp.table_load.loaded_bytes if kp.table_load is not None else 0.0
        if load:
            t_load = load / accel.memory.dram.sustained_bandwidth_bytes_per_s
            w = kp.waits.get("tables", 0.0)
            text = (f"waited {fmt_time(w)} for its {fmt_bytes(load)} of tables to stream into the banks"
                    if w > 0.01 * span else f"its {fmt_bytes(load)} of tables streamed into the banks while "
                    "earlier ops ran")
            unused = load - kp.cut * kp.table_load.costs.bucket_bytes
            if unused > 0.01 * load:
                text += f" ({fmt_bytes(unused)} of them prefetched but not used)"
            lines.append(f"{kp.op}: {text} (the analytic engine charges {fmt_time(t_load)} of loading to the op)")
            notes.setdefault(kp.op, []).append(text)
        if d.placement == "off_chip_cached" and d.rows:
            lines.append(f"{kp.op}: {d.hit_rows} of {d.rows} row reads hit the cache, {d.miss_rows} went to DRAM")
            stream = kp.kernel.stream_read_bytes + kp.kernel.stream_write_bytes
            stream_s = stream / accel.memory.dram.sustained_bandwidth_bytes_per_s
            if kp.waits.get("dram", 0.0) + kp.waits.get("writes", 0.0) > 0.5 * span and stream_s > 0.05 * span:
                lines.append(f"{kp.op}: its {fmt_bytes(stream)} of indices, weights and output share the DRAM "
                             f"buses with the row reads ({fmt_time(stream_s)}; the analytic engine overlaps them)")
    if m.dram.row_hits + m.dram.row_misses:
        n = m.dram.row_hits + m.dram.row_misses
        lines.append(f"DRAM: {m.dram.row_hits} of {n} row reads found their row open "
                     f"({100 * m.dram.row_hits / n:.1f}%; the gather curve assumes none do)")
    for op, why in _op_waits(sim).items():
        notes.setdefault(op, []).append(why)
    return lines, {op: "; ".join(v) for op, v in notes.items()}


def _imbalance(kp, what: str, loads, per_request_s: float, cause: str, unit: str) -> str:
    """'bank 17 served 3.1x the mean ...: conflicts add 38% to the op' when one bank (or channel) got
    noticeably more than its share and the op waited on it; empty when the load is even."""
    if len(loads) == 0 or loads.sum() == 0:
        return ""
    b, mean = int(np.argmax(loads)), float(loads.mean())
    ratio = loads[b] / mean
    span = kp.end_s - kp.start_s
    excess = (loads[b] - mean) * per_request_s     # what the busiest queue takes beyond an even share
    cost = min(excess, kp.waits.get(cause, 0.0))
    if ratio < 1.05 or (ratio < 1.25 and cost < 0.01 * span):
        return ""
    text = f"{what} {b} served {ratio:.1f}x the mean ({int(loads[b])} {unit} vs {mean:.0f}): "
    if cost > 0.01 * span:
        return text + f"conflicts add {100 * cost / max(span - cost, 1e-30):.0f}% to the op's {fmt_time(span)}"
    rest = {k: v for k, v in kp.waits.items() if k != cause}
    return text + "the conflicts are hidden behind " + (max(rest, key=rest.get) if rest else "other work")


def _op_waits(sim, skip=("indices", "tables")) -> dict[str, str]:
    """Per op, its largest waits (queues at engines, memories its lookups waited on, shared DRAM).
    Skipped by default: the first index read (it fills the pipeline, as in the analytic busy time) and
    table loads (they have their own note)."""
    causes: dict[str, dict[str, float]] = {}
    ran: dict[str, float] = {}
    for (res, op), s in sim.machine.queue_s.items():
        causes.setdefault(op, {})[f"queued {fmt_time(s)} for {res}"] = s
    for kp in sim.plans:
        ran[kp.op] = ran.get(kp.op, 0.0) + kp.end_s - kp.start_s
        c = causes.setdefault(kp.op, {})
        for cause, s in kp.waits.items():
            if cause not in skip:
                c[f"waited {fmt_time(s)} on {cause}"] = s
        if kp.extended:
            s = kp.end_s - kp.start_s - kp.cost.busy_s
            c[f"{kp.extended} shared with other kernels added {fmt_time(s)}"] = s
    out = {}
    for op, c in causes.items():
        top = [k for k, v in sorted(c.items(), key=lambda kv: -kv[1]) if v > 0.02 * ran.get(op, 0.0)][:2]
        if top:
            out[op] = ", ".join(top)
    return out


def op_comparisons(sim, analytic_sched) -> list[str]:
    """Per op whose kernels ran more than 2% longer or shorter than the analytic engine's time alone."""
    analytic: dict[str, float] = {}
    for s in analytic_sched:
        analytic[s.cost.kernel.op] = analytic.get(s.cost.kernel.op, 0.0) + s.cost.busy_s
    des: dict[str, float] = {}
    for kp in sim.plans:
        des[kp.op] = des.get(kp.op, 0.0) + kp.end_s - kp.start_s
    waits = _op_waits(sim, skip=("indices",))
    lines = []
    for op, t in des.items():
        ana = analytic.get(op, 0.0)
        diff = _pct(t, ana)
        if abs(diff) > 2:
            lines.append(f"{op}: kernels ran {fmt_time(t)} vs {fmt_time(ana)} alone in the analytic engine "
                         f"({diff:+.0f}%)" + (f": {waits[op]}" if op in waits else ""))
    return lines
