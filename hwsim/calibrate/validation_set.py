"""The validation set: layers, ops and blocks that no preset number was taken from, timed like the
benchmarks and written as rows hwsim.validate rebuilds (data/calibration/h200/README.md names each
impl). They run models.MemoryLayer's own kernels (its hash and embedding_bag lookup) called directly,
as the h200 and cpu-2core scripts call theirs: the custom-op wrapper around them costs a Python
dispatch per call that is host software, not the hardware the preset describes.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    row: dict                 # measured.csv columns, all but time_us
    matrix_flops: float = 0   # products and attention, for the time guard (0: cheap)
    graph: bool = False       # replay from a CUDA graph (impl ends in _graph)


def _layer_cases(dtype, ds, tokens, impls) -> list[Case]:
    out = []
    for d in ds:
        for n in tokens:
            base = dict(kind="layer", dtype=dtype, tokens=n, d_in=d, d_out=d)
            for impl in impls:
                graph = impl.endswith("_graph")
                if impl.startswith("linear"):
                    out.append(Case({**base, "impl": impl, "flops": 2 * n * d * d}, 2 * n * d * d, graph))
                elif impl.startswith("memory_gather_sum") and n * (d // 8) * d * 4 > 2 * 2**30:
                    continue  # it materialises tokens x K x d: skipped beyond 2 GiB, as the h200 script did
                else:
                    out.append(Case({**base, "impl": impl, "tau": 8, "K": d // 8}, 0, graph))
    return out


def _block_cases(dtype, cfgs, graph_too: bool) -> list[Case]:
    out = []
    for d, heads, seq, batch in cfgs:
        base = dict(kind="block", dtype=dtype, d_in=d, d_out=d, heads=heads, seq=seq, batch=batch, tokens=batch * seq)
        n = batch * seq
        attention = 4 * n * seq * d  # QK^T and PV, dense
        t_flops = 24 * n * d * d + attention  # QKV 6 d^2, out 2 d^2, FFN 16 d^2 per token
        for suffix in ("", "_graph") if graph_too else ("",):
            out.append(Case({**base, "impl": "transformer" + suffix}, t_flops, bool(suffix)))
            out.append(Case({**base, "impl": "memoryformer_e2" + suffix, "tau": 8, "expand_bits": 2},
                            attention, bool(suffix)))
    return out


def _sdpa_cases(dtype, shapes) -> list[Case]:
    out = []
    for batch, heads, seq, dh in shapes:
        dense = 4 * batch * seq * seq * heads * dh
        out.append(Case(dict(kind="op", impl="sdpa_causal", dtype=dtype, tokens=batch * seq, seq=seq, batch=batch,
                             heads=heads, d_in=heads * dh, flops=dense // 2), dense // 2))
    return out


def cases(device: str, quick: bool, dtypes: tuple[str, ...]) -> list[Case]:
    """The validation rows of a run. dtypes: those the device has a product kernel for."""
    if device == "cuda":
        layer = ("linear", "memory_embedding_bag", "memory_hash_only", "memory_gather_sum",
                 "linear_graph", "memory_embedding_bag_graph")
        ds, tokens = ((512, 2048), (1, 128, 8192)) if quick else ((512, 1024, 2048), (1, 16, 128, 2048, 8192))
        out = _layer_cases("bf16", ds, tokens, layer)
        if "fp32" in dtypes:
            out += _layer_cases("fp32", (1024,), (16, 2048), ("linear", "memory_embedding_bag"))
        out += _sdpa_cases("bf16", [(1, 8, 2048, 64), (8, 16, 1024, 64)])
        cfgs = [(512, 8, 1024, 1), (1024, 16, 2048, 1)] if quick else \
            [(512, 8, 1024, 1), (512, 8, 1024, 8), (1024, 16, 2048, 1), (2048, 16, 2048, 1)]
        return out + _block_cases("bf16", cfgs, graph_too=True)
    # d = 512: tables (32 MiB fp32) and weights that a last-level cache may hold between calls; d = 2048: tables
    # of 512 MiB that no cache holds (the sizes of data/calibration/cpu-2core, fewer of them with --quick)
    ds, tokens = ((512, 2048), (1, 16, 128, 1024)) if quick else ((512, 1024, 2048), (1, 16, 128, 1024, 4096))
    out = _layer_cases("fp32", ds, tokens, ("linear", "memory_embedding_bag"))
    out += _layer_cases("fp32", (512,), (1, 128, 1024), ("memory_hash_only",))
    out += _layer_cases("fp32", (512,), (1, 16, 128), ("memory_gather_sum",))
    for dt in ("bf16",):
        if dt in dtypes:
            out += _layer_cases(dt, (512,), (1, 16, 128), ("linear", "memory_embedding_bag"))
    out += _sdpa_cases("fp32", [(1, 8, 256, 64), (1, 16, 1024, 64)] if quick else
                       [(1, 8, 256, 64), (1, 16, 1024, 64), (4, 8, 2048, 64)])
    cfgs = [(512, 8, 128, 1), (512, 8, 512, 1)] if quick else [(512, 8, 512, 1), (512, 8, 2048, 1), (1024, 16, 512, 1)]
    return out + _block_cases("fp32", cfgs, graph_too=False)


# ---- the modules that run ---------------------------------------------------------------------------

def _memory(torch, d_in, d_out, tau, dtype, device):
    """A models.MemoryLayer (its tables) and its own kernels, called without the custom-op wrapper."""
    from models import MemoryLayer

    return memory_kernels(torch, MemoryLayer(d_in, d_out, tau, device=device, dtype=dtype))


def memory_kernels(torch, layer):
    """(hash, embedding_bag forward, gather-sum forward) of a models.MemoryLayer: its hash's kernels and
    its lookup (embedding_bag, or an index gather, multiply and sum) called directly."""
    from models.custom_ops import _hash_reference

    F = torch.nn.functional
    table, tau = layer.tables.detach(), layer.tau

    def hash_(x):
        return _hash_reference(x, tau, layer.temperature, layer.weighting == "official")

    def bag(x):
        rows, w = hash_(x)
        n, k = rows.shape
        offsets = torch.arange(n, device=x.device, dtype=torch.int64) * k
        return F.embedding_bag(rows.reshape(-1), table, offsets, mode="sum",
                               per_sample_weights=w.reshape(-1).to(table.dtype))

    def gather_sum(x):
        rows, w = hash_(x)
        g = table[rows]  # (N, K, d_out)
        return (g * w.unsqueeze(-1).to(g.dtype)).sum(1)
    return hash_, bag, gather_sum


def _blocks(torch, d, heads, dtype, device):
    """Pre-norm blocks as data/calibration/h200/h200_bench.py builds them (TBlock, MFBlock): sequential
    residuals, fused QKV with biases; every Memory Layer hashes its own input."""
    F, nn = torch.nn.functional, torch.nn
    kw = dict(device=device, dtype=dtype)

    def attn(q, k, v, b, s):
        q, k, v = (t.view(b, s, heads, d // heads).transpose(1, 2) for t in (q, k, v))
        return F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b * s, d)

    ln1, ln2 = nn.LayerNorm(d, **kw), nn.LayerNorm(d, **kw)
    qkv, o = nn.Linear(d, 3 * d, **kw), nn.Linear(d, d, **kw)
    fc1, fc2 = nn.Linear(d, 4 * d, **kw), nn.Linear(4 * d, d, **kw)

    def transformer(x):
        b, s, _ = x.shape
        x2 = x.view(b * s, d)
        q, k, v = qkv(ln1(x2)).split(d, -1)
        x2 = x2 + o(attn(q, k, v, b, s))
        return (x2 + fc2(F.gelu(fc1(ln2(x2))))).view(b, s, d)

    tau, e = 8, 2
    wide = (d // tau) * (tau + e)
    mq, mk, mv = (_memory(torch, d, d, tau, dtype, device)[1] for _ in range(3))
    m1 = _memory(torch, d, wide, tau, dtype, device)[1]
    m2 = _memory(torch, wide, d, tau + e, dtype, device)[1]
    lnm = nn.LayerNorm(wide, **kw)

    def memoryformer(x):
        b, s, _ = x.shape
        x2 = x.view(b * s, d)
        h = ln1(x2)
        x2 = x2 + attn(mq(h), mk(h), mv(h), b, s)
        return (x2 + m2(lnm(m1(ln2(x2))))).view(b, s, d)
    return transformer, memoryformer


def build(torch, case: Case, device: str, layers: dict | None = None):
    """The zero-argument call a case times. `layers` keeps the last Memory Layer built, for the next case
    of the same shape (only the last one: tables of d = 2048 take 512 MiB)."""
    r = case.row
    dtype = getattr(torch, {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}[r["dtype"]])
    impl = r["impl"].removesuffix("_graph")
    if r["kind"] == "layer":
        n, d = r["tokens"], r["d_in"]
        x = torch.randn(n, d, device=device).to(dtype)
        if impl == "linear":
            w = (torch.randn(d, d, device=device) * 0.02).to(dtype)
            return lambda: torch.nn.functional.linear(x, w)
        key = (d, r["d_out"], r["tau"], r["dtype"])
        if layers is None or key not in layers:
            made = _memory(torch, d, r["d_out"], r["tau"], dtype, device)
            if layers is None:
                layers = {}
            layers.clear()
            layers[key] = made
        hash_, bag, gather_sum = layers[key]
        fn = {"memory_hash_only": hash_, "memory_embedding_bag": bag, "memory_gather_sum": gather_sum}[impl]
        return lambda: fn(x)
    if r["kind"] == "op":
        b, h, s = r["batch"], r["heads"], r["seq"]
        q = torch.randn(b, h, s, r["d_in"] // h, device=device).to(dtype)
        return lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)
    transformer, memoryformer = _blocks(torch, r["d_in"], r["heads"], dtype, device)
    x = torch.randn(r["batch"], r["seq"], r["d_in"], device=device).to(dtype)
    fn = transformer if impl == "transformer" else memoryformer
    return lambda: fn(x)


def graphed(torch, fn):
    """fn captured in a CUDA graph (after warm-up on a side stream); returns the replay call."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return g.replay
