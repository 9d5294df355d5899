"""Save and load Workloads: JSON for the ops, NPZ beside it for the index streams. Never pickle.

`save(w, "out/block")` writes `out/block.json` (and `out/block.npz` when any op carries an index
stream). Both files are written to a temporary name and renamed, so an interrupted save leaves no
half-written file behind.
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from workloads.op import Op, OpKind, TableGeometry, Workload

FORMAT_VERSION = 1


def _op_to_dict(op: Op) -> dict:
    return {
        "name": op.name, "kind": op.kind.value, "dtype": op.dtype,
        "inputs": [list(s) for s in op.inputs], "outputs": [list(s) for s in op.outputs],
        "flops": op.flops, "flops_paper": op.flops_paper,
        "bytes_read": dict(op.bytes_read), "bytes_written": dict(op.bytes_written),
        "deps": list(op.deps), "dims": dict(op.dims),
        "table": None if op.table is None else {"tables": op.table.tables, "rows_per_table": op.table.rows_per_table,
                                                "row_bytes": op.table.row_bytes},
    }


# dims that are on/off flags (0 or 1); every other dim is a size and must be a positive integer
FLAG_DIMS = ("bias", "causal", "weighted")
OP_KEYS = ("name", "kind", "dtype", "inputs", "outputs", "flops", "flops_paper", "bytes_read", "bytes_written",
           "deps", "dims", "table")


def _count(value, where: str, positive: bool = False) -> int:
    """A JSON integer >= 0 (> 0 with positive); floats, strings and booleans are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: expected an integer, given {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{where}: expected {'a positive' if positive else 'a non-negative'} integer, given {value}")
    return value


def _check_op(d, where: str) -> None:
    """Every field of one op as the Op constructor needs it, each problem naming its field."""
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected an object, given {type(d).__name__}")
    missing = [k for k in OP_KEYS if k not in d]
    if missing:
        raise ValueError(f"{where}: missing key {missing[0]!r}")
    if not isinstance(d["name"], str) or not d["name"]:
        raise ValueError(f"{where}.name: expected a non-empty string, given {d['name']!r}")
    for key in ("kind", "dtype"):
        if not isinstance(d[key], str):
            raise ValueError(f"{where}.{key}: expected a string, given {d[key]!r}")
    kinds = [k.value for k in OpKind]
    if d["kind"] not in kinds:
        raise ValueError(f"{where}.kind: expected one of {', '.join(kinds)}, given {d['kind']!r}")
    for key in ("inputs", "outputs"):
        shapes = d[key]
        if not isinstance(shapes, list) or not all(isinstance(sh, list) for sh in shapes):
            raise ValueError(f"{where}.{key}: expected a list of shapes (lists of integers), given {shapes!r}")
        for i, sh in enumerate(shapes):
            for j, n in enumerate(sh):
                _count(n, f"{where}.{key}[{i}][{j}]")
    for key in ("flops", "flops_paper"):
        _count(d[key], f"{where}.{key}")
    for key in ("bytes_read", "bytes_written"):
        if not isinstance(d[key], dict):
            raise ValueError(f"{where}.{key}: expected an object of bytes by tensor role, given {d[key]!r}")
        for role, n in d[key].items():
            _count(n, f"{where}.{key}.{role}")
    if not isinstance(d["deps"], list) or not all(isinstance(x, str) for x in d["deps"]):
        raise ValueError(f"{where}.deps: expected a list of op names, given {d['deps']!r}")
    if not isinstance(d["dims"], dict):
        raise ValueError(f"{where}.dims: expected an object, given {d['dims']!r}")
    for key, n in d["dims"].items():
        if key in FLAG_DIMS:
            if _count(n, f"{where}.dims.{key}") > 1:
                raise ValueError(f"{where}.dims.{key}: expected 0 or 1, given {n}")
        else:
            _count(n, f"{where}.dims.{key}", positive=True)
    t = d["table"]
    if t is not None:
        if not isinstance(t, dict) or set(t) != {"tables", "rows_per_table", "row_bytes"}:
            raise ValueError(f"{where}.table: expected null or an object with tables, rows_per_table, row_bytes, "
                             f"given {t!r}")
        for key, n in t.items():
            _count(n, f"{where}.table.{key}", positive=True)


def _check_stream(stream, d, where: str):
    """An index stream as the engines index with it: (tokens, tables) integer bucket ids in 0..rows-1."""
    if d["table"] is None:
        raise ValueError(f"{where}: op {d['name']!r} has no table, but the streams file holds a stream for it")
    t = d["table"]
    if not np.issubdtype(stream.dtype, np.integer):
        raise ValueError(f"{where}: stream of op {d['name']!r}: expected integer bucket ids, given dtype {stream.dtype}")
    tokens = d["dims"].get("tokens")
    expected = (tokens, t["tables"]) if tokens is not None else ("tokens", t["tables"])
    if stream.ndim != 2 or stream.shape[1] != t["tables"] or (tokens is not None and stream.shape[0] != tokens):
        raise ValueError(f"{where}: stream of op {d['name']!r}: expected shape {expected} (dims.tokens x "
                         f"table.tables), given {stream.shape}")
    if stream.size:
        lo, hi = int(stream.min()), int(stream.max())
        if lo < 0 or hi >= t["rows_per_table"]:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{where}: stream of op {d['name']!r}: bucket id {bad} out of range 0.."
                             f"{t['rows_per_table'] - 1} (table.rows_per_table = {t['rows_per_table']})")
    return stream


def _op_from_dict(d: dict, stream, where: str) -> Op:
    table = None if d["table"] is None else TableGeometry(**d["table"])
    try:
        return Op(d["name"], d["kind"], d["dtype"], tuple(map(tuple, d["inputs"])), tuple(map(tuple, d["outputs"])),
                  d["flops"], d["flops_paper"], d["bytes_read"], d["bytes_written"], tuple(d["deps"]), d["dims"],
                  table, stream)
    except ValueError as e:  # unknown dtype or tensor role: the Op's own checks, with the place named
        raise ValueError(f"{where}: {e}") from None


def _paths(path) -> tuple[Path, Path]:
    p = Path(path)
    base = p.with_suffix("") if p.suffix in (".json", ".npz") else p
    return base.with_name(base.name + ".json"), base.with_name(base.name + ".npz")


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save(workload: Workload, path) -> Path:
    """Write the Workload to PATH.json (+ PATH.npz with index streams). Returns the JSON path."""
    json_path, npz_path = _paths(path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    streams = {op.name: op.index_stream for op in workload.ops if op.index_stream is not None}
    doc = {"format_version": FORMAT_VERSION, "name": workload.name, "meta": dict(workload.meta),
           "ops": [_op_to_dict(op) for op in workload.ops], "streams_file": npz_path.name if streams else None}
    if streams:
        def write_npz(tmp):
            with open(tmp, "wb") as fh:  # a file object keeps numpy from appending its own ".npz"
                np.savez_compressed(fh, **{f"op{i}": s for i, s in enumerate(streams.values())},
                                    names=np.array(list(streams)))
        _atomic_write(npz_path, write_npz)
    _atomic_write(json_path, lambda tmp: tmp.write_text(json.dumps(doc, indent=1)))
    return json_path


def _read_streams(npz_path: Path, json_path: Path) -> dict:
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            if "names" not in z.files:
                raise ValueError(f"{npz_path}: missing array 'names' (the op name of each stream)")
            names = [str(n) for n in z["names"]]
            absent = [f"op{i}" for i in range(len(names)) if f"op{i}" not in z.files]
            if absent:
                raise ValueError(f"{npz_path}: missing array {absent[0]!r} (the stream of op {names[int(absent[0][2:])]!r})")
            return {n: z[f"op{i}"] for i, n in enumerate(names)}
    except FileNotFoundError:
        raise FileNotFoundError(f"{npz_path}: no such streams file (named by streams_file in {json_path})") from None
    except ValueError as e:
        if str(e).startswith(str(npz_path)):
            raise
        raise ValueError(f"{npz_path}: not a readable NPZ of index streams ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:  # truncated or corrupted archive
        raise ValueError(f"{npz_path}: not a readable NPZ of index streams ({type(e).__name__}: {e})") from None


def load(path) -> Workload:
    """Read a Workload saved by `save`. Every field is checked as the engines will use it: a tampered or
    truncated file is one ValueError naming the file and the field, never an IndexError later on."""
    json_path, _ = _paths(path)
    try:
        doc = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{json_path}: no such workload file") from None
    except IsADirectoryError:
        raise ValueError(f"{json_path}: is a directory; expected a workload JSON file") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{json_path}: not a text JSON file (byte {e.object[e.start]:#04x} at offset {e.start} "
                         "is not UTF-8)") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{json_path}: not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{json_path}: expected a JSON object at the top level, given {type(doc).__name__}")
    if doc.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{json_path}: format_version: expected {FORMAT_VERSION}, given {doc.get('format_version')!r}")
    for key, kind in (("name", str), ("ops", list)):
        if key not in doc:
            raise ValueError(f"{json_path}: missing key {key!r}")
        if not isinstance(doc[key], kind):
            raise ValueError(f"{json_path}: {key}: expected a {'string' if kind is str else 'list'}, "
                             f"given {type(doc[key]).__name__}")
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise ValueError(f"{json_path}: meta: expected an object, given {type(meta).__name__}")
    for i, d in enumerate(doc["ops"]):
        _check_op(d, f"{json_path}: ops[{i}]")
    streams = {}
    streams_file = doc.get("streams_file")
    if streams_file is not None:
        if not isinstance(streams_file, str) or Path(streams_file).name != streams_file:
            raise ValueError(f"{json_path}: streams_file: expected a file name beside the JSON file, "
                             f"given {streams_file!r}")
        npz_path = json_path.with_name(streams_file)
        streams = _read_streams(npz_path, json_path)
        by_name = {d["name"]: (i, d) for i, d in enumerate(doc["ops"])}
        for name, s in streams.items():
            if name not in by_name:
                raise ValueError(f"{npz_path}: holds a stream for op {name!r}, which {json_path} does not have")
            i, d = by_name[name]
            _check_stream(s, d, f"{npz_path}")
    ops = tuple(_op_from_dict(d, streams.get(d["name"]), f"{json_path}: ops[{i}] ({d['name']})")
                for i, d in enumerate(doc["ops"]))
    try:
        return Workload(doc["name"], ops, meta)
    except ValueError as e:  # duplicate op names, deps on later ops
        raise ValueError(f"{json_path}: {e}") from None
