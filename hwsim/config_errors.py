"""Config problems a user can act on: which file, which key, what was expected, what was given.

pydantic stops nothing at the first error; it returns every failure with a `loc` tuple. This module
turns those into one `ConfigError` that lists them all, one line each, in the house format
`h200.yaml: memory.dram.bandwidth: expected a positive bandwidth like "4.8 TB/s", given "-1 TB/s"`,
with a did-you-mean for misspelt keys (ZigZag's validator is the model: collect, then report).
"""
from __future__ import annotations

import difflib
import typing
from dataclasses import dataclass

import yaml
from pydantic import BaseModel, ValidationError

__all__ = ["ConfigError", "Problem", "key_path", "did_you_mean", "problems_from_validation", "duplicate_keys"]


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


def _model_in(tp) -> type[BaseModel] | None:
    """The BaseModel inside an annotation such as `tuple[SramLevel, ...]` or `HashUnit | None`."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in typing.get_args(tp):
        if (m := _model_in(arg)) is not None:
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
        if part not in fields or (cls := _model_in(fields[part].annotation)) is None:
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
        elif kind in ("hwsim", "hwsim_quantity"):
            msg = ctx["message"]
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            msg = f"expected a mapping of keys to values, given {_given(e['input'])}"
        elif kind in ("list_type", "tuple_type"):
            msg = f"expected a list, given {_given(e['input'])}"
        else:  # pydantic's own words, made to read like ours
            text = e["msg"]
            msg = f"{text[:1].lower()}{text[1:]}, given {_given(e['input'])}"
        problems.append(Problem(source, key_path(loc), msg))
    return problems


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

