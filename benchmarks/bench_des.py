"""Speed of the discrete-event engine (printed, never asserted).

One memoryformer-tiny block (workloads.block("memoryformer", 512, 2048) with the index streams of
workloads.trace_preset("memoryformer-tiny", 2048): 2048 tokens x 64 tables x 5 Memory Layers) on the
lut-asic (on-chip banks) and h200 (DRAM through L2) presets: fine mode (every lookup replayed through
its bank or channel queue) against coarse mode (lookups batched per bank per tile), with the latency
of each and of the analytic engine.

    python benchmarks/bench_des.py [--presets lut-asic h200] [--repeat 3]
"""
from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace


def traced_block():
    import workloads

    t = time.perf_counter()
    traced = workloads.trace_preset("memoryformer-tiny", 2048)
    closed = workloads.block("memoryformer", 512, 2048)
    ops = tuple(replace(op, index_stream=traced.op(op.name).index_stream) if op.kind.value == "lookup" else op
                for op in closed.ops)
    w = workloads.Workload(closed.name, ops, closed.meta)
    lookups = sum(op.index_stream.size for op in w.ops if op.index_stream is not None)
    print(f"trace memoryformer-tiny s=2048 for its index streams: {time.perf_counter() - t:.1f} s; "
          f"{lookups:,} lookups in {sum(op.index_stream is not None for op in w.ops)} lookup ops")
    return w, lookups


def timed(fn, repeat: int):
    samples, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--presets", nargs="+", default=["lut-asic", "h200"])
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    args = ap.parse_args()

    import hwsim
    from hwsim.config.units import fmt_time

    w, lookups = traced_block()
    for name in args.presets:
        accel = hwsim.load_accelerator(name)
        hwsim.simulate(w, accel, engine="des", coarse=True)  # warm imports and caches
        analytic_s, ana = timed(lambda: hwsim.simulate(w, accel), args.repeat)
        fine_s, fine = timed(lambda: hwsim.simulate(w, accel, engine="des"), args.repeat)
        coarse_s, coarse = timed(lambda: hwsim.simulate(w, accel, engine="des", coarse=True), args.repeat)
        diff = 100 * (coarse.latency_s - fine.latency_s) / fine.latency_s
        print(f"\n{name} ({accel.lookup.placement}):")
        print(f"  analytic   {1e3 * analytic_s:8.1f} ms   latency {fmt_time(ana.latency_s)}")
        print(f"  DES fine   {1e3 * fine_s:8.1f} ms   latency {fmt_time(fine.latency_s)}   "
              f"{lookups / fine_s:,.0f} lookups/s, {fine.extra['units']:,} units of issue")
        print(f"  DES coarse {1e3 * coarse_s:8.1f} ms   latency {fmt_time(coarse.latency_s)}   "
              f"{lookups / coarse_s:,.0f} lookups/s, {coarse.extra['units']:,} units of issue")
        print(f"  coarse is {fine_s / coarse_s:.1f}x faster than fine; latency differs by {diff:+.2f}%")
        print("  DES vs analytic: " + fine.extra["explanations"][0])


if __name__ == "__main__":
    main()
