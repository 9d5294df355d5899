"""The verdict map as a heat map: rows (model, phase, batch), columns accelerators (a sweep: its best design
point per row, hwsim.explore.verdict.best_designs), one panel per ratio, colour log2(MF / TF) on a diverging
scale (blue: the MemoryFormer wins, red: it loses), each cell annotated with the ratio."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PANELS = (("latency_ratio", "latency per token, MF / TF"), ("energy_ratio", "energy per token, MF / TF"),
          ("latency_ratio_equal_area", "latency per token at equal area"),
          ("energy_ratio_equal_area", "energy per token at equal area"))
SHORT = {"memoryformer-tiny": "tiny", "memoryformer-small": "small", "memoryformer-base": "base"}


def _fmt(v: float) -> str:
    return f"{v:.2f}" if v < 10 else f"{v:.0f}"


def verdict_figure(best, panels=PANELS):
    """best: hwsim.explore.verdict.best_designs(frame). Cells that do not fit are grey, marked 'n/f'; cells a
    sweep does not cover (the H200 software sweep runs memoryformer-base only) are grey, marked '-'."""
    rows = list(dict.fromkeys(zip(best["model"], best["phase"], best["batch"])))
    cols = list(dict.fromkeys(best["column"]))
    cell = {(r["model"], r["phase"], r["batch"], r["column"]): r for _, r in best.iterrows()}
    ratios = best[[p for p, _ in panels]].to_numpy(dtype=float)
    finite = ratios[np.isfinite(ratios) & (ratios > 0)]
    lim = max(1.0, float(np.abs(np.log2(finite)).max())) if finite.size else 1.0
    ncols = min(2, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * (0.75 * len(cols) + 1.6) + 1.2,
                                                    nrows * (0.3 * len(rows) + 1.8) + 0.6), squeeze=False,
                             layout="constrained")
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="0.85")
    for ax, (col, title) in zip(axes.flat, panels):
        z = np.full((len(rows), len(cols)), np.nan)
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                x = cell.get((*r, c))
                if x is not None and x["fits"] and x[col] > 0:
                    z[i, j] = math.log2(x[col])
        im = ax.imshow(np.ma.masked_invalid(z), cmap=cmap, vmin=-lim, vmax=lim, aspect="auto")
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                x = cell.get((*r, c))
                if x is None:  # not in that sweep's grid
                    ax.text(j, i, "-", ha="center", va="center", fontsize=6.5, color="0.4")
                    continue
                text = _fmt(x[col]) if x["fits"] else "n/f"
                dark = np.isfinite(z[i, j]) and abs(z[i, j]) > 0.6 * lim
                ax.text(j, i, text, ha="center", va="center", fontsize=6.5, color="white" if dark else "black")
        ax.set_xticks(range(len(cols)))
        ax.set_xticklabels(cols, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(rows)))
        first = ax.get_subplotspec().is_first_col()
        ax.set_yticklabels([f"{SHORT.get(m, m)} {p} b{b}" for m, p, b in rows] if first else [], fontsize=7)
        ax.set_title(title, fontsize=9)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    bar = fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.03, pad=0.02, shrink=0.6)
    ticks = [t for t in range(-int(lim), int(lim) + 1)]
    bar.set_ticks(ticks)
    bar.set_ticklabels([f"{2.0 ** t:g}" for t in ticks])
    bar.set_label("MF / TF (log scale; < 1: MemoryFormer wins)", fontsize=8)
    fig.suptitle("Where MemoryFormer wins: MemoryFormer / its Pythia twin per token (n/f: does not fit; -: not in "
                 "that sweep)", fontsize=10)
    return fig
