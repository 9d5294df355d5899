"""The `hwsim` command line, run in-process: files written, numbers in them, and bad input in one line.

Expected numbers come from the reference (the MemoryFormer paper, arXiv 2411.12992: its formulas and
tables), never from the program's own output.
"""
import json
from pathlib import Path

import pandas as pd
import pytest

from hwsim.cli import main
from hwsim.config import PRESET_DIR

REPO = Path(__file__).resolve().parents[3]
MEASURED = REPO / "data" / "calibration" / "h200" / "measured.csv"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# what each subcommand writes (DESIGN: each writes CSV, and PNG where it plots, into --out DIR)
WRITES = {
    "figure1": ["figure1.csv", "figure1.png"],
    "tables": ["table1.csv", "table2.csv", "table3.csv", "table5.csv", "model_memory.csv"],
    "buckets": ["buckets.csv", "buckets_summary.csv", "buckets.png"],
    "simulate": ["ops.csv", "summary.csv"],
    "compare": ["compare.csv"],
    "roofline": ["roofline.csv", "roofline.png"],
    "validate": ["validation.csv"],
    "area": ["area.csv"],
    "calibrate": ["NAME.yaml", "measured.csv", "validation.csv"],
}


def run(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def run_ok(capsys, out_dir, *args):
    rc, out, err = run(capsys, *args, "--out", out_dir)
    assert rc == 0, err
    assert "Traceback" not in out + err
    command = args[0]
    written = sorted(p.name for p in Path(out_dir).iterdir())
    assert set(WRITES[command]) <= set(written), written
    # atomic writes: nothing half-written or temporary is left behind
    assert not [n for n in written if ".tmp" in n], written
    return out


def is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == PNG_MAGIC


# ---- each subcommand ------------------------------------------------------------------------------------

def test_figure1(capsys, tmp_path):
    run_ok(capsys, tmp_path, "figure1")
    df = pd.read_csv(tmp_path / "figure1.csv")
    assert {"model", "seq_len", "hidden_size", "flops_paper", "flops"} <= set(df.columns)
    assert len(df) == 24  # 2 models x 2 sequence lengths x 6 hidden sizes (reference section 5)
    assert set(df["hidden_size"]) == set(range(512, 3073, 512)) and set(df["seq_len"]) == {1024, 2048}
    # reference section 3, paper convention: 2 s^2 d + 12 s d^2 and 2 s^2 d + 6 K s d with K = d / 8
    for _, r in df.iterrows():
        s, d = r["seq_len"], r["hidden_size"]
        fc = 12 * s * d * d if r["model"] == "transformer" else 6 * (d // 8) * s * d
        assert r["flops_paper"] == 2 * s * s * d + fc
        assert r["flops"] > r["flops_paper"]  # exact counts: 2 per MAC plus what the paper leaves out
    assert is_png(tmp_path / "figure1.png")


def test_tables(capsys, tmp_path):
    out = run_ok(capsys, tmp_path, "tables")
    t1 = pd.read_csv(tmp_path / "table1.csv").set_index("model")
    # reference Table 1: MemoryFormer-small w/o attention is printed as 1.0 G; the formula 6 K s d gives
    # 6 x 96 x 2048 x 768 = 0.906 G
    formula = 6 * (768 // 8) * 2048 * 768
    assert t1.loc["memoryformer-small", "flops_wo_attn_paper"] == pytest.approx(0.906e9, rel=0.005)
    assert t1.loc["memoryformer-small", "flops_wo_attn_paper"] == pytest.approx(formula, rel=1e-12)
    line = next(l for l in out.splitlines() if "memoryformer-small" in l and "paper" in l)
    assert "1.0" in line and f"{formula / 1e9:.3f}" in line
    # the other rows of Table 1 as the paper prints them (G, paper convention, one decimal)
    printed = {"pythia-70m": (6.4, 10.7), "memoryformer-tiny": (0.4, 4.7), "pythia-160m": (14.5, 20.9),
               "pythia-410m": (25.8, 34.4), "memoryformer-base": (1.6, 10.2)}
    for model, (wo_attn, total) in printed.items():
        assert round(t1.loc[model, "flops_wo_attn_paper"] / 1e9, 1) == wo_attn, model
        assert round(t1.loc[model, "flops_paper"] / 1e9, 1) == total, model
    # reference Table 3 (decimal MB) and Table 5 (decimal MB)
    t3 = pd.read_csv(tmp_path / "table3.csv")
    assert [round(b / 1e6, 1) for b in t3["table_bytes"]] == [2.1, 16.8, 53.5]
    t5 = pd.read_csv(tmp_path / "table5.csv")
    assert [round(b / 1e6, 1) for b in t5["table_bytes"]] == [33.6, 52.4, 88.1, 157.3]
    mem = pd.read_csv(tmp_path / "model_memory.csv").set_index("model")
    assert len(mem) == 6
    # reference, derived: tables per block 138 / 311 / 554 MB (fp16, tau 8, e 2)
    for model, mb in [("memoryformer-tiny", 138), ("memoryformer-small", 311), ("memoryformer-base", 554)]:
        assert mem.loc[model, "bytes_per_block"] / 1e6 == pytest.approx(mb, rel=0.01)


def test_tables_table2(capsys, tmp_path):
    out = run_ok(capsys, tmp_path, "tables", "--linformer-k", 39, "--performer-features", 110)
    t2 = pd.read_csv(tmp_path / "table2.csv").set_index("model")
    assert list(t2.index) == ["pythia-410m", "linformer", "cosformer", "performer", "memoryformer-base"]
    # the paper's Table 2 as printed (G per block, s = 2048)
    assert list(t2["printed_gflops"]) == [34.4, 26.1, 30.0, 26.7, 10.2]
    # s = 2048, d = 1024, 16 heads: 12 s d^2 = 25.770 G of FC layers in every baseline, plus
    # Linformer 4 s k d at k = 39: 0.327 G; Performer 4 s d m + s H m at m = 110: 0.926 G
    fc = 12 * 2048 * 1024 ** 2
    assert t2.loc["linformer", "flops_paper"] == fc + 4 * 2048 * 39 * 1024
    assert t2.loc["performer", "flops_paper"] == fc + 4 * 2048 * 1024 * 110 + 2048 * 16 * 110
    assert round(t2.loc["linformer", "flops_paper"] / 1e9, 1) == 26.1
    assert round(t2.loc["performer", "flops_paper"] / 1e9, 1) == 26.7
    # one line per baseline on where the counts part
    for model in ("linformer", "cosformer", "performer"):
        assert sum(line.strip().startswith(f"{model}:") for line in out.splitlines()) == 1, model
    assert "Table 2" in out


def test_tables_bad_table2_setting(capsys, tmp_path):
    line = one_error_line(capsys, "tables", "--linformer-k", 0, "--out", tmp_path)
    assert "--linformer-k" in line and "0" in line
    assert not list(tmp_path.iterdir())  # nothing written


def test_simulate(capsys, tmp_path):
    run_ok(capsys, tmp_path, "simulate", "--accel", "h200", "--model", "memoryformer-base", "--seq-len", 256)
    ops = pd.read_csv(tmp_path / "ops.csv")
    assert {"op", "kind", "time_s", "bound", "flops", "dram_bytes", "energy_j"} <= set(ops.columns)
    assert (ops["kind"] == "lookup").sum() == 5  # q, k, v, m1, m2
    summary = pd.read_csv(tmp_path / "summary.csv").set_index("scope")
    assert list(summary.index) == ["block", "model"]
    block, model = summary.loc["block"], summary.loc["model"]
    assert model["layers"] == 24  # MemoryFormer-base: 24 layers (reference Table 1)
    assert model["latency_s"] == pytest.approx(24 * block["latency_s"], rel=1e-12)
    assert model["energy_j"] == pytest.approx(24 * block["energy_j"], rel=1e-12)
    assert block["latency_s"] == pytest.approx(ops["time_s"].sum(), rel=1e-9)


def test_compare(capsys, tmp_path):
    run_ok(capsys, tmp_path, "compare", "--accel", "h200,lut-asic", "--seq-len", 2048)
    df = pd.read_csv(tmp_path / "compare.csv").set_index("accelerator")
    assert list(df.index) == ["h200", "lut-asic"]
    assert set(df["transformer"]) == {"pythia-410m"} and set(df["memoryformer"]) == {"memoryformer-base"}
    # reference Table 1: 10.2 vs 34.4 GFLOPs per block; counted exactly (2 per MAC, everything that runs)
    # the share stays within 1% of the paper's
    assert (df["flops_ratio"] - 10.2 / 34.4).abs().max() < 0.01 * 10.2 / 34.4
    # fewer FLOPs, more time on the GPU (the lookups are dependent reads: calibration README, 7x to 50x);
    # less time on the lookup chip, which is what it was designed for
    assert df.loc["h200", "latency_ratio"] > 5 and df.loc["lut-asic", "latency_ratio"] < 1
    assert (df["latency_ratio"] - df["memoryformer_latency_s"] / df["transformer_latency_s"]).abs().max() < 1e-12


def test_compare_block_options(capsys, tmp_path):
    import hwsim
    import workloads

    out = run_ok(capsys, tmp_path, "compare", "--accel", "h200", "--seq-len", 256, "--blocks", "paper")
    df = pd.read_csv(tmp_path / "compare.csv")
    # the paper's blocks: block()'s defaults, d 1024 and 16 heads (reference Table 1)
    paper_mf = hwsim.simulate(workloads.block("memoryformer", 1024, 256, heads=16), "h200")
    assert df.loc[0, "memoryformer_latency_s"] == pytest.approx(paper_mf.latency_s, rel=1e-12)
    assert "norm=layernorm;rotary_pct=0.0" in df.loc[0, "memoryformer_block"]
    assert "memory_bias=False" in out
    run_ok(capsys, tmp_path, "compare", "--accel", "h200", "--seq-len", 256, "--norm", "layernorm",
           "--rotary-pct", 0.5, "--no-memory-bias", "--residual", "sequential")
    df = pd.read_csv(tmp_path / "compare.csv")
    assert df.loc[0, "transformer_block"] == ("norm=layernorm;rotary_pct=0.5;parallel_residual=False;"
                                              "linear_bias=True")
    assert df.loc[0, "memoryformer_block"] == ("norm=layernorm;rotary_pct=0.5;parallel_residual=False;"
                                               "memory_bias=False;weighting=official")


def test_simulate_memory_bias_flag(capsys, tmp_path):
    for flag, adds in [("--memory-bias", 5), ("--no-memory-bias", 0)]:
        run_ok(capsys, tmp_path, "simulate", "--seq-len", 64, flag)
        ops = pd.read_csv(tmp_path / "ops.csv")
        assert ops["op"].str.endswith(".add").sum() == adds  # one per Memory Layer: q, k, v, m1, m2


@pytest.mark.parametrize("command", ["simulate", "compare", "roofline"])
@pytest.mark.parametrize("value,needle", [(1.5, "--rotary-pct"), (-0.25, "--rotary-pct"), (0.3, "19 rotary dims")])
def test_bad_rotary_pct(capsys, tmp_path, command, value, needle):
    line = one_error_line(capsys, command, "--rotary-pct", value, "--seq-len", 64, "--out", tmp_path / "out")
    assert needle in line and str(value) in line
    assert not (tmp_path / "out").exists()  # nothing written


def test_roofline(capsys, tmp_path):
    run_ok(capsys, tmp_path, "roofline", "--seq-len", 256)
    df = pd.read_csv(tmp_path / "roofline.csv")
    # the released MemoryFormer block in closed form: 14 ops (shared Q/K/V hash), + a bias add per Memory Layer
    # (5) + rotary on q and k (1)
    assert len(df) == 14 + 5 + 1
    with_bytes = df[df["dram_bytes"] > 0]
    assert ((with_bytes["intensity_flops_per_byte"] - with_bytes["flops"] / with_bytes["dram_bytes"]).abs()
            <= 1e-9 * with_bytes["intensity_flops_per_byte"]).all()
    # no op sits above the roofs it is drawn under: h200 datasheet 989 TFLOP/s dense bf16, 4.8 TB/s HBM3e
    placed = with_bytes[with_bytes["achieved_flops_per_s"].notna()]
    assert (placed["achieved_flops_per_s"] <= 989e12).all()
    assert (placed["achieved_flops_per_s"] <= placed["intensity_flops_per_byte"] * 4.8e12 * (1 + 1e-9)).all()
    assert is_png(tmp_path / "roofline.png")


def test_validate(capsys, tmp_path):
    out = run_ok(capsys, tmp_path, "validate", MEASURED, "--accel", "h200")
    measured = pd.read_csv(MEASURED)
    df = pd.read_csv(tmp_path / "validation.csv")
    assert len(df) == len(measured)
    assert {"predicted_us", "error_pct"} <= set(df.columns)
    assert list(df.columns[: len(measured.columns)]) == list(measured.columns)
    err = 100 * (df["predicted_us"] - df["time_us"]) / df["time_us"]
    assert (df["error_pct"] - err).abs().max() < 1e-6
    assert "median absolute error" in out


def test_validate_reports_a_row_of_unknown_timing_in_one_line(capsys, tmp_path):
    rows = pd.read_csv(MEASURED).iloc[:3].assign(timing=["wall", "profiled", "kernel"])
    path = tmp_path / "timed.csv"
    rows.to_csv(path, index=False)
    out = run_ok(capsys, tmp_path / "out", "validate", path, "--accel", "h200")
    skipped = [line for line in out.splitlines() if line.startswith("  line ")]
    assert skipped == ["  line 3: invalid: timing 'profiled' is not one of wall, kernel"]
    assert "2 of 2 rows predicted (1 invalid rows left out)" in out
    df = pd.read_csv(tmp_path / "out" / "validation.csv")
    assert df["predicted_us"].isna().tolist() == [False, True, False]


def test_buckets_small(capsys, tmp_path):
    run_ok(capsys, tmp_path, "buckets", "--seq-len", 32, "--batch", 2)
    counts = pd.read_csv(tmp_path / "buckets.csv")
    per_table = counts.groupby(["op", "table"])["count"]
    # every traced token picks exactly one bucket in each table: 2 x 32 tokens
    assert (per_table.sum() == 64).all()
    # memoryformer-tiny (tau 8, e 2): 2^8 buckets per table, 2^10 in M2
    sizes = per_table.size()
    assert set(sizes) == {256, 1024}
    assert set(sizes[sizes == 1024].index.get_level_values("op")) == {"memory_block.m2.lookup"}
    assert is_png(tmp_path / "buckets.png")


# ---- help says what each command writes ----------------------------------------------------------------

def test_top_level_help_names_the_output_files(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for command, files in WRITES.items():
        assert command in out
        for f in files:
            assert f in out, (command, f)


@pytest.mark.parametrize("command", sorted(WRITES))
def test_subcommand_help_names_its_output_files(capsys, command):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--out" in out
    for f in WRITES[command]:
        assert f in out, f


# ---- bad input: exit code 2, one line on stderr, no traceback -------------------------------------------

def one_error_line(capsys, *args) -> str:
    rc, out, err = run(capsys, *args)
    assert rc == 2, (rc, err)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"hwsim {args[0]}: error:")
    return lines[0]


@pytest.mark.parametrize("command", ["simulate", "compare", "roofline"])
def test_unknown_accelerator(capsys, tmp_path, command):
    line = one_error_line(capsys, command, "--accel", "h900", "--seq-len", 64, "--out", tmp_path)
    assert "h900" in line and "h200" in line  # names what was given and what exists


def test_unknown_accelerator_in_validate(capsys, tmp_path):
    line = one_error_line(capsys, "validate", MEASURED, "--accel", "h900", "--out", tmp_path)
    assert "h900" in line


@pytest.mark.parametrize("command", ["simulate", "compare", "roofline", "buckets"])
def test_unknown_model(capsys, tmp_path, command):
    line = one_error_line(capsys, command, "--model", "gpt-5", "--out", tmp_path)
    assert "gpt-5" in line


@pytest.mark.parametrize("command", ["simulate", "compare", "roofline", "tables", "buckets"])
def test_zero_seq_len(capsys, tmp_path, command):
    line = one_error_line(capsys, command, "--seq-len", 0, "--out", tmp_path)
    assert "--seq-len" in line and "0" in line


def test_missing_measured_file(capsys, tmp_path):
    missing = tmp_path / "nope" / "measured.csv"
    line = one_error_line(capsys, "validate", missing, "--out", tmp_path / "out")
    assert str(missing) in line


def test_measured_file_without_required_columns(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    pd.read_csv(MEASURED).drop(columns=["time_us"]).to_csv(bad, index=False)
    line = one_error_line(capsys, "validate", bad, "--out", tmp_path / "out")
    assert str(bad) in line and "time_us" in line


def typo_yaml(tmp_path, old: str, new: str) -> Path:
    text = (PRESET_DIR / "h200.yaml").read_text()
    assert text.count(old) == 1
    path = tmp_path / "typo.yaml"
    path.write_text(text.replace(old, new))
    return path


def test_yaml_accelerator_with_a_misspelt_optional_key(capsys, tmp_path):
    path = typo_yaml(tmp_path, "    attention_efficiency:", "    attention_eficiency:")
    line = one_error_line(capsys, "simulate", "--accel", path, "--seq-len", 64, "--out", tmp_path / "out")
    assert str(path) in line
    assert "compute.matrix.attention_eficiency" in line and '"attention_efficiency"' in line


def test_yaml_accelerator_with_a_misspelt_required_key(capsys, tmp_path):
    path = typo_yaml(tmp_path, "    bandwidth: 4.8 TB/s", "    bandwith: 4.8 TB/s")
    rc, out, err = run(capsys, "simulate", "--accel", path, "--seq-len", 64, "--out", tmp_path / "out")
    assert rc == 2 and "Traceback" not in out + err
    assert err.startswith("hwsim simulate: error:")
    assert str(path) in err and "memory.dram.bandwith" in err and '"bandwidth"' in err
    assert not (tmp_path / "out" / "ops.csv").exists()


def test_yaml_accelerator_with_a_misspelt_required_key_is_one_line(capsys, tmp_path):
    path = typo_yaml(tmp_path, "    bandwidth: 4.8 TB/s", "    bandwith: 4.8 TB/s")
    one_error_line(capsys, "simulate", "--accel", path, "--seq-len", 64, "--out", tmp_path / "out")


# ---- bad paths: one line naming the file and the flag -------------------------------------------------------

def test_a_directory_as_accelerator(capsys, tmp_path):
    line = one_error_line(capsys, "simulate", "--accel", tmp_path, "--seq-len", 64, "--out", tmp_path / "out")
    assert "--accel" in line and str(tmp_path) in line and "directory" in line
    assert not (tmp_path / "out").exists()


def test_a_binary_yaml_as_accelerator(capsys, tmp_path):
    path = tmp_path / "chip.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    for command in ("simulate", "roofline"):
        line = one_error_line(capsys, command, "--accel", path, "--seq-len", 64, "--out", tmp_path / "out")
        assert "--accel" in line and str(path) in line and "UTF-8" in line


@pytest.mark.parametrize("accel", [",", " , ,", ""])
def test_compare_with_no_accelerator_names(capsys, tmp_path, accel):
    line = one_error_line(capsys, "compare", "--accel", accel, "--seq-len", 64, "--out", tmp_path / "out")
    assert "--accel" in line and "comma-separated" in line


def test_validate_of_a_directory_or_a_binary_file(capsys, tmp_path):
    line = one_error_line(capsys, "validate", tmp_path, "--out", tmp_path / "out")
    assert str(tmp_path) in line and "directory" in line
    (tmp_path / "m.csv").write_bytes(bytes(range(256)))
    line = one_error_line(capsys, "validate", tmp_path / "m.csv", "--out", tmp_path / "out")
    assert "m.csv" in line and "not a readable CSV" in line
    assert not (tmp_path / "out").exists()


def test_out_that_is_a_file(capsys, tmp_path):
    (tmp_path / "f").write_text("")
    line = one_error_line(capsys, "figure1", "--out", tmp_path / "f")
    assert "--out" in line and "existing file" in line


# ---- flags that would change nothing are refused (compare: warned about) --------------------------------------

@pytest.mark.parametrize("args,needles", [
    (["--seed", 3], ["--seed", "--engine des"]),
    (["--coarse"], ["--coarse", "--engine des"]),
    (["--zipf-exponent", 1.5], ["--zipf-exponent", "--engine des"]),
    (["--bucket-distribution", "zipf"], ["--bucket-distribution", "--engine des"]),
    (["--engine", "des", "--zipf-exponent", 1.5], ["--zipf-exponent", "--bucket-distribution zipf"]),
    (["--lowering", "fused", "--lookup-impl", "gather_sum"], ["--lookup-impl", "torch lowering"]),
    (["--accel", "lut-asic", "--lookup-impl", "gather_sum"], ["--lookup-impl", "lut-asic", "fused"]),
    (["--tables-resident"], ["--tables-resident", "h200", "off_chip_cached"]),
    (["--bank-mapping", "hashed"], ["--bank-mapping", "h200", "off_chip_cached"]),
    (["--engine", "des", "--traced", "--bucket-distribution", "zipf"], ["--bucket-distribution", "--traced"]),
    (["--model", "pythia-410m", "--memory-bias"], ["--memory-bias", "pythia-410m", "transformer"]),
])
def test_ignored_flags_are_refused(capsys, tmp_path, args, needles):
    line = one_error_line(capsys, "simulate", "--seq-len", 32, *args, "--out", tmp_path / "out")
    for n in needles:
        assert n in line, line
    assert not (tmp_path / "out").exists()


def test_compare_warns_about_the_accelerators_that_ignore_a_flag(capsys, tmp_path):
    rc, out, err = run(capsys, "compare", "--accel", "h200,lut-asic", "--tables-resident", "--seq-len", 64,
                       "--out", tmp_path)
    assert rc == 0
    assert err.strip() == ("hwsim compare: warning: --tables-resident is ignored on h200 (applies to on-chip lookup "
                           "memories)")
    line = one_error_line(capsys, "compare", "--accel", "h200,a100", "--tables-resident", "--seq-len", 64,
                          "--out", tmp_path)
    assert "h200" in line


def test_tables_resident_takes_the_table_loading_out_of_the_lookups(capsys, tmp_path):
    """lut-asic: without --tables-resident each lookup fills the banks from HBM once per pass (by the cheaper of
    streaming its tables and fetching the rows its tokens touch); with it they are already there, so the
    block's DRAM traffic drops, by at most the table bytes (138.4 MB for memoryformer-tiny, reference
    section 4), and at least by the distinct rows 256 tokens touch less what the resident run reads from DRAM."""
    run_ok(capsys, tmp_path / "a", "simulate", "--accel", "lut-asic", "--model", "memoryformer-tiny", "--seq-len", 256)
    run_ok(capsys, tmp_path / "b", "simulate", "--accel", "lut-asic", "--model", "memoryformer-tiny", "--seq-len", 256,
           "--tables-resident")
    streamed = pd.read_csv(tmp_path / "a" / "summary.csv").set_index("scope").loc["block"]
    resident = pd.read_csv(tmp_path / "b" / "summary.csv").set_index("scope").loc["block"]
    assert resident["latency_s"] < streamed["latency_s"]
    drop = streamed["dram_bytes"] - resident["dram_bytes"]
    # distinct rows touched by 256 uniform tokens: r (1 - (1 - 1/r)^256) per table; Q, K, V: 64 tables of 256
    # rows of 1 KiB, M1: 256 rows of 1280 B, M2: 1024 rows of 1 KiB (tau 8, 2 expanding bits, d 512)
    touched = sum(64 * r * (1 - (1 - 1 / r) ** 256) * row for r, row in [(256, 1024)] * 3 + [(256, 1280), (1024, 1024)])
    assert drop <= 138.4e6 * 1.001
    assert drop >= touched - resident["dram_bytes"]


def test_trace_json_of_the_analytic_engine_is_written(capsys, tmp_path):
    trace = tmp_path / "t" / "trace.json"
    out = run_ok(capsys, tmp_path / "out", "simulate", "--seq-len", 64, "--trace-json", trace)
    assert f"trace {trace}" in out
    events = json.loads(trace.read_text())["traceEvents"]
    ops = pd.read_csv(tmp_path / "out" / "ops.csv")
    assert len([e for e in events if e["ph"] == "X"]) == ops["kernels"].sum()  # one event per kernel


# ---- size guards ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args,what", [
    (["buckets", "--seq-len", 10_000_000], "tracing memoryformer-tiny on 16 x 10000000 tokens"),
    (["simulate", "--traced", "--seq-len", 10_000_000], "tracing memoryformer-base on 1 x 10000000 tokens"),
    (["simulate", "--engine", "des", "--seq-len", 10_000_000], "the DES replay"),
    # (fits lut-asic's 32 GB of DRAM, not the host's memory for the replay)
    (["compare", "--engine", "des", "--accel", "lut-asic", "--model", "pythia-70m", "--seq-len", 1_000_000],
     "the DES replay"),
])
def test_runs_that_would_not_fit_are_refused_with_the_figures(capsys, tmp_path, monkeypatch, args, what):
    from hwsim.io import memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 22 * 10**9)
    line = one_error_line(capsys, *args, "--out", tmp_path / "out")
    assert what in line and "22 GB available; lower --seq-len or --batch" in line
    need = float(line.split("would need ")[1].split(" GB")[0])
    assert need > 22
    assert not (tmp_path / "out").exists()


# ---- all or nothing -----------------------------------------------------------------------------------------

def test_an_error_while_plotting_leaves_no_csv_behind(capsys, tmp_path, monkeypatch):
    from hwsim.report import des_plots

    def broken(result):
        raise ValueError("the plot failed")

    monkeypatch.setattr(des_plots, "bank_load_figure", broken)
    line = one_error_line(capsys, "simulate", "--engine", "des", "--accel", "lut-asic", "--model",
                          "memoryformer-tiny", "--seq-len", 64, "--trace-json", tmp_path / "t.json", "--out",
                          tmp_path / "out")
    assert "the plot failed" in line
    assert list(tmp_path.iterdir()) == []  # no ops.csv, no gantt.png, no trace, no staging directory


def test_a_ctrl_c_swallowed_while_plotting_still_stops_the_command(capsys, tmp_path, monkeypatch):
    """A SIGINT that lands in a matplotlib weakref callback is printed and dropped by Python; the command
    must still end as interrupted (exit 130) with nothing written."""
    import os
    import signal

    from hwsim.report import des_plots

    real = des_plots.gantt_figure

    def swallowing(result):
        try:
            os.kill(os.getpid(), signal.SIGINT)
        except KeyboardInterrupt:
            pass  # what "Exception ignored in: <function CallbackRegistry._remove_proxy ...>" amounts to
        return real(result)

    monkeypatch.setattr(des_plots, "gantt_figure", swallowing)
    rc, out, err = run(capsys, "simulate", "--engine", "des", "--accel", "lut-asic", "--model", "memoryformer-tiny",
                       "--seq-len", 64, "--out", tmp_path / "out")
    assert rc == 130 and err.strip().endswith("interrupted; no output was written")
    assert list(tmp_path.iterdir()) == []


# ---- the Result columns users' scripts read ---------------------------------------------------------------

@pytest.mark.parametrize("engine", ["analytic", "des"])
def test_ops_keep_busy_s_and_dram_bytes(capsys, tmp_path, engine):
    """Result.ops (and ops.csv) keep busy_s and dram_bytes per op. A 64 x 512 x 512 bf16 product reads its
    inputs and writes its output at least once from DRAM and cannot beat the h200's peak rates."""
    import hwsim
    import workloads

    r = hwsim.simulate(workloads.layer("linear", 64, 512, 512), "h200", engine=engine)
    row = r.ops.set_index("op").loc["matmul"]
    assert row["dram_bytes"] >= (64 * 512 + 512 * 512 + 64 * 512) * 2
    assert row["busy_s"] >= max(2 * 64 * 512 * 512 / 989e12, row["dram_bytes"] / 4.8e12)
    run_ok(capsys, tmp_path, "simulate", "--engine", engine, "--seq-len", 32)
    assert {"busy_s", "dram_bytes"} <= set(pd.read_csv(tmp_path / "ops.csv").columns)
