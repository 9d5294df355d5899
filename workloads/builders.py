"""Closed-form Workloads: the same op list a traced block produces, computed without torch.

The op order, names and dependencies mirror the forward passes in models/ (a test holds them equal
to traced Workloads, op by op, in FLOPs and bytes). Bytes count each operand once (compulsory
traffic); what tiling and caches make of that is the engines' business.

Phases: "prefill" runs a whole sequence with no cache (what the paper and the calibration benchmarks time);
"decode" runs `seq_len` new tokens per sequence against a KV cache of `kv_len` tokens: a `kv_append` op
(kind copy) writes the new tokens' k (after rotary) and v into the cache, and the attention op reads q
of the new tokens and all kv_len + seq_len cached keys and values. Every other op sees batch x seq_len tokens.
"""
from __future__ import annotations

from workloads import flops as F
from workloads.op import INDEX_DTYPE, Op, OpKind, TableGeometry, Workload, dtype_bytes
from models.dims import rotary_dims

MAX_TAU = 20


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


def rms_norm_op(name, rows, width, dtype, deps=()) -> Op:
    """gpt-neox RMSNorm (models/norms.py): a learned scale, no shift."""
    b = dtype_bytes(dtype)
    flops, paper = F.rms_norm_flops(rows * width)
    return Op(name, OpKind.NORM, dtype, ((rows, width), (width,)), ((rows, width),), flops, paper,
              {"activations": rows * width * b, "weights": width * b}, {"activations": rows * width * b},
              deps, {"rows": rows, "width": width, "elements": rows * width, "rms": 1})


def block_norm_op(norm, name, rows, width, dtype, deps=()) -> Op:
    return (rms_norm_op if norm == "rmsnorm" else norm_op)(name, rows, width, dtype, deps)


def bias_add_op(name, rows, width, dtype, deps=()) -> Op:
    """y + b, a bias of `width` added to every row (a Memory Layer's bias, added after its lookup)."""
    b = dtype_bytes(dtype)
    flops, paper = F.add_flops(rows * width)
    return Op(name, OpKind.ELEMENTWISE, dtype, ((rows, width), (width,)), ((rows, width),), flops, paper,
              {"activations": rows * width * b, "weights": width * b}, {"activations": rows * width * b}, deps,
              {"rows": rows, "width": width, "elements": rows * width})


def rotary_op(name, batch, seq_len, hidden_size, heads, rotary_dims, dtype, deps=()) -> Op:
    """Rotary embeddings on q and k (models/rotary.py): both read and written whole (the passed-through
    dims are copied), plus the cached cos and sin tables, (seq_len, rotary_dims) each."""
    b, n = dtype_bytes(dtype), batch * seq_len
    flops, paper = F.rotary_flops(n, heads, rotary_dims)
    return Op(name, OpKind.ROTARY, dtype, ((n, hidden_size),) * 2, ((n, hidden_size),) * 2, flops, paper,
              {"activations": 2 * n * hidden_size * b, "weights": 2 * seq_len * rotary_dims * b},
              {"activations": 2 * n * hidden_size * b}, deps,
              {"batch": batch, "seq_len": seq_len, "heads": heads, "head_dim": hidden_size // heads,
               "rotary_dims": rotary_dims, "tensors": 2})


def gelu_op(name, rows, width, dtype, deps=()) -> Op:
    b = dtype_bytes(dtype)
    flops, paper = F.gelu_flops(rows * width)
    return Op(name, OpKind.ELEMENTWISE, dtype, ((rows, width),), ((rows, width),), flops, paper,
              {"activations": rows * width * b}, {"activations": rows * width * b}, deps,
              {"rows": rows, "width": width, "elements": rows * width,
               "special_ops": rows * width})  # one erf per element


def add_op(name, rows, width, dtype, deps=()) -> Op:
    b = dtype_bytes(dtype)
    flops, paper = F.add_flops(rows * width)
    return Op(name, OpKind.ELEMENTWISE, dtype, ((rows, width), (rows, width)), ((rows, width),), flops, paper,
              {"activations": 2 * rows * width * b}, {"activations": rows * width * b}, deps,
              {"rows": rows, "width": width, "elements": rows * width})


def attention_op(name, batch, seq_len, hidden_size, heads, dtype, deps=(), cache_len=None) -> Op:
    """Causal attention of seq_len query rows per sequence; with cache_len (decode), against the cache's
    cache_len + seq_len keys and values, read whole from the cache (models.attention.cached_attention)."""
    b, n = dtype_bytes(dtype), batch * seq_len
    dims = {"batch": batch, "heads": heads, "seq_len": seq_len, "head_dim": hidden_size // heads, "causal": 1}
    if cache_len is None:
        flops, paper = F.attention_flops(batch, seq_len, hidden_size, heads)
        return Op(name, OpKind.ATTENTION, dtype, ((n, hidden_size),) * 3, ((n, hidden_size),), flops, paper,
                  {"activations": 3 * n * hidden_size * b}, {"activations": n * hidden_size * b}, deps, dims)
    keys = cache_len + seq_len
    flops, paper = F.attention_flops(batch, seq_len, hidden_size, heads, keys)
    return Op(name, OpKind.ATTENTION, dtype, ((n, hidden_size),) + ((batch, keys, hidden_size),) * 2,
              ((n, hidden_size),), flops, paper, {"activations": (n + 2 * batch * keys) * hidden_size * b},
              {"activations": n * hidden_size * b}, deps, dict(dims, cache_len=cache_len))


def kv_append_op(name, batch, seq_len, hidden_size, cache_len, dtype, deps=()) -> Op:
    """k and v of the new tokens (B*T, d) written into rows cache_len .. cache_len + T - 1 of the layer's
    cache, in place: only the new rows move (a static cache; vLLM's reshape_and_cache)."""
    b, n = dtype_bytes(dtype), batch * seq_len
    return Op(name, OpKind.COPY, dtype, ((n, hidden_size),) * 2, ((batch, seq_len, hidden_size),) * 2, 0, 0,
              {"activations": 2 * n * hidden_size * b}, {"activations": 2 * n * hidden_size * b}, deps,
              {"batch": batch, "seq_len": seq_len, "width": hidden_size, "cache_len": cache_len, "tensors": 2,
               "elements": 2 * n * hidden_size})


def linformer_attention_op(name, batch, seq_len, hidden_size, heads, proj_len, dtype, deps=()) -> Op:
    """Linformer's attention (models/efficient_attention.py): reads q, k, v and E, F (proj_len x seq_len)."""
    b, n = dtype_bytes(dtype), batch * seq_len
    flops, paper = F.linformer_attention_flops(batch, seq_len, hidden_size, heads, proj_len)
    return Op(name, OpKind.LINFORMER_ATTENTION, dtype, ((n, hidden_size),) * 3 + ((proj_len, seq_len),) * 2,
              ((n, hidden_size),), flops, paper,
              {"activations": 3 * n * hidden_size * b, "weights": 2 * proj_len * seq_len * b},
              {"activations": n * hidden_size * b}, deps,
              {"batch": batch, "heads": heads, "seq_len": seq_len, "head_dim": hidden_size // heads,
               "proj_len": proj_len})


def cosformer_attention_op(name, batch, seq_len, hidden_size, heads, dtype, deps=()) -> Op:
    b, n = dtype_bytes(dtype), batch * seq_len
    flops, paper = F.cosformer_attention_flops(batch, seq_len, hidden_size, heads)
    return Op(name, OpKind.COSFORMER_ATTENTION, dtype, ((n, hidden_size),) * 3, ((n, hidden_size),), flops, paper,
              {"activations": 3 * n * hidden_size * b}, {"activations": n * hidden_size * b}, deps,
              {"batch": batch, "heads": heads, "seq_len": seq_len, "head_dim": hidden_size // heads})


def performer_attention_op(name, batch, seq_len, hidden_size, heads, features, dtype, deps=()) -> Op:
    """FAVOR+ attention: reads q, k, v and the random features W (features x head_dim)."""
    b, n, dh = dtype_bytes(dtype), batch * seq_len, hidden_size // heads
    flops, paper = F.performer_attention_flops(batch, seq_len, hidden_size, heads, features)
    return Op(name, OpKind.PERFORMER_ATTENTION, dtype, ((n, hidden_size),) * 3 + ((features, dh),),
              ((n, hidden_size),), flops, paper,
              {"activations": 3 * n * hidden_size * b, "weights": features * dh * b},
              {"activations": n * hidden_size * b}, deps,
              {"batch": batch, "heads": heads, "seq_len": seq_len, "head_dim": dh, "features": features})


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


def cached_attention_ops(batch, seq_len, d, heads, dtype, q_src, k_src, v_src, cache_len) -> list[Op]:
    """Prefill (cache_len None): attention over q, k, v; decode: append k, v to the cache, then attend over it."""
    if cache_len is None:
        deps = tuple(dict.fromkeys((q_src, k_src, v_src)))
        return [attention_op("attention", batch, seq_len, d, heads, dtype, deps=deps)]
    return [kv_append_op("kv_append", batch, seq_len, d, cache_len, dtype, deps=tuple(dict.fromkeys((k_src, v_src)))),
            attention_op("attention", batch, seq_len, d, heads, dtype, deps=(q_src, "kv_append"),
                         cache_len=cache_len)]


def transformer_ops(batch, seq_len, d, heads, dtype, ffn_mult=4, parallel_residual=True, norm="layernorm",
                    rotary_dims=0, linear_bias=True, cache_len=None) -> list[Op]:
    n, f = batch * seq_len, ffn_mult * d
    ops = [block_norm_op(norm, "attn_norm.norm", n, d, dtype),
           matmul_op("qkv.matmul", n, 3 * d, d, dtype, bias=linear_bias, deps=("attn_norm.norm",))]
    qk = "qkv.matmul"
    if rotary_dims:
        ops.append(rotary_op("rotary", batch, seq_len, d, heads, rotary_dims, dtype, deps=("qkv.matmul",)))
        qk = "rotary"  # rotated q and k, v straight from the product
    ops += cached_attention_ops(batch, seq_len, d, heads, dtype, qk, qk, "qkv.matmul", cache_len)
    ops += [matmul_op("out.matmul", n, d, d, dtype, bias=linear_bias, deps=("attention",)),
            add_op("add", n, d, dtype, deps=("out.matmul",))]
    ffn_input = () if parallel_residual else ("add",)
    ops += [block_norm_op(norm, "ffn_norm.norm", n, d, dtype, deps=ffn_input),
            matmul_op("fc1.matmul", n, f, d, dtype, bias=linear_bias, deps=("ffn_norm.norm",)),
            gelu_op("gelu", n, f, dtype, deps=("fc1.matmul",)),
            matmul_op("fc2.matmul", n, d, f, dtype, bias=linear_bias, deps=("gelu",)),
            add_op("add_2", n, d, dtype, deps=("add", "fc2.matmul"))]
    return ops


def memoryformer_ops(batch, seq_len, d, heads, tau, expand_bits, dtype, gelu=False, official=False,
                     share_qkv_hash=True, norm="layernorm", rotary_dims=0, memory_bias=False,
                     parallel_residual=False, cache_len=None) -> list[Op]:
    n, k = batch * seq_len, d // tau
    wide = (tau + expand_bits) * k
    ops = [block_norm_op(norm, "attn_norm.norm", n, d, dtype)]

    def lookup(prefix, hashed, tau_, width):
        """A Memory Layer's lookup and, with memory_bias, its bias add; returns the output's op name."""
        ops.append(lookup_op(f"{prefix}.lookup", n, k, tau_, width, dtype, deps=(hashed,)))
        if not memory_bias:
            return f"{prefix}.lookup"
        ops.append(bias_add_op(f"{prefix}.add", n, width, dtype, deps=(f"{prefix}.lookup",)))
        return f"{prefix}.add"

    out = {}
    if share_qkv_hash:
        ops.append(hash_op("hash", n, d, tau, dtype, official, deps=("attn_norm.norm",)))
    for p in "qkv":
        if not share_qkv_hash:
            ops.append(hash_op(f"{p}.hash", n, d, tau, dtype, official, deps=("attn_norm.norm",)))
        out[p] = lookup(p, "hash" if share_qkv_hash else f"{p}.hash", tau, d)
    q_src, k_src = out["q"], out["k"]
    if rotary_dims:
        ops.append(rotary_op("rotary", batch, seq_len, d, heads, rotary_dims, dtype, deps=(out["q"], out["k"])))
        q_src = k_src = "rotary"
    ops += cached_attention_ops(batch, seq_len, d, heads, dtype, q_src, k_src, out["v"], cache_len)
    ops += [add_op("add", n, d, dtype, deps=("attention",)),
            block_norm_op(norm, "ffn_norm.norm", n, d, dtype, deps=() if parallel_residual else ("add",)),
            hash_op("memory_block.m1.hash", n, d, tau, dtype, official, deps=("ffn_norm.norm",))]
    last = lookup("memory_block.m1", "memory_block.m1.hash", tau, wide)
    if gelu:
        ops.append(gelu_op("memory_block.gelu", n, wide, dtype, deps=(last,)))
        last = "memory_block.gelu"
    ops += [norm_op("memory_block.mid_norm.norm", n, wide, dtype, deps=(last,)),  # LayerNorm, as released
            hash_op("memory_block.m2.hash", n, wide, tau + expand_bits, dtype, official,
                    deps=("memory_block.mid_norm.norm",))]
    last = lookup("memory_block.m2", "memory_block.m2.hash", tau + expand_bits, d)
    ops.append(add_op("add_2", n, d, dtype, deps=("add", last)))
    return ops


# The paper's Table 2 baselines: Pythia's block with its attention replaced (models/baselines.py).
BASELINE_KINDS = ("linformer", "cosformer", "performer")
DEFAULT_PROJ_LEN = 256  # Linformer's k; the paper states none (models/baselines.py)
DEFAULT_FEATURES = 256  # Performer's m; likewise


def baseline_ops(kind, batch, seq_len, d, heads, dtype, parallel_residual=True, norm="layernorm", linear_bias=True,
                 proj_len=DEFAULT_PROJ_LEN, features=DEFAULT_FEATURES) -> list[Op]:
    """The Transformer block's ops with its "attention" op replaced by `kind`'s (same name, same deps)."""
    ops = transformer_ops(batch, seq_len, d, heads, dtype, parallel_residual=parallel_residual, norm=norm,
                          linear_bias=linear_bias)
    core = {"linformer": lambda deps: linformer_attention_op("attention", batch, seq_len, d, heads, proj_len, dtype,
                                                             deps),
            "cosformer": lambda deps: cosformer_attention_op("attention", batch, seq_len, d, heads, dtype, deps),
            "performer": lambda deps: performer_attention_op("attention", batch, seq_len, d, heads, features, dtype,
                                                             deps)}[kind]
    return [core(op.deps) if op.name == "attention" else op for op in ops]


BLOCK_KINDS = ("transformer", "memoryformer") + BASELINE_KINDS
PHASES = ("prefill", "decode")
NORMS = ("layernorm", "rmsnorm")  # as models.norms.NORMS (this module may not import torch)
WEIGHTINGS = ("paper", "official")

# The block options each kind takes (keyword arguments of block() and of the models' block configs).
BLOCK_OPTIONS = {
    "transformer": ("norm", "rotary_pct", "parallel_residual", "linear_bias"),
    "memoryformer": ("norm", "rotary_pct", "parallel_residual", "memory_bias", "weighting", "gelu",
                     "share_qkv_hash"),
    "linformer": ("norm", "parallel_residual", "linear_bias", "proj_len"),
    "cosformer": ("norm", "parallel_residual", "linear_bias"),
    "performer": ("norm", "parallel_residual", "linear_bias", "features"),
}
# Block variants, as options that replace a preset's own (models.presets: "released", Pythia's and the
# released MemoryFormer configs):
# - "paper": what the paper's FLOP formulas count (LayerNorm, no rotary, no Memory Layer bias, paper
#   weighting; residuals and Linear biases as the preset). block()'s defaults are this block, and the
#   paper's Figure 1 and Tables 1, 3 and 5 (workloads.paper) use it.
# - "bench": what data/calibration/h200/h200_bench.py (TBlock, MFBlock; cpu_bench.py imports them) ran
#   and hwsim.validate rebuilds: pre-LayerNorm, no rotary, sequential residuals, Linear biases, no
#   Memory Layer bias, every Memory Layer hashing its own input.
PAPER_BLOCK = {"transformer": dict(norm="layernorm", rotary_pct=0.0),
               "memoryformer": dict(norm="layernorm", rotary_pct=0.0, memory_bias=False, weighting="paper")}
BENCH_BLOCK = {"transformer": dict(PAPER_BLOCK["transformer"], parallel_residual=False, linear_bias=True),
               "memoryformer": dict(PAPER_BLOCK["memoryformer"], parallel_residual=False, share_qkv_hash=False)}
BLOCK_VARIANTS = {"released": {"transformer": {}, "memoryformer": {}}, "paper": PAPER_BLOCK, "bench": BENCH_BLOCK}


def default_heads(hidden_size: int) -> int:
    """Pythia's head size is 64 (d 512 / 8 heads, 768 / 12, 1024 / 16)."""
    return max(1, hidden_size // 64)


def options_for(kind: str, options: dict) -> dict:
    """The block options that apply to `kind` (a MemoryFormer option on a Transformer is dropped);
    a name no kind takes is an error."""
    if kind not in BLOCK_OPTIONS:
        raise ValueError(f"kind must be one of {BLOCK_KINDS}, given {kind!r}")
    known = set().union(*BLOCK_OPTIONS.values())
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown block option(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}")
    return {k: v for k, v in options.items() if k in BLOCK_OPTIONS[kind]}


def check_phase(phase: str, kv_len) -> int | None:
    """The cache length a phase runs against: None for prefill (which takes no kv_len), kv_len for decode."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {', '.join(PHASES)}, given {phase!r}")
    if phase == "prefill":
        if kv_len is not None:
            raise ValueError(f"kv_len applies to phase='decode' only (prefill has no KV cache), given kv_len={kv_len!r} "
                             f"with phase='prefill'")
        return None
    if isinstance(kv_len, bool) or not isinstance(kv_len, int) or kv_len < 0:
        raise ValueError(f"kv_len must be a non-negative integer (tokens already in the KV cache) for phase='decode', "
                         f"given kv_len={kv_len!r}")
    return kv_len


def phase_suffix(cache_len: int | None) -> str:
    return "" if cache_len is None else f"-decode-kv{cache_len}"


def block(kind: str, hidden_size: int, seq_len: int, batch: int = 1, heads: int | None = None, tau: int = 8,
          expand_bits: int = 2, dtype: str = "bf16", parallel_residual: bool | None = None, gelu: bool = False,
          weighting: str = "paper", share_qkv_hash: bool = True, norm: str = "layernorm", rotary_pct: float = 0.0,
          memory_bias: bool = False, linear_bias: bool = True, proj_len: int = DEFAULT_PROJ_LEN,
          features: int = DEFAULT_FEATURES, phase: str = "prefill", kv_len: int | None = None) -> Workload:
    """One Transformer or MemoryFormer block in closed form (the ops models/ execute for that block).

    phase "prefill": seq_len tokens per sequence, no cache. phase "decode": seq_len new tokens per sequence
    (1 for plain decoding) against a KV cache of kv_len tokens (required): their k and v are appended to
    the cache (op kv_append) and attention reads all kv_len + seq_len keys and values; Memory Layers hash and
    look up batch x seq_len tokens.

    The defaults are the paper's blocks (the "paper" variant: LayerNorm, no rotary, no Memory Layer bias;
    parallel_residual None = each kind's own: Pythia's parallel, MemoryFormer's sequential). Options:
    norm "layernorm" | "rmsnorm"; rotary_pct in [0, 1] (share of each head's dims rotated in q and k);
    memory_bias (a bias on every Memory Layer); linear_bias (biases on the Transformer's Linear layers);
    weighting, gelu, share_qkv_hash (MemoryFormer only).
    Table 2 baselines, kind "linformer" | "cosformer" | "performer": the Transformer block with that attention
    (no rotary); proj_len is Linformer's k, features Performer's m (256 each by default).
    """
    _check_positive(hidden_size=hidden_size, seq_len=seq_len, batch=batch)
    cache_len = check_phase(phase, kv_len)
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
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, given {norm!r}")
    rdims = rotary_dims(hidden_size // heads, rotary_pct)
    meta = dict(kind=kind, hidden_size=hidden_size, seq_len=seq_len, batch=batch, heads=heads, dtype=dtype,
                norm=norm, rotary_pct=rotary_pct, phase=phase)
    if cache_len is not None:
        meta["kv_len"] = cache_len
    if kind == "transformer":
        parallel = True if parallel_residual is None else bool(parallel_residual)
        ops = transformer_ops(batch, seq_len, hidden_size, heads, dtype, parallel_residual=parallel, norm=norm,
                              rotary_dims=rdims, linear_bias=linear_bias, cache_len=cache_len)
        meta.update(parallel_residual=parallel, linear_bias=bool(linear_bias))
    elif kind == "memoryformer":
        check_tau(hidden_size, tau, "hidden_size")
        if expand_bits < 0 or tau + expand_bits > MAX_TAU:
            raise ValueError(f"expand_bits must be >= 0 with tau + expand_bits <= {MAX_TAU}, "
                             f"given tau={tau}, expand_bits={expand_bits}")
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, given {weighting!r}")
        parallel = bool(parallel_residual)  # None: MemoryFormer's sequential residual
        ops = memoryformer_ops(batch, seq_len, hidden_size, heads, tau, expand_bits, dtype, gelu,
                               official=weighting == "official", share_qkv_hash=share_qkv_hash, norm=norm,
                               rotary_dims=rdims, memory_bias=memory_bias, parallel_residual=parallel,
                               cache_len=cache_len)
        meta.update(tau=tau, expand_bits=expand_bits, chunks=hidden_size // tau, parallel_residual=parallel,
                    memory_bias=bool(memory_bias), weighting=weighting)
    elif kind in BASELINE_KINDS:
        if cache_len is not None:
            raise ValueError(f"phase='decode' is modelled for the transformer and memoryformer blocks, not {kind} "
                             f"(its attention has no KV cache here); given kind={kind!r} with phase='decode'")
        if rdims:
            raise ValueError(f"rotary_pct must be 0 for a {kind} block (its attention takes no rotary embeddings), "
                             f"given rotary_pct={rotary_pct}")
        _check_positive(**({"proj_len": proj_len} if kind == "linformer" else {}),
                        **({"features": features} if kind == "performer" else {}))
        parallel = True if parallel_residual is None else bool(parallel_residual)  # Pythia's, as the paper
        ops = baseline_ops(kind, batch, seq_len, hidden_size, heads, dtype, parallel_residual=parallel, norm=norm,
                           linear_bias=linear_bias, proj_len=proj_len, features=features)
        meta.update(parallel_residual=parallel, linear_bias=bool(linear_bias))
        meta.update({"linformer": dict(proj_len=proj_len), "performer": dict(features=features)}.get(kind, {}))
    else:
        raise ValueError(f"kind must be one of {BLOCK_KINDS}, given {kind!r}")
    return Workload(f"{kind}-d{hidden_size}-s{seq_len}-b{batch}{phase_suffix(cache_len)}", tuple(ops), meta)


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


def preset_options(preset, variant: str = "released", **options) -> dict:
    """The block options of a models.ModelPreset (duck-typed: no torch import): its released ones, then
    those of `variant` (BLOCK_VARIANTS), then `options`; only those that apply to its kind."""
    if variant not in BLOCK_VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(BLOCK_VARIANTS)}, given {variant!r}")
    merged = {**preset.block_options(), **BLOCK_VARIANTS[variant][preset.kind], **options}
    return options_for(preset.kind, merged)


def preset_block(preset, seq_len: int, batch: int = 1, dtype: str = "bf16", variant: str = "released",
                 phase: str = "prefill", kv_len: int | None = None, **options) -> Workload:
    """One block of a models.ModelPreset in closed form: its released block options by default."""
    tau, e = preset_tau(preset)
    return block(preset.kind, preset.hidden_size, seq_len, batch, heads=preset.heads, tau=tau, expand_bits=e,
                 dtype=dtype, phase=phase, kv_len=kv_len, **preset_options(preset, variant, **options))


LAYER_KINDS = ("linear", "memory", "memory_hash", "attention", "norm", "gelu", "gather", "copy")


def layer(kind: str, tokens: int, d_in: int, d_out: int | None = None, tau: int = 8, dtype: str = "bf16",
          bias: bool = False, heads: int | None = None, batch: int = 1, table_rows: int | None = None,
          phase: str = "prefill", kv_len: int | None = None) -> Workload:
    """One layer in closed form. linear: x[tokens, d_in] @ W[d_in, d_out]; memory: hash + lookup;
    memory_hash: the hash alone; attention: causal attention over `tokens` = batch * seq_len rows (decode:
    the kv_append of the new rows, then their attention over a cache of kv_len + seq_len);
    gather: `tokens` random rows of width d_out from a table of `table_rows` rows; copy: tokens x d_in
    elements copied. phase/kv_len as in block(); only attention differs between the phases (every other
    layer does the same work on its `tokens` rows)."""
    d_out = d_in if d_out is None else d_out
    _check_positive(tokens=tokens, d_in=d_in, d_out=d_out, batch=batch)
    cache_len = check_phase(phase, kv_len)
    dtype_bytes(dtype)
    meta = dict(kind=kind, tokens=tokens, d_in=d_in, d_out=d_out, dtype=dtype, phase=phase)
    if cache_len is not None:
        meta["kv_len"] = cache_len
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
        seq_len = tokens // batch
        if cache_len is None:
            ops = [attention_op("attention", batch, seq_len, d_in, heads, dtype)]
        else:
            ops = [kv_append_op("kv_append", batch, seq_len, d_in, cache_len, dtype),
                   attention_op("attention", batch, seq_len, d_in, heads, dtype, deps=("kv_append",),
                                cache_len=cache_len)]
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
    return Workload(f"{kind}-n{tokens}-{d_in}x{d_out}{phase_suffix(cache_len)}", tuple(ops), meta)
