"""CLI subcommand `generate`: a whole model generating tokens (hwsim.serving.generate) -> summary.csv,
tokens.csv, tokens.png."""
from __future__ import annotations

from hwsim.cli.args import add_accel, add_block_options, add_model, add_out, block_options, load_accel, sim_options
from hwsim.config.units import fmt_bytes, fmt_energy, fmt_time
from hwsim.io.files import save_figure, staged_out_dir, write_csv


def _at_least(flag: str, value: int, least: int) -> None:
    if value < least:
        raise ValueError(f"{flag}: expected an integer >= {least}, given {value}")


def generate(args) -> int:
    import pandas as pd

    import models
    from hwsim.serving import generate as run

    for flag, value, least in [("--prompt-len", args.prompt_len, 1), ("--new-tokens", args.new_tokens, 1),
                               ("--batch", args.batch, 1), ("--kv-points", args.kv_points, 2)]:
        _at_least(flag, value, least)
    try:
        models.get_preset(args.model)
    except ValueError as e:
        raise ValueError(f"--model: {e}") from None
    accel = load_accel("--accel", args.accel)
    try:
        g = run(args.model, accel, args.prompt_len, args.new_tokens, args.batch, args.kv_points, args.engine,
                variant=args.blocks, block_options=block_options(args),
                sim_options=sim_options(args, [accel], "generate"), progress=True)
    except ValueError as e:
        if "does not fit" in str(e):
            raise
        raise ValueError(f"--model {args.model} with these options: {e}") from None
    s = g.summary
    with staged_out_dir(args.out) as tmp:  # every file or none
        write_csv(pd.DataFrame([s]), tmp / "summary.csv")
        write_csv(g.tokens, tmp / "tokens.csv")
        from hwsim.report.generation import token_latency_figure

        title = (f"{args.model} on {accel.name}: batch {args.batch}, prompt {args.prompt_len}, "
                 f"{args.new_tokens} new tokens")
        save_figure(token_latency_figure(g.tokens, title), tmp / "tokens.png")
    held = s["weights_bytes"] + s["tables_bytes"] + s["kv_cache_bytes"]
    print(f"{args.model} on {accel.name} ({s['engine']} engine, {s['mode']} mode, {s['lowering']} lowering; "
          f"{args.blocks} blocks): batch {args.batch}, prompt {args.prompt_len}, {args.new_tokens} new tokens")
    print(f"  holds weights {fmt_bytes(s['weights_bytes'])} + tables {fmt_bytes(s['tables_bytes'])} + KV cache "
          f"{fmt_bytes(s['kv_cache_bytes'])} = {fmt_bytes(held)} of {fmt_bytes(s['dram_capacity_bytes'])} DRAM")
    tpot = "n/a (one token)" if args.new_tokens == 1 else fmt_time(s["tpot_s"])
    print(f"  TTFT {fmt_time(s['ttft_s'])}, TPOT {tpot}, {s['tokens_per_s']:.1f} tokens/s, "
          f"{fmt_energy(s['energy_per_token_j'])} per token ({s['kv_points']} decode steps simulated, "
          f"the others interpolated)")
    print(f"wrote summary.csv, tokens.csv, tokens.png in {args.out}")
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the `hwsim` parser."""
    p = sub.add_parser("generate", help="a whole model generating tokens: TTFT, TPOT, tokens/s, energy/token "
                                        "-> summary.csv, tokens.csv, tokens.png",
                       description="Simulates a whole model (token embedding, every block, final norm, LM head with "
                                   "Pythia's 50304-row vocabulary) generating --new-tokens tokens after a "
                                   "--prompt-len prompt for --batch sequences: the prefill into an empty KV cache "
                                   "gives the first token (TTFT), then one decode step per token reads the growing "
                                   "cache. Decode steps are simulated at --kv-points cache lengths and interpolated "
                                   "linearly. A model whose weights, tables and KV cache exceed the device's DRAM "
                                   "is refused. Writes summary.csv, tokens.csv and tokens.png, all or none.")
    add_accel(p, "h200")
    add_model(p, "memoryformer-base")
    p.add_argument("--prompt-len", dest="prompt_len", type=int, default=2048, help="prompt tokens P (default 2048)")
    p.add_argument("--new-tokens", dest="new_tokens", type=int, default=128, help="generated tokens N (default 128)")
    p.add_argument("--batch", type=int, default=1, help="sequences generated together (default 1)")
    p.add_argument("--kv-points", dest="kv_points", type=int, default=16,
                   help="cache lengths at which decode steps are simulated exactly, >= 2 (default 16)")
    p.add_argument("--engine", choices=["analytic", "des"], default="analytic")
    p.add_argument("--mode", choices=["eager", "graph"], help="launch mode (default: the accelerator's)")
    p.add_argument("--lowering", choices=["torch", "fused"], help="op-to-kernel lowering (default: the accelerator's)")
    p.add_argument("--lookup-impl", dest="lookup_impl", choices=["embedding_bag", "gather_sum", "fused"],
                   help="lookup kernel for the torch lowering (default embedding_bag)")
    add_block_options(p)
    add_out(p)
    p.set_defaults(func=generate)
