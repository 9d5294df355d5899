"""Size guards: the memory a run would need, estimated from the workload's shapes before anything is allocated.

The estimates are checked against what such runs really take (peak RSS of a subprocess), from both sides:
never under (a guard that under-estimates lets a run swap or die), and not wildly over (it would refuse runs
that fit)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import models
import workloads
from hwsim import load_accelerator
from hwsim.io.memory import available_bytes, des_bytes, ensure_fits, fmt_gb, trace_bytes

REPO = Path(__file__).resolve().parents[3]

PEAK = """
import json, sys
import hwsim, workloads

def status_kb(key):  # /proc, not getrusage: ru_maxrss survives exec and would show the forking parent's peak
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key + ":"))

what, seq = sys.argv[1], int(sys.argv[2])
if what == "trace":
    import torch  # loaded before the guard runs (the CLI imports models first): not part of the estimate
base = status_kb("VmRSS")
if what == "trace":
    workloads.trace_preset("memoryformer-tiny", seq)
else:
    hwsim.simulate(workloads.block("memoryformer", 512, seq, heads=8), what, engine="des")  # tiny, no torch
print(json.dumps((status_kb("VmHWM") - base) * 1024))
"""


def test_the_refusal_names_both_figures_and_what_to_change():
    with pytest.raises(ValueError) as e:
        ensure_fits(328e9, "the trace", "lower --seq-len or --batch", available=22e9)
    assert str(e.value) == "would need 328 GB for the trace, 22 GB available; lower --seq-len or --batch"
    ensure_fits(21e9, "the trace", "x", available=22e9)  # fits: no error
    assert fmt_gb(1.25e9) == "1.2 GB" and fmt_gb(12.6e9) == "13 GB"


def test_available_memory_is_known_and_plausible():
    free = available_bytes()
    assert free is not None and 64e6 < free < 2**50


def test_estimates_grow_with_the_tokens_and_cover_the_block_input():
    p = models.get_preset("memoryformer-base")
    small, big = (workloads.builders.preset_block(p, s, 2) for s in (1024, 10_000_000))
    h200 = load_accelerator("h200")
    assert trace_bytes(big) > trace_bytes(small) and des_bytes(big, h200) > des_bytes(small, h200)
    # the traced block's fp32 input alone is 2 x 10M x 1024 x 4 B = 82 GB; its tables 554 MB (reference)
    assert trace_bytes(big) > 2 * 10_000_000 * 1024 * 4 + 554e6
    # every lookup of the DES keeps at least its int32 bucket id: 2 x 10M tokens x 128 tables x 5 ops x 4 B
    assert des_bytes(big, h200) > 2 * 10_000_000 * 128 * 5 * 4


def test_estimates_bound_the_measured_peak_from_above_within_2x():
    cases = [("trace", 4096), ("lut-asic", 8192), ("h200", 8192)]
    procs = [subprocess.Popen([sys.executable, "-c", PEAK, what, str(seq)], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for what, seq in cases]  # side by side
    for (what, seq), p in zip(cases, procs):
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        grown = json.loads(out.strip().splitlines()[-1])
        w = workloads.builders.preset_block(models.get_preset("memoryformer-tiny"), seq)
        estimate = trace_bytes(w) if what == "trace" else des_bytes(w, load_accelerator(what))
        assert grown <= estimate <= 2 * grown, (what, grown / 1e6, estimate / 1e6)
