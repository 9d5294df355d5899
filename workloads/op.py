"""What a block does, op by op: the contract between models (traced), builders (closed form) and hwsim.

Units: FLOPs and bytes are plain integer counts. Two FLOP conventions ride side by side:
`flops` (2 per multiply-add, everything that runs) and `flops_paper` (1 per multiply-accumulate, only
the terms the MemoryFormer paper counts). See workloads/flops.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Mapping

import numpy as np

# Bytes per element of the dtypes we model. Indices are int64 as PyTorch's embedding ops take them.
DTYPE_BYTES = {"fp8": 1, "bf16": 2, "fp16": 2, "fp32": 4, "int32": 4, "int64": 8}
INDEX_DTYPE = "int64"

# Tensor roles for byte accounting: hardware treats them differently (weights stream once, tables are
# gathered row by row, activations may stay on chip, indices are the lookup demand stream).
ROLES = ("weights", "tables", "activations", "indices")


class OpKind(str, Enum):
    MATMUL = "matmul"
    ATTENTION = "attention"
    SOFTMAX = "softmax"
    NORM = "norm"  # LayerNorm, or RMSNorm where dims["rms"] = 1
    ROTARY = "rotary"  # rotary position embeddings on q and k
    ELEMENTWISE = "elementwise"
    HASH = "hash"
    LOOKUP = "lookup"
    COPY = "copy"
    # the paper's Table 2 baselines: attention replaced (workloads/efficient.py lists what each runs)
    LINFORMER_ATTENTION = "linformer_attention"
    COSFORMER_ATTENTION = "cosformer_attention"
    PERFORMER_ATTENTION = "performer_attention"
    OTHER = "other"


def dtype_bytes(dtype: str) -> int:
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPE_BYTES)}") from None


@dataclass(frozen=True)
class TableGeometry:
    """The lookup tables one op reads: `tables` tables of `rows_per_table` rows of `row_bytes` bytes."""
    tables: int
    rows_per_table: int
    row_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.tables * self.rows_per_table * self.row_bytes


def _role_dict(d: Mapping[str, int] | None) -> dict[str, int]:
    d = dict(d or {})
    unknown = set(d) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown tensor role(s) {sorted(unknown)}; expected a subset of {ROLES}")
    return {r: int(d.get(r, 0)) for r in ROLES}


@dataclass(frozen=True)
class Op:
    """One executed operation. `dims` holds the kind's shape parameters the engines need:
    matmul m, n, k (bias 0/1); attention batch, heads, seq_len, head_dim, causal;
    hash/lookup tokens, chunks, tau, width; elementwise/norm elements, rows (norm: rms 1 for RMSNorm);
    rotary batch, seq_len, heads, head_dim, rotary_dims, tensors; the efficient attentions batch, heads,
    seq_len, head_dim, plus proj_len (Linformer's k) or features (Performer's m)."""
    name: str
    kind: OpKind
    dtype: str
    inputs: tuple[tuple[int, ...], ...]
    outputs: tuple[tuple[int, ...], ...]
    flops: int
    flops_paper: int
    bytes_read: Mapping[str, int]
    bytes_written: Mapping[str, int]
    deps: tuple[str, ...] = ()
    dims: Mapping[str, int] = field(default_factory=dict)
    table: TableGeometry | None = None
    # Bucket ids per token per table, (tokens, tables), within each table's own rows; traced runs only.
    index_stream: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "kind", OpKind(self.kind))
        object.__setattr__(self, "bytes_read", _role_dict(self.bytes_read))
        object.__setattr__(self, "bytes_written", _role_dict(self.bytes_written))
        object.__setattr__(self, "inputs", tuple(tuple(int(x) for x in s) for s in self.inputs))
        object.__setattr__(self, "outputs", tuple(tuple(int(x) for x in s) for s in self.outputs))
        object.__setattr__(self, "deps", tuple(self.deps))
        object.__setattr__(self, "dims", {k: int(v) for k, v in dict(self.dims).items()})
        dtype_bytes(self.dtype)
        if self.index_stream is not None and self.table is not None:
            if self.index_stream.ndim != 2 or self.index_stream.shape[1] != self.table.tables:
                raise ValueError(f"op {self.name}: index_stream must be (tokens, {self.table.tables}), "
                                 f"given {self.index_stream.shape}")

    @property
    def total_bytes_read(self) -> int:
        return sum(self.bytes_read.values())

    @property
    def total_bytes_written(self) -> int:
        return sum(self.bytes_written.values())

    @property
    def total_bytes(self) -> int:
        return self.total_bytes_read + self.total_bytes_written

    def without_stream(self) -> "Op":
        return replace(self, index_stream=None)


@dataclass(frozen=True)
class Workload:
    """A block or layer as an ordered list of ops (execution order; deps give the data flow)."""
    name: str
    ops: tuple[Op, ...]
    meta: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "ops", tuple(self.ops))
        names = [op.name for op in self.ops]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"workload {self.name}: duplicate op names {sorted(dupes)}")
        seen: set[str] = set()
        for op in self.ops:
            missing = [d for d in op.deps if d not in seen]
            if missing:
                raise ValueError(f"workload {self.name}: op {op.name} depends on {missing}, not earlier ops")
            seen.add(op.name)

    def __iter__(self):
        return iter(self.ops)

    def __len__(self) -> int:
        return len(self.ops)

    def op(self, name: str) -> Op:
        for op in self.ops:
            if op.name == name:
                return op
        raise KeyError(f"workload {self.name} has no op {name!r}; ops: {', '.join(o.name for o in self.ops)}")

    @property
    def flops(self) -> int:
        return sum(op.flops for op in self.ops)

    @property
    def flops_paper(self) -> int:
        return sum(op.flops_paper for op in self.ops)

    def bytes_by_role(self) -> dict[str, int]:
        return {r: sum(op.bytes_read[r] + op.bytes_written[r] for op in self.ops) for r in ROLES}

    @property
    def total_bytes(self) -> int:
        return sum(op.total_bytes for op in self.ops)

    @property
    def has_index_streams(self) -> bool:
        return any(op.index_stream is not None for op in self.ops)

    def to_dataframe(self):
        """One row per op, unit-suffixed columns."""
        import pandas as pd

        rows = []
        for op in self.ops:
            row = {"op": op.name, "kind": op.kind.value, "dtype": op.dtype, "flops": op.flops,
                   "flops_paper": op.flops_paper}
            for r in ROLES:
                row[f"{r}_read_bytes"] = op.bytes_read[r]
                row[f"{r}_written_bytes"] = op.bytes_written[r]
            row["total_bytes"] = op.total_bytes
            row["inputs"] = ";".join("x".join(map(str, s)) for s in op.inputs)
            row["outputs"] = ";".join("x".join(map(str, s)) for s in op.outputs)
            row["deps"] = ";".join(op.deps)
            row["dims"] = ";".join(f"{k}={v}" for k, v in op.dims.items())
            t = op.table
            row["tables"] = t.tables if t else 0
            row["rows_per_table"] = t.rows_per_table if t else 0
            row["row_bytes"] = t.row_bytes if t else 0
            row["has_index_stream"] = op.index_stream is not None
            rows.append(row)
        return pd.DataFrame(rows)
