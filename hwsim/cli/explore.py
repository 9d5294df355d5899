"""CLI subcommands for design-space exploration: sweep (spec -> Parquet dataset) and pareto (dataset -> front)."""
from __future__ import annotations

from hwsim.cli.args import add_out
from hwsim.config.units import fmt_energy, fmt_time


def sweep(args) -> int:
    from hwsim.explore.runner import run_sweep
    from hwsim.explore.spec import load_spec

    r = run_sweep(args.spec, args.out, scheduler=args.scheduler, workers=args.workers, progress=not args.quiet)
    df = r.frame
    errors = int((df["error"].fillna("") != "").sum()) if len(df) else 0
    infeasible = int((~df["feasible"].fillna(False).astype(bool)).sum()) - errors if len(df) else 0
    earlier = r.points - r.computed
    searched = f"nsga2: {r.evaluations} evaluations over {r.parts} generations, " if r.evaluations else ""
    print(f"{searched}{r.points} points ({r.computed} computed now on {r.engine}"
          + (f", {earlier} from an earlier run" if earlier else "") + f") in {r.seconds:.2f} s"
          + (f", {r.computed / r.seconds:,.0f} points/s" if r.computed and r.seconds > 0 else "")
          + f"; {errors} errors, {infeasible} infeasible")
    ok = df[(df["error"].fillna("") == "") & df["feasible"].fillna(False).astype(bool)] if len(df) else df
    if len(ok):
        best = ok.loc[ok["latency_s"].idxmin()]
        print(f"fastest point: {fmt_time(best['latency_s'])} per block, {fmt_energy(best['energy_j'])} (key "
              f"{best['key'][:12]})")
    if errors:
        first = df[df["error"].fillna("") != ""].iloc[0]
        print(f"first error (key {first['key'][:12]}): {first['error']}")
    if searched:
        print(f"front: hwsim pareto {r.out} --objectives {','.join(load_spec(args.spec).objectives)}")
    print(f"wrote {r.parts} parts in {r.out} (read with pandas.read_parquet)")
    return 0


def pareto(args) -> int:
    from pathlib import Path

    import pandas as pd

    from hwsim.explore.pareto import check_columns
    from hwsim.explore.pareto import pareto as front_of
    from hwsim.io.files import save_figure, staged_outputs, write_csv

    src = Path(args.dir)
    if not src.is_dir() or not any(src.glob("part-*.parquet")):
        raise ValueError(f"DIR: expected a sweep directory with part-*.parquet files, given {args.dir}")
    df = pd.read_parquet(src)
    objectives = [c.strip() for c in args.objectives.split(",") if c.strip()]
    check_columns(df, objectives, args.by)
    front = front_of(df, objectives, by=args.by)
    from hwsim.report.pareto_plots import pareto_figure

    ok = df[(df["error"].fillna("") == "") & df["feasible"].fillna(False).astype(bool)].dropna(subset=objectives)
    with staged_outputs(args.out or str(src / "_pareto")) as out:  # pareto.csv and pareto.png, both or neither
        write_csv(front, out / "pareto.csv")
        save_figure(pareto_figure(ok, front, objectives, by=args.by), out / "pareto.png")
    print(f"{len(front)} of {len(ok)} usable points are on the front of {', '.join(objectives)}"
          + (f" (one front per {args.by})" if args.by else "") + f"; {len(df) - len(ok)} rows with errors, "
          "infeasible or missing an objective left out")
    cols = [c for c in ("base", "model", args.by) if c and c in front.columns]
    show = front[list(dict.fromkeys(cols + objectives))].head(10)
    print(show.to_string(index=False))
    print(f"wrote pareto.csv, pareto.png in {out.dir}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("sweep", help="design-space sweep from a YAML spec -> Parquet dataset in --out DIR",
                       description="Runs every point of a sweep spec (base accelerators x workloads x accelerator axes, "
                                   "grid / random / lhs, or the points an NSGA-II search proposes: nsga2) with the analytic engine and writes one row per point to a "
                                   "Parquet dataset in DIR (part-*.parquet). Rerunning the same command resumes.")
    p.add_argument("spec", metavar="SPEC.yaml", help="the sweep spec")
    add_out(p, "sweep")
    p.add_argument("--workers", type=int, help="worker processes (default: every core; 1 runs in this process)")
    p.add_argument("--scheduler", metavar="ADDRESS|local",
                   help="run on Dask: tcp://HOST:PORT of a scheduler, or 'local' to start a LocalCluster")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=sweep)

    p = sub.add_parser("pareto", help="Pareto front of a sweep -> pareto.csv, pareto.png",
                       description="Reads a sweep's dataset and writes the rows no other row beats in every objective "
                                   "(all minimised; rows with errors or failed constraints left out) to pareto.csv, "
                                   "with a pairwise plot pareto.png.")
    p.add_argument("dir", metavar="DIR", help="a sweep directory (hwsim sweep --out)")
    p.add_argument("--objectives", default="latency_s,energy_j,area_mm2",
                   help="comma-separated columns to minimise (default latency_s,energy_j,area_mm2)")
    p.add_argument("--by", help="one front per value of this column (e.g. model, base)")
    p.add_argument("--out", metavar="DIR", help="output directory (default: DIR/_pareto, which Parquet readers skip)")
    p.set_defaults(func=pareto)
