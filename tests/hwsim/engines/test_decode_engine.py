"""Decode steps in the engines: attention that reads a KV cache is memory-bound, a split-KV kernel keeps the
cores busy, and a step never gets faster with a longer cache or a larger batch (every preset, both kinds).
Expected values come from the configs' datasheet numbers and counts written out here, not from the engine."""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import models
import workloads
from hwsim import list_presets, load_accelerator, simulate
from hwsim.engines.analytic import attention_keys_per_core
from workloads.builders import preset_block

PRESETS = tuple(list_presets())
REL = 1e-9
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_step(kind, batch, kv_len, d=256, heads=4, seq_len=1, **kw):
    return workloads.block(kind, d, seq_len, batch, heads, phase="decode", kv_len=kv_len, rotary_pct=0.25, **kw)


@PROPERTY
@given(preset=st.sampled_from(PRESETS), kind=st.sampled_from(["transformer", "memoryformer"]),
       batch=st.integers(1, 64), kv_len=st.integers(0, 32768), more_kv=st.integers(1, 20000),
       more_batch=st.integers(1, 64), seq_len=st.sampled_from([1, 1, 4]),
       mode=st.sampled_from([None, "eager", "graph"]), lowering=st.sampled_from([None, "torch", "fused"]))
def test_decode_step_never_gets_faster_with_a_longer_cache_or_a_larger_batch(preset, kind, batch, kv_len, more_kv,
                                                                             more_batch, seq_len, mode, lowering):
    accel = load_accelerator(preset)
    opts = {k: v for k, v in dict(mode=mode, lowering=lowering).items() if v is not None}
    base = simulate(decode_step(kind, batch, kv_len, seq_len=seq_len), accel, **opts)
    longer = simulate(decode_step(kind, batch, kv_len + more_kv, seq_len=seq_len), accel, **opts)
    larger = simulate(decode_step(kind, batch + more_batch, kv_len, seq_len=seq_len), accel, **opts)
    assert longer.latency_s >= base.latency_s * (1 - REL), (longer.latency_s, base.latency_s)
    assert larger.latency_s >= base.latency_s * (1 - REL), (larger.latency_s, base.latency_s)
    assert longer.energy_j >= base.energy_j * (1 - REL)


@pytest.mark.parametrize("preset", ["h200", "lut-asic", "cpu-ddr5"])
def test_decode_attention_reads_the_whole_cache_and_is_memory_bound(preset):
    # pythia-410m's attention at batch 8, kv_len 4096: the cache is 8 x 4097 x 2 x 1024 x 2 B = 134 MB
    p = models.get_preset("pythia-410m")
    r = simulate(preset_block(p, 1, 8, phase="decode", kv_len=4096), preset)
    row = r.ops.set_index("op").loc["attention"]
    cache_bytes = 8 * 4097 * 2 * 1024 * 2
    # the 4096 cached tokens come from DRAM; this step's own keys and values may still sit in a scratchpad
    assert row["dram_bytes"] >= 8 * 4096 * 2 * 1024 * 2
    assert row["bound"] == "dram"
    accel = load_accelerator(preset)
    # at least the cache over the datasheet bandwidth; and within 2x of it at the sustained rate
    assert row["busy_s"] >= cache_bytes / accel.memory.dram.bandwidth_bytes_per_s
    assert row["busy_s"] <= 2 * cache_bytes / accel.memory.dram.sustained_bandwidth_bytes_per_s


def test_split_kv_spreads_one_sequences_keys_over_the_idle_cores():
    mat = load_accelerator("h200").compute.matrix  # 132 SMs, tiles of 128 query rows x 256 keys
    one = dict(batch=1, heads=16, seq_len=1, head_dim=64, causal=1, cache_len=32767)  # 32768 keys
    # 16 query tiles leave 132 // 16 = 8 cores per tile: 128 chunks of 256 keys, 16 chunks per core
    assert attention_keys_per_core(one, mat) == 16 * 256
    # at batch 9 the 144 query tiles fill the chip: no split, each core walks all keys of its tile
    assert attention_keys_per_core(dict(one, batch=9), mat) == 32768
    # a short cache is one chunk: nothing to split
    assert attention_keys_per_core(dict(one, cache_len=99), mat) == 100
    # prefill (no cache): the tile walks every key, as the measured sdpa_causal rows show
    assert attention_keys_per_core(dict(batch=1, heads=8, seq_len=1024, head_dim=64, causal=1), mat) == 1024


def test_one_query_row_masks_nothing():
    # decode at T = 1: the kernel does all the dense work (a prefill kernel skips the masked half)
    accel = load_accelerator("lut-asic")
    w = workloads.layer("attention", 64, 1024, batch=64, heads=16, phase="decode", kv_len=8191)
    r = simulate(w, accel, lowering="fused")
    att = r.ops.set_index("op").loc["attention"]
    rate = accel.compute.matrix.peak_flops_per_s["bf16"] * (accel.compute.matrix.attention_efficiency
                                                            or accel.compute.matrix.efficiency)
    assert att["compute_s"] >= w.op("attention").flops / rate * (1 - REL)


@pytest.mark.parametrize("kind", ["transformer", "memoryformer"])
def test_des_decode_step_costs_the_cache_too(kind):
    # (graph mode: in eager mode the host's launches of the other kernels would hide the longer read)
    short = simulate(decode_step(kind, 4, 16), "h200", engine="des", mode="graph")
    long = simulate(decode_step(kind, 4, 65536), "h200", engine="des", mode="graph")
    extra = 4 * (65536 - 16) * 2 * 256 * 2  # the longer cache's k and v
    assert long.dram_bytes - short.dram_bytes >= extra * (1 - REL)
    # the extra bytes take at least their time at the datasheet bandwidth
    assert long.latency_s - short.latency_s >= extra / load_accelerator("h200").memory.dram.bandwidth_bytes_per_s
