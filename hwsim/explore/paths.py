"""Key paths into an accelerator config: 'memory.sram[0].capacity' to the setting it names, the schema's own
validator for that one setting, and copies of a config with settings replaced."""
from __future__ import annotations

import functools
import re
import typing
from typing import Annotated

from pydantic import TypeAdapter

from hwsim.config import Accelerator
from hwsim.config.errors import did_you_mean, field_key, key_path, model_in


def resolve_path(data: dict | None, dotted: str) -> tuple[tuple, str | None]:
    """'memory.sram[0].capacity' or 'memory.sram.L2.capacity_bytes' -> ('memory', 'sram', 0, 'capacity'):
    the YAML key path of one setting in the config `data`, or a message saying why the path names none.
    data None (no base could be loaded): checked against the schema alone; list items are not looked up."""
    parts = re.findall(r"[^.\[\]]+", dotted)
    if not parts:
        return (), "empty key path"
    node, model, out, in_list = data, Accelerator, [], False
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if in_list:  # a list item, by index or by name
            in_list = False
            if data is None:
                out.append(0)
                continue
            names = [str(x.get("name")) for x in node if isinstance(x, dict)]
            idx = int(part) if part.isdigit() and int(part) < len(node) else (
                names.index(part) if part in names else None)
            if idx is None:
                return (), f'no list item "{part}" at {key_path(out)}; give an index below {len(node)} or a name' \
                    + did_you_mean(part, names)
            out.append(idx)
            node = node[idx]
            if last:
                return (), f"{key_path(out)} is a group of settings; name one of them"
            continue
        if model is None:  # a free mapping (peak rates by dtype): the key must be there already
            if data is not None and (not isinstance(node, dict) or part not in node):
                return (), f'unknown key "{part}" at {key_path(out)}' + did_you_mean(part, list(node or ()))
            out.append(part)
            node = node[part] if data is not None else None
            if not last:
                return (), f"{key_path(out)} holds a value, not more keys"
            continue
        keys = {field_key(n, f): n for n, f in model.model_fields.items()}
        by_name = {n: k for k, n in keys.items()}
        key = part if part in keys else by_name.get(part)
        if key is None:
            where = f" at {key_path(out)}" if out else ""
            return (), f'unknown key "{part}"{where}' + did_you_mean(part, [*keys, *by_name])
        out.append(key)
        ann = model.model_fields[keys[key]].annotation
        sub = model_in(ann)
        is_list = typing.get_origin(ann) is tuple and sub is not None
        value = node.get(key) if isinstance(node, dict) else None
        if last:
            if sub is not None or isinstance(value, (dict, list)) or _is_mapping(ann):
                return (), f"{key_path(out)} is a group of settings; name one of them"
            break
        if data is not None and value is None:
            return (), f"{key_path(out)} is not set in this accelerator, so {dotted} cannot vary"
        if sub is None and not _is_mapping(ann):
            return (), f"{key_path(out)} holds a value, not more keys"
        node, model, in_list = value, sub, is_list
    return tuple(out), None


def _is_mapping(annotation) -> bool:
    """A free mapping field (peak rates, MAC energies by dtype)."""
    if typing.get_origin(annotation) is dict:
        return True
    args = typing.get_args(annotation)
    return typing.get_origin(annotation) is Annotated and bool(args) and typing.get_origin(args[0]) is dict


@functools.lru_cache(maxsize=256)
def leaf_adapter(path: tuple) -> TypeAdapter:
    """A validator for the one setting at a YAML key path, as the schema declares it (units, ranges, choices)."""
    model, tp = Accelerator, None
    for part in path:
        if isinstance(part, int):
            continue
        if model is None:  # a free mapping such as peak: {dtype: rate}: its value type
            tp = typing.get_args(typing.get_args(tp)[0])[1]
            continue
        name = next(n for n, f in model.model_fields.items() if field_key(n, f) == part)
        f = model.model_fields[name]
        tp = Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation
        model = model_in(f.annotation)
    return TypeAdapter(tp)


def thaw(obj):
    """Tuples to lists, all the way down (a dumped config as its YAML file would read)."""
    if isinstance(obj, dict):
        return {k: thaw(v) for k, v in obj.items()}
    return [thaw(v) for v in obj] if isinstance(obj, (list, tuple)) else obj


def read_path(data, path):
    for p in path:
        data = data[p]
    return data


def substitute(data: dict, changes) -> dict:
    """A copy of `data` with each (path, value) set, copying only the containers on the way."""
    root = dict(data)
    copied = {id(root)}
    for path, value in changes:
        node = root
        for p in path[:-1]:
            child = node[p]
            if id(child) not in copied:
                child = dict(child) if isinstance(child, dict) else list(child)
                copied.add(id(child))
                node[p] = child
            node = child
        node[path[-1]] = value
    return root
