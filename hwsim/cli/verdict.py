"""CLI subcommand `verdict`: where MemoryFormer wins (hwsim.explore.verdict) -> verdict.csv, verdict.png,
findings.txt."""
from __future__ import annotations


def _names(flag: str, text: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    if not names:
        raise ValueError(f"{flag}: expected a comma-separated list, given {text!r}")
    return names


def _ints(flag: str, text: str) -> list[int]:
    out = []
    for x in _names(flag, text):
        try:
            v = int(x)
        except ValueError:
            v = 0
        if v <= 0:
            raise ValueError(f"{flag}: expected positive integers, comma-separated, given {x!r}")
        out.append(v)
    return out


def verdict(args) -> int:
    from hwsim.explore import verdict as v
    from hwsim.io.files import check_out_dir, save_figure, staged_outputs, write_csv

    models = _names("--models", args.models) if args.models else list(v.TWINS)
    accels = _names("--accelerators", args.accelerators) if args.accelerators else list(v.ACCELERATORS)
    batches = _ints("--batches", args.batches) if args.batches else list(v.BATCHES)
    if args.workers is not None and args.workers <= 0:
        raise ValueError(f"--workers: expected a positive integer, given {args.workers}")
    try:  # the flag names in the one line, before anything runs
        v.check_grid(models, accels, batches, ())
    except ValueError as e:
        raise ValueError(f"--{e}") from None
    check_out_dir(args.out)
    result = v.verdict(models, accels, batches, sweeps=() if args.no_sweeps else v.SWEEPS,
                       software=None if args.no_sweeps else v.SOFTWARE, workers=args.workers)
    from hwsim.report.verdict_plots import verdict_figure

    with staged_outputs(args.out) as out:  # all three files or none
        write_csv(result.frame, out / "verdict.csv")
        save_figure(verdict_figure(result.best), out / "verdict.png", tight=False)
        (out / "findings.txt").write_text("\n".join(result.findings) + "\n", encoding="utf-8")
    df = result.frame
    print(f"{len(df)} cells ({int(df['fits'].sum())} fit): {df['accelerator'].nunique()} designs x "
          f"{df.groupby(['model', 'phase', 'batch']).ngroups} (model, phase, batch); MF / TF per token:")
    show = result.best.assign(cell=lambda d: d["model"].str.replace("memoryformer-", "") + " " + d["phase"]
                              + " b" + d["batch"].astype(str))
    for col in ("latency_ratio", "energy_ratio"):  # n/f: does not fit; -: not in that sweep's grid
        text = show[col].map(lambda x: f"{x:.2f}").where(show["fits"], "n/f")
        table = show.assign(text=text).pivot(index="cell", columns="column", values="text")
        table = table.reindex(index=list(dict.fromkeys(show["cell"])), columns=list(dict.fromkeys(show["column"])))
        print(f"{col} (n/f: does not fit):")
        print(table.to_string(na_rep="-"))
    print("findings:")
    for line in result.findings:
        print(f"  {line}")
    print(f"wrote verdict.csv, verdict.png, findings.txt in {out.dir}")
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the `hwsim` parser."""
    p = sub.add_parser("verdict", help="where MemoryFormer beats its Pythia twin -> verdict.csv, verdict.png",
                       description="Runs each MemoryFormer preset and its Pythia twin (whole model steps: prefill of "
                                   "2048 tokens, decode of one token after a KV cache of 2048; batch 1, 8, 64) on "
                                   "h200, a100, cpu-ddr5, lut-asic, hbm-pim and small sweeps around lut-asic and "
                                   "hbm-pim, plus the H200 with each lookup kernel, and writes the MF / TF ratios of "
                                   "latency and energy per token, also at equal area (verdict.csv), a heat map "
                                   "(verdict.png) and the findings (findings.txt). See README, 'Where MemoryFormer "
                                   "wins'.")
    p.add_argument("--models", help="MemoryFormer presets, comma-separated (default: tiny, small and base)")
    p.add_argument("--accelerators", help="accelerator presets or YAML paths, comma-separated "
                                          "(default h200,a100,cpu-ddr5,lut-asic,hbm-pim)")
    p.add_argument("--batches", help="batch sizes, comma-separated (default 1,8,64)")
    p.add_argument("--no-sweeps", action="store_true", help="the accelerators only: no design or software sweeps")
    p.add_argument("--workers", type=int, help="sweep processes (default: every core; 1 runs in this process)")
    p.add_argument("--out", default="verdict", metavar="DIR", help="output directory (default: verdict)")
    p.set_defaults(func=verdict)
