"""Closed-form Workloads: the same op list a traced block produces, computed without torch.

The op order, names and dependencies mirror the forward passes in models/ (a test holds them equal
to traced Workloads, op by op, in FLOPs and bytes). Bytes count each operand once (compulsory
traffic); what tiling and caches make of that is the engines' business.
"""
from __future__ import annotations

from workloads import flops as F
from workloads.op import INDEX_DTYPE, Op, OpKind, TableGeometry, Workload, dtype_bytes

MAX_TAU = 20
WEIGHTINGS = ("paper", "official")  # as models.memory_layer.WEIGHTINGS (not imported: no torch here)


def matmul_op(name, m, n, k, dtype, bias=True, deps=()) -> Op:
    b = dtype_bytes(dtype)
    flops, paper = F.matmul_flops(m, n, k, bias)
    inputs = ((n,), (m, k), (k, n)) if bias else ((m, k), (k, n))
    return Op(name, OpKind.MATMUL, dtype, inputs, ((m, n),), flops, paper,
              {"activations": m * k * b, "weights": (k * n + (n if bias else 0)) * b},
              {"activations": m * n * b}, deps, {"m": m, "n": n, "k": k, "bias": int(bias)})


def norm_op(name, rows, width, dtype, deps=()) -> Op:
    b = dtype_bytes(dtype)
    flops, paper = F.norm_flops(rows * width)
    # LayerNorm's per-row mean/rstd statistics are not counted: only the normalised output is used.
    return Op(name, OpKind.NORM, dtype, ((rows, width), (width,), (width,)), ((rows, width),), flops, paper,
              {"activations": rows * width * b, "weights": 2 * width * b}, {"activations": rows * width * b},
              deps, {"rows": rows, "width": width, "elements": rows * width})


def gelu_op(name, rows, width, dtype, deps=()) -> Op:
    b = dtype_bytes(dtype)
    flops, paper = F.gelu_flops(rows * width)
    return Op(name, OpKind.ELEMENTWISE, dtype, ((rows, width),), ((rows, width),), flops, paper,
              {"activations": rows * width * b}, {"activations": rows * width * b}, deps,
              {"rows": rows, "width": width, "elements": rows * width})


def add_op(name, rows, width, dtype, deps=()) -> Op:
    b = dtype_bytes(dtype)
    flops, paper = F.add_flops(rows * width)
    return Op(name, OpKind.ELEMENTWISE, dtype, ((rows, width), (rows, width)), ((rows, width),), flops, paper,
              {"activations": 2 * rows * width * b}, {"activations": rows * width * b}, deps,
              {"rows": rows, "width": width, "elements": rows * width})


def attention_op(name, batch, seq_len, hidden_size, heads, dtype, deps=()) -> Op:
    b, n = dtype_bytes(dtype), batch * seq_len
    flops, paper = F.attention_flops(batch, seq_len, hidden_size, heads)
    return Op(name, OpKind.ATTENTION, dtype, ((n, hidden_size),) * 3, ((n, hidden_size),), flops, paper,
              {"activations": 3 * n * hidden_size * b}, {"activations": n * hidden_size * b}, deps,
              {"batch": batch, "heads": heads, "seq_len": seq_len, "head_dim": hidden_size // heads, "causal": 1})


def hash_op(name, tokens, d_in, tau, dtype, official=False, deps=()) -> Op:
    b, ib, k = dtype_bytes(dtype), dtype_bytes(INDEX_DTYPE), d_in // tau
    flops, paper = F.hash_flops(tokens, d_in, tau, official)
    return Op(name, OpKind.HASH, dtype, ((tokens, d_in),), ((tokens, k), (tokens, k)), flops, paper,
              {"activations": tokens * d_in * b}, {"indices": tokens * k * ib, "activations": tokens * k * b},
              deps, {"tokens": tokens, "chunks": k, "tau": tau, "width": d_in})


def lookup_op(name, tokens, chunks, tau, width, dtype, deps=(), index_stream=None) -> Op:
    """Sum of `chunks` weighted rows per token, one row from each of `chunks` tables of 2^tau rows."""
    b, ib = dtype_bytes(dtype), dtype_bytes(INDEX_DTYPE)
    flops, paper = F.lookup_flops(tokens, chunks, width)
    table = TableGeometry(chunks, 2 ** tau, width * b)
    return Op(name, OpKind.LOOKUP, dtype, ((chunks * 2 ** tau, width), (tokens, chunks), (tokens, chunks)),
              ((tokens, width),), flops, paper,
              {"tables": tokens * chunks * width * b, "indices": tokens * chunks * ib,
               "activations": tokens * chunks * b},
              {"activations": tokens * width * b}, deps,
              {"tokens": tokens, "chunks": chunks, "tau": tau, "width": width}, table, index_stream)


def check_tau(d_in: int, tau: int, what: str = "d_in") -> None:
    if not isinstance(tau, int) or not 1 <= tau <= MAX_TAU:
        raise ValueError(f"tau must be an integer in 1..{MAX_TAU}, given tau={tau!r}")
    if d_in % tau:
        raise ValueError(f"{what} must be divisible by tau, given {what}={d_in}, tau={tau}")


def _check_positive(**values) -> None:
    for key, v in values.items():
        if not isinstance(v, int) or v <= 0:
            raise ValueError(f"{key} must be a positive integer, given {key}={v!r}")


def transformer_ops(batch, seq_len, d, heads, dtype, ffn_mult=4, parallel_residual=True) -> list[Op]:
    n, f = batch * seq_len, ffn_mult * d
    ops = [norm_op("attn_norm.norm", n, d, dtype),
           matmul_op("qkv.matmul", n, 3 * d, d, dtype, deps=("attn_norm.norm",)),
           attention_op("attention", batch, seq_len, d, heads, dtype, deps=("qkv.matmul",)),
           matmul_op("out.matmul", n, d, d, dtype, deps=("attention",)),
           add_op("add", n, d, dtype, deps=("out.matmul",))]
    ffn_input = () if parallel_residual else ("add",)
    ops += [norm_op("ffn_norm.norm", n, d, dtype, deps=ffn_input),
            matmul_op("fc1.matmul", n, f, d, dtype, deps=("ffn_norm.norm",)),
            gelu_op("gelu", n, f, dtype, deps=("fc1.matmul",)),
            matmul_op("fc2.matmul", n, d, f, dtype, deps=("gelu",)),
            add_op("add_2", n, d, dtype, deps=("add", "fc2.matmul"))]
    return ops


def memoryformer_ops(batch, seq_len, d, heads, tau, expand_bits, dtype, gelu=False, official=False,
                     share_qkv_hash=True) -> list[Op]:
    n, k = batch * seq_len, d // tau
    wide = (tau + expand_bits) * k
    ops = [norm_op("attn_norm.norm", n, d, dtype)]
    if share_qkv_hash:
        ops.append(hash_op("hash", n, d, tau, dtype, official, deps=("attn_norm.norm",)))
        ops += [lookup_op(f"{p}.lookup", n, k, tau, d, dtype, deps=("hash",)) for p in "qkv"]
    else:
        for p in "qkv":
            ops += [hash_op(f"{p}.hash", n, d, tau, dtype, official, deps=("attn_norm.norm",)),
                    lookup_op(f"{p}.lookup", n, k, tau, d, dtype, deps=(f"{p}.hash",))]
    ops += [attention_op("attention", batch, seq_len, d, heads, dtype, deps=("q.lookup", "k.lookup", "v.lookup")),
            add_op("add", n, d, dtype, deps=("attention",)),
            norm_op("ffn_norm.norm", n, d, dtype, deps=("add",)),
            hash_op("memory_block.m1.hash", n, d, tau, dtype, official, deps=("ffn_norm.norm",)),
            lookup_op("memory_block.m1.lookup", n, k, tau, wide, dtype, deps=("memory_block.m1.hash",))]
    last = "memory_block.m1.lookup"
    if gelu:
        ops.append(gelu_op("memory_block.gelu", n, wide, dtype, deps=(last,)))
        last = "memory_block.gelu"
    ops += [norm_op("memory_block.mid_norm.norm", n, wide, dtype, deps=(last,)),
            hash_op("memory_block.m2.hash", n, wide, tau + expand_bits, dtype, official,
                    deps=("memory_block.mid_norm.norm",)),
            lookup_op("memory_block.m2.lookup", n, k, tau + expand_bits, d, dtype, deps=("memory_block.m2.hash",)),
            add_op("add_2", n, d, dtype, deps=("add", "memory_block.m2.lookup"))]
    return ops


BLOCK_KINDS = ("transformer", "memoryformer")


def default_heads(hidden_size: int) -> int:
    """Pythia's head size is 64 (d 512 / 8 heads, 768 / 12, 1024 / 16)."""
    return max(1, hidden_size // 64)


def block(kind: str, hidden_size: int, seq_len: int, batch: int = 1, heads: int | None = None, tau: int = 8,
          expand_bits: int = 2, dtype: str = "bf16", parallel_residual: bool = True, gelu: bool = False,
          weighting: str = "paper", share_qkv_hash: bool = True) -> Workload:
    """One Transformer or MemoryFormer block in closed form (the ops models/ execute for that block)."""
    _check_positive(hidden_size=hidden_size, seq_len=seq_len, batch=batch)
    dtype_bytes(dtype)
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, given weighting={weighting!r}")
    heads = default_heads(hidden_size) if heads is None else heads
    if not isinstance(heads, int) or isinstance(heads, bool):
        raise ValueError(f"heads must be a positive integer, given heads={heads!r}")
    if not isinstance(expand_bits, int) or isinstance(expand_bits, bool):
        raise ValueError(f"expand_bits must be an integer >= 0, given expand_bits={expand_bits!r}")
    if heads <= 0 or hidden_size % heads:
        raise ValueError(f"heads must divide hidden_size, given hidden_size={hidden_size}, heads={heads}")
    meta = dict(kind=kind, hidden_size=hidden_size, seq_len=seq_len, batch=batch, heads=heads, dtype=dtype)
    if kind == "transformer":
        ops = transformer_ops(batch, seq_len, hidden_size, heads, dtype, parallel_residual=parallel_residual)
    elif kind == "memoryformer":
        check_tau(hidden_size, tau, "hidden_size")
        if expand_bits < 0 or tau + expand_bits > MAX_TAU:
            raise ValueError(f"expand_bits must be >= 0 with tau + expand_bits <= {MAX_TAU}, "
                             f"given tau={tau}, expand_bits={expand_bits}")
        ops = memoryformer_ops(batch, seq_len, hidden_size, heads, tau, expand_bits, dtype, gelu,
                               official=weighting == "official", share_qkv_hash=share_qkv_hash)
        meta.update(tau=tau, expand_bits=expand_bits, chunks=hidden_size // tau)
    else:
        raise ValueError(f"kind must be one of {BLOCK_KINDS}, given {kind!r}")
    return Workload(f"{kind}-d{hidden_size}-s{seq_len}-b{batch}", tuple(ops), meta)


def gather_op(name, rows, width, table_rows, dtype, deps=()) -> Op:
    """Plain row gather table[idx] (no weights, no sum): `rows` reads from one table of `table_rows` rows."""
    b, ib = dtype_bytes(dtype), dtype_bytes(INDEX_DTYPE)
    return Op(name, OpKind.LOOKUP, dtype, ((table_rows, width), (rows,)), ((rows, width),), 0, 0,
              {"tables": rows * width * b, "indices": rows * ib}, {"activations": rows * width * b}, deps,
              {"tokens": rows, "chunks": 1, "width": width, "weighted": 0},
              TableGeometry(1, table_rows, width * b))


def copy_op(name, elements, dtype, deps=()) -> Op:
    b = dtype_bytes(dtype)
    return Op(name, OpKind.COPY, dtype, ((elements,),), ((elements,),), 0, 0, {"activations": elements * b},
              {"activations": elements * b}, deps, {"elements": elements})


def preset_tau(preset) -> tuple[int, int]:
    """(tau, expand_bits) of a models.ModelPreset; Transformer presets carry none and get the defaults."""
    return (preset.tau if preset.tau is not None else 8,
            preset.expand_bits if preset.expand_bits is not None else 2)


def preset_block(preset, seq_len: int, batch: int = 1, dtype: str = "bf16") -> Workload:
    """One block of a models.ModelPreset (duck-typed: no torch import) in closed form."""
    tau, e = preset_tau(preset)
    return block(preset.kind, preset.hidden_size, seq_len, batch, heads=preset.heads, tau=tau, expand_bits=e,
                 dtype=dtype)


LAYER_KINDS = ("linear", "memory", "memory_hash", "attention", "norm", "gelu", "gather", "copy")


def layer(kind: str, tokens: int, d_in: int, d_out: int | None = None, tau: int = 8, dtype: str = "bf16",
          bias: bool = False, heads: int | None = None, batch: int = 1, table_rows: int | None = None) -> Workload:
    """One layer in closed form. linear: x[tokens, d_in] @ W[d_in, d_out]; memory: hash + lookup;
    memory_hash: the hash alone; attention: causal attention over `tokens` = batch * seq_len rows;
    gather: `tokens` random rows of width d_out from a table of `table_rows` rows; copy: tokens x d_in
    elements copied."""
    d_out = d_in if d_out is None else d_out
    _check_positive(tokens=tokens, d_in=d_in, d_out=d_out, batch=batch)
    dtype_bytes(dtype)
    meta = dict(kind=kind, tokens=tokens, d_in=d_in, d_out=d_out, dtype=dtype)
    if kind == "linear":
        ops = [matmul_op("matmul", tokens, d_out, d_in, dtype, bias=bias)]
    elif kind in ("memory", "memory_hash"):
        check_tau(d_in, tau)
        ops = [hash_op("hash", tokens, d_in, tau, dtype)]
        if kind == "memory":
            ops.append(lookup_op("lookup", tokens, d_in // tau, tau, d_out, dtype, deps=("hash",)))
        meta.update(tau=tau, chunks=d_in // tau)
    elif kind == "attention":
        heads = default_heads(d_in) if heads is None else heads
        if tokens % batch or d_in % heads:
            raise ValueError(f"attention: batch must divide tokens and heads must divide d_in, given "
                             f"tokens={tokens}, batch={batch}, d_in={d_in}, heads={heads}")
        ops = [attention_op("attention", batch, tokens // batch, d_in, heads, dtype)]
        meta.update(heads=heads, batch=batch)
    elif kind == "norm":
        ops = [norm_op("norm", tokens, d_in, dtype)]
    elif kind == "gelu":
        ops = [gelu_op("gelu", tokens, d_in, dtype)]
    elif kind == "gather":
        if not isinstance(table_rows, int) or table_rows <= 0:
            raise ValueError(f"gather: table_rows must be a positive integer, given table_rows={table_rows!r}")
        ops = [gather_op("gather", tokens, d_out, table_rows, dtype)]
    elif kind == "copy":
        ops = [copy_op("copy", tokens * d_in, dtype)]
    else:
        raise ValueError(f"layer kind must be one of {LAYER_KINDS}, given {kind!r}")
    return Workload(f"{kind}-n{tokens}-{d_in}x{d_out}", tuple(ops), meta)
