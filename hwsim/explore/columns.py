"""The columns of a sweep's dataset, in order, with their Arrow types: the inputs of a point, what it costs,
whether it is feasible, (nsga2) its generation, its key and its error. Every part file has exactly this schema."""
from __future__ import annotations

from hwsim.explore.workload import BLOCK_OPTION_TYPES, WORKLOAD_TYPES
from workloads.op import OpKind

# Time per op kind: every kind gets a column (zero where a block has none), so every part has one schema.
KIND_TIME_COLUMNS = tuple(f"time_{k.value}_s" for k in OpKind)
# Known before a point is simulated: constraints on them skip the simulation of infeasible points.
PRE_COLUMNS = ("area_mm2", "tables_fit")
OUTPUT_COLUMNS = ("latency_s", "energy_j", "flops", "dram_bytes", "bound", *KIND_TIME_COLUMNS)
OPTION_TYPES = {"mode": "string", "lowering": "string", "lookup_impl": "string", "bank_mapping": "string",
                "tables_resident": "bool", "table_dtype": "string", "table_tier": "string", "hot_cache_policy": "string"}


def column_types(spec) -> dict[str, str]:
    """name -> Arrow type name, in dataset order."""
    cols = {"base": "string", **WORKLOAD_TYPES}
    for a in spec.axes:
        if a.group == "block":
            cols[a.name] = BLOCK_OPTION_TYPES[a.name]
    for a in spec.axes:
        if a.group == "options":
            cols[a.name] = OPTION_TYPES[a.name]
    for a in spec.settings():
        cols[a.name] = _axis_type(a)
    cols.update({"latency_s": "float64", "energy_j": "float64", "area_mm2": "float64", "flops": "int64",
                 "dram_bytes": "float64", "bound": "string", **dict.fromkeys(KIND_TIME_COLUMNS, "float64"),
                 "tables_fit": "bool", "feasible": "bool"})
    if spec.method == "nsga2":  # the generation of the guided search that first proposed the point
        cols["generation"] = "int64"
    cols.update({"key": "string", "error": "string"})
    return cols


def _axis_type(axis) -> str:
    vals = list(axis.values) + ([axis.lo] if axis.continuous else [])
    if any(isinstance(v, str) for v in vals):
        return "string"
    if all(isinstance(v, bool) for v in vals):
        return "bool"
    return "int64" if axis.integer else "float64"


def arrow_schema(spec):
    import pyarrow as pa

    types = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}
    return pa.schema([(name, types[t]) for name, t in column_types(spec).items()])
