"""Lowering: how each Op of a Workload becomes the kernels a machine runs.

A Kernel is the unit the engines cost: one launch, one unit, a demand on each memory level. Two
lowerings, chosen by `runtime.lowering` in the accelerator config (or a simulate option):

- "fused": one kernel per op on the unit made for it (the matrix unit for products and attention,
  the hash unit where there is one, the lookup memory for table rows). What dedicated hardware or a
  compiler that fuses each op would run.
- "torch": what PyTorch eager runs for the same op, as in data/calibration/h200/h200_bench.py:
  the sign hash as 16 small elementwise/reduction kernels (15 in fp32) with their intermediate tensors, the lookup
  as embedding_bag (or an index gather + multiply + sum), attention as a fused attention kernel plus
  the copy that transposes its output back, gpt-neox's RMSNorm as 5 kernels and rotary embeddings as
  5 (full) or 6 (partial) small kernels per tensor. On a CPU (simt=False) rows are read whole, a line fill
  buffer per cache line, and products pack their weight first (cpu_matmul_kernels).

Where the machine has a software-managed on-chip memory (an SRAM level of kind "scratchpad"), activations
passed from op to op may stay in it (`scratchpad_residency`): the kernels then carry how many of their
streamed bytes are on-chip reads and writes, and the engine charges them to that level instead of DRAM.
Hardware caches (GPU L2, CPU caches) get no such credit: eager kernels write their results back to DRAM.

No torch here: lowering is plain arithmetic on the Op's dims.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from workloads.efficient import EFFICIENT_ATTENTION_KINDS, stages
from workloads.op import DTYPE_BYTES, INDEX_DTYPE, Op, OpKind

LOOKUP_IMPLS = ("embedding_bag", "gather_sum", "fused", "table_stationary")
LOWERINGS = ("torch", "fused")

# Threads of one program of the fused Triton Memory Layer kernel (Triton's default num_warps = 4).
FUSED_PROGRAM_THREADS = 128
# PyTorch's index kernel (table[idx]) unrolls 4 elements per thread (thread_work_size = 4 in
# ATen/native/cuda/IndexKernel.cu): four independent loads in flight per thread.
INDEX_KERNEL_LOADS_PER_THREAD = 4
# CPU caches move 64 B lines (x86 and Arm server cores); a CPU's threads_in_flight counts line fill buffers.
CPU_LINE_BYTES = 64


@dataclass(frozen=True)
class Kernel:
    """One launch. Bytes are what the kernel asks of memory: `stream_*` bytes are read/written once
    in order (activations, weights, intermediates); `gather` describes table-row reads."""
    name: str
    op: str
    unit: str  # "matrix" | "vector" | "hash" | "lookup" | "memory"
    dtype: str
    flops: int = 0  # work on `unit` (elementwise ops count one per element)
    stream_read_bytes: int = 0
    stream_write_bytes: int = 0
    gemm: tuple[int, int, int] | None = None  # (m, n, k) of a product, for tiling
    attention: dict | None = None  # batch, heads, seq_len, head_dim, causal
    # Table-row gathers: `accesses` reads of `access_bytes` contiguous bytes from tables of
    # `table_bytes` in all; `chains` independent threads each make `chain_length` dependent reads.
    gather: dict | None = None
    hash_chunks: int = 0  # chunks hashed on a hash unit
    extra: dict = field(default_factory=dict)
    # Of the stream bytes, those that may stay in the on-chip scratchpad (read from / written to it
    # instead of DRAM): activations passed between consecutive ops that fit (scratchpad_residency).
    onchip_read_bytes: int = 0
    onchip_write_bytes: int = 0
    # transcendental evaluations (exp, log, erf, ...) among that work: a CPU computes each as a polynomial
    # of dozens of vector instructions, which a FLOP count does not show (compute.vector.special_function)
    special_ops: int = 0

    @property
    def gather_bytes(self) -> int:
        return 0 if self.gather is None else self.gather["accesses"] * self.gather["access_bytes"]


def _b(dtype: str) -> int:
    return DTYPE_BYTES[dtype]


def _elementwise(op: Op, name: str, elements: int, in_bytes: int, out_bytes: int, flops_per_element: int = 1,
                 dtype: str | None = None, special: int = 0) -> Kernel:
    """special: transcendental evaluations per element."""
    return Kernel(f"{op.name}:{name}", op.name, "vector", dtype or op.dtype, flops_per_element * elements,
                  elements * in_bytes, elements * out_bytes, special_ops=special * elements)


# --- fused lowering ------------------------------------------------------------------------------

def _gather_dict(tokens: int, chunks: int, access_bytes: int, table_bytes: int, chains: int, chain_length: int,
                 row_bytes: int, tables: int, rows_per_table: int) -> dict:
    return {"accesses": tokens * chunks * (row_bytes // access_bytes), "access_bytes": access_bytes,
            "table_bytes": table_bytes, "chains": chains, "chain_length": chain_length, "rows": tokens * chunks,
            "row_bytes": row_bytes, "tables": tables, "rows_per_table": rows_per_table}


def lookup_gather(op: Op, access_bytes: int | None = None, chains: int | None = None,
                  chain_length: int | None = None) -> dict:
    t, d = op.table, op.dims
    access = access_bytes or t.row_bytes
    return _gather_dict(d["tokens"], d["chunks"], access, t.total_bytes,
                        chains if chains is not None else d["tokens"], chain_length or d["chunks"],
                        t.row_bytes, t.tables, t.rows_per_table)


def efficient_attention_kernels(op: Op) -> list[Kernel]:
    """A Table 2 attention (Linformer, cosFormer, Performer) stage by stage (workloads.efficient), in either
    lowering: products on the matrix unit, feature maps, softmax and sums on the vector unit, every
    intermediate through memory (no fused kernel for these exists in the setups we model)."""
    b = _b(op.dtype)
    return [Kernel(f"{op.name}:{s.name}", op.name, s.unit, op.dtype, s.flops, s.read_elements * b,
                   s.write_elements * b, gemm=s.gemm) for s in stages(op)]


def lower_fused(op: Op, has_hash_unit: bool) -> list[Kernel]:
    reads, writes = op.total_bytes_read, op.total_bytes_written
    if op.kind in EFFICIENT_ATTENTION_KINDS:
        return efficient_attention_kernels(op)
    if op.kind is OpKind.MATMUL:
        d = op.dims
        return [Kernel(op.name, op.name, "matrix", op.dtype, op.flops, reads, writes, gemm=(d["m"], d["n"], d["k"]))]
    if op.kind is OpKind.ATTENTION:
        return [Kernel(op.name, op.name, "matrix", op.dtype, op.flops, reads, writes, attention=dict(op.dims))]
    if op.kind is OpKind.HASH:
        if has_hash_unit:
            return [Kernel(op.name, op.name, "hash", op.dtype, 0, reads, writes,
                           hash_chunks=op.dims["tokens"] * op.dims["chunks"])]
        # one sigmoid (an exp) per input element: p = prod sigmoid(2|z|/t)
        return [Kernel(op.name, op.name, "vector", op.dtype, op.flops, reads, writes,
                       special_ops=op.dims["tokens"] * op.dims["width"])]
    if op.kind is OpKind.LOOKUP and not op.dims.get("weighted", 1):
        # A plain row gather (a token embedding: a few rows of d elements each) is a DMA from DRAM, where the
        # table lives; dedicated lookup memories hold Memory Layer tables, and their adders have nothing to sum.
        return [Kernel(op.name, op.name, "memory", op.dtype, 0, reads, writes)]
    if op.kind is OpKind.LOOKUP:
        # Rows come from the lookup memory; the stream part is indices, weights in and the output out.
        stream_reads = reads - op.bytes_read["tables"]
        return [Kernel(op.name, op.name, "lookup", op.dtype, op.flops, stream_reads, writes, gather=lookup_gather(op))]
    return [Kernel(op.name, op.name, "vector", op.dtype, op.flops, reads, writes,
                   special_ops=op.dims.get("special_ops", 0))]


# --- torch (PyTorch eager) lowering ---------------------------------------------------------------

def torch_hash_kernels(op: Op) -> list[Kernel]:
    """hash_and_weights() of h200_bench.py, kernel by kernel, with the bytes of each intermediate."""
    n, d, k, tau = op.dims["tokens"], op.dims["width"], op.dims["chunks"], op.dims["tau"]
    b, i64, f32 = _b(op.dtype), DTYPE_BYTES[INDEX_DTYPE], 4
    e, c = n * d, n * k  # elements, chunks
    ks = [
        _elementwise(op, "gt", e, b, 1),                 # z > 0 -> bool
        _elementwise(op, "to_int64", e, 1, i64),         # .to(int64)
        _elementwise(op, "arange_pow2", tau, 0, i64),    # 2 ** arange(tau): arange
        _elementwise(op, "pow", tau, i64, i64),          # ... and pow
        _elementwise(op, "mul_pow2", e, i64, i64),       # * pow2
        _elementwise(op, "sum_bits", e, i64, 0),         # .sum(-1) reads e, writes c
        _elementwise(op, "abs", e, b, b),                # z.abs()
        _elementwise(op, "to_float", e, b, f32),         # .float() (none when z is fp32 already: see below)
        _elementwise(op, "mul2", e, f32, f32),           # 2 *
        _elementwise(op, "div_t", e, f32, f32),          # / t
        _elementwise(op, "logsigmoid", e, f32, f32, 4, special=2),  # F.logsigmoid: exp and log1p
        _elementwise(op, "sum_logp", e, f32, 0),         # .sum(-1) reads e, writes c
        _elementwise(op, "exp", c, f32, f32, 4, special=1),  # torch.exp
        _elementwise(op, "arange_k", k, 0, i64),         # arange(K)
        _elementwise(op, "mul_offsets", k, i64, i64),    # * 2^tau
        _elementwise(op, "add_offsets", c, i64, i64),    # codes + offsets
    ]
    # the two reductions write one value per chunk
    ks[5] = replace(ks[5], stream_write_bytes=c * i64)
    ks[11] = replace(ks[11], stream_write_bytes=c * f32)
    if op.dtype == "fp32":  # Tensor.float() of an fp32 tensor returns it as is: no kernel
        del ks[7]
    return ks


def cpu_row_loads(row_bytes: int, parallel_items: int, cores: int) -> float:
    """loads_per_thread of a CPU kernel that reads whole table rows. A CPU's threads_in_flight counts line
    fill buffers (cores x outstanding L1 misses): a row of L cache lines holds L of them at once, and a
    kernel that splits its work over fewer items than cores (embedding_bag splits over bags, i.e. tokens)
    leaves the other cores' buffers idle."""
    lines = -(-row_bytes // CPU_LINE_BYTES)
    return min(1.0, parallel_items / max(cores, 1)) / lines


def cpu_lookup_extra(row_bytes: int, parallel_items: int, tokens: int, cores: int) -> dict:
    """Kernel.extra of a CPU row-gathering kernel: its loads in flight (cpu_row_loads), and how many tokens
    its cores work on at once (`lockstep_tokens`): they walk the tables together, so a row one core reads
    is no hit for another core reading it at the same time, only for tokens that come later."""
    return {"loads_per_thread": cpu_row_loads(row_bytes, parallel_items, cores),
            "lockstep_tokens": max(1, min(tokens, cores))}


def torch_lookup_kernels(op: Op, impl: str, block_d: int = 128, simt: bool = True, cores: int = 1) -> list[Kernel]:
    """simt: GPU kernels give each output element its own thread, so each element is a chain of
    dependent reads; CPU kernels walk a row at a time with SIMD and prefetch, so each row is one, holding
    one line fill buffer per cache line of the row (cpu_row_loads; cores: the CPU's cores)."""
    n, k, h = op.dims["tokens"], op.dims["chunks"], op.dims["width"]
    per_row = h if simt else 1
    row_bytes = op.table.row_bytes
    b, i64, f32 = _b(op.dtype), DTYPE_BYTES[INDEX_DTYPE], 4
    out = n * h * b
    if impl == "embedding_bag":
        # Forward of F.embedding_bag(mode="sum", per_sample_weights=...) as h200_bench.MemoryLayer calls it:
        # offsets (arange * K), the weights cast to the table dtype (no kernel when both are fp32), the
        # offset-to-bag bookkeeping, then the kernel that reads every (bag entry, column) element. At one
        # token its time does not grow with K (measured.csv tokens=1: d=512 and d=2048 take the same), so
        # the bag entries are read in parallel: one independent index-then-row read per element.
        ks = [_elementwise(op, "arange_offsets", n, 0, i64), _elementwise(op, "mul_offsets", n, i64, i64)]
        if op.dtype != "fp32":
            ks.append(_elementwise(op, "weights_cast", n * k, f32, b))
        ks.append(_elementwise(op, "offset2bag", n * k, i64, i64))
        ks.append(Kernel(f"{op.name}:embedding_bag", op.name, "lookup", op.dtype, op.flops,
                         n * k * (i64 + b), out, gather=lookup_gather(op, chains=n * k * per_row, chain_length=1),
                         extra={} if simt else cpu_lookup_extra(row_bytes, n, n, cores)))
        return ks
    if impl == "gather_sum":
        # table[idx] materialises (N, K, h); then * w.unsqueeze(-1) and .sum(1)
        mat = n * k * h
        return [Kernel(f"{op.name}:index_gather", op.name, "lookup", op.dtype, 0, n * k * i64, mat * b,
                       gather=lookup_gather(op, chains=n * k * per_row, chain_length=1),
                       extra={"loads_per_thread": INDEX_KERNEL_LOADS_PER_THREAD} if simt
                       else cpu_lookup_extra(row_bytes, n * k, n, cores)),
                _elementwise(op, "weights_cast", n * k, f32, b),
                _elementwise(op, "mul_weights", mat, 2 * b, b),
                _elementwise(op, "sum_k", mat, b, 0)]
    if impl == "fused":
        # One Triton program per (token, block of block_d output columns) walks the K tables; the next
        # chunk's load does not depend on the accumulator, so only the row load sits on the chain.
        progs = n * -(-h // block_d)
        seg = min(block_d, h) * b
        return [Kernel(op.name, op.name, "lookup", op.dtype, op.flops, 0, out,
                       gather=lookup_gather(op, access_bytes=seg, chains=progs),
                       extra={"program_threads": FUSED_PROGRAM_THREADS})]
    if impl == "table_stationary":
        return table_stationary_kernels(op)
    raise ValueError(f"lookup impl must be one of {LOOKUP_IMPLS}, given {impl!r}")


def torch_rms_norm_kernels(op: Op) -> list[Kernel]:
    """gpt-neox's RMSNorm as eager PyTorch runs it (models/norms.py; 5 ops under a dispatch counter):
    x.norm(2, -1), * d^-1/2, + eps (both per row), x / rms, scale * x."""
    e, rows, width = op.dims["elements"], op.dims["rows"], op.dims["width"]
    b = _b(op.dtype)
    return [replace(_elementwise(op, "vector_norm", e, b, 0, 3), stream_write_bytes=rows * b),  # square, sum, root
            _elementwise(op, "mul_inv_sqrt_d", rows, b, b),
            _elementwise(op, "add_eps", rows, b, b),
            replace(_elementwise(op, "div", e, b, b), stream_read_bytes=(e + rows) * b),
            replace(_elementwise(op, "mul_scale", e, b, b), stream_read_bytes=(e + width) * b)]


def torch_rotary_kernels(op: Op) -> list[Kernel]:
    """GPT-NeoX rotary as eager PyTorch runs it (gpt-neox apply_rotary_pos_emb_torch, models/rotary.py), for
    q and then k: q_rot * cos, -x2 and cat(-x2, x1) (rotate_half), * sin, the add, and with partial rotary
    the cat that puts the passed-through dims back (5 kernels per tensor, 6 when partial; a dispatch
    counter sees the same ops). The rotated slice is read in place (a strided view, no copy)."""
    d = op.dims
    n, r = d["batch"] * d["seq_len"], d["rotary_dims"]
    full, rot = n * d["heads"] * d["head_dim"], n * d["heads"] * r  # elements of one tensor, rotated ones
    table = d["seq_len"] * r * _b(op.dtype)  # one cached cos or sin table, broadcast over batch and heads
    b = _b(op.dtype)
    ks = []
    for t in ("q", "k")[: d.get("tensors", 2)]:
        ks += [replace(_elementwise(op, f"{t}_mul_cos", rot, b, b), stream_read_bytes=rot * b + table),
               _elementwise(op, f"{t}_neg", rot // 2, b, b),
               _elementwise(op, f"{t}_cat_rotate_half", rot, b, b, 0),
               replace(_elementwise(op, f"{t}_mul_sin", rot, b, b), stream_read_bytes=rot * b + table),
               _elementwise(op, f"{t}_add", rot, 2 * b, b)]
        if r < d["head_dim"]:
            ks.append(_elementwise(op, f"{t}_cat_pass", full, b, b, 0))
    return ks


def lower_torch(op: Op, lookup_impl: str = "embedding_bag", block_d: int = 128, simt: bool = True,
                cores: int = 1, tile_dtypes: tuple[str, ...] | None = None) -> list[Kernel]:
    b = _b(op.dtype)
    if op.kind is OpKind.HASH:
        return torch_hash_kernels(op)
    if op.kind is OpKind.ROTARY:
        return torch_rotary_kernels(op)
    if op.kind is OpKind.NORM and op.dims.get("rms"):
        return torch_rms_norm_kernels(op)
    if op.kind is OpKind.LOOKUP and not op.dims.get("weighted", 1):
        # table[idx]: one thread per element, each a single (independent) row read
        n, h = op.dims["tokens"], op.dims["width"]
        return [Kernel(f"{op.name}:index_gather", op.name, "lookup", op.dtype, 0, op.bytes_read["indices"],
                       op.total_bytes_written, gather=lookup_gather(op, chains=n * (h if simt else 1), chain_length=1),
                       extra={"loads_per_thread": INDEX_KERNEL_LOADS_PER_THREAD} if simt
                       else cpu_lookup_extra(op.table.row_bytes, n, n, cores))]
    if op.kind is OpKind.LOOKUP:
        return torch_lookup_kernels(op, lookup_impl, block_d, simt, cores)
    if op.kind is OpKind.COPY and op.dims.get("tensors", 1) == 2:
        # the KV-cache append: one copy kernel per cache (k, then v), as eager slice assignment runs
        half = op.dims["elements"] // 2
        return [_elementwise(op, f"copy_{t}", half, b, b, 0) for t in "kv"]
    if op.kind is OpKind.ATTENTION:
        n = op.dims["batch"] * op.dims["seq_len"]
        d = op.dims["heads"] * op.dims["head_dim"]
        main = Kernel(f"{op.name}:sdpa", op.name, "matrix", op.dtype, op.flops, op.total_bytes_read,
                      op.total_bytes_written, attention=dict(op.dims))
        return [main, _elementwise(op, "transpose_copy", n * d, b, b)]  # y.transpose(1, 2).reshape(...)
    if op.kind is OpKind.MATMUL and not simt:
        return cpu_matmul_kernels(op, tile_dtypes)
    return lower_fused(op, has_hash_unit=False)


def on_tiles(tile_dtypes: tuple[str, ...] | None, dtype: str) -> bool:
    """Whether the matrix unit multiplies `dtype` in fixed tiles whose rows a short product pads to tile[0]
    (compute.matrix.tile_dtypes; None: every dtype)."""
    return tile_dtypes is None or dtype in tile_dtypes


def cpu_matmul_kernels(op: Op, tile_dtypes: tuple[str, ...] | None = None) -> list[Kernel]:
    """A product as PyTorch runs it on a CPU. tile_dtypes: the dtypes its matrix tiles multiply
    (compute.matrix.tile_dtypes; AMX: bf16 and int8; None: every dtype).
    - One token in a dtype off the tiles (fp32; bf16 without AMX) is a matrix-vector product (MKL sgemv):
      vector dot products along k that read the weight once, in place; no output tile is padded to 16 rows
      as a tiled product would be.
    - Every other product packs its weight first: BLAS GEMMs copy B into contiguous panels on every call
      (Goto and van de Geijn, "Anatomy of high-performance matrix multiplication", ACM TOMS 2008), and
      oneDNN reorders PyTorch's plain-layout weight into AMX's VNNI tiles on every call. The packed copy
      is as large as the weight, so packing reads and writes it once more, and the product streams it."""
    (k,) = lower_fused(op, has_hash_unit=False)
    if op.dims["m"] == 1 and not on_tiles(tile_dtypes, op.dtype):
        return [replace(k, unit="vector", gemm=None)]
    w = op.bytes_read["weights"]
    return [Kernel(f"{op.name}:weight_pack", op.name, "memory", op.dtype, 0, w, w), k]


def fused_memory_layer_kernel(hash_op: Op, lookup_op: Op, block_d: int = 128) -> Kernel:
    """The fused Triton kernel of data/calibration/h200/fused_memory_layer.py: hash + gather + sum."""
    (k,) = torch_lookup_kernels(lookup_op, "fused", block_d)
    # each step loads its input chunk and hashes it, then loads the row: the next chunk's load does not
    # wait for this row, so only the row read sits on the chain of dependent reads
    return replace(k, name=f"{lookup_op.name}:fused_triton", flops=k.flops + hash_op.flops,
                   stream_read_bytes=hash_op.bytes_read["activations"],
                   extra={**k.extra, "index_on_chain": False})


def lower(workload, lowering: str, has_hash_unit: bool = False, lookup_impl: str = "embedding_bag",
          block_d: int = 128, simt: bool = True, cores: int = 1, scratchpad_bytes: float = 0.0,
          tile_dtypes: tuple[str, ...] | None = None) -> list[Kernel]:
    """All kernels of a workload in launch order (cores: a CPU's cores, for its row gathers; tile_dtypes:
    the dtypes its matrix tiles multiply, compute.matrix.tile_dtypes).
    scratchpad_bytes: capacity of the on-chip memory that holds activations between ops (0: none, every
    kernel streams its operands from and to DRAM)."""
    kernels = _lower(workload, lowering, has_hash_unit, lookup_impl, block_d, simt, cores, tile_dtypes)
    if scratchpad_bytes <= 0:
        return kernels
    per_op: dict[str, int] = {}
    for k in kernels:
        per_op[k.op] = per_op.get(k.op, 0) + 1
    single = {op for op, n in per_op.items() if n == 1}
    reads, writes = scratchpad_residency(workload, scratchpad_bytes, single)
    return [replace(k, onchip_read_bytes=min(reads.get(k.op, 0), k.stream_read_bytes),
                    onchip_write_bytes=min(writes.get(k.op, 0), k.stream_write_bytes))
            if k.op in reads or k.op in writes else k for k in kernels]


def scratchpad_residency(workload, capacity_bytes: float, eligible: set[str]) -> tuple[dict, dict]:
    """Which activations stay on chip: ({op: bytes it reads on chip}, {op: bytes it writes on chip}).

    An op's output (activations and indices it writes) stays in the scratchpad, instead of making a
    round trip through DRAM, when it has consumers in the block and, at every op from its producer to
    its last consumer, everything live there fits: the outputs still waiting for a consumer plus the
    running op's own output. The block's input, its final output and what goes into a KV cache always come
    from and go to DRAM.
    Only ops that run as one kernel (`eligible`) take part: a multi-kernel op's intermediates are not
    modelled. The rule depends only on sizes, so a larger scratchpad never keeps fewer tensors."""
    ops = list(workload.ops)
    index = {op.name: i for i, op in enumerate(ops)}
    size = [op.total_bytes_written for op in ops]
    last_use = [-1] * len(ops)
    for j, op in enumerate(ops):
        for d in op.deps:
            last_use[index[d]] = max(last_use[index[d]], j)
    # working set while op j runs: outputs produced before j still awaited at j or later, plus op j's own
    working = [size[j] + sum(size[i] for i in range(j) if last_use[i] >= j) for j in range(len(ops))]
    reads: dict[str, int] = {}
    writes: dict[str, int] = {}
    for i, op in enumerate(ops):
        consumers = [c for c in ops[i + 1:] if op.name in c.deps]
        if op.kind is OpKind.COPY and "cache_len" in op.dims:
            continue  # a KV-cache append writes into the cache, which lives in DRAM for the steps to come
        if (not consumers or op.name not in eligible or any(c.name not in eligible for c in consumers)
                or max(working[i:last_use[i] + 1]) > capacity_bytes):
            continue
        writes[op.name] = size[i]
        for c in consumers:
            own_reads = c.bytes_read["activations"] + c.bytes_read["indices"]
            reads[c.name] = min(own_reads, reads.get(c.name, 0) + size[i])
    return reads, writes


def _lower(workload, lowering: str, has_hash_unit: bool, lookup_impl: str, block_d: int, simt: bool,
           cores: int, tile_dtypes: tuple[str, ...] | None = None) -> list[Kernel]:
    if lowering not in LOWERINGS:
        raise ValueError(f"lowering must be one of {LOWERINGS}, given {lowering!r}")
    if lookup_impl not in LOOKUP_IMPLS:
        raise ValueError(f"lookup_impl must be one of {LOOKUP_IMPLS}, given {lookup_impl!r}")
    kernels: list[Kernel] = []
    ops = list(workload.ops)
    if lowering == "torch" and lookup_impl == "fused":
        # One Triton kernel per Memory Layer: each lookup absorbs the hash it depends on (a shared hash
        # is recomputed by every lookup that reads it, as the fused kernel does).
        by_name = {op.name: op for op in ops}
        hash_of = {op.name: next((by_name[d] for d in op.deps if by_name[d].kind is OpKind.HASH), None)
                   for op in ops if op.kind is OpKind.LOOKUP and op.dims.get("weighted", 1)}
        absorbed = {h.name for h in hash_of.values() if h is not None}
        for op in ops:
            if op.name in absorbed:
                continue
            if hash_of.get(op.name) is not None:
                kernels.append(fused_memory_layer_kernel(hash_of[op.name], op, block_d))
            else:  # a hash no lookup reads, a plain gather, everything else: as PyTorch runs them
                kernels += lower_torch(op, "embedding_bag", block_d, simt, cores, tile_dtypes)
        return kernels
    for op in ops:
        kernels += (lower_torch(op, lookup_impl, block_d, simt, cores, tile_dtypes) if lowering == "torch"
                    else lower_fused(op, has_hash_unit))
    return kernels


# --- table-stationary lookups (issue 11; costed by hwsim.engines.lookup_hw) --------------------------

def table_stationary_kernels(op: Op) -> list[Kernel]:
    """A Memory Layer with the tables held still and the tokens moving (a GPU dataflow): a counting sort
    buckets the (token, weight) pairs by table (a histogram pass and a scatter pass over the codes, int32
    token ids out), then one kernel holds table slices in shared memory, walks the lists and scatter-adds
    fp32 partial sums (its table reads, slices and partial sums are costed by hwsim.engines.lookup_hw),
    then the fp32 sums are cast to the output dtype."""
    n, k, h = op.dims["tokens"], op.dims["chunks"], op.dims["width"]
    b, i64, i32, f32 = _b(op.dtype), DTYPE_BYTES[INDEX_DTYPE], 4, 4
    rows = op.table.rows_per_table
    bucket = Kernel(f"{op.name}:bucket", op.name, "vector", op.dtype, 2 * n * k, 2 * n * k * (i64 + b),
                    n * k * (i32 + b) + k * rows * i32)
    main = Kernel(f"{op.name}:table_stationary", op.name, "lookup", op.dtype, op.flops, n * k * (i32 + b), n * h * f32,
                  gather=lookup_gather(op), extra={"impl": "table_stationary", "width": h})
    return [bucket, main, _elementwise(op, "cast_sums", n * h, f32, b)]
