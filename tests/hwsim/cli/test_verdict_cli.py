"""`hwsim verdict`, run in-process on a reduced grid: its files and columns, its printed findings, and bad input
as one line with nothing written."""
from __future__ import annotations

import pandas as pd
import pytest

from hwsim.cli import main
from hwsim.explore import verdict as v

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REQUIRED = ["model", "phase", "batch", "accelerator", "latency_ratio", "energy_ratio", "latency_ratio_equal_area",
            "energy_ratio_equal_area", "mf_latency_per_token_s", "tf_latency_per_token_s", "mf_energy_per_token_j",
            "tf_energy_per_token_j", "mf_area_mm2", "tf_area_mm2", "mf_bound", "tf_bound", "fits"]


def run(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_the_command_writes_the_map(capsys, tmp_path):
    rc, out, err = run(capsys, "verdict", "--models", "memoryformer-tiny", "--accelerators", "lut-asic,h200",
                       "--batches", "1", "--no-sweeps", "--workers", "1", "--out", tmp_path / "v")
    assert rc == 0, err
    df = pd.read_csv(tmp_path / "v" / "verdict.csv", keep_default_na=False, na_values=[""])
    assert list(df.columns[:4]) == ["model", "twin", "phase", "seq_len"]
    assert set(REQUIRED) <= set(df.columns)
    assert len(df) == 2 * 2 and set(df["accelerator"]) == {"lut-asic", "h200"}
    assert (tmp_path / "v" / "verdict.png").read_bytes()[:8] == PNG_MAGIC
    findings = (tmp_path / "v" / "findings.txt").read_text().splitlines()
    assert len(findings) == 3  # prefill and decode at batch 1, and the count of winning cells
    for line in findings:
        assert line in out  # the command prints what it writes
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["findings.txt", "verdict.csv", "verdict.png"]


@pytest.mark.parametrize("args, words", [
    (["--models", "memoryformer-huge"], "--models: expected MemoryFormer presets"),
    (["--models", "pythia-70m"], "--models: expected MemoryFormer presets"),
    (["--accelerators", "h900"], "--accelerators: expected preset names"),
    (["--batches", "1,0"], "--batches: expected positive integers"),
    (["--batches", "one"], "--batches: expected positive integers"),
    (["--workers", "0"], "--workers: expected a positive integer"),
])
def test_bad_input_is_one_line_and_writes_nothing(capsys, tmp_path, args, words):
    rc, out, err = run(capsys, "verdict", *args, "--no-sweeps", "--out", tmp_path / "never")
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "never").exists()


def test_a_bad_accelerator_file_is_named_in_one_line(capsys, tmp_path):
    from hwsim.config import PRESET_DIR

    text = (PRESET_DIR / "lut-asic.yaml").read_text()
    assert "bandwidth: 1.64 TB/s" in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("bandwidth: 1.64 TB/s", "bandwidth: 1.64 TB"))  # a size for a bandwidth
    rc, out, err = run(capsys, "verdict", "--accelerators", bad, "--no-sweeps", "--out", tmp_path / "never")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "--accelerators:" in err and "bad.yaml" in err and "memory.dram.bandwidth" in err
    assert not (tmp_path / "never").exists()


def test_the_default_grid_is_the_issues():
    from hwsim.cli import build_parser

    args = build_parser().parse_args(["verdict"])
    assert args.models is None and args.accelerators is None and args.batches is None and not args.no_sweeps
    assert args.out == "verdict"
    assert len(v.TWINS) == 3 and len(v.ACCELERATORS) == 5
