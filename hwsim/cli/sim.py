"""CLI subcommands that run the engines on model presets: simulate, compare, roofline."""
from __future__ import annotations

import sys

from hwsim.cli.args import (accel_list, add_accel, add_model, add_out, add_phase, add_sim_options, block_options,
                            load_accel, phase_options, positive_arg, sim_options)
from hwsim.io.files import save_figure, staged_outputs, write_csv
from hwsim.io.memory import des_bytes, ensure_fits, trace_bytes
from hwsim.config.units import fmt_bytes, fmt_energy, fmt_flops, fmt_time

# Transformer and MemoryFormer presets of the same size (reference Table 1)
PAIRS = {"pythia-70m": "memoryformer-tiny", "pythia-160m": "memoryformer-small", "pythia-410m": "memoryformer-base"}


def preset_workload(name: str, seq_len: int, batch: int, traced: bool = False, dtype: str = "bf16",
                    variant: str = "released", **options):
    """A block of a model preset (its released block options, then `variant`'s, then `options`): closed
    form, or traced on real tensors (with index streams); tracing is refused up front when it would not fit
    in memory."""
    import models
    import workloads

    try:
        p = models.get_preset(name)
    except ValueError as e:
        raise ValueError(f"--model: {e}") from None
    if options.get("memory_bias") is not None and p.kind != "memoryformer":
        raise ValueError(f"--memory-bias: applies to Memory Layers; {name} is a {p.kind} block (it has none)")
    try:
        closed = workloads.builders.preset_block(p, seq_len, batch, dtype, variant, **options)
    except ValueError as e:  # e.g. a --rotary-pct that gives an odd number of rotary dims for this model
        raise ValueError(f"--model {name} with these block options: {e}") from None
    if not traced:
        return closed, p
    ensure_fits(trace_bytes(closed), f"tracing {name} on {batch} x {seq_len} tokens", "lower --seq-len or --batch")
    print(f"tracing one {name} block ({batch} x {seq_len} tokens) for its index streams ...", file=sys.stderr,
          flush=True)
    return workloads.trace_preset(name, seq_len, batch=batch, dtype=dtype, variant=variant, **options), p


def block_label(workload) -> str:
    """The block options a Workload was built with, for output files: 'norm=rmsnorm;rotary_pct=0.25;...'."""
    keys = ("norm", "rotary_pct", "parallel_residual", "linear_bias", "memory_bias", "weighting")
    return ";".join(f"{k}={workload.meta[k]}" for k in keys if k in workload.meta)


def check_des_fits(workload, accel, engine: str) -> None:
    if engine == "des":
        ensure_fits(des_bytes(workload, accel), f"the DES replay of {workload.name} on {accel.name}",
                    "lower --seq-len or --batch")


def _op_table(result):
    df = result.ops
    show = df[["op", "kind", "time_s", "bound", "flops", "dram_bytes", "energy_j", "kernels"]].copy()
    total = show["time_s"].sum()
    show["share"] = (100 * show["time_s"] / total).map(lambda v: f"{v:.1f}%") if total > 0 else "-"
    show["time"] = show["time_s"].map(fmt_time)
    show["flops"] = show["flops"].map(fmt_flops)
    show["dram"] = show["dram_bytes"].map(fmt_bytes)
    show["energy"] = show["energy_j"].map(fmt_energy)
    return show[["op", "kind", "time", "share", "bound", "flops", "dram", "energy", "kernels"]].to_string(index=False)


def simulate(args) -> int:
    import pandas as pd

    import hwsim

    positive_arg("--seq-len", args.seq_len)
    positive_arg("--batch", args.batch)
    accel = load_accel("--accel", args.accel)
    opts = sim_options(args, [accel], "simulate", traced=args.traced)
    with staged_outputs(args.out) as out:  # every file below lands together at the end, or none does
        trace = out.file(args.trace_json) if args.trace_json else None  # checked before the run
        w, preset = preset_workload(args.model, args.seq_len, args.batch, traced=args.traced, variant=args.blocks,
                                    **block_options(args), **phase_options(args))
        check_des_fits(w, accel, args.engine)
        if args.engine == "des":
            opts["progress"] = True
        r = hwsim.simulate(w, accel, engine=args.engine, layers=preset.layers, **opts)
        print(f"{args.model} block, {args.batch} x {args.seq_len} tokens{phase_label(w)} on {accel.name} ({args.engine} engine, "
              f"{r.options.get('mode', '')} mode, {r.options.get('lowering', '')} lowering; {block_label(w)}):")
        print(_op_table(r))
        s, m = r.summary(), r.summary(layers=preset.layers)
        print(f"block: {fmt_time(s['latency_s'])}, {fmt_energy(s['energy_j'])}, {fmt_flops(s['flops'])} "
              f"({fmt_flops(s['flops_paper'])} paper convention), DRAM {fmt_bytes(s['dram_bytes'])}"
              + (f" over the bus, {fmt_bytes(s['internal_bytes'])} inside the memory" if s["internal_bytes"] else "")
              + f"; main bound: {s['main_bound']}")
        print(f"model ({preset.layers} blocks, no embeddings or head): {fmt_time(m['latency_s'])}, "
              f"{fmt_energy(m['energy_j'])}")
        for line in r.extra.get("explanations", []):
            print(f"  {line}")
        write_csv(r.ops, out / "ops.csv")
        summary = pd.DataFrame([s, m])
        summary.insert(0, "scope", ["block", "model"])
        write_csv(summary, out / "summary.csv")
        written = ["ops.csv", "summary.csv"]
        if args.engine == "des":
            from hwsim.report import des_plots

            save_figure(des_plots.gantt_figure(r), out / "gantt.png", tight=False)
            written.append("gantt.png")
            if r.extra.get("bank_load") is not None and len(r.extra.get("bank_load")):
                save_figure(des_plots.bank_load_figure(r), out / "bank_load.png", tight=False)
                written.append("bank_load.png")
        if trace is not None:
            from hwsim.io.trace import write_trace_json

            write_trace_json(r, trace)  # kernels (and, for the DES, resources) of either engine
    print(f"wrote {', '.join(written)} in {out.dir}" + (f"; trace {args.trace_json}" if args.trace_json else ""))
    return 0


def phase_label(workload) -> str:
    """' (decode step after a KV cache of L)' for a decode workload, '' for a prefill."""
    return f" (decode step after a KV cache of {workload.meta['kv_len']})" if workload.meta.get("phase") == "decode" else ""


def compare_rows(accels, transformer: str, memoryformer: str, seq_len: int, batch: int, engine: str, opts,
                 variant: str = "released", block_opts=None, phase: str = "prefill", kv_len=None,
                 skipped: list | None = None) -> list:
    """One row per accelerator (Accelerators). Both whole models (weights, tables, a KV cache of seq_len
    (+ kv_len) tokens per sequence) must fit its DRAM: an accelerator where one does not is never simulated;
    its one-line reason goes to `skipped` when a list is given, else it is raised as a ValueError."""
    import hwsim
    import models
    from hwsim.serving import check_fit

    rows = []
    phase_opts = {"phase": phase, "kv_len": kv_len} if phase == "decode" else {}
    block_opts = dict(block_opts or {})
    bias = block_opts.pop("memory_bias", None)  # the MemoryFormer's alone: its Transformer has no Memory Layers
    blocks = {transformer: preset_workload(transformer, seq_len, batch, variant=variant, **block_opts,
                                           **phase_opts)[0],
              memoryformer: preset_workload(memoryformer, seq_len, batch, variant=variant, **block_opts,
                                            **({} if bias is None else {"memory_bias": bias}), **phase_opts)[0]}
    context = seq_len + (kv_len or 0)
    for accel in accels:
        try:
            for p in blocks:
                check_fit(models.get_preset(p), accel, batch, context, variant=variant, **block_opts,
                          **({} if bias is None or p != memoryformer else {"memory_bias": bias}))
        except ValueError as e:
            if skipped is None:
                raise
            skipped.append(f"{accel.name}: {e}")
            continue
        for w in blocks.values():
            check_des_fits(w, accel, engine)
        res = {p: hwsim.simulate(w, accel, engine=engine, layers=models.get_preset(p).layers, **opts)
               for p, w in blocks.items()}
        t, m = res[transformer], res[memoryformer]
        rows.append({"accelerator": accel.name, "transformer": transformer, "memoryformer": memoryformer,
                     "seq_len": seq_len, "batch": batch, "phase": phase, "kv_len": kv_len if phase == "decode" else 0,
                     "transformer_flops": t.flops, "memoryformer_flops": m.flops,
                     "transformer_dram_bytes": t.dram_bytes, "memoryformer_dram_bytes": m.dram_bytes,
                     "transformer_latency_s": t.latency_s, "memoryformer_latency_s": m.latency_s,
                     "transformer_energy_j": t.energy_j, "memoryformer_energy_j": m.energy_j,
                     "flops_ratio": m.flops / t.flops, "latency_ratio": m.latency_s / t.latency_s,
                     "energy_ratio": m.energy_j / t.energy_j,
                     "transformer_bound": next(iter(t.bound_shares()), ""),
                     "memoryformer_bound": next(iter(m.bound_shares()), ""),
                     "memoryformer_bound_shares": ";".join(f"{k}={v:.2f}" for k, v in m.bound_shares().items()),
                     "transformer_block": block_label(blocks[transformer]),
                     "memoryformer_block": block_label(blocks[memoryformer])})
    return rows


def compare(args) -> int:
    import pandas as pd

    positive_arg("--seq-len", args.seq_len)
    positive_arg("--batch", args.batch)
    if args.model not in PAIRS:
        raise ValueError(f"--model: expected one of {', '.join(PAIRS)} (compared with its MemoryFormer of the same "
                         f"size), given {args.model!r}")
    accels = accel_list("--accel", args.accel)  # every name checked before anything runs
    block_opts = block_options(args)
    phase_opts = phase_options(args)
    for preset in (args.model, PAIRS[args.model]):  # bad block options fail here, before anything runs
        w = preset_workload(preset, args.seq_len, args.batch, variant=args.blocks, **phase_opts,
                            **({k: v for k, v in block_opts.items() if k != "memory_bias"}
                               if preset == args.model else block_opts))[0]
    opts = sim_options(args, accels, "compare")
    skipped: list[str] = []
    with staged_outputs(args.out) as out:
        rows = compare_rows(accels, args.model, PAIRS[args.model], args.seq_len, args.batch, args.engine, opts,
                            args.blocks, block_opts, skipped=skipped, **phase_opts)
        if not rows:  # nothing fits anywhere: say why, write nothing
            raise ValueError(skipped[0] if len(skipped) == 1 else
                             "no accelerator holds both models: " + " | ".join(skipped))
        for line in skipped:
            print(f"hwsim compare: skipped {line}", file=sys.stderr)
        df = pd.DataFrame(rows)
        write_csv(df, out / "compare.csv")
    print(f"{args.model} vs {PAIRS[args.model]} blocks, {args.batch} x {args.seq_len} tokens{phase_label(w)} "
          f"({args.engine}): MemoryFormer / Transformer")
    print(f"  {args.model}: {df['transformer_block'].iloc[0]}\n  {PAIRS[args.model]}: {df['memoryformer_block'].iloc[0]}")
    show = pd.DataFrame({
        "accelerator": df["accelerator"],
        "T time": df["transformer_latency_s"].map(fmt_time), "MF time": df["memoryformer_latency_s"].map(fmt_time),
        "time x": df["latency_ratio"].map(lambda v: f"{v:.2f}"),
        "T energy": df["transformer_energy_j"].map(fmt_energy), "MF energy": df["memoryformer_energy_j"].map(fmt_energy),
        "energy x": df["energy_ratio"].map(lambda v: f"{v:.2f}"),
        "FLOPs x": df["flops_ratio"].map(lambda v: f"{v:.3f}"),
        "DRAM x": (df["memoryformer_dram_bytes"] / df["transformer_dram_bytes"]).map(lambda v: f"{v:.2f}"),
        "MF bound by": df["memoryformer_bound_shares"].str.replace(";", ", "),
    })
    print(show.to_string(index=False))
    print(f"wrote {out.dir / 'compare.csv'}")
    return 0


def roofline(args) -> int:
    import hwsim
    from hwsim.report import plots

    positive_arg("--seq-len", args.seq_len)
    positive_arg("--batch", args.batch)
    accel = load_accel("--accel", args.accel)
    opts = sim_options(args, [accel], "roofline")
    w, p = preset_workload(args.model, args.seq_len, args.batch, variant=args.blocks, **block_options(args))
    r = hwsim.simulate(w, accel, layers=p.layers, **opts)
    df = r.ops[["op", "kind", "flops", "dram_bytes", "time_s", "bound"]].copy()
    df["intensity_flops_per_byte"] = df["flops"] / df["dram_bytes"].where(df["dram_bytes"] > 0)
    df["achieved_flops_per_s"] = df["flops"] / df["time_s"].where(df["time_s"] > 0)
    with staged_outputs(args.out) as out:
        write_csv(df, out / "roofline.csv")
        save_figure(plots.roofline(df, accel, f"{args.model}, s={args.seq_len}, b={args.batch} on {accel.name}"),
                    out / "roofline.png")
    print(df.assign(intensity=df["intensity_flops_per_byte"].round(2),
                    achieved=df["achieved_flops_per_s"].map(lambda v: f"{v / 1e12:.2f} TFLOP/s"))
          [["op", "kind", "intensity", "achieved", "bound"]].to_string(index=False))
    print(f"wrote {out.dir / 'roofline.csv'}, {out.dir / 'roofline.png'}")
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the `hwsim` parser."""
    p = sub.add_parser("simulate", help="one block of a model preset on an accelerator -> ops.csv, summary.csv",
                       description="Simulates one block of a model preset and prints a per-op table (time, bound, "
                                   "FLOPs, DRAM bytes, energy) with totals for the block and the whole model. Writes "
                                   "ops.csv and summary.csv (and gantt.png, bank_load.png with --engine des).")
    add_accel(p, "h200")
    add_model(p, "memoryformer-base")
    add_sim_options(p)
    add_phase(p)
    p.add_argument("--traced", action="store_true",
                   help="trace the block on real CPU tensors so lookups carry their index streams (slower)")
    p.add_argument("--trace-json", metavar="PATH",
                   help="also write a Chrome/Perfetto trace: kernels per op (and, with --engine des, what each "
                        "resource served; aggregated past 100k events)")
    add_out(p)
    p.set_defaults(func=simulate)

    p = sub.add_parser("compare", help="Transformer vs MemoryFormer blocks of the same size -> compare.csv",
                       description="Simulates a Pythia preset and the MemoryFormer of the same size on one or several "
                                   "accelerators and prints FLOPs, bytes, latency, energy and their ratios. Writes "
                                   "compare.csv.")
    p.add_argument("--accel", default="all", help="preset names or YAML paths, comma-separated, or 'all' (default)")
    add_model(p, "pythia-410m", help="Transformer preset (default pythia-410m, compared with memoryformer-base)")
    add_sim_options(p)
    add_phase(p)
    add_out(p)
    p.set_defaults(func=compare)

    p = sub.add_parser("roofline", help="roofline plot with each op of a block placed -> roofline.csv, roofline.png",
                       description="Places every op of one block on the accelerator's roofline (FLOP/s against "
                                   "FLOPs per DRAM byte, with random-gather roofs). Writes roofline.csv, roofline.png.")
    add_accel(p, "h200")
    add_model(p, "memoryformer-base")
    add_sim_options(p, engine=False)
    add_out(p)
    p.set_defaults(func=roofline)
