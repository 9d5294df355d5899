"""The area model (hwsim.area): published dies, physical laws over every preset, the CSV, bad input.

Expected numbers come from outside the model: die sizes from NVIDIA's whitepapers, unit counts of the whole
dies from the same, bitcell areas from TSMC's papers; the laws (more silicon never costs less area, no SRAM
is denser than its bitcells) hold for any constants."""
from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hwsim
import workloads
from hwsim.area import PUBLISHED_DIES, area_breakdown, area_mm2, full_die, node_of
from hwsim.cli import main
from hwsim.result import Result

PRESETS = hwsim.list_presets()
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MiB = 2**20

# ---- published dies ---------------------------------------------------------------------------------------
# (preset, published die mm^2, the whole die's units); the presets describe products that disable some.
DIES = {
    # NVIDIA A100 Tensor Core GPU Architecture whitepaper (2020): GA100 826 mm^2 in TSMC N7; the full GA100 has
    # 128 SMs (192 KiB L1/shared and 32 banks each), 6 HBM2 stacks (48 channels) and 48 MB of L2 (96 slices of
    # 512 KiB, as the A100's 40 MB in 80)
    "a100": (826.0, {"cores": 128, "sram": {"SMEM": (128 * 192 * 1024, 128 * 32), "L2": (48 * MiB, 96)},
                     "dram_channels": 48}),
    # NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022): GH100 814 mm^2 in TSMC 4N; the full GH100 has
    # 144 SMs (256 KiB L1/shared each), 6 HBM3 stacks (96 channels), 60 MB L2 (the H200 preset's L2 already)
    "h200": (814.0, {"cores": 144, "sram": {"SMEM": (144 * 256 * 1024, 144 * 32)}, "dram_channels": 96}),
}


@pytest.mark.parametrize("name", sorted(DIES))
def test_whole_die_within_20_percent_of_the_published_area(name):
    published, units = DIES[name]
    die = full_die(hwsim.load_accelerator(name), units)
    assert die.compute.matrix.cores == units["cores"]
    model = area_mm2(die)
    print(f"{name}: model {model:.0f} mm^2 for the whole die, published {published:.0f} mm^2: "
          f"{100 * (model / published - 1):+.1f}%")
    assert abs(model / published - 1) <= 0.20


def test_the_cli_checks_the_same_dies():
    # what `hwsim area` prints as the check must be the published sizes stated above
    for name, (published, units) in DIES.items():
        assert PUBLISHED_DIES[name].area_mm2 == published
        assert PUBLISHED_DIES[name].changes == units


def test_product_is_smaller_than_its_whole_die():
    # harvested units (disabled SMs, stacks, L2) are silicon the product pays for but does not list
    for name, (_, units) in DIES.items():
        a = hwsim.load_accelerator(name)
        assert area_mm2(a) < area_mm2(full_die(a, units))


# ---- laws over every preset ---------------------------------------------------------------------------------

def grows(accel, changes) -> tuple[float, float]:
    return area_mm2(accel), area_mm2(accel.with_overrides(changes))


@PROPERTY
@given(name=st.sampled_from(PRESETS), level=st.integers(0, 5), k=st.floats(1.0, 64.0))
def test_more_sram_capacity_never_shrinks_the_area(name, level, k):
    a = hwsim.load_accelerator(name)
    i = level % len(a.memory.sram)
    before, after = grows(a, {f"memory.sram[{i}].capacity": a.memory.sram[i].capacity_bytes * k})
    assert after >= before
    if k > 1.001:
        assert after > before  # every byte of on-chip SRAM is silicon


@PROPERTY
@given(name=st.sampled_from(PRESETS), level=st.integers(0, 5), k=st.integers(1, 32))
def test_more_banks_never_shrink_the_area(name, level, k):
    a = hwsim.load_accelerator(name)
    i = level % len(a.memory.sram)
    before, after = grows(a, {f"memory.sram[{i}].banks": a.memory.sram[i].banks * k})
    assert after >= before
    lk = a.lookup
    banks = min(lk.banks * k, int(lk.capacity_bytes // lk.bank_width_bytes))  # capacity holds one row per bank
    before, after = grows(a, {"lookup.banks": banks})
    assert after >= before


@PROPERTY
@given(name=st.sampled_from(PRESETS), pick=st.integers(0, 8), k=st.floats(1.0, 16.0))
def test_more_macs_never_shrink_the_area(name, pick, k):
    a = hwsim.load_accelerator(name)
    dtypes = list(a.compute.matrix.peak_flops_per_s)
    d = dtypes[pick % len(dtypes)]
    before, after = grows(a, {f"compute.matrix.peak.{d}": a.compute.matrix.peak_flops_per_s[d] * k})
    assert after >= before
    before, after = grows(a, {"compute.matrix.cores": a.compute.matrix.cores * 2})
    assert after > before  # each core brings its control


@PROPERTY
@given(name=st.sampled_from(PRESETS), k=st.integers(1, 16))
def test_more_dram_channels_never_shrink_the_area(name, k):
    a = hwsim.load_accelerator(name)
    before, after = grows(a, {"memory.dram.channels": a.memory.dram.channels * k})
    assert after >= before
    if k >= 2:
        assert after > before  # twice the channels need more PHYs, whatever the interface


@pytest.mark.parametrize("name", PRESETS)
def test_no_sram_is_denser_than_its_bitcells(name):
    # TSMC HD bitcells (N7 0.027 um^2, N5/N3E 0.021 um^2; Intel 7 0.0312 um^2): periphery only adds
    cell_um2 = {"N7": 0.027, "N5": 0.021, "4N": 0.021, "N3E": 0.021, "Intel7": 0.0312}
    a = hwsim.load_accelerator(name)
    cell = cell_um2[node_of(a).name]
    b = area_breakdown(a)
    for level in a.memory.sram:
        assert b[f"sram.{level.name}"] > 8 * level.capacity_bytes * cell * 1e-6
    if a.lookup.placement == "on_chip":
        assert b["lookup"] > 8 * a.lookup.capacity_bytes * cell * 1e-6


@pytest.mark.parametrize("name", PRESETS)
def test_parts_add_up_and_other_is_the_stated_fraction(name):
    b = area_breakdown(hwsim.load_accelerator(name))
    parts = sum(v for k, v in b.items() if k != "total")
    assert b["total"] == pytest.approx(parts)
    assert all(v >= 0 for v in b.values())
    assert 0.1 < b["other"] / b["total"] < 0.25  # I/O and NoC: a share of the die, not most of it


def test_node_scaling():
    a = hwsim.load_accelerator("lut-asic")
    n7, n5, n3 = (area_breakdown(a.with_overrides({"area.node": n})) for n in ("N7", "N5", "N3E"))
    # SRAM scales with the bitcell: 0.021 / 0.027 from N7 to N5, and not at all from N5 to N3E (IEDM 2022)
    assert n5["lookup"] / n7["lookup"] == pytest.approx(0.021 / 0.027)
    assert n3["lookup"] == pytest.approx(n5["lookup"])
    assert n3["matrix"] < n5["matrix"] < n7["matrix"]  # logic keeps shrinking
    assert n5["dram_phy"] == n7["dram_phy"]  # PHYs are analog and bump-bound
    assert area_mm2(a.with_overrides({"area.node": "N5"})) < area_mm2(a)


def test_node_follows_technology_nm_when_the_config_names_none():
    a = hwsim.load_accelerator("lut-asic")
    bare = a.model_copy(update={"area": None})
    assert node_of(bare).name == "N7"
    assert area_mm2(bare) == pytest.approx(area_mm2(a))  # hbm3 is also the default interface for an asic
    odd = bare.with_overrides({"technology_nm": 14})  # no constants for 14 nm: N7 scaled, never smaller
    assert area_mm2(odd) > area_mm2(bare)


# ---- Result -----------------------------------------------------------------------------------------------

def test_result_carries_the_area():
    w = workloads.block("memoryformer", hidden_size=256, seq_len=64, batch=1, heads=4, tau=8, expand_bits=0)
    r = hwsim.simulate(w, "lut-asic")
    assert r.area_mm2 == pytest.approx(area_mm2(hwsim.load_accelerator("lut-asic")))
    assert r.area["lookup"] > 0 and r.summary()["area_mm2"] == r.area_mm2
    bare = Result("w", "a", "analytic", r.ops, r.kernels)  # the constructor without an area still works
    assert math.isnan(bare.area_mm2)


# ---- the command line -------------------------------------------------------------------------------------

def test_cli_writes_area_csv(capsys, tmp_path):
    rc = main(["area", "--accel", "all", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["area.csv"]  # atomic: no temporary left
    df = pd.read_csv(tmp_path / "area.csv")
    assert list(df.columns) == ["accelerator", "component", "area_mm2"]
    assert sorted(df["accelerator"].unique()) == PRESETS
    totals = df[df["component"] == "total"].set_index("accelerator")["area_mm2"]
    assert len(totals) == len(PRESETS)  # one total row per accelerator
    parts = df[df["component"] != "total"].groupby("accelerator")["area_mm2"].sum()
    assert (totals - parts).abs().max() < 1e-6 * totals.max()
    assert not df.duplicated(["accelerator", "component"]).any()
    assert "GA100" in out and "GH100" in out  # the die checks are printed


def test_cli_unknown_accelerator_is_one_line(capsys, tmp_path):
    rc = main(["area", "--accel", "h900", "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert rc == 2 and "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwsim area: error:")
    assert "h900" in lines[0] and "h200" in lines[0]  # what was given, and what exists
    assert not (tmp_path / "out").exists()  # nothing written


def test_bad_area_node_in_yaml_names_file_key_expected_and_given(tmp_path):
    text = (hwsim.config.PRESET_DIR / "lut-asic.yaml").read_text()
    assert text.count("  node: N7\n") == 1
    path = tmp_path / "chip.yaml"
    path.write_text(text.replace("  node: N7\n", "  node: N8\n"))
    with pytest.raises(hwsim.ConfigError) as e:
        hwsim.load_accelerator(str(path))
    assert str(e.value) == f'{path}: area.node: expected one of N7, N5, 4N, N3E, Intel7, given "N8"'
