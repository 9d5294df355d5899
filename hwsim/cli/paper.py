"""What each CLI subcommand does: compute, write files, print a short human summary."""
from __future__ import annotations

from hwsim.cli.args import add_out, positive_arg
from hwsim.io.files import save_figure, staged_outputs, write_csv
from hwsim.io.memory import ensure_fits, trace_bytes


def _gflops(df, cols):
    out = df.copy()
    for c in cols:
        out[c] = (out[c] / 1e9).map(lambda v: f"{v:.3f}")
    return out


def figure1(args) -> int:
    import pandas as pd

    from hwsim.report import plots
    from workloads.paper import figure1_rows

    positive_arg("--tau", args.tau)
    df = pd.DataFrame(figure1_rows(tau=args.tau))
    with staged_outputs(args.out) as out:
        write_csv(df, out / "figure1.csv")
        save_figure(plots.figure1(df), out / "figure1.png")
    wide = df.pivot_table(index="hidden_size", columns=["seq_len", "model"], values="flops_paper") / 1e9
    print("Figure 1, GFLOPs per block, paper convention (exact counts in figure1.csv):")
    print(wide.round(2).to_string())
    d, s = 2048, 2048
    pick = df[(df.hidden_size == d) & (df.seq_len == s)].set_index("model")
    if len(pick) == 2:
        r = pick.loc["memoryformer"] / pick.loc["transformer"]
        print(f"At s = d = {d}: MemoryFormer needs {100 * r['flops_paper']:.1f}% of the Transformer's FLOPs "
              f"(paper convention), {100 * r['flops']:.1f}% exact.")
    print(f"wrote {out.dir / 'figure1.csv'}, {out.dir / 'figure1.png'}")
    return 0


def tables(args) -> int:
    import pandas as pd

    import models
    from workloads.memory import model_memory_rows
    from workloads.paper import table1_rows, table2_rows, table3_rows, table5_rows

    positive_arg("--seq-len", args.seq_len)
    positive_arg("--linformer-k", args.linformer_k)
    positive_arg("--performer-features", args.performer_features)
    presets = list(models.PRESETS.values())
    t1 = pd.DataFrame(table1_rows(presets, args.seq_len))
    t2 = pd.DataFrame(table2_rows(args.seq_len, proj_len=args.linformer_k, features=args.performer_features))
    t3 = pd.DataFrame(table3_rows(args.seq_len))
    t5 = pd.DataFrame(table5_rows())
    mem = pd.DataFrame(model_memory_rows(presets, args.seq_len))
    with staged_outputs(args.out) as out:
        for name, df in [("table1", t1), ("table2", t2), ("table3", t3), ("table5", t5), ("model_memory", mem)]:
            write_csv(df, out / f"{name}.csv")

    show = _gflops(t1, ["flops_wo_attn_paper", "flops_paper", "flops_paper_ops", "flops"])
    show["table_MB"] = (t1["table_bytes"] / 1e6).round(1)
    print(f"Table 1, GFLOPs per block at s = {args.seq_len} (flops_paper = the paper's formula; printed_* = "
          "what the paper prints):")
    print(show[["model", "layers", "hidden_size", "flops_wo_attn_paper", "flops_paper", "printed_gflops_wo_attn",
                "printed_gflops", "flops_paper_ops", "flops", "table_MB"]].to_string(index=False))
    for _, r in t1.iterrows():
        if r["printed_gflops"] is not None and args.seq_len == 2048:
            ours = (round(r["flops_wo_attn_paper"] / 1e9, 1), round(r["flops_paper"] / 1e9, 1))
            if ours != (r["printed_gflops_wo_attn"], r["printed_gflops"]):
                print(f"  {r['model']}: the paper prints {r['printed_gflops_wo_attn']} / {r['printed_gflops']} G; "
                      f"its formula gives {r['flops_wo_attn_paper'] / 1e9:.3f} / {r['flops_paper'] / 1e9:.3f} G. "
                      "flops_paper is the formula.")
    print(f"\nTable 2, efficient attentions in Pythia-410M blocks (d 1024, 16 heads), GFLOPs per block at "
          f"s = {args.seq_len} (flops_paper: 1 MAC = 1 FLOP; the paper's formula where it has one, else the op sum):")
    show2 = _gflops(t2, ["flops_paper", "attention_flops_paper", "flops_paper_ops", "flops"])
    print(show2[["model", "setting", "flops_paper", "printed_gflops", "attention_flops_paper", "flops_paper_ops",
                 "flops"]].to_string(index=False))
    for _, r in t2.iterrows():
        if r["note"]:
            print(f"  {r['model']}: {r['note']}")
    print("\nTable 3, Memory Layer Q alone (fp16, d_out 512):")
    t3s = _gflops(t3, ["flops_paper", "flops"]).assign(table_MB=(t3["table_bytes"] / 1e6).round(1))
    print(t3s.drop(columns=["table_bytes"]).to_string(index=False))
    print("\nTable 5, Memory Block tables of memoryformer-tiny (fp16):")
    print(t5.assign(table_MB=(t5["table_bytes"] / 1e6).round(1)).drop(columns=["table_bytes"]).to_string(index=False))
    print("\nModel memory (fp16): bytes per block and model, FC FLOPs per block (paper convention):")
    m = mem.assign(block_MB=(mem["bytes_per_block"] / 1e6).round(1), model_GB=(mem["bytes_per_model"] / 1e9).round(2),
                   fc_GFLOPs=(mem["fc_flops_paper_per_block"] / 1e9).round(3))
    print(m[["model", "layers", "hidden_size", "block_MB", "model_GB", "fc_GFLOPs"]].to_string(index=False))
    for tf, mf in [("pythia-70m", "memoryformer-tiny"), ("pythia-160m", "memoryformer-small"),
                   ("pythia-410m", "memoryformer-base")]:
        a, b = mem.set_index("model").loc[tf], mem.set_index("model").loc[mf]
        print(f"  {mf} vs {tf}: {b['bytes_per_block'] / a['bytes_per_block']:.1f}x the bytes per block for "
              f"{a['fc_flops_paper_per_block'] / b['fc_flops_paper_per_block']:.1f}x fewer FC FLOPs (op sum; "
              f"{a['fc_flops_paper_formula_per_block'] / b['fc_flops_paper_formula_per_block']:.1f}x by the "
              "paper's 6 K s d formula)")
    print(f"wrote table1.csv, table2.csv, table3.csv, table5.csv, model_memory.csv in {out.dir}")
    return 0


def buckets(args) -> int:
    import time

    import models
    from hwsim.report import plots
    from workloads.streams import bucket_counts, bucket_summary

    positive_arg("--seq-len", args.seq_len)
    positive_arg("--batch", args.batch)
    try:
        preset = models.get_preset(args.model)
    except ValueError as e:
        raise ValueError(f"--model: {e}") from None
    if preset.kind != "memoryformer":
        raise ValueError(f"--model: expected a MemoryFormer preset, given {args.model!r} (a {preset.kind})")
    import workloads

    closed = workloads.builders.preset_block(preset, args.seq_len, args.batch, variant=args.blocks)
    ensure_fits(trace_bytes(closed), f"tracing {args.model} on {args.batch} x {args.seq_len} tokens",
                "lower --seq-len or --batch")
    t0 = time.perf_counter()
    print(f"tracing one {args.model} block on {args.batch} x {args.seq_len} tokens ...", flush=True)
    w = workloads.trace_preset(args.model, args.seq_len, batch=args.batch, seed=args.seed,
                               variant=args.blocks)
    counts = bucket_counts(w, "all" if args.all_tables else "first_last")
    summary = bucket_summary(counts)
    last_table = counts.groupby("op")["table"].transform("max")
    shown = counts[(counts["table"] == 0) | (counts["table"] == last_table)]  # the paper plots first and last
    with staged_outputs(args.out) as out:
        write_csv(counts, out / "buckets.csv")
        write_csv(summary, out / "buckets_summary.csv")
        save_figure(plots.bucket_histograms(shown), out / "buckets.png")
    print(f"traced in {time.perf_counter() - t0:.1f} s; hits per bucket (uniform expectation = tokens / buckets):")
    print(summary[["layer", "table", "tokens", "buckets", "expected_hits", "min_hits", "max_hits", "max_over_mean",
                   "chi2_uniform"]].round(2).to_string(index=False))
    print(f"wrote {out.dir / 'buckets.csv'}, {out.dir / 'buckets_summary.csv'}, {out.dir / 'buckets.png'}")
    return 0


def register(sub) -> None:
    """Add this group's subcommands to the `hwsim` parser."""
    p = sub.add_parser("figure1", help="paper's Figure 1: FLOPs per block vs hidden size -> figure1.csv, figure1.png",
                       description="Writes figure1.csv (model, seq_len, hidden_size, flops_paper, flops, "
                                   "flops_paper_ops) and figure1.png (paper convention and exact counts).")
    p.add_argument("--tau", type=int, default=8, help="bits per chunk (default 8)")
    add_out(p)
    p.set_defaults(func=figure1)

    p = sub.add_parser("tables", help="paper's Tables 1, 2, 3, 5 and model memory -> table1.csv, table2.csv, "
                                      "table3.csv, table5.csv, model_memory.csv",
                       description="Writes table1.csv, table2.csv, table3.csv, table5.csv (the paper's tables, "
                                   "computed) and model_memory.csv (parameters and table bytes per block and model).")
    p.add_argument("--seq-len", type=int, default=2048, help="tokens per sequence (default 2048, as the paper)")
    p.add_argument("--linformer-k", type=int, default=256,
                   help="Table 2: Linformer's projected length k (default 256; the paper states none)")
    p.add_argument("--performer-features", type=int, default=256,
                   help="Table 2: Performer's random features m (default 256; the paper states none)")
    add_out(p)
    p.set_defaults(func=tables)

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
    p.add_argument("--blocks", choices=["released", "paper"], default="released",
                   help="block variant: the released model's (RMSNorm before the hashes; default) or the paper's "
                        "(LayerNorm)")
    add_out(p)
    p.set_defaults(func=buckets)
