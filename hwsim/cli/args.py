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
    p.add_argument("--lookup-impl", dest="lookup_impl",
                   choices=["embedding_bag", "gather_sum", "fused", "table_stationary"],
                   help="lookup kernel for the torch lowering (default embedding_bag; table_stationary: table "
                        "slices held in shared memory, tokens bucketed by table)")
    p.add_argument("--bank-mapping", dest="bank_mapping", choices=["interleaved", "by_table", "hashed"],
                   help="where table rows live in lookup banks (default interleaved)")
    add_lookup_hw_options(p)
    add_block_options(p)
    if engine:
        p.add_argument("--bucket-distribution", dest="bucket_distribution", choices=["uniform", "zipf"],
                       help="bucket law without index streams: drawn by the DES, expected by the analytic engine "
                            "(distinct rows, hot-row hits; default uniform)")
        p.add_argument("--zipf-exponent", dest="zipf_exponent", type=float, help="Zipf exponent of that law")
        p.add_argument("--seed", type=int, help="DES: seed for drawn buckets")
        p.add_argument("--coarse", action="store_true", default=None,
                       help="DES: batch lookups per bank per tile (faster)")


def add_lookup_hw_options(p):
    """Lookup hardware (hwsim.engines.lookup_hw): table precision, tier, hot-row cache."""
    p.add_argument("--table-dtype", dest="table_dtype", choices=["fp32", "bf16", "fp16", "fp8", "int8"],
                   help="bytes per table element (default: the model's dtype; accuracy is not modelled)")
    p.add_argument("--table-tier", dest="table_tier", choices=["sram", "dram", "host", "auto"],
                   help="where the model's tables live (default: the accelerator's lookup placement; auto: the "
                        "nearest tier that holds all layers' tables)")
    p.add_argument("--hot-cache", dest="hot_cache_bytes", metavar="BYTES",
                   help='a hot-row cache of this capacity, e.g. "8 MiB" (default: the accelerator\'s, if any)')
    p.add_argument("--hot-cache-policy", dest="hot_cache_policy", choices=["lru", "static_top_k"],
                   help="hot-row cache policy (default lru)")


def add_block_options(p):
    """Block options; default: the preset's own (its released model's), see models/presets.py."""
    from workloads.builders import BLOCK_VARIANTS

    p.add_argument("--blocks", choices=list(BLOCK_VARIANTS), default="released",
                   help="block variant: the released models' (default), the paper's (LayerNorm, no rotary, no "
                        "Memory Layer bias) or the calibration scripts' (bench)")
    p.add_argument("--norm", choices=["layernorm", "rmsnorm"], help="block norms (default: the variant's)")
    p.add_argument("--rotary-pct", dest="rotary_pct", type=float, metavar="P",
                   help="rotary on this share of each head's dims, 0 to 1, 0 = none (default: the variant's)")
    p.add_argument("--memory-bias", dest="memory_bias", action=argparse.BooleanOptionalAction,
                   help="a bias on every Memory Layer (default: the variant's)")
    p.add_argument("--residual", choices=["parallel", "sequential"], help="residual style (default: the variant's)")


def block_options(args) -> dict:
    """The block-option flags given (--norm, --rotary-pct, --memory-bias, --residual), as block() options."""
    opts = {}
    if getattr(args, "norm", None) is not None:
        opts["norm"] = args.norm
    pct = getattr(args, "rotary_pct", None)
    if pct is not None:
        if not 0 <= pct <= 1:  # also false for nan
            raise ValueError(f"--rotary-pct: expected a number from 0 to 1 (0 = no rotary), given {pct}")
        opts["rotary_pct"] = pct
    if getattr(args, "memory_bias", None) is not None:
        opts["memory_bias"] = args.memory_bias
    if getattr(args, "residual", None) is not None:
        opts["parallel_residual"] = args.residual == "parallel"
    return opts


def add_phase(p):
    p.add_argument("--phase", choices=["prefill", "decode"], default="prefill",
                   help="prefill: --seq-len tokens, no cache (default); decode: --seq-len new tokens per sequence "
                        "(1 for plain decoding) against a KV cache of --kv-len tokens")
    p.add_argument("--kv-len", dest="kv_len", type=int, metavar="L", help="with --phase decode: tokens already cached")


def phase_options(args) -> dict:
    """--phase and --kv-len as block() options, checked with the flags' names."""
    phase, kv_len = getattr(args, "phase", "prefill"), getattr(args, "kv_len", None)
    if phase == "prefill":
        if kv_len is not None:
            raise ValueError(f"--kv-len applies to --phase decode only, given --kv-len {kv_len} with --phase prefill")
        return {}
    if kv_len is None or kv_len < 0:
        raise ValueError(f"--kv-len: expected a non-negative integer with --phase decode (tokens already in the KV "
                         f"cache), given {kv_len}")
    return {"phase": "decode", "kv_len": kv_len}


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
    for key in ("mode", "lowering", "lookup_impl", "bank_mapping", "table_dtype", "table_tier", "hot_cache_policy",
                "bucket_distribution", "zipf_exponent"):
        v = getattr(args, key, None)
        if v is not None:
            opts[key] = v
    cache = getattr(args, "hot_cache_bytes", None)
    if cache is not None:
        from hwsim.config.units import UnitError, parse_quantity

        try:
            opts["hot_cache_bytes"] = parse_quantity(cache, "bytes", "--hot-cache", sign="nonnegative")
        except UnitError as e:
            raise ValueError(str(e)) from None
    if getattr(args, "engine", "analytic") == "des":
        for key in ("seed", "coarse"):
            v = getattr(args, key, None)
            if v is not None:
                opts[key] = v
    return opts
