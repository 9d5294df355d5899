"""Figure of a generation run (hwsim.serving.generate): latency of each generated token against its position."""
from __future__ import annotations

from hwsim.report.plots import plt


def token_latency_figure(tokens, title: str):
    """tokens: Generation.tokens. The first token (prefill, TTFT) and the decode steps, on a log time axis
    so both show; the decode steps simulated exactly are marked, the rest are interpolated."""
    fig, ax = plt.subplots(figsize=(7, 4))
    pre, dec = tokens[tokens["phase"] == "prefill"], tokens[tokens["phase"] == "decode"]
    if len(dec):
        ax.plot(dec["position"], dec["latency_s"] * 1e3, color="tab:blue", label="decode step (interpolated)")
        sim = dec[dec["simulated"]]
        ax.plot(sim["position"], sim["latency_s"] * 1e3, "o", color="tab:blue", ms=4, label="decode step (simulated)")
    ax.plot(pre["position"], pre["latency_s"] * 1e3, "s", color="tab:red", ms=6, label="first token (prefill, TTFT)")
    ax.set_yscale("log")
    ax.set_xlabel("position of the generated token")
    ax.set_ylabel("latency per token (ms, log)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig
