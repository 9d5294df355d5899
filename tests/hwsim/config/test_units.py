"""Unit parsing and formatting: the one place where a 10x or 1.024x error could enter."""
import math

import pytest

from hwsim.config.units import (UNIT_KINDS, UnitError, describe_kind, fmt_bandwidth, fmt_bytes, fmt_energy,
                         fmt_flop_rate, fmt_flops, fmt_frequency, fmt_power, fmt_time, parse_quantity)


@pytest.mark.parametrize("text, kind, si", [
    ("4.8 TB/s", "bytes_per_s", 4.8e12),
    ("4800 GB/s", "bytes_per_s", 4.8e12),
    ("4230.5 GB/s", "bytes_per_s", 4.2305e12),
    ("1 GiB/s", "bytes_per_s", 2**30),
    ("60 MiB", "bytes", 60 * 2**20),
    ("141 GB", "bytes", 141e9),
    ("1 MB", "bytes", 1e6),
    ("1 MiB", "bytes", 1048576),
    ("1 KiB", "bytes", 1024),
    ("1 kB", "bytes", 1000),
    ("32 B", "bytes", 32),
    ("1.98 GHz", "hz", 1.98e9),
    ("1410 MHz", "hz", 1.41e9),
    ("640 pJ/B", "j_per_byte", 640e-12),
    ("3.9 pJ/bit", "j_per_byte", 8 * 3.9e-12),
    ("0.85 pJ/FLOP", "j_per_flop", 0.85e-12),
    ("989 TFLOP/s", "flops_per_s", 989e12),
    ("989 TFLOPS", "flops_per_s", 989e12),
    ("275 TOPS", "flops_per_s", 275e12),
    ("345.6 GFLOP/s", "flops_per_s", 345.6e9),
    ("2 us", "s", 2e-6),
    ("2 µs", "s", 2e-6),
    ("500 ns", "s", 500e-9),
    ("1.5 ms", "s", 1.5e-3),
    ("120 W", "w", 120.0),
    ("250 mW", "w", 0.25),
    ("3.5 pJ", "j", 3.5e-12),
    ("1.86 nJ", "j", 1.86e-9),
    ("128", "count", 128),
    ("88 %", "fraction", 0.88),
    ("4.8e+12 B/s", "bytes_per_s", 4.8e12),
    ("  60MiB ", "bytes", 60 * 2**20),
])
def test_parses_each_kind_to_si(text, kind, si):
    assert parse_quantity(text, kind) == pytest.approx(si, rel=1e-12)


def test_decimal_and_binary_prefixes_differ():
    assert parse_quantity("1 MiB", "bytes") == 1048576
    assert parse_quantity("1 MB", "bytes") == 1_000_000
    assert parse_quantity("1 GiB", "bytes") / parse_quantity("1 GB", "bytes") == pytest.approx(1.073741824)


def test_decimal_values_are_exact_floats():
    # 0.85 * 1e-12 would give 8.499999999999999e-13; the parser scales the decimal text instead.
    assert parse_quantity("0.85 pJ/FLOP", "j_per_flop") == 0.85e-12
    assert parse_quantity("500 ns", "s") == 5e-7


def test_python_numbers_are_taken_as_si():
    assert parse_quantity(4.8e12, "bytes_per_s") == 4.8e12
    assert parse_quantity(32, "bytes") == 32.0


@pytest.mark.parametrize("value, kind", [
    ("4.8e12", "bytes_per_s"),  # PyYAML reads 4.8e12 as a string: 4.8e12 what?
    ("550", "s"),
    ("1.98", "hz"),
    ("200", "s"),
])
def test_text_without_its_unit_is_refused(value, kind):
    with pytest.raises(UnitError, match=r"given \"[0-9.e]+\" \(a bare number: write its unit\)"):
        parse_quantity(value, kind)


def test_files_refuse_bare_numbers_for_dimensioned_kinds_only():
    with pytest.raises(UnitError, match=r'expected a time like "2 us", given 550 \(a bare number'):
        parse_quantity(550, "s", numbers="unit")
    assert parse_quantity(128, "count", numbers="unit") == 128.0    # counts and fractions have no unit
    assert parse_quantity(0.88, "fraction", numbers="unit") == 0.88
    assert parse_quantity(0, "s", numbers="unit") == 0.0            # zero is zero in any unit
    assert parse_quantity("0", "s") == 0.0
    assert parse_quantity("550 ns", "s", numbers="unit") == 550e-9


@pytest.mark.parametrize("value, kind", [
    ("4.8 TB", "bytes_per_s"),      # a size where a bandwidth belongs
    ("4.8 Tb/s", "bytes_per_s"),    # bits are not bytes
    ("60 MIB", "bytes"),
    ("1 mB", "bytes"),              # milli-bytes: no small prefixes for sizes
    ("1 GiFLOP/s", "flops_per_s"),  # binary prefixes only for bytes
    ("1.98 G", "hz"),
    ("fast", "hz"),
    ("", "s"),
    ("2 us us", "s"),
    ("1,000 B", "bytes"),
    (True, "bytes"),
    (None, "bytes"),
    ([1], "bytes"),
    (float("nan"), "s"),
    (float("inf"), "bytes_per_s"),
])
def test_bad_values_raise_unit_error(value, kind):
    with pytest.raises(UnitError):
        parse_quantity(value, kind)


def test_error_names_where_expected_and_given():
    with pytest.raises(UnitError) as e:
        parse_quantity("4.8 TB", "bytes_per_s", where="memory.dram.bandwidth")
    msg = str(e.value)
    assert msg.startswith("memory.dram.bandwidth: ")
    assert 'expected a bandwidth like "4.8 TB/s"' in msg
    assert 'given "4.8 TB"' in msg
    assert "size in bytes" in msg  # the hint says what "TB" would have meant
    assert isinstance(e.value, ValueError)


def test_sign_rules():
    with pytest.raises(UnitError, match='expected a positive bandwidth like "4.8 TB/s", given "-1 TB/s"'):
        parse_quantity("-1 TB/s", "bytes_per_s", sign="positive")
    with pytest.raises(UnitError):
        parse_quantity(0, "s", sign="positive")
    assert parse_quantity(0, "s", sign="nonnegative") == 0.0
    with pytest.raises(UnitError, match="non-negative"):
        parse_quantity("-1 us", "s", sign="nonnegative")
    assert parse_quantity("-1 us", "s") == -1e-6


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown unit kind"):
        parse_quantity("1 B", "byte")
    assert {"bytes", "bytes_per_s", "flops_per_s", "hz", "s", "j_per_byte", "j", "w", "j_per_flop",
            "count"} <= set(UNIT_KINDS)
    assert describe_kind("hz", "positive") == 'a positive frequency like "1.98 GHz"'
    assert describe_kind("j", "any").startswith("an energy")


@pytest.mark.parametrize("fn, x, text", [
    (fmt_bytes, 141e9, "141 GB"),
    (fmt_bytes, 0, "0 B"),
    (fmt_bytes, 32, "32 B"),
    (fmt_bytes, 32.5, "32.5 B"),
    (fmt_bytes, 999.96, "1.00 kB"),
    (fmt_bandwidth, 4.8e12, "4.80 TB/s"),
    (fmt_bandwidth, 106.2e9, "106 GB/s"),
    (fmt_flop_rate, 989e12, "989 TFLOP/s"),
    (fmt_flops, 1.0995e12, "1.10 TFLOP"),
    (fmt_time, 6.5e-6, "6.50 us"),
    (fmt_time, 999.7e-6, "1.00 ms"),
    (fmt_time, 2.5, "2.50 s"),
    (fmt_energy, 81e-12, "81.0 pJ"),
    (fmt_energy, -3e-3, "-3.00 mJ"),
    (fmt_power, 120, "120 W"),
    (fmt_frequency, 1.98e9, "1.98 GHz"),
])
def test_formatting(fn, x, text):
    assert fn(x) == text


def test_binary_formatting_for_cache_sizes():
    assert fmt_bytes(60 * 2**20, binary=True) == "60.0 MiB"
    assert fmt_bytes(512, binary=True) == "512 B"


@pytest.mark.parametrize("fmt, kind", [(fmt_bytes, "bytes"), (fmt_bandwidth, "bytes_per_s"),
                                       (fmt_flop_rate, "flops_per_s"), (fmt_time, "s"), (fmt_energy, "j"),
                                       (fmt_power, "w"), (fmt_frequency, "hz")])
def test_format_then_parse_round_trips_to_three_digits(fmt, kind):
    for exp in range(-14, 16):
        for mant in (1.0, 2.345, 9.996):
            x = mant * 10.0**exp
            if kind in ("bytes", "bytes_per_s", "flops_per_s", "hz") and x < 1:
                continue  # no small prefixes for these kinds
            if kind == "s" and x >= 1000:
                continue
            back = parse_quantity(fmt(x), kind)
            assert math.isclose(back, x, rel_tol=5e-3), (fmt(x), x)
