"""`hwsim generate` and `hwsim compare --phase decode`: files written, their columns, all-or-nothing output and
one-line errors (a model that does not fit included)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from hwsim.cli import main
from tests.hwsim.cli.test_cli import is_png, run


def listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def test_generate_writes_summary_tokens_and_plot(capsys, tmp_path):
    out = tmp_path / "gen"
    rc, stdout, err = run(capsys, "generate", "--accel", "lut-asic", "--model", "memoryformer-tiny", "--prompt-len", 128,
                          "--new-tokens", 20, "--batch", 2, "--kv-points", 4, "--out", out)
    assert rc == 0, err
    assert listing(out) == ["summary.csv", "tokens.csv", "tokens.png"]  # nothing temporary left
    assert not [p for p in tmp_path.iterdir() if p.name != "gen"]  # the staging folder is gone too
    s = pd.read_csv(out / "summary.csv").iloc[0]
    for col in ("ttft_s", "tpot_s", "tokens_per_s", "energy_per_token_j", "prompt_len", "new_tokens", "batch",
                "model", "accelerator", "weights_bytes", "tables_bytes", "kv_cache_bytes", "dram_capacity_bytes"):
        assert col in s.index, col
    assert (s["prompt_len"], s["new_tokens"], s["batch"]) == (128, 20, 2)
    t = pd.read_csv(out / "tokens.csv")
    assert {"position", "latency_s", "energy_j"} <= set(t.columns) and len(t) == 20
    assert s["tokens_per_s"] == pytest.approx(2 * 20 / t["latency_s"].sum(), rel=1e-9)
    assert is_png(out / "tokens.png")
    assert "TTFT" in stdout and "TPOT" in stdout and "tokens/s" in stdout


@pytest.mark.parametrize("args,needle", [
    (["--model", "memoryformer-base", "--accel", "edge-npu"], "memoryformer-base does not fit edge-npu's DRAM"),
    (["--prompt-len", "0"], "--prompt-len: expected an integer >= 1"),
    (["--new-tokens", "0"], "--new-tokens: expected an integer >= 1"),
    (["--kv-points", "1"], "--kv-points: expected an integer >= 2"),
    (["--model", "gpt-2"], "--model: unknown model preset 'gpt-2'"),
    (["--accel", "nope"], "--accel"),
    (["--model", "pythia-70m", "--rotary-pct", "0.3"], "--model pythia-70m with these options"),
])
def test_generate_bad_input_is_one_line_and_writes_nothing(capsys, tmp_path, args, needle):
    out = tmp_path / "gen"
    rc, stdout, err = run(capsys, "generate", "--prompt-len", 16, "--new-tokens", 2, *args, "--out", out)
    assert rc == 2
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err and listing(out) == [] and listing(tmp_path) == []


def test_compare_decode_step(capsys, tmp_path):
    rc, stdout, err = run(capsys, "compare", "--accel", "h200,lut-asic", "--model", "pythia-70m", "--phase", "decode",
                          "--kv-len", 1024, "--seq-len", 1, "--batch", 4, "--out", tmp_path)
    assert rc == 0, err
    df = pd.read_csv(tmp_path / "compare.csv")
    assert list(df["accelerator"]) == ["h200", "lut-asic"]
    assert (df["phase"] == "decode").all() and (df["kv_len"] == 1024).all()
    assert "decode step after a KV cache of 1024" in stdout
    # the MemoryFormer block reads ~K rows per token instead of streaming its weights: fewer DRAM bytes on the GPU
    h200 = df.set_index("accelerator").loc["h200"]
    assert h200["memoryformer_dram_bytes"] < h200["transformer_dram_bytes"]


def test_compare_skips_an_accelerator_that_cannot_hold_the_model_and_says_so(capsys, tmp_path):
    rc, stdout, err = run(capsys, "compare", "--accel", "h200,edge-npu", "--seq-len", 64, "--out", tmp_path)
    assert rc == 0, err
    assert list(pd.read_csv(tmp_path / "compare.csv")["accelerator"]) == ["h200"]
    assert "skipped edge-npu: memoryformer-base does not fit edge-npu's DRAM" in err
    out = tmp_path / "none"
    rc, stdout, err = run(capsys, "compare", "--accel", "edge-npu", "--seq-len", 64, "--out", out)
    assert rc == 2 and "does not fit" in err and listing(out) == []


@pytest.mark.parametrize("args,needle", [
    (["--phase", "decode"], "--kv-len: expected a non-negative integer with --phase decode"),
    (["--phase", "decode", "--kv-len", "-1"], "given -1"),
    (["--kv-len", "8"], "--kv-len applies to --phase decode only"),
])
def test_compare_bad_phase_flags(capsys, tmp_path, args, needle):
    rc, stdout, err = run(capsys, "compare", "--accel", "h200", *args, "--out", tmp_path / "c")
    assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert listing(tmp_path / "c") == []
