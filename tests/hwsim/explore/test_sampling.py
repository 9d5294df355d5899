"""Points of a spec: grids cross every value, random draws stay in bounds, a Latin hypercube puts exactly one
point in each of n strata of every axis, and keys depend on the inputs only."""
from __future__ import annotations

import math

import numpy as np

from hwsim.explore.sampling import points
from hwsim.explore.spec import load_spec
from tests.hwsim.explore.sweep_helpers import ISSUE_SPEC, small_spec


def test_a_grid_crosses_every_value_once():
    pts = points(load_spec(ISSUE_SPEC))
    assert len(pts) == 10 * 4 * 3 * 5
    combos = {(p["memory.dram.bandwidth"], p["lookup.banks"], p["memory.sram[0].capacity"], p["memory.dram.latency"])
              for p in pts}
    assert len(combos) == len(pts)
    # a point carries its whole workload, resolved from the preset (reference Table 1: d 1024, 16 heads, 24 layers)
    p = pts[0]
    assert (p["model"], p["kind"], p["hidden_size"], p["heads"], p["layers"], p["tau"], p["expand_bits"],
            p["seq_len"], p["batch"]) == ("memoryformer-base", "memoryformer", 1024, 16, 24, 8, 2, 2048, 1)


def lhs_spec(n, method="lhs", seed=0):
    return load_spec({**ISSUE_SPEC, "sampling": {"method": method, "n": n, "seed": seed}})


def test_latin_hypercube_puts_one_point_in_each_stratum_of_every_axis():
    n = 200
    pts = points(lhs_spec(n))
    assert len(pts) == n
    bw = np.array([p["memory.dram.bandwidth"] for p in pts])
    lat = np.array([p["memory.dram.latency"] for p in pts])
    strata_bw = np.floor(np.log(bw / 1e12) / math.log(16) * n).clip(0, n - 1).astype(int)  # logspace axis
    strata_lat = np.floor((lat - 200e-9) / 600e-9 * n).clip(0, n - 1).astype(int)        # linear axis
    assert sorted(strata_bw) == list(range(n))
    assert sorted(strata_lat) == list(range(n))
    # a discrete axis of 4 values: each taken n / 4 times exactly
    banks = [p["lookup.banks"] for p in pts]
    assert {b: banks.count(b) for b in set(banks)} == {64: 50, 128: 50, 256: 50, 512: 50}


def test_random_points_stay_in_bounds_and_a_seed_repeats_them():
    a, b, c = points(lhs_spec(300, "random", 1)), points(lhs_spec(300, "random", 1)), points(lhs_spec(300, "random", 2))
    assert [p["key"] for p in a] == [p["key"] for p in b]
    assert [p["key"] for p in a] != [p["key"] for p in c]
    assert all(1e12 <= p["memory.dram.bandwidth"] <= 16e12 for p in a)
    assert all(200e-9 <= p["memory.dram.latency"] <= 800e-9 for p in a)
    assert {p["memory.sram[0].capacity"] for p in a} == {16 * 2**20, 64 * 2**20, 256 * 2**20}


def test_keys_depend_on_the_inputs_only():
    as_units = points(load_spec(small_spec()))
    as_numbers = points(load_spec(small_spec(axes={"lookup.banks": [128, 256, 512],
                                                     "memory.dram.bandwidth": [0.8e12, 3.2e12],
                                                     "memory.sram.0.capacity": [8 * 2**20, 32 * 2**20]})))
    assert [p["key"] for p in as_units] == [p["key"] for p in as_numbers]  # "8 MiB" is 8388608
    assert len({p["key"] for p in as_units}) == len(as_units) == 12
    longer = points(load_spec(small_spec(workload={"model": "memoryformer-tiny", "seq_len": 512})))
    assert not {p["key"] for p in longer} & {p["key"] for p in as_units}


def test_repeated_points_are_dropped():
    # 50 random draws over 2 x 2 discrete values can only give 4 distinct points
    spec = load_spec(small_spec(axes={"lookup.banks": [128, 256], "memory.dram.bandwidth": ["1 TB/s", "2 TB/s"]},
                                sampling={"method": "random", "n": 50, "seed": 0}))
    assert len(points(spec)) == 4


def test_zipped_settings_move_together():
    # HBM3 stacks (JESD238): 16 channels and 819 GB/s each; the stack count steps all of them at once
    spec = load_spec(small_spec(axes={"stacks": {"zip": {"memory.dram.channels": [16, 32, 64],
                                                         "memory.dram.bandwidth": ["0.82 TB/s", "1.64 TB/s", "3.28 TB/s"]}},
                                      "lookup.banks": [256, 512]}))
    pts = points(spec)
    assert len(pts) == 3 * 2
    assert {(p["memory.dram.channels"], p["memory.dram.bandwidth"]) for p in pts} == {
        (16, 0.82e12), (32, 1.64e12), (64, 3.28e12)}
    lhs = points(load_spec({**small_spec(axes=spec.raw["axes"]), "sampling": {"method": "lhs", "n": 30, "seed": 0}}))
    assert all(p["memory.dram.bandwidth"] == p["memory.dram.channels"] * 0.82e12 / 16 for p in lhs)
