"""How good and how fast the guided search is (printed, never asserted).

1. The 540-point grid around lut-asic (tests' lut_space): the brute-force front's hypervolume against NSGA-II's
   and random sampling's after the same number of evaluations, over five seeds.
2. docs/sweeps/lut_asic_nsga2.yaml (2000 NSGA-II evaluations, continuous ranges) against docs/sweeps/
   lut_asic.yaml (2000 Latin-hypercube points of the same bounds): fronts, hypervolume on the union's span,
   wall time of the whole command.

    python benchmarks/bench_search.py [--budgets 100,200] [--workers N]

Hypervolume: objectives (latency_s, energy_j, area_mm2) normalised to the span of the feasible points of the
reference set (0 best, 1 worst), reference point 1.1 in each; exact (hwsim.explore.search.hypervolume).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
OBJ = ["latency_s", "energy_j", "area_mm2"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--budgets", default="100,200", help="evaluations of the grid comparison (default 100,200)")
    ap.add_argument("--workers", type=int, help="worker processes for part 2 (default: every core)")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from hwsim.explore.pareto import pareto
    from hwsim.explore.runner import run_sweep
    from hwsim.explore.search import hypervolume
    from tests.hwsim.explore.sweep_helpers import lut_space

    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} (other processes share them)")
    tmp = Path(tempfile.mkdtemp(prefix="bench_search_"))

    def scorer(frame):
        ok = frame[frame["feasible"] & (frame["error"] == "")]
        lo, hi = ok[OBJ].min().to_numpy(), ok[OBJ].max().to_numpy()
        return lambda df: hypervolume((pareto(df, OBJ)[OBJ].to_numpy() - lo) / (hi - lo), [1.1] * 3)

    t = time.perf_counter()
    grid = run_sweep(lut_space(), tmp / "grid", workers=1, progress=False)
    hv = scorer(grid.frame)
    best = hv(grid.frame)
    print(f"grid: {grid.points} points in {time.perf_counter() - t:.2f} s, {len(pareto(grid.frame, OBJ))} on the front, "
          f"hypervolume {best:.4f}")
    for n in map(int, args.budgets.split(",")):
        ours, theirs, distinct, secs = [], [], [], []
        for seed in range(5):
            t = time.perf_counter()
            r = run_sweep(lut_space(sampling={"method": "nsga2", "n": n, "seed": seed, "population": 20}),
                          tmp / f"n{n}-{seed}", workers=1, progress=False)
            secs.append(time.perf_counter() - t)
            q = run_sweep(lut_space(sampling={"method": "random", "n": n, "seed": seed}), tmp / f"r{n}-{seed}",
                          workers=1, progress=False)
            ours.append(hv(r.frame) / best)
            theirs.append(hv(q.frame) / best)
            distinct.append(r.points)
        print(f"{n} evaluations (population 20), seeds 0-4: nsga2 {min(ours):.3f}-{max(ours):.3f} of the grid's "
              f"hypervolume (mean {np.mean(ours):.3f}; {min(distinct)}-{max(distinct)} distinct points, "
              f"{min(secs):.2f}-{max(secs):.2f} s in-process); random {min(theirs):.3f}-{max(theirs):.3f} "
              f"(mean {np.mean(theirs):.3f})")

    docs = REPO / "docs" / "sweeps"
    runs = {}
    for name in ("lut_asic_nsga2", "lut_asic"):
        spec = yaml.safe_load((docs / f"{name}.yaml").read_text())
        t = time.perf_counter()
        runs[name] = run_sweep(spec, tmp / name, workers=args.workers, progress=False)
        runs[name] = (runs[name], time.perf_counter() - t)
    import pandas as pd

    both = pd.concat([runs["lut_asic"][0].frame.assign(src="lhs"), runs["lut_asic_nsga2"][0].frame.assign(src="nsga2")],
                     ignore_index=True)
    hv = scorer(both)
    for name, (r, secs) in runs.items():
        df = r.frame
        front = pareto(df, OBJ)
        print(f"{name}: {r.evaluations or r.points} evaluations, {r.points} distinct points, {int(df['feasible'].sum())} "
              f"feasible, {len(front)} on the front, hypervolume {hv(df):.4f}, {secs:.2f} s on {r.engine}; front "
              f"{front['area_mm2'].min():.0f}-{front['area_mm2'].max():.0f} mm^2, "
              f"{1e6 * front['latency_s'].min():.0f}-{1e6 * front['latency_s'].max():.0f} us")
    union = pareto(both, OBJ)
    print(f"union front: {len(union)} points, {int((union['src'] == 'nsga2').sum())} from nsga2, "
          f"{int((union['src'] == 'lhs').sum())} from lhs")


if __name__ == "__main__":
    main()
