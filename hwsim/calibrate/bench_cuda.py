"""CUDA side of calibrate: what torch reports about the GPU, problem sizes, the pointer chase (a
one-thread Triton kernel when Triton is importable; without it the latencies stay the stock ones),
launch costs (eager, launch latency, graph replay, shortest kernel) and the benchmark steps.
torch is passed in, never imported here.
"""
from __future__ import annotations

import statistics

from hwsim.calibrate import microbench as mb
from hwsim.calibrate.records import CacheLevel, Machine
from hwsim.config.units import fmt_bytes, fmt_time

MiB, GiB = 2**20, 2**30
PROPS = "torch.cuda.get_device_properties"
TINY_GRAPH_KERNELS = 100


def machine_info(torch) -> Machine:
    p = torch.cuda.get_device_properties(torch.cuda.current_device())
    l2 = int(getattr(p, "L2_cache_size", 0) or 0)
    cache = CacheLevel("L2", l2, f"{PROPS} (L2_cache_size)") if l2 else \
        CacheLevel("L2", 50 * MiB, "assumption: torch reports no L2 size")
    per_sm = getattr(p, "max_threads_per_multi_processor", 2048)
    return Machine("cuda", p.name, p.multi_processor_count, p.total_memory, f"{PROPS} (total_memory)", (cache,),
                   32, "assumption: the 32 B L2 sector, the smallest unit NVIDIA GPUs move to or from DRAM",
                   None, "", per_sm * p.multi_processor_count,
                   f"{per_sm} resident threads per SM x {p.multi_processor_count} SMs ({PROPS})", torch.__version__)


def sizes(quick: bool, machine: Machine) -> mb.Sizes:
    if quick:
        return mb.Sizes(budget_s=0.04, gemm_sizes=(2048, 4096, 8192), gemm_max_call_s=0.05, copy_bytes=512 * MiB,
                        skinny_d=8192, skinny_tokens=(1, 16, 256), skinny_dtype="bf16", gather_table_bytes=2 * GiB,
                        gather_bytes=128 * MiB, chase_bytes=2 * GiB, chase_steps=50_000, sdpa=(4, 16, 2048, 64),
                        sdpa_dtype="bf16", tiny_op_calls=500)
    return mb.Sizes(budget_s=0.1, gemm_sizes=(2048, 4096, 8192, 16384), gemm_max_call_s=0.1, copy_bytes=GiB,
                    skinny_d=8192, skinny_tokens=(1, 4, 16, 64, 256), skinny_dtype="bf16", gather_table_bytes=4 * GiB,
                    gather_bytes=128 * MiB, chase_bytes=4 * GiB, chase_steps=200_000, sdpa=(4, 16, 2048, 64),
                    sdpa_dtype="bf16", tiny_op_calls=2000)


def _idle_median_s(torch, fn, reps: int = 30) -> float:
    """Device time between events around fn() on an idle GPU (synchronised before and after each call),
    so that host launch work and the launch's trip to the device are inside the figure."""
    times = []
    fn()
    for _ in range(reps):
        torch.cuda.synchronize()
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e) * 1e-3)
    return statistics.median(times)


def _chase_kernel():
    import triton
    import triton.language as tl

    @triton.jit
    def chase(next_ptr, start_ptr, out_ptr, steps):
        i = tl.load(start_ptr)
        for _ in range(steps):
            i = tl.load(next_ptr + i)  # the next address is the value just read: one read in flight
        tl.store(out_ptr, i)
    return chase


def pointer_chase(ctx: mb.Ctx):
    """One GPU thread walking a random cycle: seconds per dependent read, in L2 (footprint half of it,
    warm) and in DRAM (footprint far beyond L2)."""
    try:
        kernel = _chase_kernel()
    except ImportError:
        return None  # no Triton: the writer keeps the stock latencies and says so
    torch, s, m = ctx.torch, ctx.sizes, ctx.machine
    out = {}
    l2 = m.last_level_cache
    for name, fp, warm in ((l2.name, l2.size_bytes // 2, True), ("dram", s.chase_bytes, False)):
        slot = 128 // 8  # one slot per 128 B line
        lines = fp // 128
        chosen = torch.randperm(lines, device="cuda")[: min(lines, s.chase_steps)]
        slots = chosen * slot
        chain = torch.zeros(lines * slot, dtype=torch.int64, device="cuda")
        chain[slots] = slots.roll(-1)
        start = slots[:1].clone()
        res = torch.empty(1, dtype=torch.int64, device="cuda")
        steps = s.chase_steps
        t = ctx.time(lambda: kernel[(1,)](chain, start, res, steps, num_warps=1), warm=warm)
        lat = t / steps
        ctx.results.row(kind="micro", impl="pointer_chase", dtype="int64", tokens=steps, time_us=t * 1e6,
                        extra=f"level={name};footprint={fp};ns_per_step={lat * 1e9:.2f};op=triton")
        out[name] = ctx.results.add(f"latency.{name}", lat, "pointer_chase",
                                    f"pointer_chase (one Triton thread) over {fmt_bytes(fp, binary=True)}: "
                                    f"{steps} dependent reads in {fmt_time(t)} = {fmt_time(lat)} each")
        del chain, chosen, slots
    return out


def launch_costs(ctx: mb.Ctx):
    """Shortest kernel (profiler), launch latency (one tiny op timed as the rows are, less the kernel),
    graph replay cost per kernel and per graph (graphs of 1 and 100 tiny kernels on an idle GPU)."""
    torch = ctx.torch
    x = torch.zeros(1, device="cuda")
    kernel = _min_kernel_s(torch, x)
    if kernel is not None:
        ctx.results.row(kind="micro", impl="min_kernel", dtype="fp32", tokens=1, time_us=kernel * 1e6,
                        extra="op=add_;source=torch.profiler")
        ctx.results.add("launch.min_kernel", kernel, "min_kernel",
                        f"min_kernel: torch.profiler device time of a 1-element add_ = {fmt_time(kernel)}")
    k = kernel if kernel is not None else 1e-6
    # timed as the rows are (L2 flush before, events around): the host has queued the launch while the
    # flush ran, so what is left is the launch's trip to the device and the kernel
    one = ctx.time(lambda: x.add_(1))
    latency = one - k
    ctx.results.row(kind="micro", impl="launch_latency", dtype="fp32", tokens=1, time_us=t_us(one),
                    extra=f"kernel_us={k * 1e6:.2f};timing=flush+events")
    ctx.results.add("launch.latency", latency, "launch_latency",
                    f"launch_latency: one add_ timed as the rows are (flush, events) {fmt_time(one)}, less the "
                    f"kernel {fmt_time(k)}")
    graphs = {}
    for count in (1, TINY_GRAPH_KERNELS):
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            x.add_(1)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(count):
                x.add_(1)
        graphs[count] = (g, _idle_median_s(torch, g.replay))
    t1, tn = graphs[1][1], graphs[TINY_GRAPH_KERNELS][1]
    per_kernel = (tn - t1) / (TINY_GRAPH_KERNELS - 1)
    for count, (_, t) in graphs.items():
        ctx.results.row(kind="micro", impl="graph_replay", dtype="fp32", tokens=count, time_us=t * 1e6,
                        extra=f"kernels={count};op=add_")
    ctx.results.add("launch.graph_kernel", per_kernel, "graph_replay",
                    f"graph_replay of {TINY_GRAPH_KERNELS} vs 1 tiny kernels: {fmt_time(tn)} vs {fmt_time(t1)} = "
                    f"{fmt_time(per_kernel)} per kernel")
    ctx.results.add("launch.graph", t1 - per_kernel, "graph_replay",
                    f"graph_replay of 1 tiny kernel {fmt_time(t1)} on an idle GPU, less one kernel's "
                    f"{fmt_time(per_kernel)}")


def t_us(seconds: float) -> float:
    return seconds * 1e6


def _min_kernel_s(torch, x) -> float | None:
    """Median device duration of a 1-element add_ as the profiler (CUPTI) reports it; None without it."""
    try:
        from torch.autograd import DeviceType
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(50):
                x.add_(1)
            torch.cuda.synchronize()
        durs = [e.time_range.elapsed_us() for e in prof.events() if e.device_type == DeviceType.CUDA]
        return statistics.median(durs) * 1e-6 if durs else None
    except Exception:  # noqa: BLE001 - a profiler that cannot start leaves the stock figure in place
        return None


def steps(ctx: mb.Ctx) -> list[tuple[str, object]]:
    m = ctx.machine
    l2 = m.last_level_cache
    out = [(f"matrix {dt}", lambda dt=dt: mb.matrix_peak(ctx, dt)) for dt in ("bf16", "fp16", "fp32")]
    out.append(("stream copy", lambda: mb.stream_copy(ctx)))
    out.append((f"{l2.name} read", lambda: mb.cache_read(ctx, l2.name, l2.size_bytes // 2)))
    out.append(("skinny products", lambda: mb.skinny_products(ctx)))
    out.append(("random gathers", lambda: mb.random_gathers(ctx, lambda t, i: t[i])))
    out.append(("pointer chase", lambda: pointer_chase(ctx)))
    out.append(("tiny ops", lambda: mb.tiny_op_cost(ctx)))
    out.append(("launch costs", lambda: launch_costs(ctx)))
    out.append(("attention", lambda: mb.attention_rate(ctx)))
    out.append(("embedding_bag", lambda: mb.embedding_bag_rate(ctx, 2048, 2048, 8, "bf16")))
    out.append(("MemoryLayer.forward", lambda: mb.memory_layer_wrapper(ctx, 1, 512, "bf16")))
    return out
