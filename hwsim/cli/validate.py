"""CLI subcommand `validate`: predict the rows of a measured CSV and report the error."""
from __future__ import annotations

from pathlib import Path

from hwsim.cli.args import add_accel, add_out, load_accel
from hwsim.io.files import staged_outputs, write_csv

SHOW_SKIPPED = 10  # lines of the skipped list printed; validation.csv's `skipped` column has them all


def read_measured(path: str):
    import pandas as pd

    p = Path(path)
    if p.is_dir():
        raise ValueError(f"MEASURED: {path} is a directory; expected a CSV file")
    try:
        # blank lines kept (and dropped by validate) so that row positions are the file's line numbers
        return pd.read_csv(p, skip_blank_lines=False)
    except FileNotFoundError:
        raise ValueError(f"MEASURED: no such file {path}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"{path}: not a readable CSV ({str(e).strip()})") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot read the file ({e.strerror})") from None


def validate(args) -> int:
    from hwsim.io.progress import progress_bar
    from hwsim.validate import unpredicted_rows
    from hwsim.validate import validate as run

    measured = read_measured(args.measured)
    accel = load_accel("--accel", args.accel)
    # the DES takes seconds per block row: show where it is (the analytic engine is done in a second)
    bar = progress_bar(len(measured), f"validate ({args.engine}) on {accel.name}", enabled=args.engine == "des",
                       unit="row")
    try:
        df, s = run(measured, accel, engine=args.engine, progress=bar)
    except ValueError as e:
        bar.close()
        raise ValueError(f"{args.measured}: {e}") from None
    except KeyboardInterrupt:
        bar.close(interrupted=True)
        raise
    bar.close()
    skipped = unpredicted_rows(df)
    with staged_outputs(args.out) as out:
        write_csv(df, out / "validation.csv")
    predicted = df[df["predicted_us"].notna()]
    err = predicted["error_pct"].abs()
    by = predicted.assign(abs_error_pct=err).groupby(["kind", "impl"], sort=False).agg(
        rows=("abs_error_pct", "size"), median_abs_error_pct=("abs_error_pct", "median"),
        worst_pct=("error_pct", lambda e: e.loc[e.abs().idxmax()]))
    print(by.round(1).to_string())
    if skipped:
        print(f"{len(skipped)} row(s) without a prediction (line in {args.measured}: why; invalid rows are left out, "
              "rows not modelled count as misses):")
        for line in skipped[:SHOW_SKIPPED]:
            print(f"  {line}")
        if len(skipped) > SHOW_SKIPPED:
            print(f"  ... and {len(skipped) - SHOW_SKIPPED} more (the skipped column of validation.csv)")
    median = s["median_abs_error_pct"]
    median_text = (f"median absolute error {median:.1f}%" if median != float("inf") else
                   "median absolute error undefined (more than half the rows are not modelled)")
    print(f"{args.measured} on {accel.name}: {s['predicted']} of {s['rows']} rows predicted"
          + (f" ({len(s['skipped'])} invalid rows left out)" if s["skipped"] else "")
          + f"; {median_text}, {100 * s['within_25_pct']:.0f}% of rows within 25%")
    if s.get("energy_rows"):
        print(f"energy: {s['energy_rows']} rows, median absolute error {s['energy_median_abs_error_pct']:.1f}%, "
              f"{100 * s['energy_within_30_pct']:.0f}% within 30%")
    print(f"wrote {out.dir / 'validation.csv'}")
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the `hwsim` parser."""
    p = sub.add_parser("validate", help="predict measured rows -> validation.csv",
                       description="Rebuilds the workload of every row of a measured CSV (the schema of "
                                   "data/calibration/h200/measured.csv; an optional timing column says wall or "
                                   "kernel time), predicts its time (and energy where the row has joules_per_call) "
                                   "and writes validation.csv: the input columns plus predicted_us, "
                                   "error_pct (and predicted_j, energy_error_pct), predicted_bound and skipped (why a "
                                   "row has no prediction). Prints the median absolute error, the share of rows "
                                   "within 25%, and each skipped row with its line number. --engine des shows a "
                                   "progress bar.")
    p.add_argument("measured", metavar="MEASURED.csv")
    add_accel(p, "h200")
    p.add_argument("--engine", choices=["analytic", "des"], default="analytic")
    add_out(p)
    p.set_defaults(func=validate)
