"""Sweeps end to end: the dataset on disk, resuming after SIGKILL or Ctrl-C, refusing another spec's directory,
and rows identical to the bit whichever engine (in-process, processes, Dask LocalCluster) computed them."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from hwsim.explore.runner import run_sweep
from tests.hwsim.explore.sweep_helpers import small_spec

REPO = Path(__file__).resolve().parents[3]


def parts(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.glob("part-*.parquet"))}


# three axes of three kinds (a list, a logspace and a range), for the engine identity tests
ENGINE_AXES = {"lookup.banks": [64, 128, 256, 512], "memory.dram.bandwidth": {"logspace": ["0.5 TB/s", "8 TB/s"]},
               "memory.dram.latency": {"range": ["100 ns", "900 ns"]}}


def same_bytes_on_every_engine(spec, root: Path) -> dict[str, bytes]:
    """Runs `spec` in this process, on 2 local processes and on a 2-worker Dask LocalCluster; asserts that
    all three write the same Parquet parts, byte for byte, and returns them."""
    run_sweep(spec, root / "one", workers=1, progress=False)
    procs = run_sweep(spec, root / "procs", workers=2, progress=False)
    assert procs.engine == "2 processes"
    dask = run_sweep(spec, root / "dask", scheduler="local", workers=2, progress=False)
    assert dask.engine.startswith("dask")
    one = parts(root / "one")
    assert parts(root / "procs") == one and parts(root / "dask") == one
    return one


def test_the_dataset_reads_with_pandas_and_keys_hash_the_inputs(tmp_path):
    r = run_sweep(small_spec(chunk_points=5), tmp_path / "s", workers=1, progress=False)
    df = pd.read_parquet(tmp_path / "s")
    assert len(df) == r.points == 12 and len(parts(tmp_path / "s")) == 3  # 12 points, 5 per part
    pd.testing.assert_frame_equal(df, r.frame)
    for col in ("key", "latency_s", "energy_j", "area_mm2", "error", "flops", "dram_bytes", "bound", "tables_fit",
                "time_lookup_s", "lookup.banks", "memory.dram.bandwidth", "memory.sram.0.capacity"):
        assert col in df.columns, col
    assert df["key"].is_unique and (df["error"] == "").all()
    # the key is sha256 of the canonical JSON of the inputs, recomputed here from a row
    row = df.iloc[0]
    doc = {"base": "lut-asic",
           "workload": {"model": "memoryformer-tiny", "kind": "memoryformer", "hidden_size": 512, "heads": 8,
                        "layers": 6, "tau": 8, "expand_bits": 2, "seq_len": 256, "batch": 1, "dtype": "bf16",
                        "phase": "prefill", "variant": "released",
                        # the released MemoryFormer block (models.presets: the authors' configs)
                        "block": {"norm": "rmsnorm", "rotary_pct": 0.25, "parallel_residual": False,
                                  "memory_bias": True, "weighting": "official"}},
           "options": {},
           "axes": {"lookup.banks": int(row["lookup.banks"]), "memory.dram.bandwidth": float(row["memory.dram.bandwidth"]),
                    "memory.sram.0.capacity": float(row["memory.sram.0.capacity"])}}
    assert row["key"] == hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    state = json.loads((tmp_path / "s" / "_sweep.json").read_text())
    stored = yaml.safe_load((tmp_path / "s" / "_spec.yaml").read_text())
    assert stored == small_spec(chunk_points=5) and state["points"] == 12 and len(state["spec_sha256"]) == 64


def test_rerunning_a_finished_sweep_computes_nothing_and_another_spec_is_refused(tmp_path):
    out = tmp_path / "s"
    run_sweep(small_spec(), out, workers=1, progress=False)
    before = {p: p.stat().st_mtime_ns for p in out.glob("part-*")}
    again = run_sweep(small_spec(), out, workers=1, progress=False)
    assert again.computed == 0 and {p: p.stat().st_mtime_ns for p in out.glob("part-*")} == before
    other = small_spec(workload={"model": "memoryformer-tiny", "seq_len": 512})
    with pytest.raises(ValueError) as e:
        run_sweep(other, out, workers=1, progress=False)
    assert "another spec" in str(e.value) and "\n" not in str(e.value)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        run_sweep(small_spec(), tmp_path / "busy", workers=1, progress=False)


def kill_spec(tmp_path) -> Path:
    """Enough points that a sweep on one worker runs for seconds, in parts of 10 points."""
    spec = small_spec(sampling={"method": "lhs", "n": 1200, "seed": 5}, chunk_points=10,
                      axes={"lookup.banks": [128, 256, 512], "memory.dram.bandwidth": {"logspace": ["0.5 TB/s", "8 TB/s"]},
                            "memory.sram.0.capacity": {"range": ["4 MiB", "64 MiB"]}})
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def start(spec: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hwsim.cli", "sweep", str(spec), "--out", str(out), "--workers",
                             "1", "--quiet"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_parts(out: Path, n: int, proc, timeout_s=120.0) -> None:
    t = time.monotonic()
    while len(list(out.glob("part-*.parquet"))) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t < timeout_s
        time.sleep(0.005)


def test_a_sweep_killed_with_sigkill_resumes_with_only_the_missing_points(tmp_path):
    spec = kill_spec(tmp_path)
    out = tmp_path / "killed"
    proc = start(spec, out)
    wait_for_parts(out, 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    survived = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("part-*.parquet")}
    assert 3 <= len(survived) < 120, "the sweep finished before it could be killed: make it longer"
    (out / ".part-00119.parquet.tmp").write_bytes(b"half a part")  # as a kill during a write leaves it
    resumed = run_sweep(spec, out, workers=1, progress=False)
    assert resumed.computed == 1200 - 10 * len(survived)
    assert {n: (p.stat().st_ino, p.stat().st_mtime_ns) for n, p in ((n, out / n) for n in survived)} == survived
    assert not list(out.glob(".*.tmp"))
    whole = run_sweep(spec, tmp_path / "whole", workers=1, progress=False)
    assert parts(out) == parts(tmp_path / "whole")  # file for file, byte for byte
    a, b = pd.read_parquet(out), pd.read_parquet(tmp_path / "whole")
    assert a["key"].is_unique and len(a) == 1200
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    pd.testing.assert_frame_equal(a, whole.frame, check_exact=True)


def test_ctrl_c_leaves_only_whole_parts_and_says_so(tmp_path):
    spec = kill_spec(tmp_path)
    out = tmp_path / "interrupted"
    proc = start(spec, out)
    wait_for_parts(out, 2, proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not list(out.glob(".*.tmp"))
    for p in out.glob("part-*.parquet"):
        assert len(pd.read_parquet(p)) == 10  # every part on disk is whole
    assert run_sweep(spec, out, workers=1, progress=False).frame["key"].is_unique


def test_every_engine_writes_the_same_bytes(tmp_path):
    spec = small_spec(sampling={"method": "lhs", "n": 60, "seed": 1}, chunk_points=8, axes=ENGINE_AXES)
    assert len(same_bytes_on_every_engine(spec, tmp_path)) == 8


def test_a_running_dask_scheduler_by_address(tmp_path):
    from distributed import LocalCluster

    spec = small_spec(chunk_points=4)
    run_sweep(spec, tmp_path / "one", workers=1, progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        r = run_sweep(spec, tmp_path / "tcp", scheduler=cluster.scheduler_address, progress=False)
    assert r.engine == f"dask ({cluster.scheduler_address})"
    assert parts(tmp_path / "tcp") == parts(tmp_path / "one")
