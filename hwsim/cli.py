"""`hwsim` command line. Each subcommand writes CSV (and PNG where it plots) into --out DIR and prints a
short summary. Bad arguments end in one line naming the argument, never a traceback."""
from __future__ import annotations

import argparse
import sys

from hwsim import commands, sim_commands


class _Parser(argparse.ArgumentParser):
    """argparse prints the usage block before its error; a user needs only the one line naming the argument."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_out(p, default="out"):
    p.add_argument("--out", default=default, metavar="DIR", help=f"output directory (default: {default})")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hwsim",
        description="Hardware/model co-design simulator for MemoryFormer and Transformer blocks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

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

    p = sub.add_parser("simulate", help="one block of a model preset on an accelerator -> ops.csv, summary.csv",
                       description="Simulates one block of a model preset and prints a per-op table (time, bound, "
                                   "FLOPs, DRAM bytes, energy) with totals for the block and the whole model. Writes "
                                   "ops.csv and summary.csv (and gantt.png, bank_load.png with --engine des).")
    _add_accel(p, "h200")
    _add_model(p, "memoryformer-base")
    _add_sim_options(p)
    p.add_argument("--traced", action="store_true",
                   help="trace the block on real CPU tensors so lookups carry their index streams (slower)")
    p.add_argument("--trace-json", metavar="PATH", help="with --engine des: write a Chrome/Perfetto trace")
    _add_out(p)
    p.set_defaults(func=sim_commands.simulate)

    p = sub.add_parser("compare", help="Transformer vs MemoryFormer blocks of the same size -> compare.csv",
                       description="Simulates a Pythia preset and the MemoryFormer of the same size on one or several "
                                   "accelerators and prints FLOPs, bytes, latency, energy and their ratios. Writes "
                                   "compare.csv.")
    p.add_argument("--accel", default="all", help="preset names or YAML paths, comma-separated, or 'all' (default)")
    _add_model(p, "pythia-410m", help="Transformer preset (default pythia-410m, compared with memoryformer-base)")
    _add_sim_options(p)
    _add_out(p)
    p.set_defaults(func=sim_commands.compare)

    p = sub.add_parser("roofline", help="roofline plot with each op of a block placed -> roofline.csv, roofline.png",
                       description="Places every op of one block on the accelerator's roofline (FLOP/s against "
                                   "FLOPs per DRAM byte, with random-gather roofs). Writes roofline.csv, roofline.png.")
    _add_accel(p, "h200")
    _add_model(p, "memoryformer-base")
    _add_sim_options(p, engine=False)
    _add_out(p)
    p.set_defaults(func=sim_commands.roofline)

    p = sub.add_parser("validate", help="predict measured rows -> validation.csv",
                       description="Rebuilds the workload of every row of a measured CSV (the schema of "
                                   "data/calibration/h200/measured.csv), predicts its time (and energy where the row has "
                                   "joules_per_call) and writes validation.csv: the input columns plus predicted_us, "
                                   "error_pct (and predicted_j, energy_error_pct). Prints the median absolute error "
                                   "and the share of rows within 25%.")
    p.add_argument("measured", metavar="MEASURED.csv")
    _add_accel(p, "h200")
    p.add_argument("--engine", choices=["analytic", "des"], default="analytic")
    _add_out(p)
    p.set_defaults(func=sim_commands.validate)
    return parser


def _add_accel(p, default):
    p.add_argument("--accel", default=default, help=f"accelerator preset name or YAML path (default {default})")


def _add_model(p, default, help=None):
    p.add_argument("--model", default=default, help=help or f"model preset (default {default})")


def _add_sim_options(p, engine=True):
    p.add_argument("--seq-len", type=int, default=2048, help="tokens per sequence (default 2048)")
    p.add_argument("--batch", type=int, default=1, help="sequences (default 1)")
    if engine:
        p.add_argument("--engine", choices=["analytic", "des"], default="analytic")
    p.add_argument("--mode", choices=["eager", "graph"], help="launch mode (default: the accelerator's)")
    p.add_argument("--lowering", choices=["torch", "fused"], help="op-to-kernel lowering (default: the accelerator's)")
    p.add_argument("--lookup-impl", dest="lookup_impl", choices=["embedding_bag", "gather_sum", "fused"],
                   help="lookup kernel for the torch lowering (default embedding_bag)")
    p.add_argument("--bank-mapping", dest="bank_mapping", choices=["interleaved", "by_table", "hashed"],
                   help="where table rows live in lookup banks (default interleaved)")
    if engine:
        p.add_argument("--bucket-distribution", dest="bucket_distribution", choices=["uniform", "zipf"],
                       help="DES without index streams: how buckets are drawn (default uniform)")
        p.add_argument("--zipf-exponent", dest="zipf_exponent", type=float, help="DES: Zipf exponent")
        p.add_argument("--seed", type=int, help="DES: seed for drawn buckets")
        p.add_argument("--coarse", action="store_true", default=None,
                       help="DES: batch lookups per bank per tile (faster)")


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
