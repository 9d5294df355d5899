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
        ax.bar(g["bucket"], g["count"], width=1.0, color="tab:gray")
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
