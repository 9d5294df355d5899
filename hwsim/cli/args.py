"""Argument helpers shared by the command groups: the one-line-error parser, common flags, their checks.

A flag that would change nothing is refused in one line rather than silently ignored (see `sim_options`):
the user asked for something the run would not do. The one exception is `compare`, which runs several
accelerators: a flag that applies to some of them and not others is a warning naming the others."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


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


DES_FLAGS = {"bucket_distribution": "--bucket-distribution", "zipf_exponent": "--zipf-exponent", "seed": "--seed",
             "coarse": "--coarse"}
# the bucket law: the DES draws from it; the analytic engine takes its expectation where lookup hardware
# (hwsim.engines.lookup_hw) depends on it
LAW_FLAGS = ("bucket_distribution", "zipf_exponent")


def _law_used(args, accels) -> bool:
    """Does the analytic engine use the bucket law in this run? Near-memory units, hot-row caches, the
    table-stationary dataflow and the sram / host tiers take their expected loads, hits and distinct rows
    from it; every other lookup takes uniform buckets."""
    return (getattr(args, "hot_cache_bytes", None) is not None or getattr(args, "lookup_impl", None) == "table_stationary"
            or getattr(args, "table_tier", None) in ("sram", "host")
            or any(a.lookup.placement == "near_memory" or a.lookup.hot_cache is not None for a in accels))


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
                   help="where table rows live in lookup banks (on-chip or near-memory lookups; default interleaved)")
    p.add_argument("--tables-resident", dest="tables_resident", action="store_true", default=None,
                   help="on-chip lookup memories: the tables are already in the banks (default: they stream in "
                        "from DRAM once per forward pass)")
    add_lookup_hw_options(p)
    add_block_options(p)
    if engine:
        p.add_argument("--bucket-distribution", dest="bucket_distribution", choices=["uniform", "zipf"],
                       help="bucket law without index streams: drawn by the DES, expected by the analytic engine "
                            "(distinct rows, hot-row hits; default uniform)")
        p.add_argument("--zipf-exponent", dest="zipf_exponent", type=float,
                       help="with --bucket-distribution zipf: the exponent (default 1.1)")
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
    """The Accelerator a flag names; a directory, an unreadable or binary file is one line naming both."""
    import hwsim

    text = str(name)
    if not text.strip():
        raise ValueError(f"{flag}: expected a preset name or a YAML path, given {text!r}")
    path = Path(text)
    if ("/" in text or text.endswith((".yaml", ".yml"))) and path.is_dir():
        raise ValueError(f"{flag}: {text} is a directory; expected a YAML file or a preset name "
                         f"({', '.join(hwsim.list_presets())})")
    try:
        return hwsim.load_accelerator(name)
    except hwsim.ConfigError as e:
        raise ValueError(f"{flag}: {e}") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{flag}: {text}: not a text YAML file (byte {e.object[e.start]:#04x} at offset "
                         f"{e.start} is not UTF-8)") from None
    except OSError as e:
        raise ValueError(f"{flag}: {text}: cannot read the file ({e.strerror})") from None


def accel_list(flag: str, text: str) -> list:
    """'all' or comma-separated preset names / YAML paths -> Accelerators, every one checked first."""
    import hwsim

    names = hwsim.list_presets() if text == "all" else [a.strip() for a in text.split(",") if a.strip()]
    if not names:
        raise ValueError(f"{flag}: expected preset names or YAML paths, comma-separated, or 'all', given {text!r}")
    return [load_accel(flag, n) for n in names]


def warn(command: str, message: str) -> None:
    print(f"hwsim {command}: warning: {message}", file=sys.stderr)


def _ignored_on(accels, applies, flag: str, scope: str, why_not, command: str) -> None:
    """Refuse a flag that no accelerator of the run would use (one line: `scope`, then why_not(accel) of
    the first); warn about those that would ignore it when others use it (compare)."""
    off = [a for a in accels if not applies(a)]
    if not off:
        return
    if len(off) == len(accels):
        raise ValueError(f"{flag}: {scope}; {why_not(off[0])}")
    warn(command, f"{flag} is ignored on {', '.join(a.name for a in off)} ({scope})")


def sim_options(args, accels=(), command: str = "hwsim", traced: bool = False) -> dict:
    """simulate() options from the flags, refusing the ones this run would silently ignore."""
    engine = getattr(args, "engine", "analytic")
    given = {key: getattr(args, key, None) for key in DES_FLAGS}
    given = {k: v for k, v in given.items() if v is not None}
    law = {k: v for k, v in given.items() if k in LAW_FLAGS}
    if engine != "des" and _law_used(args, accels):  # the analytic engine's expectations take the law
        given = {k: v for k, v in given.items() if k not in LAW_FLAGS}
    else:
        law = {}
    if given and engine != "des":
        flag = DES_FLAGS[next(iter(given))]
        raise ValueError(f"{flag}: only the DES draws buckets or tiles lookups; add --engine des (the analytic "
                         "engine takes the expected load of uniform buckets)")
    both = {**given, **law}
    if "zipf_exponent" in both and both.get("bucket_distribution") != "zipf":
        raise ValueError(f"--zipf-exponent: applies to --bucket-distribution zipf, given "
                         f"{both.get('bucket_distribution', 'uniform (the default)')}")
    if traced:
        drawn = [DES_FLAGS[k] for k in ("bucket_distribution", "zipf_exponent", "seed") if k in both]
        if drawn:
            raise ValueError(f"{drawn[0]}: the traced block's lookups replay their own index streams, no buckets "
                             "are drawn; drop --traced or this flag")
    lowering = getattr(args, "lowering", None)
    if getattr(args, "lookup_impl", None) is not None:
        if lowering == "fused":
            raise ValueError("--lookup-impl: applies to the torch lowering; --lowering fused runs each lookup as "
                             "one kernel on the lookup unit")
        _ignored_on(accels, lambda a: (lowering or a.runtime.lowering) == "torch", "--lookup-impl",
                    "applies to the torch lowering",
                    lambda a: f"{a.name} lowers ops fused by default (add --lowering torch)", command)
    if getattr(args, "tables_resident", None):
        _ignored_on(accels, lambda a: a.lookup.placement == "on_chip", "--tables-resident",
                    "applies to on-chip lookup memories",
                    lambda a: f"{a.name} keeps its tables in DRAM (lookup.placement: {a.lookup.placement})", command)
    if getattr(args, "hot_cache_bytes", None) is not None:
        _ignored_on(accels, lambda a: a.lookup.placement != "on_chip", "--hot-cache",
                    "applies to table rows read from DRAM or near memory",
                    lambda a: f"{a.name} reads its rows from on-chip lookup banks (lookup.placement: on_chip)", command)
    if getattr(args, "bank_mapping", None) is not None:
        _ignored_on(accels, lambda a: a.lookup.placement in ("on_chip", "near_memory"), "--bank-mapping",
                    "applies to lookup banks (on-chip or near-memory lookups)",
                    lambda a: f"{a.name} reads table rows from DRAM through a cache (lookup.placement: "
                              f"{a.lookup.placement})", command)
    opts = {}
    for key in ("mode", "lowering", "lookup_impl", "bank_mapping", "tables_resident", "table_dtype", "table_tier",
                "hot_cache_policy"):
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
    opts.update(law)  # the bucket law: drawn by the DES, expected by the analytic engine
    if engine == "des":
        opts.update(given)
    return opts
