"""CLI subcommand `area`: die area by component (hwsim.area), and the check against published dies."""
from __future__ import annotations

from hwsim.cli.args import accel_list
from hwsim.io.files import check_out_dir, staged_outputs, write_csv


def area(args) -> int:
    import pandas as pd

    from hwsim.area import PUBLISHED_DIES, area_breakdown, area_mm2, full_die, node_of

    accels = accel_list("--accel", args.accel)  # every name checked before anything is written
    if args.out:
        check_out_dir(args.out)
    rows = [(a.name, comp, mm2) for a in accels for comp, mm2 in area_breakdown(a).items()]
    df = pd.DataFrame(rows, columns=["accelerator", "component", "area_mm2"])
    table = df.pivot(index="component", columns="accelerator", values="area_mm2")
    seen = list(dict.fromkeys(df["component"]))  # model order; one accelerator's SRAM levels beside another's
    order = ["matrix", "vector", "cores", *[c for c in seen if c.startswith("sram.")],
             *[c for c in seen if c not in ("matrix", "vector", "cores") and not c.startswith("sram.")]]
    print("Die area by component, mm^2 (hwsim.area; units the product enables):")
    print(table.loc[order].round(1).to_string(na_rep=""))
    print("nodes: " + ", ".join(f"{a.name} {node_of(a).name}" for a in accels))
    for a in accels:
        die = PUBLISHED_DIES.get(a.name)
        if die is not None:
            model = area_mm2(full_die(a, die.changes))
            print(f"{a.name}: whole {die.chip} die: model {model:.0f} mm^2, published {die.area_mm2:.0f} mm^2 "
                  f"({die.source}): {100 * (model / die.area_mm2 - 1):+.1f}% ({die.note})")
    if args.out:
        with staged_outputs(args.out) as out:
            write_csv(df, out / "area.csv")
        print(f"wrote {out.dir / 'area.csv'}")
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the `hwsim` parser."""
    p = sub.add_parser("area", help="die area by component -> area.csv",
                       description="Prices an accelerator's silicon, Accelergy/CACTI style: MACs, vector lanes, "
                                   "per-core control, SRAM levels and lookup banks, hash units, DRAM PHYs and "
                                   "controllers, plus I/O and NoC as a stated fraction. Prints the breakdown and, "
                                   "for a100 and h200, the check against the published die. With --out writes "
                                   "area.csv (accelerator, component, area_mm2; one total row per accelerator).")
    p.add_argument("--accel", default="all", help="preset names or YAML paths, comma-separated, or all (default all)")
    p.add_argument("--out", metavar="DIR", help="also write DIR/area.csv (default: print only)")
    p.set_defaults(func=area)
