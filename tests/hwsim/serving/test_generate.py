"""hwsim.serving: the fit check and the generation loop. Expected values are byte counts written out here and
identities of the definitions (TTFT, TPOT, tokens/s, energy per token); interpolation is checked against
every decode step simulated exactly."""
from __future__ import annotations

import math

import numpy as np
import pytest

import models
from hwsim import load_accelerator
from hwsim.serving import check_fit, decode_points, generate


def test_a_model_too_large_for_the_dram_is_refused_with_its_byte_counts():
    p, accel = models.get_preset("memoryformer-base"), load_accelerator("edge-npu")  # 8 GB
    tables = 24 * 2 * 128 * (3 * 256 * 1024 + 256 * 1280 + 1024 * 1024)  # 13.29 GB
    with pytest.raises(ValueError) as e:
        check_fit(p, accel, 1, 2176)
    line = str(e.value)
    assert "\n" not in line and "does not fit edge-npu" in line
    assert f"tables {tables} B" in line and "capacity 8000000000 B" in line
    with pytest.raises(ValueError, match="does not fit edge-npu"):
        generate("memoryformer-base", "edge-npu", 2048, 128)


def test_the_kv_cache_counts_too():
    p, accel = models.get_preset("pythia-410m"), load_accelerator("h200")  # 141 GB
    # 98304 B per token (24 layers x k, v x 1024 x 2 B): 1024 x 1400 tokens = 141 GB, plus 811 MB of weights
    assert check_fit(p, accel, 1024, 1390).kv_cache_bytes == 1024 * 1390 * 98304
    with pytest.raises(ValueError, match=f"KV cache {1024 * 1400 * 98304} B"):
        check_fit(p, accel, 1024, 1400)


def test_decode_points():
    assert decode_points(10, 14, 16) == [10, 11, 12, 13, 14]
    assert decode_points(0, 100, 5) == [0, 25, 50, 75, 100]
    assert decode_points(5, 4, 3) == []  # one new token: no decode step


@pytest.mark.parametrize("model,accel", [("memoryformer-tiny", "lut-asic"), ("pythia-70m", "h200"),
                                         ("memoryformer-tiny", "cpu-ddr5")])
def test_interpolated_decode_steps_are_within_one_percent_of_exact(model, accel):
    kw = dict(prompt_len=1000, new_tokens=301, batch=2)
    exact = generate(model, accel, kv_points=300, **kw)  # every decode step simulated
    assert exact.tokens["simulated"].all()
    quick = generate(model, accel, kv_points=5, **kw)
    assert quick.tokens["simulated"].sum() == 1 + 5
    for col in ("latency_s", "energy_j"):
        rel = np.abs(quick.tokens[col] / exact.tokens[col] - 1)
        assert rel.max() < 0.01, (col, rel.max())
        assert (rel[quick.tokens["simulated"]] < 1e-12).all()  # the simulated points are exact
    assert quick.summary["tpot_s"] == pytest.approx(exact.summary["tpot_s"], rel=0.01)


def test_summary_follows_its_definitions():
    g = generate("memoryformer-tiny", "lut-asic", prompt_len=64, new_tokens=9, batch=3)
    s, t = g.summary, g.tokens
    assert len(t) == 9 and list(t["position"]) == list(range(64, 73))
    assert list(t["kv_len"]) == [0] + list(range(64, 72))  # prefill into an empty cache, then P .. P + N - 2
    assert s["ttft_s"] == t["latency_s"].iloc[0]
    assert s["tpot_s"] == pytest.approx(t["latency_s"].iloc[1:].mean(), rel=1e-12)
    assert s["tokens_per_s"] == pytest.approx(3 * 9 / t["latency_s"].sum(), rel=1e-12)
    assert s["energy_per_token_j"] == pytest.approx(t["energy_j"].sum() / (3 * 9), rel=1e-12)
    # a step never gets faster as the cache grows; the prefill of 64 tokens costs more than any decode step
    lat = t["latency_s"].to_numpy()
    assert (np.diff(lat[1:]) >= -1e-15).all() and lat[0] > lat[1:].max()
    one = generate("memoryformer-tiny", "lut-asic", prompt_len=64, new_tokens=1, batch=3)
    assert len(one.tokens) == 1 and math.isnan(one.summary["tpot_s"])


@pytest.mark.parametrize("kwargs,needle", [
    (dict(prompt_len=0), "prompt_len: expected an integer >= 1"),
    (dict(new_tokens=-3), "new_tokens: expected an integer >= 1"),
    (dict(batch=1.5), "batch: expected an integer >= 1"),
    (dict(kv_points=1), "kv_points: expected an integer >= 2"),
])
def test_bad_input_is_one_clear_error(kwargs, needle):
    args = {**dict(prompt_len=8, new_tokens=4, batch=1), **kwargs}
    with pytest.raises(ValueError, match=needle):
        generate("pythia-70m", "h200", **args)
