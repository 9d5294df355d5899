"""End-to-end `hwsim calibrate` on this machine's CPU (figures printed, never asserted): the whole
--quick run (benchmarks, validation set, preset, validate) into a temporary folder, its wall time, the
preset it wrote and how well that preset predicts the validation rows. Too slow for the unit tests
(about a minute on 2 cores); tests/hwsim/calibrate runs the same code at tiny sizes.

    python benchmarks/bench_calibrate.py [--full] [--keep DIR]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--full", action="store_true", help="the full run (under 10 minutes) instead of --quick")
    ap.add_argument("--keep", metavar="DIR", help="write into DIR and keep it (default: a temporary folder)")
    args = ap.parse_args()

    from hwsim.calibrate import calibrate
    from hwsim.cli.calibrate import report

    out = args.keep or tempfile.mkdtemp(prefix="hwsim-bench-calibrate-")
    t0 = time.perf_counter()
    cal = calibrate("cpu", "bench-cpu", out, quick=not args.full)
    print(report(cal))
    print(f"load average during the run (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"calibrate --device cpu {'' if args.full else '--quick'}: {time.perf_counter() - t0:.1f} s in all")


if __name__ == "__main__":
    main()
