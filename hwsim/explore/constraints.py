"""Constraints of a sweep spec: "area_mm2 <= 800", "latency_s < 2 ms", "tables_fit", "not tables_fit"."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hwsim.config.errors import did_you_mean
from hwsim.config.units import UnitError, parse_quantity


@dataclass(frozen=True)
class Constraint:
    text: str
    column: str
    op: str | None        # None: the column itself must be true (tables_fit)
    value: Any = None
    negate: bool = False


_CMP = re.compile(r"^\s*(not\s+)?([A-Za-z_][\w.\[\]]*)\s*(?:(<=|>=|==|!=|<|>)\s*(.+?))?\s*$")
_QUANTITY_KINDS = ("bytes", "bytes_per_s", "s", "j", "w", "hz", "flops_per_s", "j_per_byte", "j_per_flop")


def parse_constraint(text, known) -> tuple[Constraint | None, str | None]:
    if not isinstance(text, str):
        return None, f'expected a text like "area_mm2 <= 800" or "tables_fit", given {text!r}'
    m = _CMP.match(text)
    if not m:
        return None, f'expected "COLUMN <= VALUE" (or <, >=, >, ==, !=) or a true/false column, given {text!r}'
    negate, column, op, rhs = m.groups()
    if column not in known:
        return None, f'unknown column "{column}"' + did_you_mean(column, known)
    if op is None:
        return Constraint(text, column, None, negate=bool(negate)), None
    if negate:
        return None, f'"not" goes only before a true/false column, given {text!r}'
    value = _constant(rhs)
    if value is None:
        return None, f'expected a number, a quantity like "800 GB/s" or a quoted text after {op}, given {rhs!r}'
    return Constraint(text, column, op, value), None


def _constant(rhs: str):
    if len(rhs) >= 2 and rhs[0] == rhs[-1] and rhs[0] in "'\"":
        return rhs[1:-1]
    try:
        return float(rhs)
    except ValueError:
        pass
    for kind in _QUANTITY_KINDS:
        try:
            return parse_quantity(rhs, kind)
        except UnitError:
            continue
    return None


def holds(c: Constraint, row: dict) -> bool:
    """Does `row` meet `c`? A missing value (not computed) does not."""
    v = row.get(c.column)
    if v is None:
        return False
    if c.op is None:
        return bool(v) != c.negate
    try:
        return {"<=": v <= c.value, "<": v < c.value, ">=": v >= c.value, ">": v > c.value, "==": v == c.value,
                "!=": v != c.value}[c.op]
    except TypeError:
        raise ValueError(f"constraint {c.text!r}: cannot compare {v!r} with {c.value!r}") from None
