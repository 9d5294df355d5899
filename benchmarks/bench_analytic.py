"""Speed figures (printed, never asserted): closed-form Workload builders, the analytic engine per block,
and tracing memoryformer-base at seq 2048 on real CPU tensors.

    python benchmarks/bench_analytic.py [--quick]
"""
from __future__ import annotations

import argparse
import statistics
import time


def per_call_s(fn, repeat: int) -> float:
    fn()  # warm caches (config loading, imports)
    samples = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(repeat):
            fn()
        samples.append((time.perf_counter() - t) / repeat)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="skip the trace of memoryformer-base")
    args = ap.parse_args()

    t0 = time.perf_counter()
    import hwsim
    import workloads
    print(f"import hwsim + workloads: {1e3 * (time.perf_counter() - t0):.0f} ms (no torch)")

    for kind, d in [("transformer", 1024), ("memoryformer", 1024)]:
        s = per_call_s(lambda: workloads.block(kind, d, 2048), 200)
        print(f"workloads.block({kind!r}, {d}, 2048): {1e6 * s:.0f} us")

    for accel in hwsim.list_presets():
        a = hwsim.load_accelerator(accel)
        for kind in ("transformer", "memoryformer"):
            w = workloads.block(kind, 1024, 2048)
            s = per_call_s(lambda: hwsim.simulate(w, a), 20)
            print(f"analytic {kind:12s} d=1024 s=2048 on {accel:10s}: {1e3 * s:.2f} ms per block")

    if not args.quick:
        t = time.perf_counter()
        w = workloads.trace_preset("memoryformer-base", 2048)
        dt = time.perf_counter() - t
        n = sum(op.index_stream.size for op in w.ops if op.index_stream is not None)
        print(f"trace memoryformer-base, seq 2048, real CPU tensors (incl. building the block): {dt:.1f} s, "
              f"{len(w.ops)} ops, {n} recorded lookups")


if __name__ == "__main__":
    main()
