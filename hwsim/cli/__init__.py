"""`hwsim` command line. Each subcommand writes CSV (and PNG where it plots) into --out DIR and prints a
short summary. Bad arguments end in one line naming the argument, never a traceback.

One module per command group, each with a `register(sub)` that adds its subcommands; this module only wires
them together (nothing else in hwsim imports the CLI)."""
from __future__ import annotations

import argparse
import sys

from hwsim.cli import area, calibrate, explore, generate, paper, sim, validate
from hwsim.cli.args import Parser

GROUPS = (paper, sim, validate, area, explore, calibrate, generate)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="hwsim",
                    description="Hardware/model co-design simulator for MemoryFormer and Transformer blocks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for group in GROUPS:
        group.register(sub)
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

