"""Pareto fronts of a sweep, pairwise: one panel per pair of objectives, every feasible point in grey, the
points of the full (all-objective) front in colour, and the 2-D front of that pair as a staircase."""
from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hwsim.explore.pareto import pareto  # noqa: E402

from matplotlib.ticker import EngFormatter, MaxNLocator  # noqa: E402

LABELS = {"latency_s": "latency per block", "energy_j": "energy per block", "area_mm2": "area (mm²)",
          "dram_bytes": "DRAM bytes per block", "flops": "FLOPs per block"}
UNITS = {"_s": "s", "_j": "J", "_bytes": "B", "flops": "FLOP"}  # SI prefixes on the ticks: "300 µs", not 0.0003


def pareto_figure(df, front, objectives, by=None, title=""):
    """df: the candidate rows (no errors, feasible); front: pareto(df, objectives, by)."""
    pairs = list(itertools.combinations(objectives, 2)) or [(objectives[0], objectives[0])]
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.6 * len(pairs), 4.0), squeeze=False)
    groups = [(None, df, front)] if by is None else [
        (k, g, front[front[by] == k]) for k, g in df.groupby(by, sort=True)]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (x, y) in zip(axes.flat, pairs):
        ax.scatter(df[x], df[y], s=6, color="0.8", label="all points", rasterized=True)
        for c, (k, g, f) in zip(itertools.cycle(colors), groups):
            name = "front" if k is None else f"front, {by}={k}"
            ax.scatter(f[x], f[y], s=16, color=c, label=f"{name} ({len(f)})", zorder=3)
            two = pareto(g, [x, y]).sort_values(x)  # this pair's own front, as a staircase
            ax.step(two[x], two[y], where="post", color=c, linewidth=1, zorder=2)
        ax.set_xlabel(LABELS.get(x, x))
        ax.set_ylabel(LABELS.get(y, y))
        for axis, col in (("x", x), ("y", y)):
            v = df[col]
            if len(v) and v.min() > 0 and v.max() / v.min() > 20:
                getattr(ax, f"set_{axis}scale")("log")
            unit = next((u for suffix, u in UNITS.items() if col.endswith(suffix)), None)
            if unit:
                getattr(ax, f"{axis}axis").set_major_formatter(EngFormatter(unit=unit))
        if ax.get_xscale() == "linear":
            ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title or f"Pareto front: {', '.join(objectives)} (all minimised)", fontsize=10)
    fig.tight_layout()
    return fig
