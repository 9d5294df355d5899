"""Model memory in closed form: parameters and lookup-table bytes per block and per model."""
from __future__ import annotations

from workloads.builders import block as build_block
from workloads.builders import preset_block, preset_options, preset_tau
from workloads.flops import paper_block_flops
from workloads.op import OpKind, dtype_bytes


def block_parameters(kind: str, hidden_size: int, tau: int = 8, expand_bits: int = 2, ffn_mult: int = 4,
                     norm: str = "layernorm", linear_bias: bool = True, memory_bias: bool = False,
                     **other_options) -> dict:
    """Parameter counts of one block as models/ builds it: {"weights": ..., "tables": ...} (elements).
    Options as workloads.block takes them; those that add no parameters (rotary, residuals, ...) are ignored."""
    d = hidden_size
    norm_params = 2 * d if norm == "layernorm" else d  # LayerNorm: scale and shift; RMSNorm: scale only
    if kind == "transformer":
        f = ffn_mult * d
        linear = 3 * d * d + d * d + d * f + f * d + ((3 * d + d + f + d) if linear_bias else 0)
        return {"weights": linear + 2 * norm_params, "tables": 0}
    if kind == "memoryformer":
        k = d // tau
        wide = (tau + expand_bits) * k
        tables = 3 * k * 2 ** tau * d + k * 2 ** tau * wide + k * 2 ** (tau + expand_bits) * d
        biases = (3 * d + wide + d) if memory_bias else 0  # Q, K, V, M1, M2
        return {"weights": 2 * norm_params + 2 * wide + biases, "tables": tables}  # mid norm: a LayerNorm
    raise ValueError(f"kind must be 'transformer' or 'memoryformer', given {kind!r}")


def block_table_bytes(kind: str, hidden_size: int, tau: int = 8, expand_bits: int = 2, dtype: str = "fp16") -> int:
    """Bytes of every lookup table one block reads, from the Workload's table geometry."""
    w = build_block(kind, hidden_size, 1, tau=tau, expand_bits=expand_bits, dtype=dtype)
    return sum(op.table.total_bytes for op in w.ops if op.kind is OpKind.LOOKUP)


def fc_weight_bytes(hidden_size: int, dtype: str = "fp16") -> int:
    """The 12 d^2 fully-connected weights of a Transformer block that Memory Layers replace (no biases)."""
    return 12 * hidden_size ** 2 * dtype_bytes(dtype)


def model_memory_rows(presets, seq_len: int = 2048, dtype: str = "fp16") -> list[dict]:
    """One row per preset (its released block): parameters, weight and table bytes per block and per model,
    FC FLOPs per block (paper convention, which no block option changes)."""
    rows = []
    for p in presets:
        tau, e = preset_tau(p)
        params = block_parameters(p.kind, p.hidden_size, tau, e, **preset_options(p))
        b = dtype_bytes(dtype)
        w = preset_block(p, seq_len, dtype=dtype)
        fc_paper = sum(op.flops_paper for op in w.ops if op.kind is not OpKind.ATTENTION)
        formula = paper_block_flops(p.kind, p.hidden_size, seq_len, tau, with_attention=False)
        rows.append({
            "model": p.name, "kind": p.kind, "layers": p.layers, "hidden_size": p.hidden_size,
            "params_per_block": params["weights"] + params["tables"],
            "weight_bytes_per_block": params["weights"] * b,
            "table_bytes_per_block": params["tables"] * b,
            "bytes_per_block": (params["weights"] + params["tables"]) * b,
            "bytes_per_model": (params["weights"] + params["tables"]) * b * p.layers,
            "fc_flops_paper_per_block": fc_paper,
            "fc_flops_paper_formula_per_block": formula,
            "seq_len": seq_len, "dtype": dtype,
        })
    return rows
