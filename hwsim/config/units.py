"""Quantities in, quantities out: the only place where unit strings meet numbers.

Inside hwsim every quantity is a plain float in SI units (bytes, bytes/s, FLOP/s, Hz, s, J, W), and
the name says which (`bandwidth_bytes_per_s`). This module converts once on the way in
(`parse_quantity("4.8 TB/s", "bytes_per_s")` -> 4.8e12) and once on the way out (`fmt_bandwidth`).

Prefixes: decimal (k M G T P E, and m u/µ n p f for small units) mean powers of 1000 everywhere;
binary (KiB MiB GiB TiB PiB) mean powers of 1024 and are accepted only for bytes and bytes/s, because
only memory capacities are specified in binary by datasheets. "1 MB" is 1e6 bytes, "1 MiB" is 1048576.
Bits are accepted only in energies per bit ("3.9 pJ/bit"), never in sizes or bandwidths, where a stray
"b" for "B" is an 8x error.

A dimensioned quantity (everything but counts and fractions) written as text must carry its unit: "550"
is refused, because a reader cannot tell 550 ns from 550 s. Python numbers are SI (4.8e12 is 4.8e12 B/s);
files pass `numbers="unit"` so that a bare YAML number (`latency: 550`) is refused as well. Zero needs no
unit.
"""
from __future__ import annotations

import math
import numbers as numbers_mod
import re
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "UnitError", "UNIT_KINDS", "UNITLESS_KINDS", "parse_quantity", "describe_kind",
    "fmt_bytes", "fmt_bandwidth", "fmt_flops", "fmt_flop_rate", "fmt_time", "fmt_energy", "fmt_power",
    "fmt_frequency",
]


class UnitError(ValueError):
    """A quantity that cannot be read: says where, what was expected and what was given."""


# A factor is (power of ten, exact binary multiplier), so that "0.85 pJ" becomes exactly the float
# nearest 0.85e-12 (Decimal scaling) instead of 0.85 * 1e-12 = 8.499999999999999e-13.
_LARGE = {"": (0, 1), "k": (3, 1), "K": (3, 1), "M": (6, 1), "G": (9, 1), "T": (12, 1), "P": (15, 1), "E": (18, 1)}
_SMALL = {"": (0, 1), "m": (-3, 1), "u": (-6, 1), "µ": (-6, 1), "μ": (-6, 1), "n": (-9, 1), "p": (-12, 1),
          "f": (-15, 1)}
_BINARY = {"Ki": (0, 2**10), "Mi": (0, 2**20), "Gi": (0, 2**30), "Ti": (0, 2**40), "Pi": (0, 2**50)}


@dataclass(frozen=True)
class _Kind:
    noun: str                      # what the user is asked for: "a bandwidth like ..."
    example: str
    symbols: dict[str, tuple[int, int]]   # unit symbol without prefix -> factor to SI
    prefixes: dict[str, tuple[int, int]]


def _table(kind: _Kind) -> dict[str, tuple[int, int]]:
    return {p + s: (pe + se, pm * sm)
            for s, (se, sm) in kind.symbols.items() for p, (pe, pm) in kind.prefixes.items()}


_ONE = {"": (0, 1)}


_KINDS: dict[str, _Kind] = {
    "bytes": _Kind("size in bytes", "60 MiB", {"B": (0, 1), "byte": (0, 1), "bytes": (0, 1)},
                   {**_LARGE, **_BINARY}),
    "bytes_per_s": _Kind("bandwidth", "4.8 TB/s", {"B/s": (0, 1), "Bps": (0, 1)}, {**_LARGE, **_BINARY}),
    # OP/s and OPS are accepted for integer engines, whose datasheets say "TOPS".
    "flops_per_s": _Kind("FLOP rate", "989 TFLOP/s",
                         {s: (0, 1) for s in ("FLOP/s", "FLOPS", "flop/s", "FLOPs/s", "OP/s", "OPS")}, _LARGE),
    "hz": _Kind("frequency", "1.98 GHz", {"Hz": (0, 1)}, _LARGE),
    "s": _Kind("time", "2 us", {"s": (0, 1)}, _SMALL),
    "j_per_byte": _Kind("energy per byte", "640 pJ/B", {"J/B": (0, 1), "J/byte": (0, 1), "J/bit": (0, 8)}, _SMALL),
    "j": _Kind("energy", "3.5 pJ", {"J": (0, 1)}, {**_SMALL, **_LARGE}),
    "w": _Kind("power", "120 W", {"W": (0, 1)}, {**_SMALL, **_LARGE}),
    "j_per_flop": _Kind("energy per FLOP", "0.85 pJ/FLOP",
                        {s: (0, 1) for s in ("J/FLOP", "J/flop", "J/OP", "J/op")}, _SMALL),
    "count": _Kind("count", "128", _ONE, {**_ONE, "k": (3, 1), "M": (6, 1), "G": (9, 1)}),
    "fraction": _Kind("fraction", "0.88", {"": (0, 1), "%": (-2, 1)}, _ONE),
}
_TABLES = {name: _table(kind) for name, kind in _KINDS.items()}
UNIT_KINDS: tuple[str, ...] = tuple(_KINDS)

_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")
_SIGN_WORD = {"any": "", "positive": "positive ", "nonnegative": "non-negative "}
_SIGN_OK = {"any": lambda x: True, "positive": lambda x: x > 0, "nonnegative": lambda x: x >= 0}


def describe_kind(unit_kind: str, sign: str = "any") -> str:
    """'a positive bandwidth like "4.8 TB/s"': the phrase error messages use for a kind."""
    kind = _kinds_entry(unit_kind)
    words = _SIGN_WORD[sign] + kind.noun
    article = "an" if words[0] in "aeiou" else "a"
    return f'{article} {words} like "{kind.example}"'


# kinds whose values are plain numbers: no unit is needed, in text or in files
UNITLESS_KINDS = ("count", "fraction")


def parse_quantity(value, unit_kind: str, where: str = "", *, sign: str = "any", numbers: str = "si") -> float:
    """Return `value` as an SI float. Strings carry a unit (unless the kind is a count or fraction).

    `sign` is "any", "positive" or "nonnegative". `numbers` says what a bare number (int or float) is:
    "si" (Python callers: already SI) or "unit" (files: refused for dimensioned kinds, as in
    `latency: 550`). Raises UnitError naming `where` (a key path or file), what kind of quantity was
    expected and what was given.
    """
    _kinds_entry(unit_kind)
    if sign not in _SIGN_OK:
        raise ValueError(f"sign must be one of {', '.join(_SIGN_OK)}, given {sign!r}")
    if numbers not in ("si", "unit"):
        raise ValueError(f"numbers must be 'si' or 'unit', given {numbers!r}")
    if type(value) is float or type(value) is int:  # plain numbers (validated data, sweep values): no ABC checks
        if numbers == "unit" and value != 0 and unit_kind not in UNITLESS_KINDS:
            raise UnitError(_message(where, unit_kind, sign, value, bare=True))
        si = float(value)
    else:
        if _bare(value, unit_kind, numbers):
            raise UnitError(_message(where, unit_kind, sign, value, bare=True))
        si = _to_si(value, unit_kind)
    if si is None or not math.isfinite(si) or not _SIGN_OK[sign](si):
        raise UnitError(_message(where, unit_kind, sign, value))
    return si


def _bare(value, unit_kind: str, numbers: str) -> bool:
    """A nonzero dimensioned value without its unit: a text number, or a file's plain number."""
    if unit_kind in UNITLESS_KINDS or isinstance(value, bool):
        return False
    if isinstance(value, numbers_mod.Real):
        return numbers == "unit" and value != 0
    if isinstance(value, str) and (m := _NUMBER_UNIT.match(value)) and not m.group(2):
        return float(m.group(1)) != 0
    return False


def _kinds_entry(unit_kind: str) -> _Kind:
    try:
        return _KINDS[unit_kind]
    except KeyError:
        raise ValueError(f"unknown unit kind {unit_kind!r}; expected one of {', '.join(_KINDS)}") from None


def _to_si(value, unit_kind: str) -> float | None:
    if isinstance(value, bool):  # YAML "yes"/"no" arrive as bools; never a quantity
        return None
    if isinstance(value, numbers_mod.Real):
        return float(value)
    if not isinstance(value, str):
        return None
    m = _NUMBER_UNIT.match(value)
    if not m:
        return None
    # (a bare number in a string gets here only for counts, fractions and zero)
    factor = _TABLES[unit_kind].get(m.group(2)) if m.group(2) else (0, 1)
    if factor is None:
        return None
    exp10, mult = factor
    return float(Decimal(m.group(1)).scaleb(exp10)) * mult


def _message(where: str, unit_kind: str, sign: str, value, bare: bool = False) -> str:
    given = f'"{value}"' if isinstance(value, str) else repr(value)
    hint = ""
    if bare:
        hint = " (a bare number: write its unit)"

    if isinstance(value, str) and (m := _NUMBER_UNIT.match(value)) and m.group(2):
        other = [k for k, t in _TABLES.items() if k != unit_kind and m.group(2) in t and k != "count"]
        if other:  # the unit is real, just the wrong kind: say what it would have meant
            hint = f" ({m.group(2)!r} is a unit of {_KINDS[other[0]].noun})"
    prefix = f"{where}: " if where else ""
    return f"{prefix}expected {describe_kind(unit_kind, sign)}, given {given}{hint}"


# ---- output: decimal prefixes, three significant digits -------------------------------------------

_OUT_LARGE = [("", 1.0), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15), ("E", 1e18)]
_OUT_SMALL = [("f", 1e-15), ("p", 1e-12), ("n", 1e-9), ("u", 1e-6), ("m", 1e-3), ("", 1.0)]
_OUT_BINARY = [("", 1.0), ("Ki", 2.0**10), ("Mi", 2.0**20), ("Gi", 2.0**30), ("Ti", 2.0**40), ("Pi", 2.0**50)]


def _fmt(x: float, unit: str, scale: list[tuple[str, float]], step: float = 1000.0, whole: bool = False) -> str:
    x = float(x)
    if x == 0 or not math.isfinite(x):
        return f"{x:g} {unit}"
    # Largest prefix not above the value; below the smallest one, use the smallest.
    i = max([j for j, (_, f) in enumerate(scale) if f <= abs(x)] or [0])
    v = float(f"{x / scale[i][1]:.3g}")
    if abs(v) >= step and i + 1 < len(scale):  # 999.7 rounds to 1000: use the next prefix
        i += 1
        v = float(f"{x / scale[i][1]:.3g}")
    decimals = max(0, 2 - int(math.floor(math.log10(abs(v)))))
    if whole and scale[i][1] == 1.0 and v.is_integer():  # "32 B", not "32.0 B": bytes come whole
        decimals = 0
    return f"{v:.{decimals}f} {scale[i][0]}{unit}"


def fmt_bytes(x: float, binary: bool = False) -> str:
    """141e9 -> "141 GB"; binary=True for cache sizes: 62914560 -> "60.0 MiB"."""
    return _fmt(x, "B", _OUT_BINARY, 1024.0, whole=True) if binary else _fmt(x, "B", _OUT_LARGE, whole=True)


def fmt_bandwidth(x: float) -> str:
    """4.8e12 -> "4.80 TB/s"."""
    return _fmt(x, "B/s", _OUT_LARGE)


def fmt_flops(x: float) -> str:
    """A FLOP count: 1.0995e12 -> "1.10 TFLOP"."""
    return _fmt(x, "FLOP", _OUT_LARGE)


def fmt_flop_rate(x: float) -> str:
    """A FLOP rate: 9.89e14 -> "989 TFLOP/s"."""
    return _fmt(x, "FLOP/s", _OUT_LARGE)


def fmt_time(s: float) -> str:
    """6.5e-6 -> "6.50 us" (ASCII "u" so CSVs and terminals agree)."""
    return _fmt(s, "s", _OUT_SMALL)


def fmt_energy(j: float) -> str:
    """8.1e-11 -> "81.0 pJ"."""
    return _fmt(j, "J", _OUT_SMALL + _OUT_LARGE[1:])


def fmt_power(w: float) -> str:
    """120.0 -> "120 W"."""
    return _fmt(w, "W", _OUT_SMALL + _OUT_LARGE[1:])


def fmt_frequency(hz: float) -> str:
    """1.98e9 -> "1.98 GHz"."""
    return _fmt(hz, "Hz", _OUT_LARGE)
