"""`hwsim sweep` and `hwsim pareto`, run in-process: the issue's spec as written, bad specs reported in full,
the front's rows and plot."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from hwsim.cli import main
from tests.hwsim.explore.sweep_helpers import ISSUE_SPEC_YAML, small_spec

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_the_issue_spec_runs_as_written(capsys, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(ISSUE_SPEC_YAML)
    rc, out, err = run(capsys, "sweep", spec, "--out", tmp_path / "sweep", "--quiet")
    assert rc == 0, err
    assert out.startswith("600 points (600 computed now") and "0 errors" in out
    df = pd.read_parquet(tmp_path / "sweep")
    assert len(df) == 600 and df["key"].is_unique and (df["latency_s"] > 0).all()
    assert {"memory.dram.bandwidth", "lookup.banks", "memory.sram[0].capacity", "memory.dram.latency"} <= set(df)


def test_a_bad_spec_lists_every_problem_and_writes_nothing(capsys, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({"base": "h900", "workload": {"model": "memoryformer-base", "seq_len": 2048},
                                    "axes": {"lookup.bankz": [64], "memory.dram.bandwidth": ["4 TB"]},
                                    "sampling": {"method": "grid"}}))
    rc, out, err = run(capsys, "sweep", spec, "--out", tmp_path / "never")
    assert rc == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[0] == f"hwsim sweep: error: 3 problems in the sweep spec {spec}:"
    assert "base: " in lines[1] and "h900" in lines[1]
    # with no base to look in, key paths and units are still checked against the schema
    assert "axes.lookup.bankz" in lines[2] and '"banks"' in lines[2]
    assert "axes.memory.dram.bandwidth[0]" in lines[3] and '"4 TB"' in lines[3]
    assert not (tmp_path / "never").exists()


def test_unknown_key_path_and_wrong_unit_together(capsys, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump(small_spec(axes={"lookup.bankz": [64], "memory.dram.bandwidth": ["4 TB"]})))
    rc, out, err = run(capsys, "sweep", spec, "--out", tmp_path / "never")
    assert rc == 2
    assert 'axes.lookup.bankz: unknown key "bankz" at lookup; did you mean "banks"?' in err
    assert "axes.memory.dram.bandwidth[0]: expected a positive bandwidth" in err


def test_another_spec_in_the_same_directory_is_one_line(capsys, tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(yaml.safe_dump(small_spec()))
    b.write_text(yaml.safe_dump(small_spec(workload={"model": "memoryformer-tiny", "seq_len": 128})))
    assert run(capsys, "sweep", a, "--out", tmp_path / "s", "--workers", "1", "--quiet")[0] == 0
    rc, out, err = run(capsys, "sweep", b, "--out", tmp_path / "s", "--workers", "1")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "another spec" in err


def test_pareto_writes_the_front_and_its_plot(capsys, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(small_spec(workload={"model": ["memoryformer-tiny", "pythia-70m"], "seq_len": 256},
                                              constraints=["tables_fit"])))
    assert run(capsys, "sweep", spec, "--out", tmp_path / "s", "--workers", "1", "--quiet")[0] == 0
    rc, out, err = run(capsys, "pareto", tmp_path / "s", "--objectives", "latency_s,energy_j,area_mm2",
                       "--out", tmp_path / "front")
    assert rc == 0, err
    front = pd.read_csv(tmp_path / "front" / "pareto.csv")
    df = pd.read_parquet(tmp_path / "s")
    assert list(front.columns) == list(df.columns)  # every column of the dataset
    assert (tmp_path / "front" / "pareto.png").read_bytes()[:8] == PNG_MAGIC
    ok = df[(df["error"] == "") & df["feasible"]]
    objs = ["latency_s", "energy_j", "area_mm2"]
    vals, fvals = ok[objs].to_numpy(), front[objs].to_numpy()
    for f in fvals:  # no point of the front is dominated by any usable point (brute force)
        assert not any(np.all(v <= f) and np.any(v < f) for v in vals)
    assert set(front["key"]) <= set(ok["key"]) and len(front) >= 1
    # one front per model: each model's front is its own
    rc, out, err = run(capsys, "pareto", tmp_path / "s", "--objectives", "latency_s,energy_j", "--by", "model",
                       "--out", tmp_path / "by")
    assert rc == 0, err
    by = pd.read_csv(tmp_path / "by" / "pareto.csv")
    assert set(by["model"]) == {"memoryformer-tiny", "pythia-70m"}


def test_pareto_default_output_is_skipped_by_parquet_readers(capsys, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(small_spec()))
    assert run(capsys, "sweep", spec, "--out", tmp_path / "s", "--workers", "1", "--quiet")[0] == 0
    rc, out, err = run(capsys, "pareto", tmp_path / "s", "--objectives", "latency_s,energy_j")
    assert rc == 0, err
    assert (tmp_path / "s" / "_pareto" / "pareto.csv").exists()
    assert len(pd.read_parquet(tmp_path / "s")) == 12  # the dataset still reads


@pytest.mark.parametrize("args, words", [
    (["--objectives", "latncy_s"], "latency_s"),
    (["--objectives", "bound"], "not numeric"),
])
def test_pareto_bad_objectives_are_one_line(capsys, tmp_path, args, words):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(small_spec()))
    assert run(capsys, "sweep", spec, "--out", tmp_path / "s", "--workers", "1", "--quiet")[0] == 0
    rc, out, err = run(capsys, "pareto", tmp_path / "s", *args, "--out", tmp_path / "f")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and words in err
    assert not (tmp_path / "f").exists()


def test_pareto_of_a_directory_without_a_sweep(capsys, tmp_path):
    rc, out, err = run(capsys, "pareto", tmp_path, "--out", tmp_path / "f")
    assert rc == 2 and "part-*.parquet" in err


def test_help_names_what_each_command_writes(capsys):
    for command, files in {"sweep": ["part-*.parquet"], "pareto": ["pareto.csv", "pareto.png"]}.items():
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "--out" in out and all(f in out for f in files)
