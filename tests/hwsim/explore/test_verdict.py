"""The verdict map: the grid covers what issue 11 lists, every ratio is what separately simulated whole models
give, the equal-area figures follow their definition from hwsim.area's own components, a model that does not
fit gets no numbers, and the command writes its files (or none, with one line, on bad input)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import hwsim
import models
from hwsim.area import OTHER_FRACTION, area_breakdown
from hwsim.cli import main
from hwsim.cli.sim import PAIRS
from hwsim.explore import verdict as v
from hwsim.explore.sampling import points
from hwsim.explore.spec import load_spec
from hwsim.lowering import LOOKUP_IMPLS
from workloads.model import model_bytes, model_step

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# a DRAM too small for memoryformer-tiny at batch 8 (weights 0.10 + tables 0.83 + KV 0.20 GB) but not at batch 1
SMALL_DRAM = v.Sweep("dram-test", "lut-asic", axes={"memory.dram.capacity": ["1 GB", "32 GB"]},
                     options={"table_tier": "auto"})


@pytest.fixture(scope="module")
def run():
    return v.verdict(models=["memoryformer-tiny"], accelerators=["h200", "lut-asic", "hbm-pim", "cpu-ddr5"],
                     batches=[1, 8],
                     sweeps=(SMALL_DRAM,), software=None, workers=1)


# ---- the grid ------------------------------------------------------------------------------------------

def test_the_grid_is_the_issues():
    assert {tf: mf for mf, tf in v.TWINS.items()} == PAIRS  # each MemoryFormer against its Pythia twin
    assert v.ACCELERATORS == ("h200", "a100", "cpu-ddr5", "lut-asic", "hbm-pim")
    assert v.BATCHES == (1, 8, 64)
    assert v.PHASES == {"prefill": {"seq_len": 2048}, "decode": {"seq_len": 1, "kv_len": 2048}}
    assert {s.base for s in v.SWEEPS} == {"lut-asic", "hbm-pim"}
    lut = next(s for s in v.SWEEPS if s.base == "lut-asic")
    assert {"lookup.banks", "lookup.capacity"} <= set(lut.axes)
    assert "memory.dram.bandwidth" in lut.axes["hbm_stacks"]["zip"]
    pim = next(s for s in v.SWEEPS if s.base == "hbm-pim")
    assert {"lookup.near_memory.internal_bandwidth", "lookup.near_memory.lanes"} <= set(pim.axes)
    assert set(v.SOFTWARE.options["lookup_impl"]) == set(LOOKUP_IMPLS)  # every --lookup-impl on the H200


@pytest.mark.parametrize("sweep", [*v.SWEEPS, v.SOFTWARE], ids=lambda s: s.name)
def test_each_sweep_is_small(sweep):
    spec = load_spec(v._spec(sweep.base, ["memoryformer-tiny"], [1], "prefill", sweep.axes, sweep.options))
    designs = len(points(spec)) // 2  # two models per design
    assert 2 <= designs <= 60


# ---- the numbers ---------------------------------------------------------------------------------------

def test_every_cell_of_the_reduced_grid_is_there(run):
    df = run.frame
    presets = df[df["sweep"] == ""]
    cells = set(zip(presets["model"], presets["phase"], presets["batch"], presets["accelerator"]))
    assert cells == {("memoryformer-tiny", p, b, a) for p in ("prefill", "decode") for b in (1, 8)
                     for a in ("h200", "lut-asic", "hbm-pim", "cpu-ddr5")}
    assert len(df[df["sweep"] == "dram-test"]) == 2 * 2 * 2  # two designs, two phases, two batches
    assert (df["twin"] == "pythia-70m").all()


def _simulated(accel, name, phase, batch):
    p = v.PHASES[phase]
    w = model_step(models.get_preset(name), batch, p["seq_len"], phase=phase, kv_len=p.get("kv_len"))
    return hwsim.simulate(w, accel)


@pytest.mark.parametrize("phase, batch, accel", [("decode", 8, "lut-asic"), ("prefill", 1, "h200"),
                                                 ("decode", 1, "hbm-pim"), ("decode", 8, "cpu-ddr5")])
def test_ratios_are_those_of_separately_simulated_models(run, phase, batch, accel):
    df = run.frame
    row = df[(df["accelerator"] == accel) & (df["phase"] == phase) & (df["batch"] == batch)].iloc[0]
    mf = _simulated(accel, "memoryformer-tiny", phase, batch)
    tf = _simulated(accel, "pythia-70m", phase, batch)
    assert row["fits"]
    assert math.isclose(row["latency_ratio"], mf.latency_s / tf.latency_s, rel_tol=1e-12)
    assert math.isclose(row["energy_ratio"], mf.energy_j / tf.energy_j, rel_tol=1e-12)
    tokens = batch * v.PHASES[phase]["seq_len"]
    assert math.isclose(row["mf_latency_per_token_s"], mf.latency_s / tokens, rel_tol=1e-12)
    assert math.isclose(row["tf_energy_per_token_j"], tf.energy_j / tokens, rel_tol=1e-12)
    assert row["mf_bound"] == mf.summary()["main_bound"] and row["tf_bound"] == tf.summary()["main_bound"]


def test_equal_area_follows_the_definition(run):
    df = run.frame
    row = df[(df["accelerator"] == "lut-asic") & (df["phase"] == "prefill") & (df["batch"] == 8)].iloc[0]
    # the Transformer's chip: every component but the lookup banks and hash units, I/O at its stated share
    parts = area_breakdown(hwsim.load_accelerator("lut-asic"))
    kept = sum(a for c, a in parts.items() if c not in ("lookup", "hash", "other", "total"))
    area_tf = kept / (1 - OTHER_FRACTION)
    assert parts["lookup"] > 0 and parts["hash"] > 0
    assert math.isclose(row["tf_area_mm2"], area_tf, rel_tol=1e-12)
    assert math.isclose(row["mf_area_mm2"], parts["total"], rel_tol=1e-12)
    mf = _simulated("lut-asic", "memoryformer-tiny", "prefill", 8)
    tf = _simulated("lut-asic", "pythia-70m", "prefill", 8)
    r = parts["total"] / area_tf
    assert math.isclose(row["latency_ratio_equal_area"], mf.latency_s / tf.latency_s * r, rel_tol=1e-12)
    # replication keeps the dynamic energy per token; the smaller chip idles at its share of the power
    e_tf = tf.dynamic_energy_j + tf.static_energy_j / r
    assert math.isclose(row["energy_ratio_equal_area"], mf.energy_j / e_tf, rel_tol=1e-9)
    assert row["energy_ratio_equal_area"] > row["energy_ratio"]  # the Transformer no longer leaks the tables' SRAM


def test_without_memoryformer_only_silicon_equal_area_changes_nothing(run):
    df = run.frame
    h = df[(df["accelerator"] == "h200") & df["fits"]]
    assert len(h) == 4
    assert np.allclose(h["mf_area_mm2"], h["tf_area_mm2"])
    assert np.allclose(h["latency_ratio_equal_area"], h["latency_ratio"], rtol=1e-12)
    assert np.allclose(h["energy_ratio_equal_area"], h["energy_ratio"], rtol=1e-12)


def test_a_model_that_does_not_fit_gets_no_numbers(run):
    df = run.frame[run.frame["sweep"] == "dram-test"]
    small = df[df["memory.dram.capacity"] == 1e9]
    held = {b: model_bytes(models.get_preset("memoryformer-tiny"), b, 2048 + (1 if p == "decode" else 0)).total_bytes
            for p in ("prefill", "decode") for b in (1, 8)}
    assert held[1] < 1e9 < held[8]  # what the chosen capacity is for
    b8 = small[small["batch"] == 8]
    assert len(b8) == 2 and not b8["fits"].any()
    assert b8[list(v.RATIO_COLUMNS) + ["mf_latency_per_token_s"]].isna().all().all()
    assert b8["why"].str.contains("does not fit").all() and b8["why"].str.contains("memoryformer-tiny").all()
    b1 = small[small["batch"] == 1]
    assert b1["fits"].all() and b1["latency_ratio"].notna().all() and (b1["why"] == "").all()
    big = df[df["memory.dram.capacity"] == 32e9]
    assert big["fits"].all()


def test_best_designs_pick_the_smallest_winner_else_the_best_at_equal_area():
    base = dict(model="memoryformer-tiny", twin="pythia-70m", phase="decode", seq_len=1, kv_len=2048, batch=1,
                base="lut-asic", sweep="s", fits=True, why="", latency_ratio_equal_area=1.0, energy_ratio_equal_area=1.0)
    rows = [dict(base, accelerator="s#00", mf_area_mm2=300, latency_ratio=0.9, energy_ratio=0.9),
            dict(base, accelerator="s#01", mf_area_mm2=200, latency_ratio=0.5, energy_ratio=1.1),   # loses energy
            dict(base, accelerator="s#02", mf_area_mm2=250, latency_ratio=0.99, energy_ratio=0.2),
            dict(base, accelerator="s#03", mf_area_mm2=100, fits=False, latency_ratio=np.nan, energy_ratio=np.nan)]
    best = v.best_designs(pd.DataFrame(rows))
    assert list(best["accelerator"]) == ["s#02"] and best["choice"].iloc[0] == "smallest winning both"
    losers = [dict(r, energy_ratio=2.0, latency_ratio_equal_area=e) for r, e in zip(rows[:3], (3.0, 1.5, 2.0))]
    best = v.best_designs(pd.DataFrame(losers))
    assert list(best["accelerator"]) == ["s#01"] and best["choice"].iloc[0] == "lowest equal-area latency ratio"
    win, closest = v.smallest_winner(pd.DataFrame(rows), "memoryformer-tiny", "decode")
    assert win["accelerator"] == "s#02"
    assert closest["accelerator"] == "s#00"  # the larger of its two ratios, 0.9, is the least
