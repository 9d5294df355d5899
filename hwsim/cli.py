"""`hwsim` command line. Each subcommand writes CSV (and PNG where it plots) into --out DIR and prints a
short summary. Bad arguments end in one line naming the argument, never a traceback."""
from __future__ import annotations

import argparse
import sys

from hwsim import commands


def _add_out(p, default="out"):
    p.add_argument("--out", default=default, metavar="DIR", help=f"output directory (default: {default})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hwsim",
        description="Hardware/model co-design simulator for MemoryFormer and Transformer blocks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("figure1", help="paper's Figure 1: FLOPs per block vs hidden size -> figure1.csv, figure1.png",
                       description="Writes figure1.csv (model, seq_len, hidden_size, flops_paper, flops, "
                                   "flops_paper_ops) and figure1.png (paper convention and exact counts).")
    p.add_argument("--tau", type=int, default=8, help="bits per chunk (default 8)")
    _add_out(p)
    p.set_defaults(func=commands.figure1)

    p = sub.add_parser("tables", help="paper's Tables 1, 3, 5 and model memory -> table1.csv, table3.csv, "
                                      "table5.csv, model_memory.csv",
                       description="Writes table1.csv, table3.csv, table5.csv (the paper's tables, computed) "
                                   "and model_memory.csv (parameters and table bytes per block and model).")
    p.add_argument("--seq-len", type=int, default=2048, help="tokens per sequence (default 2048, as the paper)")
    _add_out(p)
    p.set_defaults(func=commands.tables)

    p = sub.add_parser("buckets", help="paper's Figure 4: bucket use per table from a traced run -> buckets.csv, "
                                       "buckets_summary.csv, buckets.png",
                       description="Traces one block of a MemoryFormer preset on Gaussian inputs and counts hits "
                                   "per bucket in the first and last table of every Memory Layer. Writes "
                                   "buckets.csv, buckets_summary.csv and buckets.png.")
    p.add_argument("--model", default="memoryformer-tiny", help="MemoryFormer preset (default memoryformer-tiny)")
    p.add_argument("--seq-len", type=int, default=1024, help="tokens per sequence (default 1024)")
    p.add_argument("--batch", type=int, default=16, help="sequences traced (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--all-tables", action="store_true", help="count every table, not only the first and last")
    _add_out(p)
    p.set_defaults(func=commands.buckets)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except (ValueError, FileNotFoundError, KeyError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"hwsim {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hwsim {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
