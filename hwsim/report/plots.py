"""Figures. matplotlib with the Agg backend: no screen needed."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"transformer": "tab:blue", "memoryformer": "tab:red"}


def figure1(df):
    """Paper's Figure 1 (left: paper convention) and the exact counts (right), GFLOPs per block."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = [("flops_paper", "paper convention (1 MAC = 1 FLOP, FC + attention)"),
              ("flops", "exact (2 FLOPs per MAC, everything that runs)")]
    for ax, (col, title) in zip(axes, panels):
        for (model, s), g in df.groupby(["model", "seq_len"]):
            g = g.sort_values("hidden_size")
            ax.plot(g["hidden_size"], g[col] / 1e9, marker="o", color=COLORS[model],
                    linestyle="-" if s == df["seq_len"].max() else "--", label=f"{model}, s={s}")
        ax.set_xlabel("hidden size d")
        ax.set_ylabel("inference FLOPs per block (x1e9)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(0, 300)
    axes[0].legend(fontsize=8)
    fig.suptitle("FLOPs per block vs hidden size (tau = 8)")
    return fig


def bucket_histograms(df):
    """Figure 4: hits per bucket, one panel per (layer, table)."""
    panels = list(df.groupby(["layer", "table"], sort=False))
    cols = 2
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(10, 1.9 * rows), squeeze=False)
    for ax, ((layer, table), g) in zip(axes.flat, panels):
        # one filled step outline per panel, not a bar per bucket (1024 per M2 table: seconds to draw)
        ax.fill_between(g["bucket"], g["count"], step="mid", color="tab:gray", linewidth=0)
        expected = g["count"].sum() / len(g)
        ax.axhline(expected, color="tab:red", linewidth=1, label=f"uniform {expected:.0f}")
        ax.set_title(f"{layer}, table {table}", fontsize=9)
        ax.set_xlim(-0.5, len(g) - 0.5)
        ax.legend(fontsize=7, loc="upper right")
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    fig.supxlabel("bucket id")
    fig.supylabel("hits")
    fig.tight_layout()
    return fig


KIND_MARKERS = {"matmul": "s", "attention": "D", "lookup": "o", "hash": "^", "norm": "v", "elementwise": "x",
                "rotary": "P"}


def roofline(df, accel, title: str):
    """Roofline: achieved FLOP/s of each op against its FLOPs per DRAM byte, under the machine's roofs."""
    import numpy as np

    from hwsim.engines.analytic import gather_efficiency

    fig, ax = plt.subplots(figsize=(8, 5.5))
    pts = df[(df["flops"] > 0) & (df["dram_bytes"] > 0) & (df["time_s"] > 0)]
    lo = max(1e-3, pts["intensity_flops_per_byte"].min() / 3) if len(pts) else 1e-2
    hi = max(1e4, pts["intensity_flops_per_byte"].max() * 3) if len(pts) else 1e4
    x = np.logspace(np.log10(lo), np.log10(hi), 200)
    bw = accel.memory.dram.sustained_bandwidth_bytes_per_s
    dtype = "bf16" if "bf16" in accel.compute.matrix.peak_flops_per_s else next(iter(accel.compute.matrix.peak_flops_per_s))
    roofs = [(accel.compute.matrix.sustained_flops_per_s(dtype), bw, f"matrix {dtype}, streaming DRAM", "k-"),
             (max(accel.compute.vector.peak_flops_per_s.values()) * accel.compute.vector.efficiency, bw,
              "vector unit", "k--")]
    if accel.lookup.placement != "on_chip":
        for rb in (64, 1024):
            g = gather_efficiency(accel, rb) * accel.memory.dram.bandwidth_bytes_per_s
            roofs.append((accel.compute.matrix.sustained_flops_per_s(dtype), g, f"random {rb} B row gathers", ":"))
    for peak, slope, label, style in roofs:
        ax.plot(x, np.minimum(peak, slope * x), style, linewidth=1, label=label)
    for kind, g in pts.groupby("kind"):
        ax.scatter(g["intensity_flops_per_byte"], g["achieved_flops_per_s"], marker=KIND_MARKERS.get(kind, "o"),
                   s=40, label=kind, zorder=3)
        for _, r in g.iterrows():
            ax.annotate(r["op"], (r["intensity_flops_per_byte"], r["achieved_flops_per_s"]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operational intensity (FLOPs per DRAM byte)")
    ax.set_ylabel("achieved FLOP/s")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    return fig
