"""`hwsim calibrate --device cpu|cuda [--quick] --name NAME --out DIR`: the subcommand and its report."""
from __future__ import annotations

from hwsim.cli.args import add_out
from hwsim.config.units import fmt_bandwidth, fmt_flop_rate, fmt_time

DESCRIPTION = (
    "Runs micro-benchmarks with torch on this machine (matrix rates per dtype, streaming copy and skinny-product "
    "bandwidth, random-row gathers over 64 B to 8 KiB rows, dependent-read latency, per-op launch costs, "
    "embedding_bag), then a validation set of layers, Memory Layers and blocks. Writes DIR/NAME.yaml (a preset "
    "that hwsim.load_accelerator loads; every measured number commented with its benchmark; energies and other "
    "unmeasurable values from the nearest stock preset), DIR/measured.csv (the benchmark and validation rows) "
    "and DIR/validation.csv, and prints how well the new preset predicts the validation rows. Nothing is "
    "written unless the whole run succeeds.")


def register(sub) -> None:
    from hwsim.calibrate import DEFAULT_ROUNDS, DEVICES

    p = sub.add_parser("calibrate", help="benchmark this machine -> a preset of it (NAME.yaml), measured.csv, "
                                         "validation.csv", description=DESCRIPTION)
    p.add_argument("--device", required=True, choices=DEVICES, help="what to calibrate: the CPU or the CUDA GPU")
    p.add_argument("--quick", action="store_true", help="smaller sizes and shorter timing (under 3 minutes on 2 cores)")
    p.add_argument("--name", required=True, help="preset name, also the file stem of DIR/NAME.yaml")
    p.add_argument("--threads", type=int, help="CPU: torch threads to calibrate with (default: every core)")
    p.add_argument("--statistic", choices=["median", "min"], default="median",
                   help="CPU: the median of repeated calls (default), or their minimum on a machine other "
                        "processes share (the calls it ran alone)")
    p.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                   help=f"run every benchmark and validation case this many times, spread over the run, and keep "
                        f"the best of each (default {DEFAULT_ROUNDS}): a machine whose speed drifts as other "
                        f"tenants load it gives slow rounds")
    add_out(p, "calibration")
    p.set_defaults(func=run)


def run(args) -> int:
    from hwsim.calibrate import calibrate

    cal = calibrate(args.device, args.name, args.out, quick=args.quick, statistic=args.statistic,
                    threads=args.threads, rounds=args.rounds)
    print(report(cal))
    return 0


def report(cal) -> str:
    f, m = cal.figures, cal.machine
    unit = "SMs" if m.device == "cuda" else "threads"
    lines = [f"{m.model} ({m.device}, {m.cores} {unit}, torch {m.torch_version}):"]
    rates = ", ".join(f"{k.split('.')[1]} {fmt_flop_rate(v.value)}" for k, v in f.items() if k.startswith("matrix."))
    lines.append(f"  matrix products: {rates}")
    mem = [f"copy {fmt_bandwidth(f['dram.copy'].value)}"]
    if "dram.read" in f:
        mem.append(f"read {fmt_bandwidth(f['dram.read'].value)}")
    mem += [f"{k.split('.')[1]} read {fmt_bandwidth(v.value)}" for k, v in f.items()
            if k.startswith("cache.") and k.endswith(".bandwidth")]
    lines.append(f"  memory: {', '.join(mem)}")
    skinny = [(int(k.split('.')[1]), v.value) for k, v in f.items() if k.startswith("skinny.")]
    if skinny:
        lines.append("  skinny products stream weights at: "
                     + ", ".join(f"{n} tokens {fmt_bandwidth(v)}" for n, v in sorted(skinny)))
    gathers = sorted((int(k.split('.')[1]), v.value) for k, v in f.items() if k.startswith("gather."))
    if gathers:
        lines.append("  random row gathers: " + ", ".join(f"{rb} B {fmt_bandwidth(v)}" for rb, v in gathers))
    lat = [f"{k.split('.')[1]} {fmt_time(v.value)}" for k, v in f.items() if k.startswith("latency.")]
    if lat:
        lines.append(f"  dependent-read latency: {', '.join(lat)}")
    launch = [f"{k.split('.')[1]} {fmt_time(v.value)}" for k, v in f.items() if k.startswith("launch.")]
    lines.append(f"  launch: {', '.join(launch)}")
    if "memory_layer.wrapper" in f:
        lines.append(f"  custom-op wrapper of models.MemoryLayer: {f['memory_layer.wrapper'].detail}")
    if "attention" in f:
        lines.append(f"  attention: {fmt_flop_rate(f['attention'].value)}")
    if "special_function" in f:
        lines.append(f"  special functions (exp): {f['special_function'].value / 1e9:.3g} G evaluations/s")
    for s in cal.skipped:
        lines.append(f"  skipped {s}")
    lines.append(cal.by_impl.round(1).to_string())
    s, c = cal.summary, cal.ceiling_summary
    lines.append(f"validation ({s['rows']} rows the preset was not taken from): median absolute error "
                 f"{s['median_abs_error_pct']:.1f}%, {100 * s['within_25_pct']:.0f}% of rows within 25%")
    lines.append(f"ceilings ({c['rows']} benchmark rows the preset was taken from): median absolute error "
                 f"{c['median_abs_error_pct']:.1f}%, {100 * c['within_25_pct']:.0f}% within 25%")
    lines.append(f"wrote {cal.preset}, {cal.measured}, {cal.validation}")
    if m.device == "cpu" and cal.load_average is not None and cal.load_average > 1.5 * m.cores:
        lines.append(f"warning: load average {cal.load_average:.1f} on {m.cores} cores: other processes shared the "
                     f"CPU, so every figure above is slower and noisier than the machine alone"
                     + ("; --statistic min keeps the calls it ran alone" if cal.statistic == "median" else ""))
    lines.append(f"wall time {cal.wall_s:.1f} s")
    return "\n".join(lines)
