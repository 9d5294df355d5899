"""Micro-benchmarks that run the same way on a CPU and a CUDA device (torch passed in, never imported
at module load). Each appends its rows to the run's measured.csv and returns the figure the preset
takes from it; bench_cpu and bench_cuda add what only their device can measure.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from hwsim.calibrate.records import Machine, Results
from hwsim.config.units import fmt_bandwidth, fmt_bytes, fmt_flop_rate, fmt_flops, fmt_time

TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
GATHER_ROW_BYTES = (64, 128, 256, 512, 1024, 2048, 4096, 8192)


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of one run (quick or full, per device): small enough for the time and memory
    limits, large enough that each figure is the level it is named for (tables beyond the last cache)."""
    budget_s: float                    # seconds of repetitions per timed call
    gemm_sizes: tuple[int, ...]        # square products tried in turn ...
    gemm_max_call_s: float             # ... until the next size would take longer than this per call
    copy_bytes: int                    # each of the two buffers of the streaming copy
    skinny_d: int                      # weight d x d of the skinny products
    skinny_tokens: tuple[int, ...]
    skinny_dtype: str
    gather_table_bytes: int
    gather_bytes: int                  # bytes of rows gathered per call
    chase_bytes: int                   # footprint of the pointer chase through memory
    chase_steps: int
    sdpa: tuple[int, int, int, int]    # batch, heads, seq, head_dim
    sdpa_dtype: str
    tiny_op_calls: int                 # tiny ops per timed sample (launch cost)


@dataclass
class Ctx:
    torch: object
    device: str
    timer: object
    sizes: Sizes
    results: Results
    machine: Machine

    def time(self, fn, warm: bool = False) -> float:
        """Median seconds of fn(); `warm` (CUDA) skips the L2 flush, for benchmarks of the cache itself."""
        if self.device == "cuda":
            return self.timer(fn, flush=not warm)
        return self.timer(fn)

    def dtype(self, name: str):
        return getattr(self.torch, TORCH_DTYPES[name])

    def sync(self) -> None:
        self.timer.synchronize()


def _gbps(nbytes: float, t: float) -> str:
    return f"GBps={nbytes / t / 1e9:.2f}"


def matrix_peak(ctx: Ctx, dtype: str):
    """Best rate of square products m x m x m over growing m; None if the device cannot run the dtype.
    Each product is F.linear(x, W) = x @ W^T, the call the models' layers make (on CPUs without bf16
    instructions PyTorch runs bf16 `a @ b` on a reference path ten times slower than linear's)."""
    torch, best = ctx.torch, None
    linear = torch.nn.functional.linear
    for m in ctx.sizes.gemm_sizes:
        try:
            a = torch.randn(m, m, device=ctx.device).to(ctx.dtype(dtype))
            b = torch.randn(m, m, device=ctx.device).to(ctx.dtype(dtype))
            t0 = time.perf_counter()
            linear(a, b)
            ctx.sync()
            first = time.perf_counter() - t0
        except (RuntimeError, TypeError, NotImplementedError):
            return None  # the dtype has no product kernel here: the preset leaves it out
        if first > ctx.sizes.gemm_max_call_s and best is not None:
            break  # an emulated dtype: one call already takes longer than a timed size may
        t = ctx.time(lambda: linear(a, b))
        flops = 2 * m ** 3
        ctx.results.row(kind="ceiling", impl="gemm_square", dtype=dtype, tokens=m, d_in=m, d_out=m, flops=flops,
                        time_us=t * 1e6, extra=f"TFLOPs={flops / t / 1e12:.4g};op=linear")
        if best is None or flops / t > best[0]:
            best = (flops / t, m, t)
        if 8 * t > ctx.sizes.gemm_max_call_s:  # the next size (2x) takes 8x as long
            break
    rate, m, t = best
    return ctx.results.add(f"matrix.{dtype}", rate, "gemm_square",
                           f"gemm_square {dtype} m={m}: {fmt_flops(2 * m ** 3)} in {fmt_time(t)} = "
                           f"{fmt_flop_rate(rate)} (best of m = {', '.join(map(str, _tried(ctx, dtype)))})")


def _tried(ctx, dtype):
    return [r["tokens"] for r in ctx.results.rows if r["impl"] == "gemm_square" and r["dtype"] == dtype]


def stream_copy(ctx: Ctx):
    """Copy between two buffers far beyond the last-level cache; bytes read + written counted."""
    torch = ctx.torch
    n = ctx.sizes.copy_bytes // 4
    a = torch.ones(n, device=ctx.device)
    b = torch.zeros(n, device=ctx.device)
    t = ctx.time(lambda: b.copy_(a))
    moved = 2 * n * 4
    ctx.results.row(kind="ceiling", impl="d2d_copy", dtype="fp32", bytes_moved=moved, time_us=t * 1e6,
                    extra=_gbps(moved, t))
    ctx.results.add("dram.copy", moved / t, "d2d_copy",
                    f"d2d_copy of {fmt_bytes(n * 4, binary=True)} fp32: {fmt_bytes(moved)} read + written in "
                    f"{fmt_time(t)} = {fmt_bandwidth(moved / t)}")
    # reading alone (a sum): no write-allocate or write traffic; what skinny products stream weights at
    t = ctx.time(lambda: a.sum())
    ctx.results.row(kind="micro", impl="stream_read", dtype="fp32", bytes_moved=n * 4, time_us=t * 1e6,
                    extra=_gbps(n * 4, t) + ";op=sum")
    ctx.results.add("dram.read", n * 4 / t, "stream_read",
                    f"stream_read (sum of {fmt_bytes(n * 4, binary=True)} fp32) = {fmt_bandwidth(n * 4 / t)}")


def cache_read(ctx: Ctx, level: str, working_set: int):
    """Sum over a buffer of `working_set` bytes (half the level), repeated warm: the rate the level
    serves reads at, which is what the engine asks of it (product tiles re-read, gathered rows that hit)."""
    torch = ctx.torch
    n = max(1024, working_set // 4)
    a = torch.ones(n, device=ctx.device)
    if ctx.device == "cuda":
        # one L2-sized read takes a few microseconds, less than launching it: replay 20 from a graph so
        # that the device, not the host, sets the pace
        from hwsim.calibrate.validation_set import graphed

        reps = 20

        def reads():
            for _ in range(reps):
                a.sum()
        t = ctx.time(graphed(torch, reads), warm=True) / reps
    else:
        t = ctx.time(lambda: a.sum(), warm=True)
    moved = n * 4
    ctx.results.row(kind="micro", impl="cache_read", dtype="fp32", bytes_moved=moved, time_us=t * 1e6,
                    extra=f"{_gbps(moved, t)};level={level};working_set={moved};op=sum")
    return ctx.results.add(f"cache.{level}.bandwidth", moved / t, "cache_read",
                           f"cache_read {level} (sum of {fmt_bytes(moved, binary=True)}, warm): "
                           f"{fmt_bytes(moved)} in {fmt_time(t)} = {fmt_bandwidth(moved / t)}")


def skinny_products(ctx: Ctx):
    """x[tokens, d] @ W^T with a d x d weight beyond the last-level cache: the rate weights stream at."""
    torch, s = ctx.torch, ctx.sizes
    dt = ctx.dtype(s.skinny_dtype)
    w = (torch.randn(s.skinny_d, s.skinny_d, device=ctx.device) * 0.02).to(dt)
    wbytes = w.numel() * w.element_size()
    parts = []
    for n in s.skinny_tokens:
        x = torch.randn(n, s.skinny_d, device=ctx.device).to(dt)
        t = ctx.time(lambda: torch.nn.functional.linear(x, w))
        ctx.results.row(kind="micro", impl="linear_stream", dtype=s.skinny_dtype, tokens=n, d_in=s.skinny_d,
                        d_out=s.skinny_d, flops=2 * n * s.skinny_d ** 2, bytes_moved=wbytes, time_us=t * 1e6,
                        extra=_gbps(wbytes, t))
        ctx.results.add(f"skinny.{n}", wbytes / t, "linear_stream",
                        f"linear_stream {s.skinny_dtype} tokens={n}: {fmt_bytes(wbytes, binary=True)} of weights in "
                        f"{fmt_time(t)} = {fmt_bandwidth(wbytes / t)}")
        parts.append(f"{n}: {fmt_bandwidth(wbytes / t)}")
    return parts


def random_gathers(ctx: Ctx, gather, into: bool = False):
    """Rows picked at random from a table far beyond the last-level cache, for row sizes 64 B to 8 KiB.
    gather(table, idx) is the device's row-gather op (CPU index_select, CUDA table[idx]); into: gather(table,
    idx, out) writes into one output buffer per row size instead (CPU: an output of 32 MiB or more is a fresh
    mmap on every call, whose page faults, not the memory, would set the time)."""
    torch, s = ctx.torch, ctx.sizes
    buf = torch.ones(s.gather_table_bytes // 2, dtype=torch.bfloat16, device=ctx.device)
    op = "index_select" if ctx.device == "cpu" else "getitem"
    for rb in GATHER_ROW_BYTES:
        width = rb // 2
        rows = s.gather_table_bytes // rb
        table = buf.view(rows, width)
        n = max(1, s.gather_bytes // rb)
        idx = torch.randint(0, rows, (n,), device=ctx.device)
        if into:
            out = torch.empty(n, width, dtype=buf.dtype, device=ctx.device)
            t = ctx.time(lambda: gather(table, idx, out))
        else:
            t = ctx.time(lambda: gather(table, idx))
        moved = n * rb
        ctx.results.row(kind="ceiling", impl="random_row_gather", dtype="bf16", tokens=n, d_out=width,
                        bytes_moved=moved, time_us=t * 1e6,
                        extra=f"row_bytes={rb};table_bytes={s.gather_table_bytes};{_gbps(moved, t)};op={op}")
        ctx.results.add(f"gather.{rb}", moved / t, "random_row_gather",
                        f"{fmt_bandwidth(moved / t)}: {n} rows of {rb} B from a {fmt_bytes(s.gather_table_bytes, True)} "
                        f"table in {fmt_time(t)}")
    del buf


def special_function_rate(ctx: Ctx, elements: int = 1 << 16):
    """Transcendental evaluations per second: torch.exp over fp32 elements that stay in the caches (256 KiB
    by default), so that the polynomial each evaluation runs, not memory, sets the time. The engines charge
    each exp, log or erf of an elementwise kernel at this rate (compute.vector.special_function)."""
    torch = ctx.torch
    x = torch.randn(elements, device=ctx.device)
    t = ctx.time(lambda: torch.exp(x))
    ctx.results.row(kind="micro", impl="special_function_exp", dtype="fp32", tokens=elements, d_in=1,
                    time_us=t * 1e6, extra=f"evaluations_per_s={elements / t:.4g}")
    return ctx.results.add("special_function", elements / t, "special_function_exp",
                           f"special_function_exp: torch.exp of {elements} fp32 values "
                           f"({fmt_bytes(4 * elements, True)}, cached) in {fmt_time(t)}")


def attention_rate(ctx: Ctx):
    """Causal scaled_dot_product_attention: FLOPs done (the causal half of the dense count) per second."""
    torch, s = ctx.torch, ctx.sizes
    b, h, seq, dh = s.sdpa
    q = torch.randn(b, h, seq, dh, device=ctx.device).to(ctx.dtype(s.sdpa_dtype))
    t = ctx.time(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True))
    dense = 4 * b * seq * seq * h * dh
    ctx.results.row(kind="micro", impl="sdpa_causal", dtype=s.sdpa_dtype, tokens=b * seq, seq=seq, batch=b, heads=h,
                    d_in=h * dh, flops=dense // 2, time_us=t * 1e6, extra=f"TFLOPs={dense / 2 / t / 1e12:.4g}")
    return ctx.results.add("attention", dense / 2 / t, "sdpa_causal",
                           f"sdpa_causal {s.sdpa_dtype} batch={b} heads={h} seq={seq} head_dim={dh}: "
                           f"{fmt_flops(dense / 2)} (causal half) in {fmt_time(t)} = {fmt_flop_rate(dense / 2 / t)}")


def tiny_op_cost(ctx: Ctx):
    """Wall time per op of a model-like mix of small ops issued back to back (64 elements: no work to
    speak of), `tiny_op_calls` passes per sample: what issuing one op costs the host. The mix has two
    dozen different ops on a 3-D tensor (broadcasts, casts, reductions along a dim, as model code
    issues them), not a short loop of a few: each op runs its own dispatch and kernel-selection code,
    and a short loop keeps all of it in the instruction cache and branch predictors, which a forward
    pass of many different ops does not (on the machines we tried, 8 ops in turn cost about half as
    much per op as 24). The short loop's figure is kept for the record."""
    torch, calls = ctx.torch, ctx.sizes.tiny_op_calls
    z = torch.randn(2, 4, 8, device=ctx.device)
    mixes = {"model_mix": _model_mix(torch, z), "short_loop": _short_loop(torch, z.reshape(-1)[:8])}
    per_op = {}
    for name, ops in mixes.items():
        def loop(ops=ops):
            for _ in range(calls):
                for op in ops:
                    op()
            ctx.sync()
        n = calls * len(ops)
        # on CUDA the host's time per launch (events would see the device); on a CPU the two are one
        per_op[name] = (_wall_median(ctx, loop) if ctx.device == "cuda" else ctx.time(loop)) / n
        ctx.results.row(kind="micro", impl="tiny_op" if name == "model_mix" else "tiny_op_short_loop", dtype="fp32",
                        tokens=n, d_in=z.numel() if name == "model_mix" else 8, time_us=per_op[name] * 1e6,
                        extra=f"ops={len(ops)} different;per_op_us")
    t, short = per_op["model_mix"], per_op["short_loop"]
    return ctx.results.add("launch.tiny_op", t, "tiny_op",
                           f"tiny_op: {calls * len(mixes['model_mix'])} ops ({len(mixes['model_mix'])} different "
                           f"ops in turn, as a forward pass issues them) at {fmt_time(t)} each (a loop of "
                           f"{len(mixes['short_loop'])} ops: {fmt_time(short)} each)")


def _model_mix(torch, z):
    """Two dozen different small ops of the kinds model code issues: elementwise with broadcasts and
    scalars, transcendental, comparisons, casts, reductions along the last dim, arange, cat, where,
    a transposed copy."""
    v, i = z[0, 0].clone(), torch.arange(8, device=z.device)
    F = torch.nn.functional
    return [lambda: z + v, lambda: z * 2.0, lambda: z.abs(), lambda: z.exp(), lambda: z >= 0,
            lambda: z.to(torch.int64), lambda: z.sum(-1), lambda: torch.arange(8, device=z.device),
            lambda: z / 3.0, lambda: z - v, lambda: torch.sigmoid(z), lambda: torch.tanh(z), lambda: z.neg(),
            lambda: z.amax(-1), lambda: z.mean(-1), lambda: torch.where(z > 0, z, v), lambda: z.clamp(0, 1),
            lambda: torch.cat([z, z], -1), lambda: z.transpose(1, 2).contiguous(), lambda: z.sqrt(),
            lambda: F.gelu(z), lambda: F.logsigmoid(z), lambda: i * i, lambda: z.to(torch.float16)]


def _short_loop(torch, x):
    """The few ops a short loop repeats (for the record: the best case of a warm instruction cache)."""
    return [lambda: x + x, lambda: x * 2.0, lambda: x.abs(), lambda: x.exp(), lambda: x > 0,
            lambda: x.to(torch.int64), lambda: x.sum(-1), lambda: torch.arange(8, device=x.device)]


def _wall_median(ctx: Ctx, fn, reps: int = 7) -> float:
    import statistics

    fn()
    times = []
    for _ in range(reps):
        ctx.sync()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def embedding_bag_rate(ctx: Ctx, tokens: int, d: int, tau: int, dtype: str):
    """F.embedding_bag alone (sum with per-sample weights) over K = d / tau tables of 2^tau rows: rows
    gathered per second by the Memory Layer's lookup kernel, for the record (the preset uses the plain
    gathers above, so that Memory Layer rows stay a check)."""
    torch = ctx.torch
    k = d // tau
    table = (torch.randn(k * 2 ** tau, d, device=ctx.device) * 0.02).to(ctx.dtype(dtype))
    idx = (torch.randint(0, 2 ** tau, (tokens, k), device=ctx.device)
           + torch.arange(k, device=ctx.device) * 2 ** tau).reshape(-1)
    w = torch.rand(tokens * k, device=ctx.device).to(table.dtype)
    offsets = torch.arange(tokens, device=ctx.device) * k
    t = ctx.time(lambda: torch.nn.functional.embedding_bag(idx, table, offsets, mode="sum", per_sample_weights=w))
    moved = tokens * k * d * table.element_size()
    table_bytes = table.numel() * table.element_size()
    ctx.results.row(kind="micro", impl="embedding_bag", dtype=dtype, tokens=tokens, d_in=d, d_out=d, tau=tau, K=k,
                    bytes_moved=moved, time_us=t * 1e6, extra=f"{_gbps(moved, t)};table_bytes={table_bytes}")
    return ctx.results.add("embedding_bag", moved / t, "embedding_bag",
                           f"embedding_bag {dtype} tokens={tokens} d={d} tau={tau}: {fmt_bytes(moved)} of rows from "
                           f"{fmt_bytes(table_bytes, True)} of tables in {fmt_time(t)} = {fmt_bandwidth(moved / t)}")


def memory_layer_wrapper(ctx: Ctx, tokens: int, d: int, dtype: str):
    """models.MemoryLayer.forward (its hash and lookup as registered custom ops) against the same kernels
    called directly: what the custom-op wrapper adds per call, host software the preset does not describe
    (the validation rows call the kernels directly, as the h200 and cpu-2core scripts do)."""
    from hwsim.calibrate.validation_set import memory_kernels
    from models import MemoryLayer

    torch = ctx.torch
    layer = MemoryLayer(d, d, 8, device=ctx.device, dtype=ctx.dtype(dtype))
    x = torch.randn(tokens, d, device=ctx.device).to(ctx.dtype(dtype))
    _, bag, _ = memory_kernels(torch, layer)
    t_module = ctx.time(lambda: layer(x))
    t_kernels = ctx.time(lambda: bag(x))
    for impl, t in (("memory_layer_forward", t_module), ("memory_layer_kernels", t_kernels)):
        ctx.results.row(kind="micro", impl=impl, dtype=dtype, tokens=tokens, d_in=d, d_out=d, tau=8, K=d // 8,
                        time_us=t * 1e6)
    return ctx.results.add("memory_layer.wrapper", t_module - t_kernels, "memory_layer_forward",
                           f"models.MemoryLayer.forward {fmt_time(t_module)} vs its kernels called directly "
                           f"{fmt_time(t_kernels)} ({dtype}, tokens={tokens}, d={d})")
