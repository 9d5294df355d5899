"""A sweep's directory: a Parquet dataset of part files plus the spec that made it.

    DIR/_spec.yaml            the spec as given
    DIR/_sweep.json           its sha256, the number of points, points per part, the bases' config hashes
    DIR/part-00000.parquet    points 0 .. chunk-1, and so on: part i always holds the same points

A part is written under a hidden temporary name and renamed into place, so a part file is either whole or
absent, whatever kills the process (SIGKILL, Ctrl-C, a full disk). Resuming a sweep computes exactly the
parts that are absent; since part i always holds the same points, a resumed dataset is file for file the
one an uninterrupted run writes. Parquet readers (pandas.read_parquet(DIR), pyarrow.dataset) skip names
that start with "_" or ".", so the bookkeeping files never get in the way.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from hwsim.io.files import write_bytes

STATE, SPEC = "_sweep.json", "_spec.yaml"
PART = "part-{:05d}.parquet"


def default_chunk_points(n_points: int) -> int:
    """Points per part: about 64 parts (progress, resumption and load balance), each of 8 .. 1000 points."""
    return max(8, min(1000, -(-n_points // 64)))


def config_hash(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Store:
    dir: Path
    n_points: int
    chunk_points: int

    @property
    def n_parts(self) -> int:
        return -(-self.n_points // self.chunk_points)

    def bounds(self, i: int) -> tuple[int, int]:
        return i * self.chunk_points, min(self.n_points, (i + 1) * self.chunk_points)

    def path(self, i: int) -> Path:
        return self.dir / PART.format(i)

    def done(self) -> set[int]:
        return {i for i in range(self.n_parts) if self.path(i).exists()}

    def write(self, i: int, data: bytes) -> Path:
        """Put part i in place whole: written under a hidden name, then renamed."""
        return write_bytes(self.path(i), data)

    def read(self, schema=None):
        import pandas as pd

        if not self.done():
            return schema.empty_table().to_pandas() if schema is not None else pd.DataFrame()
        return pd.read_parquet(self.dir)


def encode_part(rows: list[dict], schema) -> bytes:
    """A part's rows as Parquet bytes (done where the rows are computed: workers encode, the parent only writes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pydict({n: [r[n] for r in rows] for n in schema.names}, schema=schema)
    buf = pa.BufferOutputStream()
    pq.write_table(table, buf)
    return buf.getvalue().to_pybytes()


def open_store(out, spec, n_points: int) -> Store:
    """The store for `spec` in `out`: created, or reopened when it holds the same spec (same bases too).
    A directory holding another spec, or other files, is refused with one line."""
    d = Path(out)
    if d.exists() and not d.is_dir():
        raise ValueError(f"--out: expected a directory, given an existing file {d}")
    state_path = d / STATE
    bases = {b: config_hash(data) for b, data in spec.bases.items()}
    if state_path.exists():
        state = json.loads(state_path.read_text())
        if state.get("spec_sha256") != spec.sha256:
            raise ValueError(f"--out {d}: holds a sweep of another spec (sha256 {state.get('spec_sha256', '?')[:12]}, "
                             f"this spec {spec.sha256[:12]}); give another directory or delete this one")
        changed = [b for b, h in bases.items() if state.get("bases", {}).get(b) != h]
        if changed:
            raise ValueError(f"--out {d}: the base accelerator {', '.join(changed)} changed since this sweep started, "
                             "so its rows would not match; give another directory or delete this one")
        if state.get("points") != n_points:
            raise ValueError(f"--out {d}: this spec now gives {n_points} points, the sweep there {state.get('points')} "
                             "(hwsim changed how it samples); give another directory or delete this one")
        for tmp in d.glob(".part-*.parquet.tmp"):  # a write cut short by a kill: never renamed, never read
            tmp.unlink()
        return Store(d, state["points"], state["chunk_points"])
    if d.exists() and any(not p.name.startswith(".") for p in d.iterdir()):
        raise ValueError(f"--out {d}: the directory is not empty and holds no sweep; give a new or empty directory")
    d.mkdir(parents=True, exist_ok=True)
    store = Store(d, n_points, spec.chunk_points or default_chunk_points(n_points))
    _atomic_text(d / SPEC, _spec_text(spec))
    _atomic_text(state_path, json.dumps({"spec_sha256": spec.sha256, "source": spec.source, "points": n_points,
                                         "chunk_points": store.chunk_points, "bases": bases}, indent=2))
    return store


def _spec_text(spec) -> str:
    import yaml

    return f"# sweep spec, sha256 {spec.sha256}\n" + yaml.safe_dump(spec.raw, sort_keys=False)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
