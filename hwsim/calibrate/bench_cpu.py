"""CPU side of calibrate: what the machine says about itself (sysfs, /proc), problem sizes, the
pointer chase, and the list of benchmark steps. torch is passed in, never imported here.
"""
from __future__ import annotations

import math
import os
import platform
import re
import subprocess
from pathlib import Path

from hwsim.calibrate import microbench as mb
from hwsim.calibrate.records import CacheLevel, Machine
from hwsim.config.units import fmt_bytes, fmt_time

SYSFS_CACHE = Path("/sys/devices/system/cpu/cpu0/cache")
CPUINFO = Path("/proc/cpuinfo")
MEMINFO = Path("/proc/meminfo")
MAX_FREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
# ISA extensions that decide the matrix rates a CPU can reach (kept in the info row)
RATE_FLAGS = ("fma", "avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16")
L1_LATENCY_CYCLES = 4  # load-to-use of an L1 hit on current x86 cores (Intel and AMD optimization manuals)
MiB = 2**20


def _size(text: str) -> int:
    """sysfs / lscpu sizes: "32K", "32768K", "1M", "64 KiB", "32 MiB" -> bytes."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMG]?)(i?B)?\s*", text)
    if not m:
        raise ValueError(f"cannot read cache size {text!r}")
    return int(float(m.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[m.group(2)])


def _cpu_count_in(cpu_list: str) -> int:
    n = 0
    for part in cpu_list.strip().split(","):
        if "-" in part:
            a, b = part.split("-")
            n += int(b) - int(a) + 1
        elif part:
            n += 1
    return max(1, n)


def caches_from_sysfs(root: Path, cores: int) -> tuple[tuple[CacheLevel, ...], int | None]:
    """Data and unified caches under `root` (cpu0's cache folder), biggest level first, each level's size
    summed over the instances the `cores` used share; and the cache line size."""
    levels, line = {}, None
    for d in sorted(root.glob("index*")):
        try:
            kind = (d / "type").read_text().strip()
            if kind == "Instruction":
                continue
            level = int((d / "level").read_text())
            size = _size((d / "size").read_text())
            shared = _cpu_count_in((d / "shared_cpu_list").read_text())
            line = line or int((d / "coherency_line_size").read_text())
        except (OSError, ValueError):
            continue
        name = f"L{level}D" if kind == "Data" else f"L{level}"
        levels[level] = CacheLevel(name, size * math.ceil(cores / shared), f"{root}/index* (size x instances)")
    return tuple(levels[k] for k in sorted(levels, reverse=True)), line


def caches_from_lscpu(text: str) -> tuple[CacheLevel, ...]:
    """lscpu's "L1d cache: 64 KiB (2 instances)" lines (totals over the instances), biggest level first."""
    levels = {}
    for m in re.finditer(r"^\s*L(\d)([di]?) cache:\s*([\d.]+\s*[KMG]i?B)", text, re.M):
        level, kind, size = int(m.group(1)), m.group(2), m.group(3)
        if kind == "i":
            continue
        levels[level] = CacheLevel(f"L{level}D" if kind == "d" else f"L{level}", _size(size), "lscpu")
    return tuple(levels[k] for k in sorted(levels, reverse=True))


def _cpuinfo_field(text: str, key: str) -> str | None:
    m = re.search(rf"^{key}\s*:\s*(.+)$", text, re.M)
    return m.group(1).strip() if m else None


def machine_info(torch) -> Machine:
    cores = torch.get_num_threads()
    caches, line = caches_from_sysfs(SYSFS_CACHE, cores)
    if not caches:
        try:
            caches = caches_from_lscpu(subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout)
        except (OSError, subprocess.SubprocessError):
            caches = ()
    if not caches:  # nothing to read: a common server-class hierarchy, said to be assumed
        caches = (CacheLevel("L3", 32 * MiB, "assumption (no sysfs or lscpu)"),
                  CacheLevel("L2", cores * MiB, "assumption (no sysfs or lscpu)"))
    info = CPUINFO.read_text() if CPUINFO.exists() else ""
    model = _cpuinfo_field(info, "model name") or platform.processor() or platform.machine()
    flags = tuple(f for f in (_cpuinfo_field(info, "flags") or "").split() if f in RATE_FLAGS)
    clock, clock_src = None, ""
    try:
        clock, clock_src = int(MAX_FREQ.read_text()) * 1e3, str(MAX_FREQ)
    except (OSError, ValueError):
        mhz = _cpuinfo_field(info, "cpu MHz")
        if mhz:
            clock, clock_src = float(mhz) * 1e6, f"{CPUINFO} (cpu MHz)"
    mem, mem_src = None, ""
    if MEMINFO.exists():
        m = re.search(r"^MemTotal:\s*(\d+)\s*kB", MEMINFO.read_text(), re.M)
        if m:
            mem, mem_src = int(m.group(1)) * 1024, f"{MEMINFO} (MemTotal)"
    if mem is None:
        mem, mem_src = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "sysconf(SC_PHYS_PAGES)"
    return Machine("cpu", model, cores, mem, mem_src, caches, line or 64,
                   f"{SYSFS_CACHE}/index0/coherency_line_size" if line else "assumption: 64 B (x86 and Arm)",
                   clock, clock_src, None, "", torch.__version__, flags)


def sizes(quick: bool, machine: Machine) -> mb.Sizes:
    """Tables and buffers several times the last-level cache (so random rows miss it), capped at 1 GiB
    each; weights of the skinny products at least twice it."""
    llc = machine.last_level_cache.size_bytes

    def beyond(mult, cap=1 << 30):
        return int(min(cap, max(64 * MiB, mult * llc)))

    d = 1024
    while d * d * 4 < 2 * llc and d < 8192:
        d *= 2
    if quick:
        return mb.Sizes(budget_s=0.15, gemm_sizes=(128, 256, 512, 1024, 2048), gemm_max_call_s=0.15,
                        copy_bytes=beyond(4, 256 * MiB), skinny_d=d, skinny_tokens=(1, 16, 256), skinny_dtype="fp32",
                        gather_table_bytes=beyond(8, 512 * MiB), gather_bytes=16 * MiB,
                        chase_bytes=beyond(8, 512 * MiB), chase_steps=100_000, sdpa=(1, 8, 512, 64), sdpa_dtype="fp32",
                        tiny_op_calls=200)
    return mb.Sizes(budget_s=0.5, gemm_sizes=(128, 256, 512, 1024, 2048, 4096), gemm_max_call_s=0.6,
                    copy_bytes=beyond(8, 512 * MiB), skinny_d=d, skinny_tokens=(1, 4, 16, 64, 256), skinny_dtype="fp32",
                    gather_table_bytes=beyond(16), gather_bytes=64 * MiB, chase_bytes=beyond(16),
                    chase_steps=300_000, sdpa=(1, 8, 1024, 64), sdpa_dtype="fp32", tiny_op_calls=500)


def chase_step_s(ctx: mb.Ctx, footprint: int, steps: int) -> float:
    """Seconds per step of i = next[i] over a random cycle through `footprint` bytes, one slot per cache
    line, walked by the Python interpreter (each step: a fixed interpreter cost plus one dependent read)."""
    torch = ctx.torch
    line = ctx.machine.line_bytes
    lines = max(2, footprint // line)
    chosen = torch.randperm(lines)[: min(lines, steps)]
    slots = chosen * (line // 8)
    chain = torch.zeros(lines * line // 8, dtype=torch.int64)
    chain[slots] = slots.roll(-1)  # chosen lines in random order: each step lands on another line and page
    view = memoryview(chain.numpy())
    start = int(slots[0])

    def walk():
        i = start
        for _ in range(steps):
            i = view[i]
        return i
    return ctx.time(walk) / steps


def pointer_chase(ctx: mb.Ctx):
    """Dependent-read latency of each level: the time per step of a chase through a footprint in that
    level, less the step through a footprint in L1 (the interpreter's share), plus an L1 hit."""
    s, m = ctx.sizes, ctx.machine
    l1_s = L1_LATENCY_CYCLES / m.clock_hz if m.clock_hz else 1.3e-9
    by_name = {c.name: c for c in m.caches}
    l1 = by_name.get("L1D")
    base_fp = (l1.size_bytes // max(1, m.cores)) // 2 if l1 else 16 * 1024
    base = chase_step_s(ctx, base_fp, s.chase_steps)
    out, prev = {}, l1_s
    levels = [(c.name, c.size_bytes // 2) for c in reversed(m.caches) if c.name != "L1D"]
    levels.append(("dram", s.chase_bytes))
    for name, fp in levels:
        t = chase_step_s(ctx, fp, s.chase_steps)
        lat = max(prev, l1_s + t - base)  # a farther level is never nearer than the one inside it
        prev = lat
        ctx.results.row(kind="micro", impl="pointer_chase", dtype="int64", tokens=s.chase_steps, time_us=t * 1e6,
                        extra=f"level={name};footprint={fp};ns_per_step={t * 1e9:.2f};base_ns={base * 1e9:.2f}")
        out[name] = ctx.results.add(f"latency.{name}", lat, "pointer_chase",
                                    f"pointer_chase over {fmt_bytes(fp, binary=True)}: {fmt_time(t)} per step less "
                                    f"{fmt_time(base)} in L1 plus an L1 hit ({fmt_time(l1_s)}) = {fmt_time(lat)}")
    return out


def steps(ctx: mb.Ctx) -> list[tuple[str, object]]:
    """(label, zero-argument function) per benchmark, in the order they run."""
    m = ctx.machine
    llc = m.last_level_cache
    out = [(f"matrix {dt}", lambda dt=dt: mb.matrix_peak(ctx, dt)) for dt in ("fp32", "bf16", "fp16")]
    out.append(("stream copy", lambda: mb.stream_copy(ctx)))
    out.append((f"{llc.name} read", lambda: mb.cache_read(ctx, llc.name, llc.size_bytes // 2)))
    l2 = next((c for c in m.caches if c.name == "L2"), None)
    if l2 is not None and l2 is not llc:
        out.append(("L2 read", lambda: mb.cache_read(ctx, "L2", l2.size_bytes // 2)))
    out.append(("skinny products", lambda: mb.skinny_products(ctx)))
    out.append(("random gathers", lambda: mb.random_gathers(
        ctx, lambda t, i, o: ctx.torch.index_select(t, 0, i, out=o), into=True)))
    out.append(("pointer chase", lambda: pointer_chase(ctx)))
    out.append(("tiny ops", lambda: mb.tiny_op_cost(ctx)))
    out.append(("special functions", lambda: mb.special_function_rate(ctx)))
    out.append(("attention", lambda: mb.attention_rate(ctx)))
    out.append(("embedding_bag", lambda: mb.embedding_bag_rate(ctx, 64 if ctx.sizes.budget_s < 0.3 else 256,
                                                                1024, 8, "fp32")))
    out.append(("MemoryLayer.forward", lambda: mb.memory_layer_wrapper(ctx, 1, 512, "fp32")))
    return out
