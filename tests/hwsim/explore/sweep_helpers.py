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


def lut_space(**changes) -> dict:
    """540 grid points around lut-asic (docs/sweeps/lut_asic.yaml on a grid): 5 bank counts x 3 lookup SRAMs x
    4 HBM3 stacks x 3 scratchpads x 3 clocks; half fail tables_fit or area_mm2 <= 300; 15 points on the front."""
    spec = {"base": "lut-asic", "workload": {"model": "memoryformer-base", "seq_len": 2048, "batch": 1},
            "axes": {"lookup.banks": {"logspace": [128, 2048], "n": 5},
                     "lookup.capacity": ["128 MiB", "256 MiB", "512 MiB"],
                     "hbm_stacks": {"zip": {"memory.dram.channels": [16, 32, 64, 96],
                                            "memory.dram.bandwidth": ["819.2 GB/s", "1638.4 GB/s", "3276.8 GB/s",
                                                                      "4915.2 GB/s"],
                                            "memory.dram.capacity": ["16 GB", "32 GB", "64 GB", "96 GB"]}},
                     "memory.sram.global.capacity": ["4 MiB", "16 MiB", "64 MiB"],
                     "clock": {"range": ["0.8 GHz", "1.6 GHz"], "n": 3}},
            "sampling": {"method": "grid"},
            "constraints": ["tables_fit", "area_mm2 <= 300"]}
    spec = copy.deepcopy(spec)
    spec.update(changes)
    return spec
