"""Accelerator configs: presets load, numbers trace to their sources, bad input is reported in full."""
import csv
import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from hwsim.config import (PRESET_DIR, Accelerator, ConfigError, DtypeMap, list_presets, load_accelerator,
                          override, validate_accelerator)

REPO = Path(__file__).resolve().parents[3]
CALIBRATION = REPO / "data" / "calibration"
EXPECTED_PRESETS = {"h200", "a100", "tpu-v4", "cpu-ddr5", "edge-npu", "lut-asic", "cpu-2core", "h100", "b200", "mi300x",
                    "hbm-pim"}


def h200_data() -> dict:
    return yaml.safe_load((PRESET_DIR / "h200.yaml").read_text())


def write(tmp_path, data, name="bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else data)
    return path


def problems_of(excinfo) -> list[str]:
    return [str(p) for p in excinfo.value.problems]


# ---- presets ---------------------------------------------------------------------------------------

def test_every_expected_preset_is_listed():
    assert EXPECTED_PRESETS <= set(list_presets())


@pytest.mark.parametrize("name", sorted(EXPECTED_PRESETS))
def test_preset_loads_and_is_consistent(name):
    a = load_accelerator(name)
    assert isinstance(a, Accelerator) and a.name == name
    assert a.sources, "every preset cites its sources"
    assert a.clock_hz > 1e8 and a.memory.dram.bandwidth_bytes_per_s > 1e9
    for dtype, rate in a.compute.matrix.peak_flops_per_s.items():
        assert rate > 1e9 and a.energy.mac_j_per_flop[dtype] > 0
    if a.kind == "gpu":
        assert a.runtime.mode == "eager"
        assert a.runtime.launch_overhead_eager_s > a.runtime.launch_overhead_graph_s > 0
    hash(a)  # usable as a cache key in sweeps


@pytest.mark.parametrize("name", sorted(EXPECTED_PRESETS))
def test_every_number_in_a_preset_has_a_source_comment(name):
    # House rule: a number sits beside (or directly under) the comment that says where it comes from.
    lines = (PRESET_DIR / f"{name}.yaml").read_text().splitlines()
    number_line = re.compile(r"^\s*(-\s+)?(?!(name|description|notes):)([a-z_0-9]+:\s*[-\d.\[]|\[)")
    bare = [f"{i + 1}: {line}" for i, line in enumerate(lines)
            if number_line.match(line) and "#" not in line and not lines[i - 1].lstrip().startswith("#")]
    assert not bare, "numbers without a source comment:\n" + "\n".join(bare)


def test_h200_datasheet_figures():
    a = load_accelerator("h200")
    assert a.compute.matrix.peak_flops_per_s["bf16"] == 989e12
    assert a.memory.dram.bandwidth_bytes_per_s == 4.8e12
    assert a.memory.dram.capacity_bytes == 141e9
    assert a.memory.sram[0].capacity_bytes == 60 * 2**20  # device.json reports MiB
    assert a.compute.matrix.cores == 132 and a.clock_hz == 1.98e9
    assert a.compute.hash_unit is None
    assert a.memory.dram.sustained_bandwidth_bytes_per_s == pytest.approx(4.8e12 * 0.88)
    assert a.compute.matrix.sustained_flops_per_s("bf16") == pytest.approx(989e12 * 0.835)
    assert a.runtime.launch_overhead_s == a.runtime.launch_overhead_eager_s


def _rows(path):
    # the measured data ships in the repository (data/calibration): a missing file is a failure, not a skip
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_h200_efficiencies_match_measured_ceilings():
    rows = _rows(CALIBRATION / "h200" / "measured.csv")
    a = load_accelerator("h200")
    copy = next(r for r in rows if r["impl"] == "d2d_copy")
    copy_rate = float(copy["bytes_moved"]) / (float(copy["time_us"]) * 1e-6)
    assert a.memory.dram.sustained_bandwidth_bytes_per_s == pytest.approx(copy_rate, rel=0.01)
    gemm = next(r for r in rows if r["impl"] == "gemm_square" and r["dtype"] == "bf16")
    gemm_rate = float(gemm["flops"]) / (float(gemm["time_us"]) * 1e-6)
    # the per-tile efficiency, times how full the 32 waves of 4096 tiles over 132 SMs are, is the measured rate
    waves_full = (8192 // 128) ** 2 / (132 * 32)
    assert a.compute.matrix.sustained_flops_per_s("bf16") * waves_full == pytest.approx(gemm_rate, rel=0.01)
    gathers = [r for r in rows if r["impl"] == "random_row_gather"]
    points = {g.row_bytes: g.fraction for g in a.lookup.gather_efficiency}
    assert len(gathers) == len(points) == 8
    dram = a.memory.dram
    for r in gathers:
        # T[idx] reads the random rows (at the point's fraction of peak), and streams 8 B of index per
        # row in and the rows out (at the copy rate) on the same DRAM: together the measured time
        extra = dict(kv.split("=") for kv in r["extra"].split(";"))
        row_bytes, gathered = float(extra["row_bytes"]), float(r["bytes_moved"])
        streamed = gathered * (1 + 8 / row_bytes)
        t = (gathered / (points[row_bytes] * dram.bandwidth_bytes_per_s)
             + streamed / dram.sustained_bandwidth_bytes_per_s)
        assert t == pytest.approx(float(r["time_us"]) * 1e-6, rel=0.005)


def test_h200_weight_stream_efficiency_is_the_one_token_linear_pair():
    rows = _rows(CALIBRATION / "h200" / "measured.csv")
    t = {int(r["d_in"]): float(r["time_us"]) * 1e-6 for r in rows
         if r["impl"] == "linear" and r["dtype"] == "bf16" and r["tokens"] == "1"}
    # the two calls differ only in the weight they stream: (2048^2 - 512^2) bf16 elements
    rate = (2048**2 - 512**2) * 2 / (t[2048] - t[512])
    d = load_accelerator("h200").memory.dram
    assert d.weight_stream_bandwidth_bytes_per_s == pytest.approx(rate, rel=0.01)
    assert d.weight_stream_efficiency < d.efficiency  # below the copy rate, as public GPU data hints


def test_h200_energies_match_energy_csv():
    rows = _rows(CALIBRATION / "h200" / "energy.csv")
    a = load_accelerator("h200")
    copy = next(r for r in rows if r["impl"] == "d2d_copy")
    gemm = next(r for r in rows if r["impl"] == "gemm_square")
    # dynamic energy = active power x time + energy per action x actions, for the copy and the product
    p = a.energy.active_power_w
    copy_j = p * float(copy["time_us"]) * 1e-6 + a.memory.dram.energy_per_byte_j * float(copy["bytes_moved"])
    assert copy_j == pytest.approx(float(copy["dynamic_joules_per_call"]), rel=0.02)
    gemm_j = p * float(gemm["time_us"]) * 1e-6 + a.energy.mac_j_per_flop["bf16"] * float(gemm["flops"])
    assert gemm_j == pytest.approx(float(gemm["dynamic_joules_per_call"]), rel=0.06)  # + ~4% DRAM/L2 traffic
    assert a.energy.idle_power_w == pytest.approx(float(copy["idle_watts"]), rel=0.01)


def test_cpu_2core_rates_match_its_measured_linear_rows():
    rows = _rows(CALIBRATION / "cpu-2core" / "measured.csv")
    a = load_accelerator("cpu-2core")
    for dtype in ("fp32", "bf16"):
        best = max(float(r["flops"]) / (float(r["time_us"]) * 1e-6)
                   for r in rows if r["impl"] == "linear" and r["dtype"] == dtype)
        assert a.compute.matrix.sustained_flops_per_s(dtype) == pytest.approx(best, rel=0.05), dtype


def test_cpu_2core_memory_matches_its_streaming_row_and_littles_law():
    rows = _rows(CALIBRATION / "cpu-2core" / "measured.csv")
    a = load_accelerator("cpu-2core")
    gemv = next(r for r in rows if r["impl"] == "linear" and r["dtype"] == "fp32" and r["tokens"] == "1"
                and r["d_in"] == "2048")
    rate = 2048 * 2048 * 4 / (float(gemv["time_us"]) * 1e-6)  # a matrix-vector product streams its weight
    assert a.memory.dram.sustained_bandwidth_bytes_per_s == pytest.approx(rate, rel=0.01)
    # Little's law at that rate with 48 outstanding L2 misses per core (Golden Cove) gives the loaded
    # latency of a line; a dependent row read is the LLC lookup of its row id plus that DRAM share
    line_latency = 2 * 48 * 64 / rate
    assert a.memory.dram.latency_s + a.memory.sram[0].latency_s == pytest.approx(line_latency, rel=0.01)
    # random rows then wait on the 16 L1 fill buffers per core: near the ~15 GB/s embedding_bag reaches
    assert a.compute.threads_in_flight * 64 / line_latency == pytest.approx(15.5e9, rel=0.01)


def test_accelerator_is_frozen_all_the_way_down():
    a = load_accelerator("h200")
    with pytest.raises(ValidationError):
        a.clock_hz = 1.0
    with pytest.raises(ValidationError):
        a.memory.dram.bandwidth_bytes_per_s = 1.0
    with pytest.raises(TypeError):
        a.compute.matrix.peak_flops_per_s["bf16"] = 1.0
    assert isinstance(a.compute.matrix.peak_flops_per_s, DtypeMap)
    with pytest.raises(KeyError, match="bf16"):  # the message lists what this accelerator has
        a.compute.matrix.peak_flops_per_s["int4"]


def test_round_trip_through_yaml_spelling_and_python_names():
    a = load_accelerator("h200")
    assert validate_accelerator(a.model_dump(by_alias=True)) == a
    assert validate_accelerator(a.model_dump()) == a  # attribute names are accepted on input too


def test_load_by_path_and_passthrough(tmp_path):
    path = write(tmp_path, h200_data(), "mine.yaml")
    assert load_accelerator(path) == load_accelerator("h200")
    assert load_accelerator(str(path)) == load_accelerator("h200")
    a = load_accelerator("h200")
    assert load_accelerator(a) is a


# ---- errors: all at once, with file, key path, expected and given ----------------------------------

def test_three_mistakes_reported_together(tmp_path):
    data = h200_data()
    data["memory"]["dram"]["bandwidth"] = "-1 TB/s"   # 1: negative bandwidth
    data["compute"]["matrix"]["efficency"] = 0.8      # 2: unknown key, a typo
    del data["runtime"]["mode"]                       # 3: missing key
    path = write(tmp_path, data, "h200-bad.yaml")
    with pytest.raises(ConfigError) as e:
        load_accelerator(path)
    lines = problems_of(e)
    assert len(lines) == 3, lines
    text = str(e.value)
    assert f'{path}: memory.dram.bandwidth: expected a positive bandwidth like "4.8 TB/s", given "-1 TB/s"' in text
    assert f'{path}: compute.matrix.efficency: unknown key; did you mean "efficiency"?' in text
    assert f"{path}: runtime.mode: missing required key" in text
    assert isinstance(e.value, ValueError)


def test_list_items_and_dtype_keys_get_paths(tmp_path):
    data = h200_data()
    data["memory"]["sram"][1]["latnecy"] = data["memory"]["sram"][1].pop("latency")
    data["compute"]["matrix"]["peak"]["bf61"] = "1 TFLOP/s"
    data["memory"]["dram"]["channels"] = 1.5
    data["kind"] = "gpux"
    with pytest.raises(ConfigError) as e:
        load_accelerator(write(tmp_path, data))
    text = str(e.value)
    # a misspelt required key is one problem, not an unknown key plus a missing one
    assert 'memory.sram[1].latnecy: unknown key; did you mean "latency" (a required key, missing)?' in text
    assert "memory.sram[1].latency: missing required key" not in text
    assert 'compute.matrix.peak.bf61: unknown dtype "bf61"; did you mean "bf16"?' in text
    assert "memory.dram.channels: expected a positive whole number like 128, given 1.5" in text
    assert 'kind: expected one of gpu, cpu, systolic, npu, asic, given "gpux"; did you mean "gpu"?' in text
    assert len(e.value.problems) == 4


@pytest.mark.parametrize("section, key, value, expected", [
    ("lookup", "capacity", "1 KiB", "lookup.capacity: 1.00 KiB is smaller than one row across all banks"),
    ("memory.dram", "capacity", "1 MiB", "memory.dram.capacity: 1.00 MiB is smaller than one row in every bank"),
    ("memory.dram", "row_buffer", "16 B", "memory.dram.row_buffer: 16 B is smaller than one burst"),
    ("runtime", "launch_overhead_graph", "1 ms", "runtime.launch_overhead_graph: 1.00 ms is more than"),
    ("memory.dram", "efficiency", 1.2, "memory.dram.efficiency: expected a fraction in (0, 1]"),
    ("compute.matrix", "tile", [128, 128], "compute.matrix.tile: expected [m, n, k]"),
    ("lookup", "placement", "on-chip", 'did you mean "on_chip"?'),
])
def test_cross_field_and_range_checks(tmp_path, section, key, value, expected):
    data = h200_data()
    node = data
    for part in section.split("."):
        node = node[part]
    node[key] = value
    with pytest.raises(ConfigError) as e:
        load_accelerator(write(tmp_path, data))
    assert expected in str(e.value)


def test_energy_needed_for_every_matrix_dtype(tmp_path):
    data = h200_data()
    del data["energy"]["mac"]["fp8"]
    with pytest.raises(ConfigError, match='energy.mac: no entry for dtype "fp8"'):
        load_accelerator(write(tmp_path, data))


def test_gather_points_must_increase(tmp_path):
    data = h200_data()
    data["lookup"]["gather_efficiency"][2] = ["32 B", 0.1]
    with pytest.raises(ConfigError, match=r"lookup.gather_efficiency\[2\]: row sizes must increase"):
        load_accelerator(write(tmp_path, data))


def test_duplicate_yaml_keys_are_reported(tmp_path):
    text = (PRESET_DIR / "h200.yaml").read_text().replace(
        "    bandwidth: 4.8 TB/s", "    bandwidth: 4.8 TB/s\n    bandwidth: 3.35 TB/s", 1)
    with pytest.raises(ConfigError, match=r"memory.dram.bandwidth: key given twice \(lines \d+ and \d+\)"):
        load_accelerator(write(tmp_path, text))


def test_unquoted_colon_in_text_gets_a_hint(tmp_path):
    data = h200_data()
    data["sources"] = [{"Datasheet": "989 TFLOP/s"}]
    with pytest.raises(ConfigError, match=r'sources\[0\]: expected a text, given a mapping .*quote the string'):
        load_accelerator(write(tmp_path, data))


@pytest.mark.parametrize("text, expected", [
    ("", "expected a mapping of keys to values at the top level, given nothing"),
    ("- 1\n- 2\n", "given list"),
    ("name: [unclosed\n", "not valid YAML"),
])
def test_malformed_files(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_accelerator(path)
    assert str(e.value).startswith(str(path)) and expected in str(e.value)


def test_unknown_preset_lists_available_ones():
    with pytest.raises(ConfigError) as e:
        load_accelerator("h2000")
    text = str(e.value)
    assert 'did you mean "h200"?' in text
    assert all(name in text for name in EXPECTED_PRESETS)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_accelerator(tmp_path / "nope.yaml")


# ---- overrides (design-space sweeps) ---------------------------------------------------------------

def test_override_returns_a_new_validated_accelerator():
    a = load_accelerator("h200")
    b = override(a, {"memory.dram.bandwidth_bytes_per_s": 8e12})
    assert b.memory.dram.bandwidth_bytes_per_s == 8e12
    assert a.memory.dram.bandwidth_bytes_per_s == 4.8e12  # the original is untouched
    assert b != a and b.memory.sram == a.memory.sram


def test_override_spellings():
    a = load_accelerator("h200")
    b = override(a, {"memory.dram.bandwidth": "8 TB/s",        # YAML key, unit string
                     "memory.sram.L2.capacity": "120 MiB",       # list item by name
                     "memory.sram[1].kind": "scratchpad",        # list item by index
                     "compute.matrix.peak.int8": "1979 TOPS",    # a new dtype ...
                     "energy.mac.int8": "0.43 pJ/OP",            # ... with its energy
                     "runtime.mode": "graph"})
    assert b.memory.dram.bandwidth_bytes_per_s == 8e12
    assert b.memory.sram[0].capacity_bytes == 120 * 2**20
    assert b.memory.sram[1].kind == "scratchpad"
    assert b.compute.matrix.peak_flops_per_s["int8"] == 1979e12
    assert b.runtime.launch_overhead_s == a.runtime.launch_overhead_graph_s
    c = a.with_overrides(memory__dram__bandwidth_bytes_per_s=8e12, compute__hash_unit={"chunks_per_cycle": 1,
                                                                                         "units": 32})
    assert c.memory.dram.bandwidth_bytes_per_s == 8e12 and c.compute.hash_unit.units == 32


def test_override_rejects_bad_values_and_keys_all_at_once():
    a = load_accelerator("h200")
    with pytest.raises(ConfigError) as e:
        override(a, {"memory.dram.bandwith": 1e12, "memory.sram.L3.capacity": "1 MiB"})
    text = str(e.value)
    assert 'override of h200: memory.dram.bandwith: unknown key; did you mean "bandwidth"?' in text
    assert 'memory.sram.L3.capacity: no list item "L3"' in text
    with pytest.raises(ConfigError) as e:
        override(a, {"memory.dram.bandwidth_bytes_per_s": -1, "compute.matrix.efficiency": 0})
    assert len(e.value.problems) == 2
    assert "memory.dram.bandwidth: expected a positive bandwidth" in str(e.value)
    with pytest.raises(ConfigError, match='energy.mac: no entry for dtype "int8"'):
        override(a, {"compute.matrix.peak.int8": "1979 TOPS"})


# ---- hygiene ---------------------------------------------------------------------------------------

def test_no_unsafe_yaml_loading_anywhere():
    unsafe = re.compile(r"yaml\.(" + "load|unsafe_load|full_load" + r")\(")  # split so this file passes
    hits = []
    for path in REPO.rglob("*.py"):
        if any(part.startswith(".") for part in path.relative_to(REPO).parts):
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines()):
            m = unsafe.search(line)
            if m and "SafeLoader" not in line:
                hits.append(f"{path.relative_to(REPO)}:{i + 1}: {line.strip()}")
    assert not hits, "use yaml.safe_load:\n" + "\n".join(hits)


def test_a_binary_file_or_a_directory_is_a_config_error(tmp_path):
    path = tmp_path / "chip.yaml"
    path.write_bytes(b"name: x\n" + bytes(range(128, 256)))
    with pytest.raises(ConfigError, match=r"chip.yaml: not a text YAML file \(byte 0x80 at offset 8"):
        load_accelerator(path)
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(ConfigError, match="dir.yaml: is a directory; expected a YAML file"):
        load_accelerator(tmp_path / "dir.yaml")
