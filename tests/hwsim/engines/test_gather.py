"""The gather efficiency: measured points where a preset has them, else derived from the DRAM's parameters
(hwsim/engines/gather.py). The derivation is checked against the H200's measurements, which it never uses."""
import pytest

from hwsim import list_presets, load_accelerator
from hwsim.engines.gather import derived_gather_efficiency, gather_efficiency, measured_gather_efficiency

SIZES = [64, 128, 256, 512, 1024, 2048, 4096, 8192]


def test_derived_curve_bounds_the_h200_measurements_from_above_within_a_small_factor():
    h200 = load_accelerator("h200")
    for size in SIZES:
        derived = derived_gather_efficiency(h200.memory.dram, size)
        measured = measured_gather_efficiency(h200.lookup.gather_efficiency, size)
        # the derivation counts only what the DRAM allows (granularity, banks x latency in flight): an upper bound
        # on what the GPU reaches, within 3.5x below a page (1.4-1.7x from one page up)
        assert measured <= derived <= 3.5 * measured, (size, derived, measured)
        if size >= 1024:
            assert derived <= 2 * measured, (size, derived, measured)


def test_derived_curve_by_hand_for_h200_dram():
    d = load_accelerator("h200").memory.dram
    # 96 channels x 32 banks = 3072 rows in flight, each 550 ns, against 4.8 TB/s peak (h200.yaml)
    in_flight_limit = 3072 * 64 / (4.8e12 * 550e-9)
    assert derived_gather_efficiency(d, 64) == pytest.approx(in_flight_limit, rel=1e-12)
    # 1 KiB is one page: the in-flight limit (1.19) passes the streaming efficiency, which caps it
    assert derived_gather_efficiency(d, 1024) == pytest.approx(0.88)
    # 8 KiB opens 8 pages per access: the in-flight limit is the same per byte, still above 0.88
    assert derived_gather_efficiency(d, 8192) == pytest.approx(0.88)


def test_gathers_without_a_measured_curve_no_longer_run_at_the_streaming_efficiency():
    # issue 8: a100 (no measured curve) gathered 512 B rows at 0.88 of peak, against the H200's measured 0.17-0.22
    a100 = load_accelerator("a100")
    assert a100.lookup.gather_efficiency is None
    assert gather_efficiency(a100, 512) < 0.7
    assert gather_efficiency(a100, 64) < 0.1
    # a row moves whole granules: 16 B reads cost as much as 32 B (a100.yaml: 32 B sectors and bursts)
    assert derived_gather_efficiency(a100.memory.dram, 16) * 2 == pytest.approx(
        derived_gather_efficiency(a100.memory.dram, 32))


@pytest.mark.parametrize("preset", list_presets())
def test_every_curve_rises_with_row_size_and_stays_below_the_streaming_efficiency(preset):
    a = load_accelerator(preset)
    fractions = [gather_efficiency(a, s) for s in [8, 16, 32] + SIZES]
    assert max(fractions) <= a.memory.dram.efficiency  # no random read beats a stream
    if a.lookup.gather_efficiency is None:  # (measured curves may dip: the H200's does past 2 KiB)
        # derived: time per byte never rises with the row size
        assert all(b >= a_ * (1 - 1e-12) for a_, b in zip(fractions, fractions[1:])), fractions


def test_below_the_smallest_measured_row_the_time_per_access_stays():
    pts = load_accelerator("h200").lookup.gather_efficiency
    assert measured_gather_efficiency(pts, 32) == pytest.approx(pts[0].fraction / 2)
    assert measured_gather_efficiency(pts, 16384) == pytest.approx(pts[-1].fraction)
