"""Units are required where a number alone is ambiguous, implausible values are refused, and overrides of
clock or cores keep the rate per core per cycle (issue 8)."""
import pytest
import yaml

from hwsim.config import PRESET_DIR, ConfigError, load_accelerator


def h200_data() -> dict:
    return yaml.safe_load((PRESET_DIR / "h200.yaml").read_text())


def write(tmp_path, data) -> str:
    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


@pytest.mark.parametrize("section, key, value, expected", [
    ("memory.dram", "latency", 550, 'memory.dram.latency: expected a positive time like "2 us", given 550 '
                                    "(a bare number: write its unit)"),
    ("", "clock", 1.98, 'clock: expected a positive frequency like "1.98 GHz", given 1.98 (a bare number'),
    ("memory.dram", "bandwidth", "4.8e12", 'memory.dram.bandwidth: expected a positive bandwidth like "4.8 TB/s", '
                                           'given "4.8e12" (a bare number'),
    ("lookup", "capacity", 62914560, "lookup.capacity: expected a positive size in bytes"),
])
def test_a_bare_number_in_a_file_is_one_clear_line(tmp_path, section, key, value, expected):
    data = h200_data()
    node = data
    for part in filter(None, section.split(".")):
        node = node[part]
    node[key] = value
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as e:
        load_accelerator(path)
    assert len(e.value.problems) == 1
    assert str(e.value) == f"{path}: {expected}" or str(e.value).startswith(f"{path}: {expected}")


def test_counts_fractions_and_zero_need_no_unit(tmp_path):
    data = h200_data()
    data["runtime"]["graph_launch"] = 0      # zero is zero in any unit
    data["memory"]["dram"]["efficiency"] = 0.9
    data["compute"]["matrix"]["cores"] = 132
    a = load_accelerator(write(tmp_path, data))
    assert a.runtime.graph_launch_s == 0 and a.memory.dram.efficiency == 0.9


def test_every_preset_gives_its_units():
    for path in PRESET_DIR.glob("*.yaml"):
        load_accelerator(str(path))  # loaded as a file: bare numbers would be refused


@pytest.mark.parametrize("change, expected", [
    ({"memory.dram.latency": "200"}, 'memory.dram.latency: expected a positive time like "2 us", given "200" '
                                     "(a bare number: write its unit)"),
    ({"memory.dram.latency": 200}, "memory.dram.latency: 200 s is implausible (expected 10.0 ps to 1.00 ms)"),
    ({"clock": 1.98}, "clock: 1.98 Hz is implausible (expected 1.00 MHz to 100 GHz)"),
    ({"memory.dram.bandwidth": "4.8 PB/s"}, "memory.dram.bandwidth: 4.80 PB/s is implausible"),
    ({"runtime.launch_overhead_eager": "1 s", "runtime.launch_overhead_graph": "1 s"},
     "runtime.launch_overhead_eager: 1.00 s is implausible"),
])
def test_overrides_refuse_text_without_units_and_implausible_values(change, expected):
    with pytest.raises(ConfigError) as e:
        load_accelerator("h200").with_overrides(change)
    assert expected in str(e.value)
    assert all("\n" not in str(p) for p in e.value.problems)


def test_si_numbers_from_python_are_fine():
    a = load_accelerator("h200").with_overrides({"memory.dram.latency": 200e-9, "clock": 1.5e9})
    assert a.memory.dram.latency_s == 200e-9 and a.clock_hz == 1.5e9


def test_implausible_values_in_a_file_are_each_one_line(tmp_path):
    data = h200_data()
    data["clock"] = "1.98 Hz"
    data["memory"]["dram"]["latency"] = "550 s"
    data["memory"]["sram"][0]["latency"] = "235 s"
    with pytest.raises(ConfigError) as e:
        load_accelerator(write(tmp_path, data))
    lines = [str(p) for p in e.value.problems]
    assert len(lines) == 3
    assert any(line.endswith("clock: 1.98 Hz is implausible (expected 1.00 MHz to 100 GHz); a unit mistake? "
                             "Python numbers are SI") for line in lines)
    assert any("memory.sram[0].latency: 235 s is implausible" in line for line in lines)


def test_clock_and_core_overrides_scale_the_peaks_unless_given():
    h = load_accelerator("h200")
    fast = h.with_overrides({"clock": "3.96 GHz"})
    assert fast.compute.matrix.peak_flops_per_s["bf16"] == pytest.approx(2 * 989e12)  # 132 SMs x 2 x per cycle
    assert fast.compute.vector.peak_flops_per_s["fp32"] == pytest.approx(2 * 67e12)
    assert fast.memory.dram.bandwidth_bytes_per_s == h.memory.dram.bandwidth_bytes_per_s  # HBM has its own clock
    wide = h.with_overrides({"compute.matrix.cores": 264})
    assert wide.compute.matrix.peak_flops_per_s["bf16"] == pytest.approx(2 * 989e12)
    assert wide.compute.vector.peak_flops_per_s == h.compute.vector.peak_flops_per_s
    assert wide.compute.threads_in_flight == 2 * 270336  # 2048 resident threads per SM (h200.yaml)
    given = h.with_overrides({"clock": "3.96 GHz", "compute.matrix.peak.bf16": "1 PFLOP/s"})
    assert given.compute.matrix.peak_flops_per_s["bf16"] == 1e15
    assert given.compute.matrix.peak_flops_per_s["fp16"] == pytest.approx(2 * 989e12)
