"""What a valid config value is, and how an invalid one is reported.

Two halves. Field types (`Bytes`, `Bandwidth`, `Count`, `Fraction`, `FlopRates`, ...) parse a YAML value
with `hwsim.config.units` and, when it is wrong, say what they wanted in the words of the final message. Then
pydantic's error list, which holds every failure with a `loc` tuple, becomes one `ConfigError` listing
them all, one line each, in the house format
`h200.yaml: memory.dram.bandwidth: expected a positive bandwidth like "4.8 TB/s", given "-1 TB/s"`,
with a did-you-mean for misspelt keys (ZigZag's validator is the model: collect, then report).
"""
from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, NamedTuple

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, PlainSerializer, ValidationError, ValidationInfo
from pydantic_core import PydanticCustomError

from .units import UnitError, fmt_bytes, parse_quantity

__all__ = ["ConfigError", "Problem", "DtypeMap", "GatherPoint", "DTYPES", "key_path", "did_you_mean",
           "problems_from_validation", "duplicate_keys", "model_in", "model_at", "field_key"]

DTYPES = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int32", "int8", "int4")


@dataclass(frozen=True)
class Problem:
    source: str   # file name, or "override of h200" for programmatic changes
    key: str      # dotted key path in YAML spelling: "memory.sram[0].bandwidth"; "" for the whole file
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.key}: {self.message}" if self.key else f"{self.source}: {self.message}"


class ConfigError(ValueError):
    """Every problem found in one config, reported together."""

    def __init__(self, problems):
        self.problems: tuple[Problem, ...] = tuple(problems)
        lines = [str(p) for p in self.problems]
        if len(lines) == 1:
            text = lines[0]
        else:
            text = f"{len(lines)} problems in the accelerator config:\n" + "\n".join("  " + s for s in lines)
        super().__init__(text)


# ---- field types: each parses its unit and says what it wanted, in the message's words ---------

def fail(message: str):
    raise PydanticCustomError("hwsim", "{message}", {"message": message})


def show(value) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def size_text(x: float) -> str:
    """Binary prefixes for sizes a datasheet states in binary (60 MiB), decimal otherwise (141 GB)."""
    return fmt_bytes(x, binary=x >= 1024 and x % 1024 == 0)


def numbers_rule(info) -> str:
    """What a bare number means in this validation: "unit" (refused, files) or "si" (Python callers)."""
    return (info.context or {}).get("numbers", "si") if info is not None else "si"


def quantity(kind: str, sign: str = "positive"):
    def parse(value, info: ValidationInfo):
        try:
            return parse_quantity(value, kind, sign=sign, numbers=numbers_rule(info))
        except UnitError as e:
            fail(str(e))
    return Annotated[float, BeforeValidator(parse)]


def _count(value) -> int:
    try:
        x = parse_quantity(value, "count", sign="positive")
    except UnitError:
        x = None
    if x is None or not x.is_integer():
        fail(f"expected a positive whole number like 128, given {show(value)}")
    return int(x)


def _fraction(value) -> float:
    try:
        x = parse_quantity(value, "fraction", sign="positive")
    except UnitError:
        x = None
    if x is None or x > 1:
        fail(f'expected a fraction in (0, 1] like 0.88 or "88 %", given {show(value)}')
    return x


def choice(*options: str):
    def check(value):
        if value not in options:
            hint = did_you_mean(str(value), options) if isinstance(value, str) else ""
            fail(f"expected one of {', '.join(options)}, given {show(value)}"
                  + (hint if "did you mean" in hint else ""))
        return value
    return BeforeValidator(check)


def _nonempty_str(value):
    if not isinstance(value, str) or not value.strip():
        fail(f"expected a non-empty text, given {show(value)}")
    return value


def _dtype(value: str) -> str:
    if value not in DTYPES:
        fail(f"unknown dtype {show(value)}" + did_you_mean(value, DTYPES))
    return value


class DtypeMap(Mapping):
    """Read-only dtype -> value map. Hashable, so an Accelerator can key a cache in a sweep."""
    __slots__ = ("_items",)

    def __init__(self, items=()):
        self._items = dict(items)

    def __getitem__(self, dtype):
        try:
            return self._items[dtype]
        except KeyError:
            raise KeyError(f"no entry for dtype {dtype!r}; this accelerator lists "
                           f"{', '.join(self._items) or 'none'}") from None

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)

    def __hash__(self):
        return hash(frozenset(self._items.items()))

    def __repr__(self):
        return f"DtypeMap({self._items!r})"


def _dtype_map(kind: str, example: str):
    def build(d):
        if not d:
            fail(f"expected at least one dtype, e.g. {{bf16: \"{example}\"}}")
        return DtypeMap(d)
    return Annotated[dict[Annotated[str, AfterValidator(_dtype)], quantity(kind)], AfterValidator(build),
                     PlainSerializer(dict, return_type=dict)]


Bytes, Bandwidth, Hertz = quantity("bytes"), quantity("bytes_per_s"), quantity("hz")
Seconds, Overhead = quantity("s"), quantity("s", "nonnegative")
JoulesPerByte, Joules, JoulesPerFlop = quantity("j_per_byte"), quantity("j"), quantity("j_per_flop")
Watts = quantity("w", "nonnegative")
Count = Annotated[int, BeforeValidator(_count)]
Fraction = Annotated[float, BeforeValidator(_fraction)]
Text = Annotated[str, BeforeValidator(_nonempty_str)]
FlopRates = _dtype_map("flops_per_s", "989 TFLOP/s")
FlopEnergies = _dtype_map("j_per_flop", "0.85 pJ/FLOP")
FlopRate = quantity("flops_per_s")
DtypeList = tuple[Annotated[str, AfterValidator(_dtype)], ...]


def _tile(value):
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        fail(f"expected [m, n, k], three positive whole numbers, given {show(value)}")
    return value


class GatherPoint(NamedTuple):
    row_bytes: float
    fraction: float


def _gather_point(value, info: ValidationInfo):
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        fail(f'expected [row size, fraction of DRAM peak] like ["64 B", 0.022], given {show(value)}')
    try:
        row = parse_quantity(value[0], "bytes", sign="positive", numbers=numbers_rule(info))
    except UnitError as e:
        fail(str(e))
    return GatherPoint(row, _fraction(value[1]))


PositiveNumber = quantity("count")
Citations = Annotated[tuple[str, ...], AfterValidator(lambda s: s or fail("expected at least one citation"))]
Tile = Annotated[tuple[Count, Count, Count], BeforeValidator(_tile)]
GatherCurve = tuple[Annotated[GatherPoint, BeforeValidator(_gather_point)], ...]


def cross(problems: list[tuple[tuple, str]]):
    """Raise one model's cross-field problems together; problems_from_validation gives each its key."""
    if problems:
        raise PydanticCustomError("hwsim_cross", "{summary}",
                                  {"summary": "; ".join(m for _, m in problems), "problems": problems})


# ---- pydantic errors -> Problems ---------------------------------------------------------------

def key_path(loc) -> str:
    """('memory', 'sram', 0, 'bandwidth') -> 'memory.sram[0].bandwidth'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":  # pydantic marks a failed dict key this way; the key itself is the last part
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def did_you_mean(given: str, choices) -> str:
    """'; did you mean "bandwidth"?' or, with no close match, the list of valid choices."""
    choices = sorted(set(choices))
    close = difflib.get_close_matches(str(given), choices, n=1, cutoff=0.6)
    if close:
        return f'; did you mean "{close[0]}"?'
    return f"; expected one of: {', '.join(choices)}" if choices else ""


def model_in(tp) -> type[BaseModel] | None:
    """The BaseModel inside an annotation such as `tuple[SramLevel, ...]` or `HashUnit | None`."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in typing.get_args(tp):
        if (m := model_in(arg)) is not None:
            return m
    return None


def field_key(name: str, field) -> str:
    return field.alias or name


def model_at(root: type[BaseModel], loc) -> type[BaseModel] | None:
    """The model class whose keys live at `loc` (list indexes skipped), or None past a leaf."""
    cls = root
    for part in loc:
        if isinstance(part, int):
            continue
        fields = {field_key(n, f): f for n, f in cls.model_fields.items()}
        if part not in fields or (cls := model_in(fields[part].annotation)) is None:
            return None
    return cls


def _given(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def problems_from_validation(err: ValidationError, source: str, root: type[BaseModel]) -> list[Problem]:
    problems = []
    for e in err.errors(include_url=False):
        loc, kind = tuple(e["loc"]), e["type"]
        ctx = e.get("ctx") or {}
        if kind == "hwsim_cross":  # one model's cross-field checks, each with its own sub-key
            for sub, msg in ctx["problems"]:
                problems.append(Problem(source, key_path(loc + tuple(sub)), msg))
            continue
        if kind == "missing":
            msg = "missing required key"
        elif kind == "extra_forbidden":
            parent = model_at(root, loc[:-1])
            keys = [field_key(n, f) for n, f in parent.model_fields.items()] if parent else []
            msg = "unknown key" + did_you_mean(loc[-1], keys)
        elif kind == "hwsim":
            msg = ctx["message"]
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            msg = f"expected a mapping of keys to values, given {_given(e['input'])}"
        elif kind == "string_type" and isinstance(e["input"], dict):
            msg = ('expected a text, given a mapping (an unquoted ": " inside a YAML string starts a mapping; '
                   "quote the string)")
        elif kind in ("list_type", "tuple_type"):
            msg = f"expected a list, given {_given(e['input'])}"
        else:  # pydantic's own words, made to read like ours
            text = e["msg"]
            msg = f"{text[:1].lower()}{text[1:]}, given {_given(e['input'])}"
        problems.append(Problem(source, key_path(loc), msg))
    return _merge_misspelt_required(problems)


def _merge_misspelt_required(problems: list[Problem]) -> list[Problem]:
    """A required key spelt wrong is one mistake, not an unknown key plus a missing one."""
    missing = {p.key for p in problems if p.message == "missing required key"}
    merged, covered = [], set()
    for p in problems:
        if p.message.startswith("unknown key; did you mean"):
            suggestion = p.message.split('"')[1]
            sibling = p.key.rsplit(".", 1)[0] + "." + suggestion if "." in p.key else suggestion
            if sibling in missing:
                covered.add(sibling)
                p = Problem(p.source, p.key, f'unknown key; did you mean "{suggestion}" (a required key, missing)?')
        merged.append(p)
    return [p for p in merged if not (p.message == "missing required key" and p.key in covered)]


def duplicate_keys(text: str, source: str) -> list[Problem]:
    """Keys given twice in one mapping: safe_load silently keeps the last, hiding an edit."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)  # nodes only, nothing constructed
    except yaml.YAMLError:
        return []  # safe_load reports the syntax error with its line
    problems: list[Problem] = []

    def walk(node, path):
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for k, v in node.value:
                key = str(k.value)
                if key in seen:
                    problems.append(Problem(source, key_path(path + (key,)),
                                            f"key given twice (lines {seen[key]} and {k.start_mark.line + 1}); "
                                            "the second would silently win"))
                seen.setdefault(key, k.start_mark.line + 1)
                walk(v, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, path + (i,))

    walk(root, ())
    return problems

