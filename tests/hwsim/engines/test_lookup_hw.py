"""Lookup hardware (issue 11): near-memory accumulation, hot-row caches, table tiers and precision, the
table-stationary GPU dataflow. Bytes are checked against counts derived here from the op's shape and the
preset's stated figures; laws as hypothesis properties over presets and options, in both engines."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hwsim
import models
import workloads
from hwsim import load_accelerator, simulate
from hwsim.cli import main
from hwsim.engines import reuse
from hwsim.engines.lookup_hw import TablePlacementError, table_bytes
from workloads import Workload
from workloads.builders import lookup_op, preset_block

PROPERTY = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# tables behind a cache: every row read crosses the memory bus
CACHED_PRESETS = [p for p in hwsim.list_presets() if load_accelerator(p).lookup.placement == "off_chip_cached"]


def lone(tokens: int, width: int, tau: int = 8, dtype: str = "bf16", stream=None) -> Workload:
    """One Memory Layer lookup alone: tokens x (width / tau) rows of `width` elements, summed per token."""
    return Workload("lone", (lookup_op("m.lookup", tokens, width // tau, tau, width, dtype, index_stream=stream),))


def lookup_row(r):
    return r.ops[r.ops["kind"] == "lookup"].iloc[0]


def near(preset: str):
    """A preset with its lookups moved beside its DRAM banks (default near-memory parameters), able to hold
    any table its DRAM holds."""
    a = load_accelerator(preset)
    return a.with_overrides({"lookup.placement": "near_memory", "lookup.capacity": a.memory.dram.capacity_bytes})


# ---- near memory ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("tokens,width,tau", [(2048, 1024, 8), (1, 1024, 8), (300, 4096, 10), (64, 512, 4)])
def test_near_memory_bus_bytes_per_token_are_the_sum_and_the_commands(tokens, width, tau):
    # issue 11: near memory cuts bus bytes per lookup token to about d_out x bytes per element plus
    # commands; here d_out x 2 B (bf16) + K x 8 B (hbm-pim.yaml: command_bytes), within 10%
    k = width // tau
    r = simulate(lone(tokens, width, tau), "hbm-pim")
    per_token = lookup_row(r)["dram_bytes"] / tokens
    assert per_token == pytest.approx(width * 2 + k * 8, rel=0.10)
    # every gathered byte is read inside the memory instead: K rows of width x 2 B per token
    assert r.internal_bytes == pytest.approx(tokens * k * width * 2)
    off = simulate(lone(tokens, width, tau), "a100")  # the same host with plain HBM: every distinct row crosses
    assert lookup_row(off)["dram_bytes"] >= k * reuse.expected_distinct_uniform(tokens, 2 ** tau) * width * 2


def test_near_memory_charges_its_own_energies_not_the_dram_path():
    tokens, width, k = 512, 1024, 128
    a = load_accelerator("hbm-pim")
    r = simulate(lone(tokens, width), a)
    kern = r.kernels.iloc[0]
    bus = tokens * k * 8 + tokens * width * 2
    assert kern["dram_energy_j"] == pytest.approx(bus * 111e-12)                     # hbm-pim.yaml dram.energy_per_byte
    assert kern["internal_energy_j"] == pytest.approx(tokens * k * width * 2 * 16e-12)  # internal_energy_per_byte
    assert kern["adders_energy_j"] == pytest.approx(tokens * k * width * 1.5e-12)     # energy_per_mac per element
    assert kern["vector_energy_j"] == 0 and kern["lookup_energy_j"] == 0             # nothing summed on the host
    assert r.dram_bytes == pytest.approx(bus)


def test_hbm_pim_preset_is_the_published_device():
    a = load_accelerator("hbm-pim")
    nm = a.lookup.near_memory
    internal = a.lookup.banks * a.lookup.bank_width_bytes * nm.clock_hz
    # ISSCC 2021: "4x higher processing bandwidth than an off-chip memory solution"
    assert internal / a.memory.dram.bandwidth_bytes_per_s == pytest.approx(4.0, rel=0.05)
    # 1.2 TFLOP/s of FP16 per cube, 8 cubes; 2.4 Gb/s x 1024 pins per cube
    assert a.lookup.banks * nm.lanes * 2 * nm.clock_hz == pytest.approx(8 * 1.2e12, rel=0.03)
    assert a.memory.dram.bandwidth_bytes_per_s == pytest.approx(8 * 2.4e9 * 1024 / 8, rel=0.01)
    # the PIM dies hold memoryformer-base's 24 layers of tables
    mf = preset_block(models.get_preset("memoryformer-base"), 64, 1)
    assert 24 * table_bytes(mf) <= a.lookup.capacity_bytes


def test_an_on_chip_memory_filled_from_dram_can_move_fewer_bus_bytes_than_near_memory():
    # found by hypothesis (it held against lut-asic too, until this case): 257 tokens of a d = 64, tau = 4 layer.
    # Near memory is sent every token's 16 indices (8 B each) and sends back the sums (bf16); lut-asic's banks,
    # whose indices stay in its scratchpad, stream the 16 tables of 16 rows x 128 B from DRAM once instead
    tokens, width, tau = 257, 64, 4
    k = width // tau
    out = tokens * width * 2
    w = workloads.layer("memory", tokens, width, width, tau)
    on_chip = lookup_row(simulate(w, "lut-asic"))["dram_bytes"]
    near_memory = lookup_row(simulate(w, near("lut-asic")))["dram_bytes"]
    assert on_chip == k * 2 ** tau * width * 2 + out == 65664
    assert near_memory == tokens * k * 8 + out == 65792


@PROPERTY
@given(preset=st.sampled_from(CACHED_PRESETS), tokens=st.integers(1, 512), width=st.sampled_from([64, 256, 768, 1024]),
       tau=st.sampled_from([4, 8]), lowering=st.sampled_from([None, "fused"]), engine=st.sampled_from(["analytic", "des"]))
def test_near_memory_never_increases_bus_bytes(preset, tokens, width, tau, lowering, engine):
    # against tables behind a cache, whose rows cross the bus; an on-chip lookup memory is the next test
    w = workloads.layer("memory", tokens, width, width, tau)
    opts = dict({"lowering": lowering} if lowering else {}, engine=engine)
    off = lookup_row(simulate(w, preset, **opts))["dram_bytes"]
    on = lookup_row(simulate(w, near(preset), **opts))["dram_bytes"]
    assert on <= off


@PROPERTY
@given(tokens=st.integers(16, 256), scale=st.floats(1.0, 8.0), lanes=st.integers(1, 64),
       engine=st.sampled_from(["analytic", "des"]))
def test_more_internal_bandwidth_or_adders_is_never_slower(tokens, scale, lanes, engine):
    a = load_accelerator("hbm-pim")
    nm = a.lookup.near_memory
    base = a.with_overrides({"lookup.near_memory.lanes": lanes})
    faster = [base.with_overrides({"lookup.near_memory.internal_bandwidth": 9.83e12 * scale}),
              base.with_overrides({"lookup.near_memory.lanes": lanes + 1 + int(scale)})]
    w = lone(tokens, 1024)
    t0 = simulate(w, base.with_overrides({"lookup.near_memory.internal_bandwidth": 9.83e12}), engine=engine).latency_s
    for f in faster:
        assert simulate(w, f, engine=engine).latency_s <= t0 * (1 + 1e-9)
    assert nm.lanes == 16


@pytest.mark.parametrize("tokens,width", [(2048, 1024), (256, 512), (64, 4096)])
def test_engines_agree_on_a_lone_near_memory_lookup(tokens, width):
    a = simulate(lone(tokens, width), "hbm-pim")
    d = simulate(lone(tokens, width), "hbm-pim", engine="des")
    assert d.latency_s == pytest.approx(a.latency_s, rel=0.03)
    assert d.dram_bytes == pytest.approx(a.dram_bytes) and d.internal_bytes == pytest.approx(a.internal_bytes)
    assert d.energy_j == pytest.approx(a.energy_j, rel=0.03)


# ---- hot-row cache ----------------------------------------------------------------------------------------

def zipf_stream(tokens, tables, rows, s, seed=0):
    p = reuse.bucket_probs(rows, "zipf", s)
    return np.random.default_rng(seed).choice(rows, size=(tokens, tables), p=p).astype(np.int32)


@PROPERTY
@given(preset=st.sampled_from(["h200", "hbm-pim", "cpu-ddr5", "a100"]), policy=st.sampled_from(["lru", "static_top_k"]),
       s=st.sampled_from([0.0, 0.9, 1.3]), traced=st.booleans(), small=st.integers(0, 2 ** 22),
       extra=st.integers(1, 2 ** 24), tokens=st.integers(8, 512))
def test_a_bigger_hot_row_cache_is_never_slower(preset, policy, s, traced, small, extra, tokens):
    stream = zipf_stream(tokens, 64, 256, s) if traced and s else None
    w = lone(tokens, 512, stream=stream)
    law = {"bucket_distribution": "zipf", "zipf_exponent": s} if s else {}
    t = [simulate(w, preset, hot_cache_bytes=c, hot_cache_policy=policy, **law).latency_s for c in (small, small + extra)]
    assert t[1] <= t[0] * (1 + 1e-9)


@PROPERTY
@given(preset=st.sampled_from(["h200", "hbm-pim"]), policy=st.sampled_from(["lru", "static_top_k"]),
       small=st.integers(0, 2 ** 20), extra=st.integers(1, 2 ** 22), seed=st.integers(0, 5))
def test_a_bigger_hot_row_cache_is_never_slower_in_the_des(preset, policy, small, extra, seed):
    w = lone(128, 512)
    t = [simulate(w, preset, engine="des", hot_cache_bytes=c, hot_cache_policy=policy, bucket_distribution="zipf",
                  seed=seed).latency_s for c in (small, small + extra)]
    assert t[1] <= t[0] * (1 + 1e-9)


@pytest.mark.parametrize("preset", ["h200", "hbm-pim"])
@pytest.mark.parametrize("policy", ["lru", "static_top_k"])
def test_engines_agree_with_a_hot_row_cache_on_the_same_stream(preset, policy):
    d = simulate(lone(1024, 1024), preset, engine="des", hot_cache_bytes=4e6, hot_cache_policy=policy,
                 bucket_distribution="zipf")
    assert d.latency_s == pytest.approx(d.extra["analytic_latency_s"], rel=0.03)


def test_static_cache_hits_at_most_the_zipf_head_and_pays_for_its_prefetch():
    # a static cache of 16 rows per table (128 tables) can serve at most the 16 most popular buckets' share
    # of the reads, H(16, s) / H(256, s) under Zipf(s); it holds only rows that pay for their prefetch
    s, tokens, row_bytes = 1.1, 4096, 1024 * 2
    p = reuse.bucket_probs(256, "zipf", s)
    law = dict(bucket_distribution="zipf", zipf_exponent=s)
    none = simulate(lone(tokens, 1024), "hbm-pim", **law)
    r = simulate(lone(tokens, 1024), "hbm-pim", hot_cache_bytes=128 * 16 * row_bytes, hot_cache_policy="static_top_k",
                 **law)
    row = lookup_row(r)
    served = tokens * 128 * row_bytes - row["internal_bytes"]  # reads the banks did not serve, less prefetches
    assert 0 < served <= p[:16].sum() * tokens * 128 * row_bytes
    assert r.latency_s < none.latency_s


# ---- table precision and tiers ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype,scale", [("int8", 0.5), ("fp8", 0.5), ("fp32", 2.0), ("bf16", 1.0)])
def test_table_dtype_sets_the_bytes_of_a_row(dtype, scale):
    w = lone(512, 1024)
    base, r = simulate(w, "hbm-pim"), simulate(w, "hbm-pim", table_dtype=dtype)
    assert r.internal_bytes == pytest.approx(scale * base.internal_bytes)
    assert r.dram_bytes == pytest.approx(base.dram_bytes)  # the summed row still leaves in bf16
    # lut-asic fills its banks with the tables once per pass; at 4096 tokens every row is touched, so the
    # fill is the whole tables either way (streamed, or fetched row by row)
    w = lone(4096, 1024)
    lut, lut8 = simulate(w, "lut-asic"), simulate(w, "lut-asic", table_dtype=dtype)
    table = 128 * 256 * 1024 * 2
    assert lut8.dram_bytes - lut.dram_bytes == pytest.approx((scale - 1) * table, rel=1e-4)


def test_memoryformer_base_tables_against_every_tier():
    mf = preset_block(models.get_preset("memoryformer-base"), 2048, 1)
    assert 24 * table_bytes(mf) == pytest.approx(13.3e9, rel=0.01)  # issue 11: 13.3 GB for memoryformer-base
    with pytest.raises(TablePlacementError) as e:
        simulate(mf, "lut-asic", layers=24, table_tier="sram")
    msg = str(e.value)
    assert "\n" not in msg and "13.3 GB" in msg and "268 MB" in msg and "lookup.capacity" in msg
    assert simulate(mf, "lut-asic", layers=24, table_tier="auto").options["table_tier"] == "dram"
    assert simulate(mf, "lut-asic", layers=1, table_tier="auto").options["table_tier"] == "dram"  # 554 MB > 256 MiB
    tiny = preset_block(models.get_preset("memoryformer-tiny"), 256, 1)
    r = simulate(tiny, "lut-asic", layers=1, table_tier="auto")
    assert r.options["table_tier"] == "sram" and r.options["tables_resident"]
    simulate(mf, "hbm-pim", layers=24)  # 13.3 GB in 16 GB of PIM dies
    with pytest.raises(TablePlacementError, match=r"16\.6 GB .* 16\.0 GB"):
        simulate(mf, "hbm-pim", layers=30)
    with pytest.raises(TablePlacementError, match="near_memory"):
        simulate(mf, "hbm-pim", table_tier="host")
    with pytest.raises(TablePlacementError, match="memory.host"):
        simulate(mf, "a100", table_tier="host")


@pytest.mark.parametrize("preset", ["h200", "lut-asic"])
def test_host_tables_cross_the_host_link_and_cost_its_energy(preset):
    w = lone(512, 1024)
    a = load_accelerator(preset)
    home, host = simulate(w, preset), simulate(w, preset, table_tier="host")
    row = lookup_row(host)
    assert row["host_bytes"] > 0 and host.latency_s > home.latency_s
    assert host.kernels["host_energy_j"].sum() == pytest.approx(row["host_bytes"] * a.memory.host.energy_per_byte_j)
    assert row["dram_s"] >= row["host_bytes"] / a.memory.host.bandwidth_bytes_per_s


# ---- table-stationary -------------------------------------------------------------------------------------

def test_table_stationary_reads_each_touched_row_once_per_pass():
    # one token: each of the K tables gives one row; many tokens: every row is touched, the tables stream once
    k, width = 128, 1024
    for tokens, rows_read in [(1, k), (16384, k * 256)]:
        r = simulate(lone(tokens, width), "h200", lookup_impl="table_stationary")
        kern = r.kernels[r.kernels["kernel"] == "m.lookup:table_stationary"].iloc[0]
        streamed = tokens * k * (4 + 2) + tokens * width * 4  # bucketed lists in, fp32 sums out
        assert kern["dram_bytes"] - streamed == pytest.approx(rows_read * width * 2, rel=0.001)


def test_table_stationary_is_the_faster_h200_dataflow_at_prefill():
    mf = preset_block(models.get_preset("memoryformer-base"), 2048, 1)
    t = {impl: lookup_row(simulate(mf, "h200", lookup_impl=impl)) for impl in ("embedding_bag", "table_stationary")}
    lookups = {impl: simulate(mf, "h200", lookup_impl=impl).ops.query("kind == 'lookup'")["time_s"].sum()
               for impl in t}
    assert lookups["table_stationary"] < lookups["embedding_bag"] / 3


@pytest.mark.parametrize("tokens,width", [(2048, 1024), (8, 4096)])
def test_engines_agree_on_a_lone_table_stationary_lookup(tokens, width):
    a = simulate(lone(tokens, width), "h200", lookup_impl="table_stationary")
    d = simulate(lone(tokens, width), "h200", engine="des", lookup_impl="table_stationary")
    assert d.latency_s == pytest.approx(a.latency_s, rel=0.03)
    assert d.dram_bytes == pytest.approx(a.dram_bytes, rel=0.03)


# ---- command line -----------------------------------------------------------------------------------------

def test_cli_placement_that_does_not_fit_is_one_line_and_writes_nothing(capsys, tmp_path):
    out = tmp_path / "out"
    rc = main(["simulate", "--accel", "lut-asic", "--table-tier", "sram", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "13.3 GB" in err and "table_tier sram" in err
    assert not any(out.glob("*")) if out.exists() else True


def test_cli_runs_the_lookup_hardware_flags(capsys, tmp_path):
    rc = main(["simulate", "--accel", "hbm-pim", "--seq-len", "64", "--table-dtype", "int8", "--hot-cache", "1 MiB",
               "--hot-cache-policy", "static_top_k", "--out", str(tmp_path)])
    assert rc == 0 and "inside the memory" in capsys.readouterr().out
    assert math.isfinite(float(__import__("pandas").read_csv(tmp_path / "summary.csv")["internal_bytes"][0]))


def test_cli_refuses_a_hot_cache_no_accelerator_would_use_and_takes_the_law_where_one_does(capsys, tmp_path):
    rc = main(["simulate", "--accel", "lut-asic", "--seq-len", "32", "--hot-cache", "1 MiB", "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "--hot-cache" in err and "lut-asic" in err
    # the analytic engine takes the bucket law where a hot-row cache depends on it, and refuses it elsewhere
    rc = main(["simulate", "--accel", "h200", "--seq-len", "32", "--hot-cache", "1 MiB", "--bucket-distribution",
               "zipf", "--zipf-exponent", "1.2", "--out", str(tmp_path / "b")])
    assert rc == 0
    capsys.readouterr()
    rc = main(["simulate", "--accel", "h200", "--seq-len", "32", "--bucket-distribution", "zipf",
               "--out", str(tmp_path / "c")])
    assert rc == 2 and "--engine des" in capsys.readouterr().err
