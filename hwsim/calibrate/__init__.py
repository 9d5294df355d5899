"""`hwsim calibrate`: micro-benchmarks on this machine -> a preset of it, measured rows, and a check.

calibrate(device, name, out, quick) runs the benchmarks with torch (imported here, inside the
function: hwsim never imports torch at module load), writes DIR/NAME.yaml (loads with
hwsim.load_accelerator; every measured number commented with the benchmark that gave it),
DIR/measured.csv (the benchmark rows and a validation set, measured-CSV schema) and
DIR/validation.csv (hwsim.validate of the new preset on every row). All three are written into a
temporary folder first and moved into DIR only when everything succeeded: a failure or Ctrl-C
leaves no partial preset or CSV.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from hwsim.calibrate.records import FIELDS, VALIDATION_KINDS, Results, best_of
from hwsim.io.progress import progress_bar

__all__ = ["calibrate", "Calibration", "check_args", "DEVICES", "run_benchmarks"]

DEVICES = ("cpu", "cuda")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# the longest single call a validation case may take (estimated from its products and the measured
# rate), so that a dtype the device emulates slowly (bf16 on CPUs without bf16 instructions) cannot
# blow the time limit
MAX_CASE_S = {True: 0.3, False: 2.0}
# Every benchmark and validation case runs this many times over (rounds spread over the run), and each
# figure and row is the best of them: on a cloud VM the machine's speed drifts by tens of percent over
# seconds as other tenants load its memory system (two idle runs here measured the same fp32 product at
# 3.0 and 6.4 ms), and a preset taken in a fast phase validated in a slow one misses by that drift.
DEFAULT_ROUNDS = 3
MAX_ROUNDS = 20


@dataclass(frozen=True)
class Calibration:
    preset: Path
    measured: Path
    validation: Path
    summary: dict            # hwsim.validate summary of the validation rows
    ceiling_summary: dict    # ... and of the ceiling rows (the preset's own benchmarks)
    by_impl: object          # DataFrame: rows, median and worst error per (kind, impl)
    figures: dict
    machine: object
    skipped: tuple[str, ...]
    wall_s: float
    load_average: float | None = None  # 1-minute load average at the end (CPU runs): other processes' share
    statistic: str = "median"


def check_args(device: str, name: str, out, statistic: str = "median", threads: int | None = None,
               rounds: int = 1) -> Path:
    """Raise ValueError (one line naming the argument) for input calibrate cannot use."""
    from hwsim.calibrate.timing import STATISTICS

    if device not in DEVICES:
        raise ValueError(f"--device: expected one of {', '.join(DEVICES)}, given {device!r}")
    if statistic not in STATISTICS:
        raise ValueError(f"--statistic: expected one of {', '.join(STATISTICS)}, given {statistic!r}")
    if threads is not None and (device != "cpu" or not isinstance(threads, int) or not 1 <= threads <= _cores()):
        raise ValueError(f"--threads: expected a whole number from 1 to {_cores()} (this machine's cores), with "
                         f"--device cpu only, given {threads!r}" + ("" if device == "cpu" else f" with --device {device}"))
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 1 <= rounds <= MAX_ROUNDS:
        raise ValueError(f"--rounds: expected a whole number from 1 to {MAX_ROUNDS}, given {rounds!r}")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name.lower().endswith((".yaml", ".yml")):
        raise ValueError(f"--name: expected a file stem of letters, digits, '.', '_' or '-' (at most 64, starting "
                         f"with a letter or digit, no .yaml), given {name!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: expected a directory, given an existing file {out}")
    base = _nearest_existing(out)
    if not base.is_dir():
        raise ValueError(f"--out: cannot create {out}: {base} is a file, not a directory")
    return out


def _cores() -> int:
    return (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()) or 1


def _nearest_existing(p: Path) -> Path:
    p = p.absolute()
    while not p.exists():
        p = p.parent
    return p


def _staging(out: Path) -> Path:
    """A temporary folder on DIR's file system (in DIR, or in its nearest existing parent)."""
    base = _nearest_existing(out)
    try:
        return Path(tempfile.mkdtemp(prefix=".hwsim-calibrate-", dir=base))
    except OSError as e:
        raise ValueError(f"--out: cannot write in {base} ({e.strerror})") from None


def _cuda_check(torch) -> None:
    if not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device: torch.cuda.is_available() is False")


def run_benchmarks(torch, device: str, quick: bool, progress: bool = True, statistic: str = "median",
                   threads: int | None = None, rounds: int = 1):
    """Benchmarks, then the validation set, `rounds` times over, with one progress bar -> (Results, Machine,
    skipped cases): every figure and row the best of the rounds (records.best_of)."""
    from hwsim.calibrate import microbench as mb
    from hwsim.calibrate import timing, validation_set

    callers_threads = torch.get_num_threads()
    if device == "cuda":
        from hwsim.calibrate import bench_cuda as bench
    else:
        from hwsim.calibrate import bench_cpu as bench
        torch.set_num_threads(threads or _cores())  # every core unless told otherwise
    machine = bench.machine_info(torch)
    sizes = bench.sizes(quick, machine)
    budget = timing.Budget(sizes.budget_s)
    timer = timing.CudaTimer(torch, budget) if device == "cuda" else timing.CpuTimer(budget, statistic)
    info = json.dumps(
        {"device": machine.model, "threads" if device == "cpu" else "sms": machine.cores,
         "torch": machine.torch_version, "flags": list(machine.flags), "quick": quick, "rounds": rounds,
         "timing": (f"{statistic} wall-clock, warm" if device == "cpu" else "CUDA events, L2 flushed (do_bench)")
         + (f", best of {rounds} rounds" if rounds > 1 else "")})
    n_steps = len(bench.steps(mb.Ctx(torch, device, timer, sizes, Results(), machine)))
    cases = validation_set.cases(device, quick, ("fp32", "bf16", "fp16"))
    skipped = []
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 products on the fp32 pipeline, as the stock rows
    bar = progress_bar(rounds * (n_steps + len(cases)), "calibrate", enabled=progress, unit="bench", delay_s=0.0)
    layers = {}  # the last Memory Layer built, reused by the cases of the same shape (big tables take seconds)
    done = []
    try:
        with torch.no_grad():
            for r in range(rounds):
                results = Results()
                results.row(kind="info", extra=info)
                ctx = mb.Ctx(torch, device, timer, sizes, results, machine)
                skipped = _one_round(torch, device, quick, ctx, bench.steps(ctx), bar, layers,
                                     f"round {r + 1}/{rounds} " if rounds > 1 else "", r, rounds, n_steps)
                done.append(results)
    except BaseException:
        bar.close(interrupted=True)
        raise
    else:
        bar.close()
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.set_num_threads(callers_threads)  # the caller's setting back (calibrate may run inside a notebook)
    return best_of(done), machine, tuple(skipped)


def _one_round(torch, device, quick, ctx, steps, bar, layers, label, r, rounds, n_steps) -> list[str]:
    """The benchmarks, then the validation cases the measured rates allow, into ctx.results; the skipped cases."""
    from hwsim.calibrate import validation_set

    results, skipped = ctx.results, []
    for label_, fn in steps:
        bar.describe(label + label_)
        fn()
        bar.advance()
    measured = tuple(dt for dt in ("fp32", "bf16", "fp16") if f"matrix.{dt}" in results.figures)
    todo = validation_set.cases(device, quick, measured)
    if r == 0:
        bar.set_total(rounds * (n_steps + len(todo)))
    for case in todo:
        row = case.row
        bar.describe(f"{label}{row['impl']} {row['dtype']} {row.get('tokens', '')}")
        rate = results.figures.get(f"matrix.{row['dtype']}")
        if rate and case.matrix_flops / rate.value > MAX_CASE_S[quick]:
            skipped.append(f"{row['kind']} {row['impl']} {row['dtype']} tokens={row['tokens']} d={row['d_in']}: would "
                           f"take ~{case.matrix_flops / rate.value:.1f} s a call at the measured "
                           f"{row['dtype']} rate")
        else:
            fn = validation_set.build(torch, case, device, layers)
            if case.graph:
                fn = validation_set.graphed(torch, fn)
            t = ctx.time(fn)
            results.row(**row, time_us=t * 1e6)
        bar.advance()
    return skipped


def calibrate(device: str, name: str, out, quick: bool = False, progress: bool = True,
              statistic: str = "median", threads: int | None = None, rounds: int = DEFAULT_ROUNDS) -> Calibration:
    """Benchmark this machine's `device`, write DIR/NAME.yaml, DIR/measured.csv and DIR/validation.csv.
    statistic (CPU): "median" of the repeated calls, or "min" on a machine other processes share.
    threads (CPU): torch threads to calibrate with; default every core. rounds: the benchmarks and the
    validation cases run this many times over, each figure and row the best of them."""
    import pandas as pd

    from hwsim.calibrate.preset_writer import STOCK, preset_text
    from hwsim.config import load_accelerator
    from hwsim.validate import summarize, validate

    t0 = time.perf_counter()
    out = check_args(device, name, out, statistic, threads, rounds)
    import torch

    if device == "cuda":
        _cuda_check(torch)
    stage = _staging(out)
    try:
        results, machine, skipped = run_benchmarks(torch, device, quick, progress, statistic, threads, rounds)
        stock = load_accelerator(STOCK[device])
        date = datetime.date.today().isoformat()
        preset = stage / f"{name}.yaml"
        timing_note = ("" if device == "cuda" or statistic == "median" else " --statistic min") + \
            (f" --threads {threads}" if threads else "")
        preset.write_text(preset_text(name, machine, results.figures, stock, quick, date, timing_note),
                          encoding="utf-8")
        accel = load_accelerator(preset)
        measured = pd.DataFrame(results.rows, columns=list(FIELDS))
        measured.to_csv(stage / "measured.csv", index=False)
        # validate reads the CSV as a user's `hwsim validate` would: empty cells as NaN
        table = pd.read_csv(stage / "measured.csv")
        df, _ = validate(table, accel)
        df.to_csv(stage / "validation.csv", index=False)
        summary = summarize(df[df["kind"].isin(VALIDATION_KINDS)])
        ceiling = summarize(df[df["kind"] == "ceiling"])
        shown = df[df["kind"].isin(VALIDATION_KINDS + ("ceiling",))]
        err = shown["error_pct"]
        by_impl = shown.assign(abs_error_pct=err.abs()).groupby(["kind", "impl", "dtype"], sort=False).agg(
            rows=("abs_error_pct", "size"), median_abs_error_pct=("abs_error_pct", "median"),
            worst_pct=("error_pct", lambda e: e.loc[e.abs().idxmax()] if e.notna().any() else float("nan")))
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        try:
            for f in ("measured.csv", "validation.csv", preset.name):  # the preset last: its presence means done
                target = out / f
                shutil.move(str(stage / f), str(target))
                paths.append(target)
        except BaseException:  # a move that fails halfway takes back the files already moved
            for p in paths:
                p.unlink(missing_ok=True)
            raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return Calibration(paths[2], paths[0], paths[1], summary, ceiling, by_impl, dict(results.figures), machine,
                       skipped, time.perf_counter() - t0, load, statistic)

