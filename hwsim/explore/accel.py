"""The accelerator of a sweep point: its base with the point's axis values, as hwsim.config.override gives it,
built by validating only the config parts the axes touch."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError

from hwsim.config import ConfigError, validate_accelerator
from hwsim.config.errors import Problem, field_key, key_path, problems_from_validation
from hwsim.explore.cache import put
from hwsim.explore.paths import read_path, substitute

if TYPE_CHECKING:
    from hwsim.explore.spec import Spec


class AccelBuilder:
    """The accelerator of a point, as `hwsim.config.override(base, axis values)` gives it, but validating only
    the parts an axis touches: each changed part (the Dram, a SramLevel, the Lookup, ...) is validated as a
    whole, with its cross-field checks, once per distinct set of its values, and put into a copy of the
    validated base. The Accelerator-level check (an energy for every dtype) looks at keys, which value axes
    cannot change; an axis on a top-level setting (clock) validates the whole config instead."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.bases = {b: validate_accelerator(d, b) for b, d in spec.bases.items()}
        self.axes = [(a.name, a.path) for a in spec.settings()]
        self.groups: dict[tuple, list] = {}  # parent part (YAML path) -> [(axis name, path inside the part)]
        self.attr: dict[tuple, tuple] = {}   # parent part -> attribute path for model_copy
        self.whole = False
        for b in self.bases.values():
            for name, path in self.axes:
                parent, attrs = _parent_part(b, path)
                if not parent:
                    self.whole = True
                self.groups.setdefault(parent, []).append((name, path[len(parent):]))
                self.attr[parent] = attrs
            break  # spec checking made every path name the same setting in every base
        self.groups = {p: list(dict.fromkeys(v)) for p, v in self.groups.items()}
        self._parts: dict = {}
        self._data: dict = {}

    def _base_data(self, base, parent) -> dict:
        """The base's part as config data to put a point's values into: its validated values in SI units
        (validating numbers skips parsing the YAML's unit strings again), where they validate back to the
        same part; else the YAML as written."""
        data = self._data.get((base, parent))
        if data is None:
            part = _get(self.bases[base], self.attr[parent])
            data = part.model_dump(by_alias=True, exclude_unset=True)
            try:
                same = type(part).model_validate(data) == part
            except ValidationError:
                same = False
            data = self._data[(base, parent)] = data if same else read_path(self.spec.bases[base], parent)
        return data

    def source(self, point) -> str:
        return f"{point['base']} with " + ", ".join(f"{n}={point[n]!r}" for n, _ in self.axes)

    def build(self, point):
        return replace_parts(self.bases[point["base"]], self.parts(point))

    def parts(self, point) -> dict:
        """{attribute path: validated part} of the point (() -> the whole accelerator, when an axis sets a
        top-level setting); ConfigError when a part does not validate."""
        base = point["base"]
        if self.whole or not self.axes:
            data = substitute(self.spec.bases[base], [(p, point[n]) for n, p in self.axes])
            return {(): validate_accelerator(data, self.source(point)) if self.axes else self.bases[base]}
        parts = {}
        for parent, members in self.groups.items():
            key = (base, parent, *(point[n] for n, _ in members))
            part = self._parts.get(key)
            if part is None:
                part = self._validate_part(base, parent, members, point)
                put(self._parts, key, part)
            if isinstance(part, ConfigError):
                raise part
            parts[self.attr[parent]] = part
        return parts

    def _validate_part(self, base, parent, members, point):
        cls = type(_get(self.bases[base], self.attr[parent]))
        data = substitute(self._base_data(base, parent), [(rel, point[n]) for n, rel in members])
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            source = self.source(point)
            return ConfigError([Problem(source, key_path(parent + tuple(_loc(p.key))) if p.key else key_path(parent),
                                        p.message) for p in problems_from_validation(e, source, cls)])


def _parent_part(accel, path) -> tuple[tuple, tuple]:
    """The YAML path of the innermost config part holding a setting, and its attribute path."""
    obj, attrs, parent, parent_attrs = accel, [], (), ()
    for i, part in enumerate(path[:-1]):
        if isinstance(part, int):
            obj = obj[part]
            attrs.append(part)
        elif isinstance(obj, BaseModel):
            name = next(n for n, f in type(obj).model_fields.items() if field_key(n, f) == part)
            obj = getattr(obj, name)
            attrs.append(name)
        else:  # a free mapping (peak rates): its owner is the part
            break
        if isinstance(obj, BaseModel):
            parent, parent_attrs = tuple(path[:i + 1]), tuple(attrs)
    return parent, parent_attrs


def _get(obj, attrs):
    for a in attrs:
        obj = obj[a] if isinstance(a, int) else getattr(obj, a)
    return obj


def replace_parts(obj, parts: dict):
    """A copy of `obj` with each attribute path in `parts` (("memory", "sram", 0): level, ...) replaced,
    copying each model on the way once."""
    if () in parts:
        return parts[()]
    heads: dict = {}
    for path, value in parts.items():
        heads.setdefault(path[0], {})[path[1:]] = value
    if isinstance(obj, tuple):
        items = list(obj)
        for i, sub in heads.items():
            items[i] = replace_parts(obj[i], sub)
        return tuple(items)
    return obj.model_copy(update={h: replace_parts(getattr(obj, h), sub) for h, sub in heads.items()})


def _loc(key: str) -> list:
    """'gather_efficiency[1]' -> ['gather_efficiency', 1]: a relative key path back into parts."""
    return [int(x) if x.isdigit() else x for x in re.findall(r"[^.\[\]]+", key)]
