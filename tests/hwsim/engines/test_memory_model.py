"""Where bytes live and what moving them costs: the cases issue 8 found broken, each held to a figure
derived by hand from the configs (hwsim/config/presets) or by brute force, never from the engine."""
import math

import numpy as np
import pytest

import models
import workloads
from hwsim import FootprintError, fits, load_accelerator, simulate
from hwsim.engines import banks as bank_model
from workloads.builders import preset_block


# ---- lookup capacity: more never slows a lookup down -----------------------------------------------------

def test_one_token_on_lut_asic_fetches_the_rows_it_touches_not_the_tables():
    # K = 2048 / 8 = 256 tables of 256 rows x 4096 bf16 (8 KiB): 512 MiB of tables, twice the banks' 256 MiB.
    # One token reads 256 rows = 2 MiB; streaming the half of the tables that fits would move 256 MiB.
    lut = load_accelerator("lut-asic")
    r = simulate(workloads.layer("memory", 1, 2048, 4096), lut).ops.set_index("op").loc["lookup"]
    rows = 256 * 8192
    assert r["dram_bytes"] <= 1.01 * rows + 256 * (8 + 2) + 4096 * 2  # + indices, weights in and the output
    stream_half = 256 * 2**20 / (1.64e12 * 0.88)  # lut-asic.yaml: 1.64 TB/s at 0.88
    assert r["busy_s"] < stream_half / 20


@pytest.mark.parametrize("preset, layer", [("lut-asic", (4096, 2048, 4096)), ("lut-asic", (64, 2048, 4096)),
                                           ("h200", (8192, 1024, 4096)), ("cpu-ddr5", (2048, 1024, 1024))])
def test_a_larger_lookup_capacity_never_slows_the_lookup(preset, layer):
    accel = load_accelerator(preset)
    w = workloads.layer("memory", *layer)
    times = [simulate(w, accel.with_overrides({"lookup.capacity": f"{mib} MiB"})).ops.set_index("op")
             .loc["lookup", "busy_s"] for mib in (16, 64, 256, 1024, 4096)]
    assert all(b <= a * (1 + 1e-9) for a, b in zip(times, times[1:])), times
    assert times[-1] < times[0]  # and holding every table helps


def test_l2_hits_on_h200_run_at_the_l2_rate_not_the_dram_gather_rate():
    # 8192 tokens x 128 tables of 256 rows x 1 KiB (32 MiB of tables, inside the 60 MiB L2): almost every read
    # is a repeat that hits. The L2 serves 8192 x 128 x 1 KiB = 1.07 GB at 12 TB/s (h200.yaml) = 89 us; at the
    # DRAM's random-gather efficiency for 1 KiB rows (0.53) it would be 168 us.
    w = workloads.layer("memory", 8192, 1024, 512)
    r = simulate(w, "h200", lowering="fused").ops.set_index("op").loc["lookup"]  # one kernel
    gathered = 8192 * 128 * 1024
    op = w.op("lookup")
    streamed = op.total_bytes - op.bytes_read["tables"]  # indices and weights in, the output out
    assert gathered / 12e12 <= r["sram_s"] <= (gathered + streamed) / 12e12 * (1 + 1e-9)


# ---- bank mappings -------------------------------------------------------------------------------------

def _busiest(stream, banks, mapping, rows_per_table=256, row_bytes=1024, width=64):
    loads = bank_model.bank_loads(stream, rows_per_table, bank_model.span(row_bytes, width), banks, mapping)
    return loads.sum(axis=0).max()


def test_hashed_mapping_is_not_a_permutation_of_interleaved_for_power_of_two_banks():
    # rows whose global ids are multiples of 512 all start at bank 0 when interleaved over 512 banks (ids x 16 mod
    # 512); a hash of all the bits spreads them: its busiest bank is near the balls-in-bins mean
    tokens, tables = 4096, 1
    stream = (np.arange(tokens)[:, None] * 32 % 256).astype(np.int64)  # rows 0, 32, 64, ...: g * 16 = 0 mod 512
    interleaved = _busiest(stream, 512, "interleaved")
    hashed = _busiest(stream, 512, "hashed")
    mean = tokens * 16 / 512
    assert interleaved >= 8 * mean  # 8 distinct rows, all on banks 0..15
    assert hashed <= interleaved / 4


def test_zipf_bank_time_does_not_jump_from_500_to_512_hashed_banks():
    # issue 8: with the old multiplicative hash, 512 banks were 3-7x worse than 500 on Zipf buckets
    rng = np.random.default_rng(0)
    tokens, tables = 2048, 32
    stream = np.minimum(rng.zipf(1.2, size=(tokens, tables)) - 1, 255).astype(np.int64)
    t500 = _busiest(stream, 500, "hashed") / 500 * 500  # busiest bank's accesses: the op's bank time in cycles
    t512 = _busiest(stream, 512, "hashed")
    assert t512 <= 1.5 * t500


# ---- activations on chip --------------------------------------------------------------------------------

def test_lut_asic_keeps_activations_in_its_scratchpad_and_h200_does_not():
    w = workloads.block("memoryformer", 256, 64, heads=4)  # a few hundred KiB of activations: all fit
    lut = load_accelerator("lut-asic")
    on = simulate(w, lut).ops.set_index("op")
    off = simulate(w, lut.with_overrides({"memory.sram[0].kind": "cache"})).ops.set_index("op")
    norm, hsh = w.op("attn_norm.norm"), w.op("hash")
    # the norm reads the block input and its weights from DRAM and hands its output to the hash on chip ...
    assert on.loc["attn_norm.norm", "dram_bytes"] == norm.total_bytes_read
    assert off.loc["attn_norm.norm", "dram_bytes"] == norm.total_bytes
    # ... the hash unit reads it there and leaves indices and weights there for the three lookups
    assert on.loc["hash", "dram_bytes"] == 0 and off.loc["hash", "dram_bytes"] == hsh.total_bytes
    # the block's output still goes to DRAM
    assert on.loc["add_2", "dram_bytes"] >= w.op("add_2").total_bytes_written
    assert simulate(w, lut).latency_s <= simulate(w, lut.with_overrides({"memory.sram[0].kind": "cache"})).latency_s
    h = simulate(w, "h200", lowering="fused").ops.set_index("op")  # a GPU's L2 is a cache: results go to DRAM
    assert h.loc["attn_norm.norm", "dram_bytes"] == norm.total_bytes


def test_activations_that_do_not_fit_make_the_round_trip():
    w = workloads.block("memoryformer", 256, 64, heads=4)
    tiny = load_accelerator("lut-asic").with_overrides({"memory.sram[0].capacity": "16 KiB"})  # the norm's output: 32 KiB
    assert simulate(w, tiny).ops.set_index("op").loc["attn_norm.norm", "dram_bytes"] == w.op("attn_norm.norm").total_bytes


# ---- footprint -------------------------------------------------------------------------------------------

def test_memoryformer_base_does_not_fit_edge_npu_and_says_so():
    p = models.get_preset("memoryformer-base")
    w = preset_block(p, 2048, 1, "bf16")
    tables = sum(op.table.total_bytes for op in w.ops if op.table is not None)
    assert p.layers * tables > 8e9  # edge-npu.yaml: 8 GB of LPDDR5; 24 x 554 MB = 13.3 GB
    assert fits(w, "edge-npu") and not fits(w, "edge-npu", layers=p.layers)
    with pytest.raises(FootprintError) as e:
        simulate(w, "edge-npu", layers=p.layers)
    msg = str(e.value)
    assert "\n" not in msg and "13.3 GB" in msg and "memory.dram.capacity 8.00 GB" in msg and "24" in msg
    assert isinstance(e.value, ValueError)
    assert simulate(w, "edge-npu").latency_s > 0  # one block fits
    t = preset_block(models.get_preset("pythia-410m"), 2048, 1, "bf16")
    assert fits(t, "edge-npu", layers=24)  # 24 x 25 MB of weights


def test_a_block_that_alone_exceeds_dram_raises():
    w = workloads.layer("memory", 1, 2048, 4096)  # 512 MiB of tables
    small = load_accelerator("edge-npu").with_overrides({"memory.dram.capacity": "256 MiB"})
    with pytest.raises(FootprintError, match="memory.dram.capacity"):
        simulate(w, small)


def test_layers_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="layers must be a positive integer, given 0"):
        simulate(workloads.layer("linear", 1, 8, 8), "h200", layers=0)
    assert math.isclose(simulate(workloads.layer("linear", 1, 8, 8), "h200", layers=3).latency_s,
                        simulate(workloads.layer("linear", 1, 8, 8), "h200").latency_s)


def test_cli_refuses_a_model_that_does_not_fit_in_one_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[3]
    run = lambda *args: subprocess.run([sys.executable, "-m", "hwsim.cli", *args, "--out", str(tmp_path)],
                                       cwd=repo, capture_output=True, text=True, timeout=300)
    p = run("simulate", "--accel", "edge-npu", "--model", "memoryformer-base")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not fit on edge-npu" in lines[0] and "memory.dram.capacity 8.00 GB" in lines[0]
    p = run("compare", "--accel", "edge-npu,lut-asic")
    assert p.returncode == 0 and "skipped edge-npu" in p.stderr and "Traceback" not in p.stderr
    assert "lut-asic" in p.stdout and "edge-npu" not in p.stdout


# ---- repeats by tokens running together do not hit --------------------------------------------------------

def test_cold_reads_by_brute_force():
    from hwsim.engines.lookups import cold_rows, cold_rows_of_stream

    rng = np.random.default_rng(1)
    stream = rng.integers(0, 8, size=(37, 5))
    for lockstep in (1, 2, 3, 37):
        # a read waits for a fill unless an earlier token group read its row
        expect = 0
        for t in range(37):
            start = lockstep * (t // lockstep)
            for k in range(5):
                expect += stream[t, k] not in stream[:start, k]
        assert cold_rows_of_stream(stream, lockstep) == expect
    # uniform rows, one token at a time: the expected distinct rows, r (1 - (1 - 1/r)^n) per table
    assert cold_rows(16, 256, 10, 1) == pytest.approx(16 * 256 * (1 - (255 / 256) ** 10))
    assert cold_rows(16, 256, 2, 2) == 32  # two tokens together: both read cold


def test_a_second_token_on_a_second_cpu_core_is_not_faster():
    # found by the tokens law: the second token's rows were credited as hits although both cores read them
    # at the same time
    kw = dict(kind="memoryformer", hidden_size=128, seq_len=1, expand_bits=0, dtype="fp32")
    one, two = (simulate(workloads.block(**kw, batch=b), "cpu-2core", mode="graph").latency_s for b in (1, 2))
    assert two >= one
