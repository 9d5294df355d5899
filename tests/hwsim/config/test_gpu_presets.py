"""The datasheet GPU presets (h100, b200, mi300x): they load and simulate, their datasheet figures are
what the datasheets say, and what they take from the measured H200 is the H200's value."""
import math

import pytest

import workloads
from hwsim import load_accelerator, simulate
from hwsim.config import PRESET_DIR

NEW = ("h100", "b200", "mi300x")


def blocks():
    # a MemoryFormer block and a Transformer block of memoryformer-base / pythia-410m size
    return [workloads.block(kind, 1024, 512, 1, 16, tau=8, expand_bits=2) for kind in ("memoryformer", "transformer")]


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("engine", ["analytic", "des"])
def test_loads_and_simulates_both_blocks(name, engine):
    accel = load_accelerator(name)
    assert accel.kind == "gpu" and accel.name == name
    for w in blocks():
        r = simulate(w, accel, engine=engine)
        assert math.isfinite(r.latency_s) and r.latency_s > 0
        assert math.isfinite(r.energy_j) and r.energy_j > 0
        assert r.flops == w.flops


def test_datasheet_figures():
    h100, b200, mi300x, h200 = (load_accelerator(n) for n in (*NEW, "h200"))
    # H100 SXM5 datasheet: 80 GB HBM3 at 3.35 TB/s, the H200's 989 TFLOP/s dense bf16 on the same 132 SMs
    assert h100.memory.dram.bandwidth_bytes_per_s == 3.35e12 and h100.memory.dram.capacity_bytes == 80e9
    assert h100.compute.matrix.peak_flops_per_s["bf16"] == h200.compute.matrix.peak_flops_per_s["bf16"] == 989e12
    assert h100.memory.sram[0].capacity_bytes == 50 * 2**20  # whitepaper: 50 MB L2
    # HGX B200: 4.5 PFLOP/s bf16 with 2:4 sparsity = 2.25 dense, more than the H200's; 7.7 TB/s, 180 GB
    assert b200.compute.matrix.peak_flops_per_s["bf16"] == 2.25e15 > h200.compute.matrix.peak_flops_per_s["bf16"]
    assert b200.memory.dram.bandwidth_bytes_per_s == 7.7e12 and b200.memory.dram.capacity_bytes == 180e9
    # MI300X datasheet: 5.3 TB/s HBM3, 192 GB, 1307.4 TFLOP/s dense bf16 on 304 CUs, 256 MB Infinity Cache
    assert mi300x.memory.dram.bandwidth_bytes_per_s == 5.3e12 and mi300x.memory.dram.capacity_bytes == 192e9
    assert mi300x.compute.matrix.peak_flops_per_s["bf16"] == 1307.4e12 and mi300x.compute.matrix.cores == 304
    assert mi300x.memory.sram[0].capacity_bytes == 256 * 2**20 == mi300x.lookup.capacity_bytes


# fp32 FLOP per clock per core: NVIDIA SMs have 128 fp32 lanes doing one FMA (2 FLOP) each (Hopper
# whitepaper); a CDNA 3 CU does 256 (packed FP32, 64 lanes x 2 x FMA; CDNA 3 whitepaper)
FP32_FLOP_PER_CLOCK = {"h100": 256, "b200": 256, "mi300x": 256}


@pytest.mark.parametrize("name", NEW)
def test_fp32_peak_is_cores_times_flop_per_clock_times_clock(name):
    a = load_accelerator(name)
    expected = a.compute.matrix.cores * FP32_FLOP_PER_CLOCK[name] * a.clock_hz
    assert a.compute.vector.peak_flops_per_s["fp32"] == pytest.approx(expected, rel=0.01)  # datasheet rounding


@pytest.mark.parametrize("name", NEW)
def test_what_is_assumed_from_the_h200_is_the_h200_value(name):
    a, h = load_accelerator(name), load_accelerator("h200")
    assert a.lookup.gather_efficiency == h.lookup.gather_efficiency
    assert a.runtime == h.runtime
    for attr in ("efficiency", "weight_stream_efficiency", "latency_s", "energy_per_byte_j"):
        assert getattr(a.memory.dram, attr) == getattr(h.memory.dram, attr), attr
    assert a.compute.matrix.efficiency == h.compute.matrix.efficiency
    assert a.energy.idle_power_w == h.energy.idle_power_w and a.energy.active_power_w == h.energy.active_power_w
    assert a.energy.mac_j_per_flop["bf16"] == h.energy.mac_j_per_flop["bf16"]
    # and the preset says so, line by line
    text = (PRESET_DIR / f"{name}.yaml").read_text()
    assert text.count("# assumed: H200 measured value") >= 8 + 5  # the gather curve and the runtime at least


def test_h100_is_never_faster_than_h200():
    # the same die, clock and software, with less HBM bandwidth, a smaller L2 and fewer L2 slices
    for w in blocks() + [workloads.layer("linear", 1, 4096, 4096), workloads.layer("memory", 2048, 1024, 1024)]:
        assert simulate(w, "h100").latency_s >= simulate(w, "h200").latency_s * (1 - 1e-9), w.name


def test_b200_runs_a_transformer_block_faster_than_h200():
    # more SMs at the same clock, 2.3x the dense bf16 peak, 1.6x the HBM bandwidth, the same latencies
    w = workloads.block("transformer", 2048, 2048, 8, 16)
    assert simulate(w, "b200").latency_s < simulate(w, "h200").latency_s
