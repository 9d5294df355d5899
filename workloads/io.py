"""Save and load Workloads: JSON for the ops, NPZ beside it for the index streams. Never pickle.

`save(w, "out/block")` writes `out/block.json` (and `out/block.npz` when any op carries an index
stream). Both files are written to a temporary name and renamed, so an interrupted save leaves no
half-written file behind.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from workloads.op import Op, TableGeometry, Workload

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


def _op_from_dict(d: dict, stream, where: str) -> Op:
    try:
        table = None if d["table"] is None else TableGeometry(**d["table"])
        return Op(d["name"], d["kind"], d["dtype"], tuple(map(tuple, d["inputs"])), tuple(map(tuple, d["outputs"])),
                  d["flops"], d["flops_paper"], d["bytes_read"], d["bytes_written"], tuple(d["deps"]), d["dims"],
                  table, stream)
    except KeyError as e:
        raise ValueError(f"{where}: op {d.get('name', '?')!r} is missing key {e.args[0]!r}") from None


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


def load(path) -> Workload:
    json_path, _ = _paths(path)
    try:
        doc = json.loads(json_path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{json_path}: no such workload file") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{json_path}: not valid JSON ({e})") from None
    if doc.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{json_path}: format_version: expected {FORMAT_VERSION}, given {doc.get('format_version')!r}")
    streams = {}
    if doc.get("streams_file"):
        npz_path = json_path.with_name(doc["streams_file"])
        with np.load(npz_path, allow_pickle=False) as z:
            names = list(z["names"])
            streams = {str(n): z[f"op{i}"] for i, n in enumerate(names)}
    ops = tuple(_op_from_dict(d, streams.get(d.get("name")), str(json_path)) for d in doc["ops"])
    return Workload(doc["name"], ops, doc.get("meta", {}))
