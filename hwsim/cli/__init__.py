"""`hwsim` command line. Each subcommand writes CSV (and PNG where it plots) into --out DIR and prints a
short summary. Bad arguments end in one line naming the argument, never a traceback; a command's files
are written all together at the end or not at all (hwsim.io.files.staged_outputs), also on Ctrl-C.

One module per command group, each with a `register(sub)` that adds its subcommands; this module only wires
them together (nothing else in hwsim imports the CLI)."""
from __future__ import annotations

import argparse
import sys

from hwsim.cli import area, calibrate, explore, generate, paper, sim, validate, verdict
from hwsim.cli.args import Parser
from hwsim.io import files
from hwsim.io.interrupts import recording_sigint

GROUPS = (paper, sim, validate, area, explore, calibrate, generate, verdict)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="hwsim",
                    description="Hardware/model co-design simulator for MemoryFormer and Transformer blocks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for group in GROUPS:
        group.register(sub)
    return parser


def _one_line(e: BaseException) -> str:
    if isinstance(e, KeyError) and e.args:
        return str(e.args[0])
    if isinstance(e, OSError) and e.filename is not None:
        return f"{e.filename}: {e.strerror or e}"
    if isinstance(e, MemoryError):
        return "out of memory; lower --seq-len or --batch"
    return str(e)  # a config or spec error lists each of its problems on a line of its own


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    commits = files.commits
    try:
        with recording_sigint():  # a Ctrl-C swallowed on the way still stops the run (hwsim.io.interrupts)
            return args.func(args) or 0
    except KeyboardInterrupt:
        what = "no output was written" if files.commits == commits else "its output was already complete"
        print(f"hwsim {args.command}: interrupted; {what}", file=sys.stderr)
        return 130
    except (ValueError, OSError, KeyError, MemoryError) as e:
        print(f"hwsim {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2
