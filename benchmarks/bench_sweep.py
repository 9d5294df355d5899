"""Sweep speed (printed, never asserted): the fast path per point on one core (the array path in parts as the
workers get them, and the scalar path point by point), hwsim.simulate per point for comparison, and the whole
`hwsim sweep` command on the issue's spec with 10,000 Latin-hypercube points.

    python benchmarks/bench_sweep.py [--n 10000] [--workers N]

The machine is shared: the load average is printed beside the figures, since other processes slow them.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SPEC = {"base": "h200", "workload": {"model": "memoryformer-base", "seq_len": 2048, "batch": 1},
        "axes": {"memory.dram.bandwidth": {"logspace": ["1 TB/s", "16 TB/s"], "n": 10},
                 "lookup.banks": [64, 128, 256, 512],
                 "memory.sram[0].capacity": ["16 MiB", "64 MiB", "256 MiB"],
                 "memory.dram.latency": {"range": ["200 ns", "800 ns"], "n": 5}}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10000, help="points of the whole-command run (default 10000)")
    ap.add_argument("--workers", type=int, help="worker processes for the whole command (default: every core)")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    import hwsim
    import models
    from hwsim.config import override
    from hwsim.explore.fastpath import Evaluator
    from hwsim.explore.sampling import points
    from hwsim.explore.spec import load_spec
    from hwsim.explore.store import default_chunk_points
    from workloads.builders import preset_block

    cores = os.cpu_count() or 1
    print(f"{cores} cores; load average {os.getloadavg()[0]:.1f} (other processes share them)")
    spec = load_spec({**SPEC, "sampling": {"method": "lhs", "n": 2000, "seed": 0}})
    pts = points(spec)
    chunk = default_chunk_points(args.n)  # what one worker gets at a time in the whole command
    ev = Evaluator(spec)
    c = time.process_time()
    ev.rows(pts[:chunk])  # the first part traces the engine's paths (kept for every later part)
    first = time.process_time() - c
    rest = pts[chunk:]
    t, c = time.perf_counter(), time.process_time()
    for i in range(0, len(rest), chunk):
        ev.rows(rest[i:i + chunk])
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    fast = cpu / len(rest)
    print(f"fast path (Evaluator.rows, parts of {chunk} points), one process: {len(rest) / cpu:,.0f} points per "
          f"CPU-second ({1e3 * cpu / len(rest):.3f} ms CPU per point; {len(rest) / wall:,.0f} points/s wall); "
          f"the first part, tracing the engine: {1e3 * first:.0f} ms")
    few = pts[:300]
    one = Evaluator(spec)
    one.row(few[0])
    c = time.process_time()
    for p in few:
        one.row(p)
    cpu_row = (time.process_time() - c) / len(few)
    print(f"scalar fast path (Evaluator.row, point by point): {1 / cpu_row:,.0f} points per CPU-second "
          f"({1e3 * cpu_row:.3f} ms per point; the array path is {cpu_row / fast:.1f}x faster)")

    base = hwsim.load_accelerator("h200")
    w = preset_block(models.get_preset("memoryformer-base"), 2048)
    names = list(SPEC["axes"])
    few = pts[:200]
    c = time.process_time()
    for p in few:
        hwsim.simulate(w, override(base, {k: p[k] for k in names}))
    cpu_sim = time.process_time() - c
    print(f"hwsim.simulate + override per point: {len(few) / cpu_sim:,.0f} points per CPU-second "
          f"({1e3 * cpu_sim / len(few):.2f} ms per point; the fast path is {cpu_sim / len(few) / fast:.0f}x "
          "faster)")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_text(yaml.safe_dump({**SPEC, "sampling": {"method": "lhs", "n": args.n, "seed": 0}}))
        cmd = [sys.executable, "-m", "hwsim.cli", "sweep", str(path), "--out", str(Path(tmp) / "out"), "--quiet"]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the command and its workers, all reaped
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if r.returncode:
            sys.exit(r.stderr)
        used = args.workers or cores
        print(f"hwsim sweep, {args.n} LHS points (issue spec), whole command: {wall:.2f} s wall (load average "
              f"{os.getloadavg()[0]:.1f}), "
              f"{args.n / wall:,.0f} points/s, {args.n / wall / used:,.0f} points/s per core ({used} workers)")
        print(f"  CPU time of the command and its workers: {cpu:.2f} s ({1e3 * cpu / args.n:.3f} ms per point); "
              f"on {used} idle cores that is at least {cpu / used:.2f} s wall")
        print("  " + r.stdout.splitlines()[0])


if __name__ == "__main__":
    main()
