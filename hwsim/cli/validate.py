"""CLI subcommand `validate`: predict the rows of a measured CSV and report the error."""
from __future__ import annotations

from hwsim.cli.args import add_accel, add_out, load_accel
from hwsim.io.files import out_dir, write_csv


def validate(args) -> int:
    import pandas as pd

    from hwsim.validate import validate as run

    try:
        measured = pd.read_csv(args.measured)
    except FileNotFoundError:
        raise ValueError(f"MEASURED: no such file {args.measured}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"{args.measured}: not a readable CSV ({str(e).strip()})") from None
    out = out_dir(args.out)
    load_accel("--accel", args.accel)
    try:
        df, s = run(measured, args.accel, engine=args.engine)
    except ValueError as e:
        raise ValueError(f"{args.measured}: {e}") from None
    write_csv(df, out / "validation.csv")
    err = df["error_pct"].abs()
    by = df.assign(abs_error_pct=err).groupby(["kind", "impl"], sort=False).agg(
        rows=("abs_error_pct", "size"), median_abs_error_pct=("abs_error_pct", "median"),
        worst_pct=("error_pct", lambda e: e.loc[e.abs().idxmax()] if e.notna().any() else float("nan")))
    print(by.round(1).to_string())
    for line in s["skipped"]:
        print(f"{args.measured}: {line}; row skipped")
    print(f"{args.measured} on {args.accel}: {s['predicted']} of {s['rows']} rows predicted; median absolute error "
          f"{s['median_abs_error_pct']:.1f}%, {100 * s['within_25_pct']:.0f}% of rows within 25%")
    if "energy_rows" in s:
        print(f"energy: {s['energy_rows']} rows, median absolute error {s['energy_median_abs_error_pct']:.1f}%, "
              f"{100 * s['energy_within_30_pct']:.0f}% within 30%")
    print(f"wrote {out / 'validation.csv'}")
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the `hwsim` parser."""
    p = sub.add_parser("validate", help="predict measured rows -> validation.csv",
                       description="Rebuilds the workload of every row of a measured CSV (the schema of "
                                   "data/calibration/h200/measured.csv; an optional timing column says wall or kernel time), "
                                   "predicts its time (and energy where the row has joules_per_call) and writes validation.csv: the input columns plus predicted_us, "
                                   "error_pct (and predicted_j, energy_error_pct). Prints the median absolute error "
                                   "and the share of rows within 25%.")
    p.add_argument("measured", metavar="MEASURED.csv")
    add_accel(p, "h200")
    p.add_argument("--engine", choices=["analytic", "des"], default="analytic")
    add_out(p)
    p.set_defaults(func=validate)
