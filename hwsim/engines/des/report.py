"""From a finished DES run to a Result: per-kernel costs, time attribution, Result.extra, explanations.

Time attribution (the `time_s` columns; they add up to the block latency even when kernels overlap):
the span from 0 to the last kernel's end is cut at every kernel start and end. A piece during which
kernels run goes, under time_attribution="latest" (default), to the running kernel that finishes last
(the one the block is waiting for: on the critical path), or under "shared", in equal parts to all
running kernels. A piece during which nothing runs (launch gaps) goes to the kernel that starts next,
as the analytic engine charges the gap before a kernel to it. For kernels that run one after another
both rules give the analytic engine's numbers.

busy_s of a DES kernel is end_s - start_s (it may overlap others'); active power is charged for its
share of the device's busy time (the union of kernel intervals, overlaps split equally), so it is
not counted twice. The table load of an on-chip lookup is a kernel row of its op ("OP:load_tables",
unit "memory", from when its bytes start streaming into the banks until they are in): its bytes and
busy time count for the op, its share of the latency is 0 (the wait, if any, is inside the lookup).

Result.extra (a LazyExtra mapping): utilisation / busy_s / queue_s per resource, queue_s_by_op,
lookup_waits_s {op: {cause: seconds the lookup's rows were late, by the memory that held them}},
timeline [(resource, op, start_s, end_s)], bank_load {op: requests per bank (on-chip) or per DRAM
channel (off-chip)}, bank_load_unit, dram_row_hits / dram_row_misses, lookups, units, wall_s,
lookups_per_s, drawn_streams (ops whose buckets were drawn), streams ({op: stream index}, None for
dataflow), time_attribution, coarse; and, computed on
first access (they rerun the analytic cost model on the same index streams), analytic_latency_s and
explanations [str]: the DES-vs-analytic headline, then what overlapped, pipelined, queued, conflicted
or loaded, computed from the run, then each op whose kernels ran > 2% off their analytic time.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from hwsim.engines.analytic import TERMS, KernelCost, Scheduled
from hwsim.engines.des.explain import explain, headline, op_comparisons
from hwsim.energy import kernel_energy
from hwsim.engines.assemble import assemble
from hwsim.lowering import Kernel


def attribute(starts, ends, rule: str = "latest") -> list[float]:
    """Seconds of [0, max(ends)] charged to each interval (see the module docstring)."""
    n = len(starts)
    out = [0.0] * n
    if n == 0:
        return out
    makespan = max(ends)
    cuts = sorted({0.0, makespan, *(s for s in starts if 0 <= s < makespan), *(e for e in ends if e > 0)})
    by_start = sorted(range(n), key=lambda i: (starts[i], -ends[i], -i))
    for a, b in zip(cuts, cuts[1:]):
        running = [i for i in range(n) if starts[i] <= a and ends[i] >= b and ends[i] > starts[i]]
        if running and rule == "shared":
            for i in running:
                out[i] += (b - a) / len(running)
        elif running:
            out[max(running, key=lambda i: (ends[i], i))] += b - a
        else:  # idle: the gap belongs to the kernel that starts next
            nxt = next((i for i in by_start if starts[i] >= b), by_start[-1])
            out[nxt] += b - a
    return out


def busy_shares(starts, ends) -> list[float]:
    """Each interval's share of the union of all intervals, overlaps split equally."""
    n = len(starts)
    out = [0.0] * n
    cuts = sorted({*starts, *ends})
    for a, b in zip(cuts, cuts[1:]):
        running = [i for i in range(n) if starts[i] <= a and ends[i] >= b]
        for i in running:
            out[i] += (b - a) / len(running)
    return out


def _lookup_cost(sim, kp, busy_s: float, notes: str):
    """A KernelCost from what a lookup kernel did in the simulation (terms comparable to the analytic ones).
    dram: the busiest channel's row reads plus the streamed indices, weights and output, which share it."""
    d, accel, c = kp.demand, sim.accel, kp.cost
    dram = accel.memory.dram
    stream_bytes = kp.kernel.stream_read_bytes + kp.kernel.stream_write_bytes
    miss_bytes = float(d.chunk_bytes.sum())
    per_channel = np.bincount(d.chunk_channel, weights=d.chunk_bytes * d.miss_s_per_byte, minlength=dram.channels)
    stream_s = stream_bytes / dram.sustained_bandwidth_bytes_per_s
    terms = {"compute": float(d.accumulate_s.sum()),
             "dram": stream_s + float(per_channel.max(initial=0)),
             "sram": float(d.hit_s.sum()) if d.hit_s is not None else 0.0,
             "banks": (float(d.bank_s.sum(axis=0).max()) + kp.row_latency_s) if d.bank_s is not None else 0.0,
             "latency": float(d.mlp_s.sum()) if d.mlp_s is not None else 0.0}
    accesses = float(d.bank_requests.sum()) if d.bank_requests is not None else 0.0
    hw = bool(kp.kernel.extra.get("lookup_hw"))  # lookup hardware: bytes and energies as the analytic cost
    return replace(c, terms_s=terms, busy_s=busy_s, bound=max(terms, key=terms.get),
                   dram_bytes=stream_bytes + miss_bytes,
                   sram_bytes=c.sram_bytes if hw else d.hit_rows * d.bytes_per_row,
                   lookup_accesses=c.lookup_accesses if hw else accesses, notes=notes)


def _load_cost(sim, kp, nbytes: float, busy_s: float):
    """The table load of an on-chip lookup as a kernel of its op (unit "memory"): DRAM bytes streamed into
    the lookup banks ahead of the op, while earlier ops run, so they count in the op's bytes and busy time
    but not in its share of the latency."""
    k = kp.kernel
    kernel = Kernel(f"{k.op}:load_tables", k.op, "memory", k.dtype, stream_read_bytes=int(nbytes))
    dram_s = nbytes / sim.accel.memory.dram.sustained_bandwidth_bytes_per_s
    terms = {**dict.fromkeys(TERMS, 0.0), "dram": dram_s}
    return KernelCost(kernel, terms, busy_s, "dram", nbytes, 0.0, 0.0, 0.0)


class LazyExtra(Mapping):
    """Result.extra of a DES run: plain values, plus entries computed on first access (the comparison
    with the analytic engine runs the analytic cost model on the index streams again, which a sweep
    that never reads it should not pay for)."""

    def __init__(self, values: dict, lazy: dict):
        self._values, self._lazy = dict(values), dict(lazy)

    def __getitem__(self, key):
        if key not in self._values and key in self._lazy:
            self._values[key] = self._lazy.pop(key)()
        return self._values[key]

    def __iter__(self):
        return iter([*self._values, *self._lazy])

    def __len__(self) -> int:
        return len(self._values) + len(self._lazy)

    def __repr__(self) -> str:
        return f"LazyExtra({sorted(self)})"


def build_result(sim, wall_s: float):

    off, plans = sim.offset_s, sim.plans
    starts = [float(kp.start_s - off) for kp in plans]
    ends = [float(kp.end_s - off) for kp in plans]
    times = attribute(starts, ends, sim.d_opts["time_attribution"])
    busy = busy_shares(starts, ends)
    latency = max(ends) if ends else 0.0
    lines, op_notes = explain(sim, latency)
    sched, times_all = [], []
    last_of_op = {kp.op: kp.index for kp in plans}
    device_busy = {}  # id(cost) -> its share of the device's busy time, for active power
    for kp, s, e, b, t in zip(plans, starts, ends, busy, times):
        notes = op_notes.get(kp.op, "") if last_of_op[kp.op] == kp.index else ""
        ld = kp.table_load
        if ld is not None and ld.loaded_bytes > 0:
            ls, le = ld.start_s - off, ld.end_s - off
            load = _load_cost(sim, kp, ld.loaded_bytes, le - ls)
            device_busy[id(load)] = 0.0  # the engines' active time is the kernels'; the load overlaps them
            sched.append(Scheduled(load, ls, le, 0.0))
            times_all.append(0.0)
        if kp.tiling is not None:
            cost = _lookup_cost(sim, kp, e - s, notes)
        else:
            bound = ("sram" if kp.extended != "dram" else "dram") if kp.extended else kp.cost.bound
            cost = replace(kp.cost, busy_s=e - s, bound=bound, notes=notes)
        device_busy[id(cost)] = b
        sched.append(Scheduled(cost, s, e, float(kp.stall_s)))
        times_all.append(t)

    def energy(cost, accel):
        return kernel_energy(replace(cost, busy_s=device_busy[id(cost)]), accel)
    analytic = []  # computed once, on first use

    def analytic_sched():
        if not analytic:
            analytic.append(sim.analytic())
        return analytic[0]

    def analytic_latency():
        return max((s.end_s for s in analytic_sched()), default=0.0)

    def explanations():
        return [headline(latency, analytic_latency()), *lines, *op_comparisons(sim, analytic_sched())]
    extra = LazyExtra(_extra(sim, latency, wall_s),
                      {"analytic_latency_s": analytic_latency, "explanations": explanations})
    opts = {**sim.opts, **{k: v for k, v in sim.d_opts.items() if k != "progress"}}
    opts["streams"] = sim.streams_model
    return assemble(sim.workload, sim.accel, "des", opts, sched, energy, extra, time_s=times_all)


def _extra(sim, latency: float, wall_s: float) -> dict:
    m, accel = sim.machine, sim.accel
    span = latency if latency > 0 else 1.0
    busy = {name: m.busy_s.get(name, 0.0) for name in m.units}
    busy["dram"] = float(m.dram.busy_s.mean())
    busy["dram busiest channel"] = float(m.dram.busy_s.max())
    if m.sram_s_per_byte:
        busy[m.sram.name] = m.sram.busy_s
    if m.banks is not None:
        busy["lookup banks"] = float(m.banks.busy_s.mean())
        busy["lookup banks busiest"] = float(m.banks.busy_s.max())
    if m.threads is not None:
        busy["threads"] = m.threads.busy_s
    queue = {}
    for (res, _), s in m.queue_s.items():
        queue[res] = queue.get(res, 0.0) + s
    queue["dram"] = m.dram.queue_s
    if m.banks is not None:
        queue["lookup banks"] = m.banks.queue_s
    if m.threads is not None:
        queue["threads"] = m.threads.queue_s
    by_op: dict[str, dict] = {}
    for (res, op), s in m.queue_s.items():
        by_op.setdefault(res, {})[op] = s
    bank_load, unit = {}, {}
    for kp in sim.plans:
        d = kp.demand
        if d is None:
            continue
        if d.bank_requests is not None:
            bank_load[kp.op], unit[kp.op] = d.bank_requests, "lookup bank"
        else:
            bank_load[kp.op], unit[kp.op] = d.channel_requests(accel.memory.dram.channels), "DRAM channel"
    lookups = sum(kp.demand.rows for kp in sim.plans if kp.demand is not None)
    busy = {k: float(v) for k, v in busy.items()}
    queue = {k: float(v) for k, v in queue.items()}
    return {"utilisation": {k: float(v / span) for k, v in busy.items()}, "busy_s": busy, "queue_s": queue,
            "queue_s_by_op": by_op, "timeline": m.timeline.intervals(sim.offset_s),
            "bank_load": bank_load, "bank_load_unit": unit,
            "dram_row_hits": m.dram.row_hits, "dram_row_misses": m.dram.row_misses,
            "lookups": lookups, "units": sum(kp.demand.units for kp in sim.plans if kp.demand is not None),
            "wall_s": wall_s, "lookups_per_s": lookups / wall_s if wall_s > 0 else 0.0,
            "lookup_waits_s": {kp.op: {k: float(v) for k, v in kp.waits.items()}
                               for kp in sim.plans if kp.demand is not None},
            "drawn_streams": list(sim.drawn), "time_attribution": sim.d_opts["time_attribution"],
            "streams": None if sim.stream_of is None else dict(sim.stream_of),
            "coarse": bool(sim.d_opts["coarse"])}
