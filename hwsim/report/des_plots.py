"""Figures of a DES Result (matplotlib, Agg backend): requests per lookup bank, and a Gantt chart of
the block's ops (and of the resources they held) from the timeline."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

UNIT_COLORS = {"matrix": "tab:blue", "vector": "tab:green", "hash": "tab:purple", "lookup": "tab:red",
               "memory": "tab:gray"}


def bank_load_figure(result):
    """Requests per lookup bank (on-chip tables) or per DRAM channel (tables behind a cache), one panel
    per lookup op, with the mean and the busiest bank marked."""
    loads = result.extra.get("bank_load") or {}
    units = result.extra.get("bank_load_unit") or {}
    n = max(len(loads), 1)
    fig, axes = plt.subplots(n, 1, figsize=(10, 1.9 * n + 0.6), squeeze=False)
    if not loads:
        axes[0, 0].text(0.5, 0.5, "no lookup ops", ha="center", va="center")
        axes[0, 0].axis("off")
    for ax, (op, counts) in zip(axes[:, 0], loads.items()):
        counts = np.asarray(counts)
        mean = counts.mean() if len(counts) else 0.0
        busiest = int(np.argmax(counts)) if len(counts) else 0
        ax.bar(np.arange(len(counts)), counts, width=1.0, color="tab:gray")
        ax.axhline(mean, color="tab:red", linewidth=1, label=f"mean {mean:,.0f}")
        if len(counts) and mean > 0:
            ax.bar([busiest], [counts[busiest]], width=1.0, color="tab:red",
                   label=f"busiest: {units.get(op, 'bank')} {busiest}, {counts[busiest] / mean:.2f}x the mean")
        ax.set_xlim(-0.5, len(counts) - 0.5)
        ax.set_ylabel("requests")
        ax.set_title(f"{op}: requests per {units.get(op, 'bank')}", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel(f"{next(iter(units.values()), 'bank')} index")
    fig.suptitle(f"{result.workload} on {result.accelerator}: lookup demand per bank", fontsize=10)
    fig.tight_layout()
    return fig


def gantt_figure(result):
    """Kernels of each op over time (top) and, for a DES Result, what each resource served (bottom)."""
    timeline = result.extra.get("timeline") or []
    panels = 2 if timeline else 1
    ops = list(result.ops["op"])
    resources = list(dict.fromkeys(r for r, *_ in timeline))
    heights = [max(len(ops), 1)] + ([max(len(resources), 1)] if timeline else [])
    fig, axes = plt.subplots(panels, 1, figsize=(11, 0.28 * sum(heights) + 2.2), squeeze=False, sharex=True,
                             gridspec_kw={"height_ratios": heights})
    ax = axes[0, 0]
    row = {op: i for i, op in enumerate(ops)}
    k = result.kernels
    seen = set()
    for r in (k.itertuples(index=False) if len(k) else ()):
        unit = str(r.unit)
        ax.barh(row[r.op], (r.end_s - r.start_s) * 1e6, left=r.start_s * 1e6, height=0.7,
                color=UNIT_COLORS.get(unit, "tab:olive"), label=None if unit in seen else unit)
        seen.add(unit)
    ax.set_yticks(range(len(ops)), ops, fontsize=7)
    ax.invert_yaxis()
    ax.set_title(f"{result.workload} on {result.accelerator} ({result.engine}): "
                 f"{result.latency_s * 1e6:,.2f} us", fontsize=10)
    if seen:
        ax.legend(fontsize=7, loc="lower right", title="unit", title_fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    if timeline:
        ax2 = axes[1, 0]
        rrow = {res: i for i, res in enumerate(resources)}
        cmap = plt.get_cmap("tab20")
        color = {op: cmap(i % 20) for i, op in enumerate(dict.fromkeys(o for _, o, *_ in timeline))}
        for res, op, start, end in timeline:
            ax2.barh(rrow[res], (end - start) * 1e6, left=start * 1e6, height=0.7, color=color[op])
        ax2.set_yticks(range(len(resources)), resources, fontsize=7)
        ax2.invert_yaxis()
        ax2.set_title("resources (colour: op)", fontsize=9)
        ax2.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("time (us)")
    fig.tight_layout()
    return fig
