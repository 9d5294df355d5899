"""How calibrate times a call: the figure every measured row and preset number rests on.

CPU: the median of repeated wall-clock calls (time.perf_counter) after one warm-up call, as the
project's CPU rows were taken (calibration/cpu-2core/cpu_bench.py): warm caches, all cores.
CUDA: what triton.testing.do_bench does, in plain torch: CUDA events around each call, a 256 MiB
buffer zeroed before every repetition to flush L2 (so each figure is a cold-cache one, and
hwsim.validate gives eager rows the head start that flush kernel lends the host), after a warm-up.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

# triton.testing.do_bench's flush buffer; hwsim.validate.DO_BENCH_FLUSH_BYTES assumes this size
FLUSH_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Budget:
    """Seconds of repetitions per timed call, and the fewest repetitions whatever the time."""
    seconds: float
    min_reps: int = 3
    max_reps: int = 100_000


STATISTICS = ("median", "min")


class CpuTimer:
    """Wall-clock seconds of `fn()` over repeated calls (the first call is a warm-up): their median, or
    their minimum. The median is the project's CPU figure (data/calibration/cpu-2core); on a machine other
    processes share, most calls also wait for the scheduler, and the minimum is the call the machine ran
    alone (timeit's advice: higher values come from other processes, not from the code timed)."""

    method = "wall"

    def __init__(self, budget: Budget, statistic: str = "median"):
        if statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {', '.join(STATISTICS)}, given {statistic!r}")
        self.budget, self.statistic = budget, statistic

    def __call__(self, fn, budget: Budget | None = None) -> float:
        b = budget or self.budget
        fn()  # warm-up: first-touch page faults, allocator and thread-pool start
        times = []
        end = time.perf_counter() + b.seconds
        while (time.perf_counter() < end or len(times) < b.min_reps) and len(times) < b.max_reps:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times) if self.statistic == "min" else statistics.median(times)

    def synchronize(self) -> None:
        pass


class CudaTimer:
    """Median device seconds of `fn()` between CUDA events, L2 flushed before each repetition."""

    method = "wall"  # the events bracket the whole call, host launches included, as do_bench's do

    def __init__(self, torch, budget: Budget, warmup_s: float = 0.01):
        self.torch, self.budget, self.warmup_s = torch, budget, warmup_s
        self.flush_buffer = torch.empty(FLUSH_BYTES, dtype=torch.int8, device="cuda")

    def synchronize(self) -> None:
        self.torch.cuda.synchronize()

    def __call__(self, fn, budget: Budget | None = None, flush: bool = True) -> float:
        torch, b = self.torch, budget or self.budget
        fn()
        torch.cuda.synchronize()
        # estimate one call (with its flush) to size warm-up and repetitions, as do_bench does
        t0 = time.perf_counter()
        for _ in range(3):
            if flush:
                self.flush_buffer.zero_()
            fn()
        torch.cuda.synchronize()
        per_call = max((time.perf_counter() - t0) / 3, 1e-6)
        for _ in range(max(1, int(self.warmup_s / per_call))):
            fn()
        reps = int(min(b.max_reps, max(b.min_reps, b.seconds / per_call)))
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        for s, e in zip(starts, ends):
            if flush:
                self.flush_buffer.zero_()
            s.record()
            fn()
            e.record()
        torch.cuda.synchronize()
        return statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends)) * 1e-3
