"""What rotary, RMSNorm and Memory Layer biases add to a block's time (printed, never asserted).

    python benchmarks/block_options.py [--accel h200,cpu-2core] [--seq-lens 2048,128,1]

Part 1: the presets' "paper" blocks (LayerNorm, no rotary, no bias) against their released blocks,
and each released option switched on alone, simulated with the analytic engine (eager, batch 1; what
`hwsim compare --norm ... --rotary-pct ... --memory-bias` gives one setting at a time).
Part 2: the calibration's bench blocks (d 1024, 16 heads) with one option at a time, simulated as
hwsim.validate simulates the measured rows, beside the medians measured on an H200 by
benchmarks/h200_block_options.py (benchmarks/data/h200_block_options.csv, three runs).
"""
from __future__ import annotations

import argparse
from pathlib import Path

DATA = Path(__file__).parent / "data" / "h200_block_options.csv"

# one option of the released blocks at a time, then all of them ("released")
STEPS = {"transformer": [("paper", {}), ("+rotary 0.25", dict(rotary_pct=0.25)), ("+rmsnorm", dict(norm="rmsnorm"))],
         "memoryformer": [("paper", {}), ("+rotary 0.25", dict(rotary_pct=0.25)), ("+rmsnorm", dict(norm="rmsnorm")),
                          ("+bias", dict(memory_bias=True)), ("+official weighting", dict(weighting="official"))]}
# benchmarks/h200_block_options.py variants as block() options on top of the bench blocks
BENCH_STEPS = {"bench": {}, "+rotary0.25": dict(rotary_pct=0.25), "+rotary1": dict(rotary_pct=1.0),
               "+rmsnorm": dict(norm="rmsnorm"), "pythia": dict(rotary_pct=0.25, parallel_residual=True),
               "+bias": dict(memory_bias=True), "+all3": dict(rotary_pct=0.25, norm="rmsnorm", memory_bias=True),
               "released": dict(rotary_pct=0.25, norm="rmsnorm", memory_bias=True, share_qkv_hash=True)}


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f}"


def presets_table(accels, seq_lens) -> None:
    import hwsim
    import models
    from workloads.builders import preset_block

    for name in ("pythia-410m", "memoryformer-base"):
        p = models.get_preset(name)
        print(f"\n{name} block, batch 1, eager, time per block in us (change against the paper block):")
        header = ["accelerator", "seq"] + [s for s, _ in STEPS[p.kind]] + ["released"]
        rows = []
        for accel in accels:
            for seq in seq_lens:
                base = hwsim.simulate(preset_block(p, seq, variant="paper"), accel).latency_s
                cells = [accel, str(seq), us(base)]
                for label, opts in STEPS[p.kind][1:] + [("released", None)]:
                    w = preset_block(p, seq) if opts is None else preset_block(p, seq, variant="paper", **opts)
                    t = hwsim.simulate(w, accel).latency_s
                    cells.append(f"{us(t)} ({100 * (t / base - 1):+.0f}%)")
                rows.append(cells)
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        for r in [header] + rows:
            print("  ".join(c.rjust(w) for c, w in zip(r, widths)))


def bench_table(seq_lens) -> None:
    import pandas as pd

    import hwsim
    from hwsim.validate import flush_head_start_s
    from workloads import builders

    if not DATA.exists():
        return
    meas = pd.read_csv(DATA).groupby(["variant", "seq"])["time_us"].median()
    h200 = hwsim.load_accelerator("h200")
    print("\nbench blocks (d 1024, 16 heads, batch 1, bf16, eager) on h200: simulated / measured median, us")
    for kind in ("transformer", "memoryformer"):
        for label, opts in BENCH_STEPS.items():
            key = f"{kind}:{label}"
            if (key, seq_lens[0]) not in meas:
                continue
            cells = []
            for seq in seq_lens:
                w = builders.block(kind, 1024, seq, 1, 16, **{**builders.BENCH_BLOCK[kind], **opts})
                r = hwsim.simulate(w, h200, host_head_start_s=flush_head_start_s(h200))
                m = meas.get((key, seq))
                cells.append(f"s={seq}: {us(r.latency_s):>5} / {m:5.0f}" if m is not None else f"s={seq}: {us(r.latency_s)}")
            print(f"  {key:26s} " + "   ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accel", default="h200,cpu-2core")
    ap.add_argument("--seq-lens", default="2048,128,1")
    args = ap.parse_args()
    seq_lens = [int(s) for s in args.seq_lens.split(",")]
    presets_table(args.accel.split(","), seq_lens)
    bench_table(seq_lens)


if __name__ == "__main__":
    main()
