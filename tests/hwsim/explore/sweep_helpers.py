"""Shared pieces of the sweep tests: the issue's spec and a small spec around lut-asic."""
from __future__ import annotations

import copy

# The spec issue 10 says must run as written.
ISSUE_SPEC = {
    "base": "h200",
    "workload": {"model": "memoryformer-base", "seq_len": 2048, "batch": 1},
    "axes": {
        "memory.dram.bandwidth": {"logspace": ["1 TB/s", "16 TB/s"], "n": 10},
        "lookup.banks": [64, 128, 256, 512],
        "memory.sram[0].capacity": ["16 MiB", "64 MiB", "256 MiB"],
        "memory.dram.latency": {"range": ["200 ns", "800 ns"], "n": 5},
    },
    "sampling": {"method": "grid"},
}

ISSUE_SPEC_YAML = """\
base: h200
workload: {model: memoryformer-base, seq_len: 2048, batch: 1}
axes:
  memory.dram.bandwidth: {logspace: ["1 TB/s", "16 TB/s"], n: 10}
  lookup.banks: [64, 128, 256, 512]
  "memory.sram[0].capacity": ["16 MiB", "64 MiB", "256 MiB"]
  memory.dram.latency: {range: ["200 ns", "800 ns"], n: 5}
sampling: {method: grid}        # or {method: random | lhs, n: 10000, seed: 0}
"""


def small_spec(**changes) -> dict:
    """A quick sweep around lut-asic: 3 x 2 x 2 = 12 grid points of a small model."""
    spec = {"base": "lut-asic", "workload": {"model": "memoryformer-tiny", "seq_len": 256},
            "axes": {"lookup.banks": [128, 256, 512], "memory.dram.bandwidth": ["0.8 TB/s", "3.2 TB/s"],
                     "memory.sram.0.capacity": ["8 MiB", "32 MiB"]},
            "sampling": {"method": "grid"}}
    spec = copy.deepcopy(spec)
    spec.update(changes)
    return spec
