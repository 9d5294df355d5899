"""The sweep's fast path gives exactly what hwsim.simulate gives, point by point, on every preset; points that
cannot run keep their row with the reason; constraints and tables_fit follow the hardware."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

import hwsim
import models
from hwsim.config import ConfigError, override
from hwsim.explore.fastpath import Evaluator
from hwsim.explore.sampling import points
from hwsim.explore.spec import load_spec
from workloads.builders import preset_block
from tests.hwsim.explore.sweep_helpers import small_spec

AXES = {"memory.dram.bandwidth": {"logspace": ["0.5 TB/s", "8 TB/s"]}, "lookup.banks": [32, 1024],
        "memory.sram[0].capacity": {"range": ["4 MiB", "128 MiB"]}}


@pytest.mark.parametrize("base", hwsim.list_presets())
def test_fast_path_equals_simulate_to_the_bit(base):
    spec = load_spec({"base": base,
                      "workload": {"model": ["memoryformer-tiny", "pythia-70m"], "seq_len": [128, 1024], "batch": [1, 2]},
                      "options": {"mode": ["eager", "graph"], "lowering": ["torch", "fused"]},
                      "axes": AXES, "sampling": {"method": "random", "n": 10, "seed": 7}})
    ev = Evaluator(spec)
    ran = 0
    for p in points(spec):
        row = ev.row(p)
        changes = {k: p[k] for k in AXES}
        try:
            accel = override(hwsim.load_accelerator(base), changes)
        except ConfigError as e:  # the same point fails the same way in the sweep
            assert row["error"] and e.problems[0].message in row["error"]
            continue
        w = preset_block(models.get_preset(p["model"]), p["seq_len"], p["batch"])
        r = hwsim.simulate(w, accel, mode=p["mode"], lowering=p["lowering"])
        assert row["error"] == ""
        assert row["latency_s"] == r.latency_s
        assert row["energy_j"] == r.energy_j
        assert row["dram_bytes"] == r.dram_bytes
        assert row["flops"] == r.flops
        assert row["bound"] == r.summary()["main_bound"]
        by_kind = r.ops.groupby("kind")["time_s"].sum()
        for kind, t in by_kind.items():
            assert math.isclose(row[f"time_{kind}_s"], t, rel_tol=1e-12, abs_tol=1e-18)
        assert math.isclose(sum(v for k, v in row.items() if k.startswith("time_")), r.ops["time_s"].sum(),
                            rel_tol=1e-12)
        ran += 1
    assert ran >= 5


def test_the_accelerator_of_a_point_is_the_override_of_its_base():
    spec = load_spec({"base": ["h200", "lut-asic"], "workload": {"model": "memoryformer-tiny", "seq_len": 64},
                      "axes": {**AXES, "memory.dram.latency": {"range": ["100 ns", "900 ns"]},
                               "compute.matrix.peak.bf16": {"logspace": ["50 TFLOP/s", "2 PFLOP/s"]},
                               "runtime.mode": ["eager", "graph"],
                               "stacks": {"zip": {"memory.dram.channels": [16, 32], "memory.dram.capacity": ["16 GB", "32 GB"]}}},
                      "sampling": {"method": "lhs", "n": 20, "seed": 3}})
    ev = Evaluator(spec)
    for p in points(spec):
        names = [a.name for a in spec.settings()]
        try:
            want = override(hwsim.load_accelerator(p["base"]), {k: p[k] for k in names})
        except ConfigError:
            with pytest.raises(ConfigError):
                ev.accel(p)
            continue
        assert ev.accel(p) == want


def test_a_failing_point_keeps_its_row_and_the_others_run():
    spec = load_spec(small_spec(workload={"model": "memoryformer-tiny", "seq_len": 128, "tau": [8, 7]},
                                axes={"lookup.banks": [64, 2**23]}))
    rows = Evaluator(spec).rows(points(spec))
    errors = {(r["tau"], r["lookup.banks"]): r["error"] for r in rows}
    assert errors[(8, 64)] == ""
    assert "divisible" in errors[(7, 64)]                       # 512 / 7 tables is not a whole number
    assert "smaller than one row across all banks" in errors[(8, 2**23)]  # 8 Mi banks x 64 B > 256 MiB
    assert all(r["latency_s"] is None for r in rows if r["error"])
    assert all(r["latency_s"] > 0 for r in rows if not r["error"])


def test_tables_fit_follows_the_table_sizes():
    # memoryformer-base: K = 1024 / 8 = 128 tables per Memory Layer; the largest op (the second FFN layer) has
    # 2^(8+2) rows of d = 1024 bf16 values: 128 x 1024 x 2 KiB = 256 MiB. On chip, one op's tables at a time.
    spec = load_spec({"base": "lut-asic", "workload": {"model": "memoryformer-base", "seq_len": 64},
                      "axes": {"lookup.capacity": ["255 MiB", "256 MiB"]}})
    fit = {r["lookup.capacity"]: r["tables_fit"] for r in Evaluator(spec).rows(points(spec))}
    assert fit == {255 * 2**20: False, 256 * 2**20: True}
    # In DRAM (h200's off_chip_cached) all 24 layers' tables: 24 x (3 x 64 + 80 + 256) MiB = 12.375 GiB.
    whole = 24 * (3 * 64 + 80 + 256) * 2**20
    spec = load_spec({"base": "h200", "workload": {"model": "memoryformer-base", "seq_len": 64},
                      "axes": {"memory.dram.capacity": [whole - 2**20, whole]}})
    fit = {r["memory.dram.capacity"]: r["tables_fit"] for r in Evaluator(spec).rows(points(spec))}
    assert fit == {whole - 2**20: False, whole: True}


def test_constraints_before_and_after_simulation():
    from hwsim.area import area_mm2

    spec = load_spec(small_spec(constraints=["tables_fit", "latency_s <= 1 s", "area_mm2 < 1e9"],
                                axes={"lookup.capacity": ["8 MiB", "256 MiB"]}))
    rows = {r["lookup.capacity"]: r for r in Evaluator(spec).rows(points(spec))}
    small, big = rows[8 * 2**20], rows[256 * 2**20]
    # memoryformer-tiny's largest op: 64 tables x 2^10 rows x 512 x 2 B = 64 MiB: not in 8 MiB
    assert small["tables_fit"] is False and small["feasible"] is False and small["latency_s"] is None
    assert small["error"] == ""  # infeasible is not an error; it was not simulated
    assert big["tables_fit"] is True and big["feasible"] is True and big["latency_s"] > 0
    assert big["area_mm2"] == area_mm2(hwsim.config.override(hwsim.load_accelerator("lut-asic"),
                                                               {"lookup.capacity": "256 MiB"}))
    # an area budget between the two designs' areas keeps only the smaller one
    budget = (small["area_mm2"] + big["area_mm2"]) / 2
    assert small["area_mm2"] < budget < big["area_mm2"]
    spec = load_spec(small_spec(constraints=[f"area_mm2 <= {budget}"], axes={"lookup.capacity": ["8 MiB", "256 MiB"]}))
    rows = {r["lookup.capacity"]: r for r in Evaluator(spec).rows(points(spec))}
    assert rows[8 * 2**20]["feasible"] and not rows[256 * 2**20]["feasible"]
    assert rows[256 * 2**20]["latency_s"] is None  # over budget: not simulated
    tight = load_spec(small_spec(constraints=["latency_s <= 1 ns"]))
    assert not any(r["feasible"] for r in Evaluator(tight).rows(points(tight)))


def test_rows_have_every_column_in_dataset_order():
    from hwsim.explore.columns import column_types

    spec = load_spec(small_spec())
    row = Evaluator(spec).row(points(spec)[0])
    assert list(row) == list(column_types(spec))
    assert list(column_types(spec))[:3] == ["base", "model", "kind"]
    assert pd.Series(list(column_types(spec))).is_unique


def test_block_variants_and_options_are_the_blocks_simulate_gets():
    spec = load_spec({"base": "lut-asic",
                      "workload": {"model": ["memoryformer-tiny", "pythia-70m"], "seq_len": 256,
                                   "variant": ["released", "paper", "bench"], "norm": ["layernorm", "rmsnorm"]},
                      "axes": {"lookup.banks": [256]}})
    rows = Evaluator(spec).rows(points(spec))
    assert len(rows) == 2 * 3 * 2 and len({r["key"] for r in rows}) == 12
    accel = override(hwsim.load_accelerator("lut-asic"), {"lookup.banks": 256})
    for r in rows:
        w = preset_block(models.get_preset(r["model"]), 256, variant=r["variant"], norm=r["norm"])
        assert r["error"] == "" and r["norm"] == json.loads(r["block"])["norm"]
        res = hwsim.simulate(w, accel)
        assert (r["latency_s"], r["energy_j"], r["flops"]) == (res.latency_s, res.energy_j, res.flops)


def test_table2_baselines_sweep_as_custom_kinds():
    spec = load_spec({"base": "h200", "workload": {"kind": ["linformer", "performer", "transformer"],
                                                    "hidden_size": 512, "seq_len": 1024, "proj_len": [64, 256]},
                      "axes": {"memory.dram.bandwidth": ["2 TB/s"]}})
    rows = Evaluator(spec).rows(points(spec))
    accel = override(hwsim.load_accelerator("h200"), {"memory.dram.bandwidth": "2 TB/s"})
    import workloads

    for r in rows:
        assert r["error"] == ""
        block = json.loads(r["block"])
        assert ("proj_len" in block) == (r["kind"] == "linformer")  # an option applies to the kinds that take it
        res = hwsim.simulate(workloads.block(r["kind"], 512, 1024, **block), accel)
        assert (r["latency_s"], r["energy_j"]) == (res.latency_s, res.energy_j)
    lin = {r["proj_len"]: r["flops"] for r in rows if r["kind"] == "linformer"}
    assert lin[64] < lin[256]  # a longer projection costs more FLOPs


@pytest.mark.parametrize("base", ["h200", "lut-asic", "cpu-ddr5"])
def test_decode_steps_and_whole_models_are_what_simulate_gives(base):
    """scope model: the whole model step of workloads.model; phase decode with kv_len: a step against the cache."""
    from workloads.model import model_step

    spec = load_spec({"base": base, "workload": {"model": ["memoryformer-tiny", "pythia-70m"], "seq_len": [1, 4],
                                                 "batch": [1, 3], "phase": "decode", "kv_len": [0, 300],
                                                 "scope": ["block", "model"]},
                      "sampling": {"method": "grid"}})
    ev = Evaluator(spec)
    pts = points(spec)
    assert len(pts) == 2 * 2 * 2 * 2 * 2
    for p in pts:
        row = ev.row(p)
        assert row["error"] == "" and row["phase"] == "decode" and row["kv_len"] == p["kv_len"]
        preset = models.get_preset(p["model"])
        if p["scope"] == "model":
            w = model_step(preset, p["batch"], p["seq_len"], phase="decode", kv_len=p["kv_len"])
        else:
            w = preset_block(preset, p["seq_len"], p["batch"], phase="decode", kv_len=p["kv_len"])
        r = hwsim.simulate(w, base)
        assert (row["latency_s"], row["energy_j"], row["dram_bytes"]) == (r.latency_s, r.energy_j, r.dram_bytes)
    # a model step holds every layer: it costs more than one block of it
    by = {(p["model"], p["seq_len"], p["batch"], p["kv_len"], p["scope"]): ev.row(p)["latency_s"] for p in pts}
    assert all(by[(*k[:4], "model")] > by[(*k[:4], "block")] for k in by)


def test_prefill_block_points_keep_their_keys():
    """kv_len and scope enter a point's key only when set: earlier datasets resume under the same keys."""
    spec = load_spec(small_spec())
    with_defaults = load_spec(small_spec(workload={**small_spec()["workload"], "scope": "block"}))
    assert [p["key"] for p in points(spec)] == [p["key"] for p in points(with_defaults)]
    decode = load_spec(small_spec(workload={**small_spec()["workload"], "phase": "decode", "kv_len": 0}))
    assert not {p["key"] for p in points(spec)} & {p["key"] for p in points(decode)}
