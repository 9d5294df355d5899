"""What the DES plots and trace add to a DES run (printed, never asserted).

The work `hwsim simulate --engine des --model memoryformer-tiny --seq-len N --trace-json t.json` does, timed
step by step in one process: the simulation (hwsim.simulate, explanations included), then the Gantt chart and
the bank-load figure (built and saved as PNG, as the CLI saves them), then the Perfetto trace. "plots" is the
two figures plus the trace; the share is plots / simulation (the goal: under 20%).

--barh also times the drawing this replaced (one matplotlib barh per timeline interval) on the same Result,
for comparison; it takes minutes from a few hundred thousand intervals on.

    python benchmarks/bench_plots.py [--presets lut-asic h200] [--seq-lens 2048 16384 65536] [--barh]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def barh_gantt(result, path):
    """The old Gantt drawing, for comparison: one barh per interval (the kernels' panel left out)."""
    import matplotlib.pyplot as plt

    from hwsim.io.files import save_figure

    timeline = result.extra.get("timeline") or []
    resources = list(dict.fromkeys(r for r, *_ in timeline))
    row = {r: i for i, r in enumerate(resources)}
    fig, ax = plt.subplots(figsize=(11, 0.28 * len(resources) + 2.2))
    for res, op, start, end in timeline:
        ax.barh(row[res], (end - start) * 1e6, left=start * 1e6, height=0.7)
    save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--presets", nargs="+", default=["lut-asic", "h200"])
    ap.add_argument("--seq-lens", nargs="+", type=int, default=[2048, 16384, 65536])
    ap.add_argument("--barh", action="store_true", help="also time one barh per interval (slow)")
    args = ap.parse_args()

    t = time.perf_counter()
    import matplotlib  # noqa: F401  (imported once, as the CLI does, before anything is timed)

    import hwsim
    import models
    import workloads
    from hwsim.io.files import save_figure
    from hwsim.io.trace import write_trace_json
    from hwsim.report import des_plots

    print(f"imports (hwsim, workloads, matplotlib): {time.perf_counter() - t:.2f} s, paid once per command")
    preset = models.get_preset("memoryformer-tiny")
    out = Path(tempfile.mkdtemp(prefix="bench-plots-"))
    print(f"{'preset':>9} {'seq':>6} {'intervals':>10} {'simulate':>9} {'gantt':>7} {'banks':>7} {'trace':>7} "
          f"{'plots':>7} {'share':>6}" + ("   barh gantt" if args.barh else ""))
    for name in args.presets:
        accel = hwsim.load_accelerator(name)
        for seq in args.seq_lens:
            w = workloads.builders.preset_block(preset, seq, 1)
            t = time.perf_counter()
            r = hwsim.simulate(w, accel, engine="des")
            r.extra["explanations"]  # computed on first access; the CLI prints them
            sim_s = time.perf_counter() - t
            t = time.perf_counter()
            save_figure(des_plots.gantt_figure(r), out / "gantt.png", tight=False)
            gantt_s = time.perf_counter() - t
            t = time.perf_counter()
            save_figure(des_plots.bank_load_figure(r), out / "bank_load.png", tight=False)
            banks_s = time.perf_counter() - t
            t = time.perf_counter()
            write_trace_json(r, out / "trace.json")
            trace_s = time.perf_counter() - t
            plots_s = gantt_s + banks_s + trace_s
            line = (f"{name:>9} {seq:>6} {len(r.extra['timeline']):>10,} {sim_s:>8.2f}s {gantt_s:>6.2f}s "
                    f"{banks_s:>6.2f}s {trace_s:>6.2f}s {plots_s:>6.2f}s {100 * plots_s / sim_s:>5.0f}%")
            if args.barh:
                t = time.perf_counter()
                barh_gantt(r, out / "barh.png")
                line += f"   {time.perf_counter() - t:8.2f}s"
            print(line, flush=True)


if __name__ == "__main__":
    main()
