"""Figures of a DES Result (matplotlib, Agg backend): requests per lookup bank, and a Gantt chart of
the block's ops (and of the resources they held) from the timeline.

Drawing cost stays flat however long the run: one artist per panel for the bank loads (a step outline,
not a bar per bank), one PolyCollection per (row, op) for the Gantt chart (broken_barh, not a barh per
interval), with each op's intervals on a resource merged where they lie closer than GANTT_PIXELS-th of
the run (below one pixel of the saved figure: the picture is the same)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from hwsim.io.intervals import lanes  # noqa: E402

GANTT_PIXELS = 2000  # the saved Gantt chart is 11 in x 120 dpi = 1320 px wide
UNIT_COLORS = {"matrix": "tab:blue", "vector": "tab:green", "hash": "tab:purple", "lookup": "tab:red",
               "memory": "tab:gray"}


def bank_load_figure(result):
    """Requests per lookup bank (on-chip tables) or per DRAM channel (tables behind a cache) relative to
    each lookup op's mean, one step line per op in one panel, the busiest bank of each marked. (One
    panel, not one per op: every extra Axes costs a tenth of a second to draw.)"""
    loads = result.extra.get("bank_load") or {}
    units = result.extra.get("bank_load_unit") or {}
    fig, ax = plt.subplots(figsize=(10, 4.2))
    # fixed margins: tight_layout and bbox_inches="tight" each cost a full extra draw
    fig.subplots_adjust(left=0.07, right=0.98, top=0.9, bottom=0.13)
    if not loads:
        ax.text(0.5, 0.5, "no lookup ops", ha="center", va="center")
        ax.axis("off")
    cmap = plt.get_cmap("tab10")
    width, top = 0, 1.0
    for i, (op, counts) in enumerate(loads.items()):
        counts = np.asarray(counts, dtype=float)
        mean = counts.mean() if len(counts) else 0.0
        if mean <= 0:
            continue
        busiest = int(np.argmax(counts))
        width, top = max(width, len(counts)), max(top, counts[busiest] / mean)
        color = cmap(i % 10)
        # a step line (one artist), not a bar per bank: 512 bars per op cost seconds to draw
        ax.step(np.arange(len(counts)), counts / mean, where="mid", color=color, linewidth=1,
                label=f"{op}: mean {mean:,.0f}; busiest {units.get(op, 'bank')} {busiest}, "
                      f"{counts[busiest] / mean:.2f}x")
        ax.plot([busiest], [counts[busiest] / mean], "o", color=color, markersize=5)
    if width:
        ax.axhline(1.0, color="k", linewidth=0.6, linestyle=":")
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(0, 1.08 * top)
        ax.legend(fontsize=7, loc="lower right")
    ax.set_ylabel("requests / the op's mean")
    ax.set_xlabel(f"{next(iter(units.values()), 'bank')} index")
    ax.set_title(f"{result.workload} on {result.accelerator}: lookup demand per bank", fontsize=10)
    ax.grid(alpha=0.3)
    return fig


def _bars(ax, start_s, end_s, rows, colors, height: float = 0.7) -> None:
    """Rectangles [start, end] x [row +- height / 2] (microseconds on x) as ONE PolyCollection."""
    x0, x1 = np.asarray(start_s) * 1e6, np.asarray(end_s) * 1e6
    y0, y1 = np.asarray(rows) - height / 2, np.asarray(rows) + height / 2
    verts = np.stack([np.column_stack(c) for c in ((x0, y0), (x0, y1), (x1, y1), (x1, y0))], axis=1)
    rgba = matplotlib.colors.to_rgba_array(colors)  # an (N, 4) array: matplotlib checks a list item by item
    ax.add_collection(PolyCollection(verts, facecolors=rgba, edgecolors=rgba, linewidths=0.3))


def gantt_figure(result):
    """Kernels of each op over time (top) and, for a DES Result, what each resource served (bottom)."""
    timeline = result.extra.get("timeline") or []
    panels = 2 if timeline else 1
    ops = list(result.ops["op"])
    # each op's intervals on a resource, merged below one pixel (first-seen order: resources top-down)
    merged = lanes(timeline, (result.latency_s or 1.0) / GANTT_PIXELS) if timeline else []
    resources = list(dict.fromkeys(lane.resource for lane in merged))
    heights = [max(len(ops), 1)] + ([max(len(resources), 1)] if timeline else [])
    height = 0.28 * sum(heights) + 2.2
    fig, axes = plt.subplots(panels, 1, figsize=(11, height), squeeze=False, sharex=True,
                             gridspec_kw={"height_ratios": heights})
    # fixed margins in inches (room for op names on the left): no tight_layout pass
    fig.subplots_adjust(left=1.9 / 11, right=0.98, top=1 - 0.4 / height, bottom=0.55 / height,
                        hspace=0.6 / (height / panels))
    ax = axes[0, 0]
    row = {op: i for i, op in enumerate(ops)}
    k = result.kernels
    units = list(dict.fromkeys(str(u) for u in k["unit"])) if len(k) else []
    if len(k):
        _bars(ax, k["start_s"].to_numpy(), k["end_s"].to_numpy(), k["op"].map(row).to_numpy(),
              [UNIT_COLORS.get(str(u), "tab:olive") for u in k["unit"]])
    ax.set_yticks(range(len(ops)), ops, fontsize=7)
    ax.set_ylim(len(ops) - 0.5, -0.5)
    ax.set_title(f"{result.workload} on {result.accelerator} ({result.engine}): "
                 f"{result.latency_s * 1e6:,.2f} us", fontsize=10)
    if units:
        ax.legend(handles=[Patch(color=UNIT_COLORS.get(u, "tab:olive"), label=u) for u in units], fontsize=7,
                  loc="upper right", title="unit", title_fontsize=7)  # ops run top-left to bottom-right
    ax.grid(axis="x", alpha=0.3)
    if timeline:
        ax2 = axes[1, 0]
        rrow = {res: i for i, res in enumerate(resources)}
        cmap = plt.get_cmap("tab20")
        color = {op: cmap(i % 20) for i, op in enumerate(dict.fromkeys(lane.op for lane in merged))}
        _bars(ax2, np.concatenate([lane.start_s for lane in merged]), np.concatenate([lane.end_s for lane in merged]),
              np.concatenate([np.full(len(lane.start_s), rrow[lane.resource]) for lane in merged]),
              [color[lane.op] for lane in merged for _ in range(len(lane.start_s))])
        ax2.set_yticks(range(len(resources)), resources, fontsize=7)
        ax2.set_ylim(len(resources) - 0.5, -0.5)
        ax2.set_title("resources (colour: op)", fontsize=9)
        ax2.grid(axis="x", alpha=0.3)
    axes[0, 0].set_xlim(0, max(result.latency_s, 1e-12) * 1e6 * 1.01)
    axes[-1, 0].set_xlabel("time (us)")
    return fig
