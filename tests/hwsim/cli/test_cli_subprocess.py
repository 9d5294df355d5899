"""Every subcommand run as a user runs it: a separate process (`python -m hwsim.cli`), good and bad input.

In-process tests call main() and can miss what only a real process shows: a traceback printed on stderr,
the exit status, a file left behind after the process ends, Ctrl-C delivered as a signal. Here each case
asserts the exit code, that stderr holds no "Traceback", one error line for bad input, and which files exist
afterwards (all of them, or none). The cases run side by side, a few at a time, to keep the wall time low.
"""
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
MEASURED = REPO / "data" / "calibration" / "h200" / "measured.csv"

# name: (arguments, expected exit code, files expected in --out (good) / a needle of the one error line (bad))
CASES = {
    "figure1": (["figure1"], 0, ["figure1.csv", "figure1.png"]),
    "figure1-bad": (["figure1", "--tau", "0"], 2, "--tau"),
    "tables": (["tables", "--seq-len", "256"], 0, ["model_memory.csv", "table1.csv", "table2.csv", "table3.csv",
                                                       "table5.csv"]),
    "tables-bad": (["tables", "--seq-len", "-1"], 2, "--seq-len"),
    "buckets": (["buckets", "--seq-len", "16", "--batch", "2"], 0, ["buckets.csv", "buckets.png",
                                                                    "buckets_summary.csv"]),
    "buckets-bad": (["buckets", "--seq-len", "1000000000"], 2, "would need"),
    "simulate": (["simulate", "--seq-len", "64"], 0, ["ops.csv", "summary.csv"]),
    "simulate-des": (["simulate", "--engine", "des", "--accel", "lut-asic", "--model", "memoryformer-tiny",
                      "--seq-len", "64"], 0, ["bank_load.png", "gantt.png", "ops.csv", "summary.csv"]),
    "simulate-bad": (["simulate", "--accel", "{tmp}"], 2, "directory"),
    "simulate-bad-flag": (["simulate", "--seq-len", "64", "--seed", "1"], 2, "--engine des"),
    "compare": (["compare", "--accel", "h200,lut-asic", "--seq-len", "64"], 0, ["compare.csv"]),
    "compare-bad": (["compare", "--accel", ","], 2, "--accel"),
    "roofline": (["roofline", "--seq-len", "64"], 0, ["roofline.csv", "roofline.png"]),
    "roofline-bad": (["roofline", "--batch", "0"], 2, "--batch"),
    "validate": (["validate", str(MEASURED)], 0, ["validation.csv"]),
    "validate-bad": (["validate", "{tmp}"], 2, "directory"),
    "area": (["area", "--accel", "h200"], 0, ["area.csv"]),
    "area-bad": (["area", "--accel", "h900"], 2, "h900"),
    "verdict": (["verdict", "--models", "memoryformer-tiny", "--accelerators", "lut-asic", "--batches", "1",
                 "--no-sweeps", "--workers", "1"], 0, ["findings.txt", "verdict.csv", "verdict.png"]),
    "verdict-bad": (["verdict", "--batches", "0"], 2, "--batches"),
}


def hwsim_cli(args, cwd=REPO, **kw):
    return subprocess.run([sys.executable, "-m", "hwsim.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, **kw)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")

    def one(name):
        args, _, _ = CASES[name]
        tmp = root / name
        tmp.mkdir()
        p = hwsim_cli([a.format(tmp=tmp) for a in args] + ["--out", str(tmp / "out")])
        return name, (p, tmp)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(one, CASES))


@pytest.mark.parametrize("name", sorted(CASES))
def test_subcommand_as_a_process(results, name):
    args, code, expect = CASES[name]
    p, tmp = results[name]
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == code, p.stderr
    out = tmp / "out"
    if code == 0:
        assert sorted(f.name for f in out.iterdir()) == expect
        assert "wrote" in p.stdout
    else:
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"hwsim {args[0]}: error:") and expect in lines[0], p.stderr
        assert not out.exists()
    assert not [f for f in tmp.rglob("*") if ".hwsim-staging" in f.name or f.name.endswith(".tmp")]


def test_ctrl_c_during_a_des_run_stops_it_and_writes_nothing(tmp_path):
    """SIGINT while the DES progress bar runs: exit 130, one 'interrupted' line, no out dir, no trace file,
    no staging directory, and the bar ends on its own line saying where it stopped."""
    args = ["simulate", "--engine", "des", "--accel", "lut-asic", "--model", "memoryformer-tiny", "--seq-len",
            "16384", "--trace-json", str(tmp_path / "t.json"), "--out", str(tmp_path / "out")]
    p = subprocess.Popen([sys.executable, "-m", "hwsim.cli", *args], cwd=REPO, stderr=subprocess.PIPE,
                         stdout=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = b""
    while b"%" not in seen:  # the bar is drawn: the simulation is running
        chunk = p.stderr.read1(256)
        if not chunk:
            break
        seen += chunk
    p.send_signal(signal.SIGINT)
    err = (seen + p.stderr.read()).decode()
    assert p.wait(timeout=120) == 130, err
    assert "Traceback" not in err
    assert err.rstrip().splitlines()[-1] == "hwsim simulate: interrupted; no output was written"
    assert "interrupted]" in err  # the bar's last state
    assert list(tmp_path.iterdir()) == []
