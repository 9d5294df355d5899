"""Argument helpers shared by the command groups: the one-line-error parser, common flags, their checks."""
from __future__ import annotations

import argparse


class Parser(argparse.ArgumentParser):
    """argparse prints the usage block before its error; a user needs only the one line naming the argument."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_out(p, default="out"):
    p.add_argument("--out", default=default, metavar="DIR", help=f"output directory (default: {default})")


def add_accel(p, default):
    p.add_argument("--accel", default=default, help=f"accelerator preset name or YAML path (default {default})")


def add_model(p, default, help=None):
    p.add_argument("--model", default=default, help=help or f"model preset (default {default})")


def add_sim_options(p, engine=True):
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


def positive_arg(name: str, value: int) -> None:
    if value <= 0:
        raise ValueError(f"{name}: expected a positive integer, given {value}")



def load_accel(flag: str, name):
    import hwsim

    try:
        return hwsim.load_accelerator(name)
    except hwsim.ConfigError as e:
        raise ValueError(f"{flag}: {e}") from None


def sim_options(args) -> dict:
    opts = {}
    for key in ("mode", "lowering", "lookup_impl", "bank_mapping"):
        v = getattr(args, key, None)
        if v is not None:
            opts[key] = v
    if getattr(args, "engine", "analytic") == "des":
        for key in ("bucket_distribution", "zipf_exponent", "seed", "coarse"):
            v = getattr(args, key, None)
            if v is not None:
                opts[key] = v
    return opts
