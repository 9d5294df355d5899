"""Decode workloads: a traced decode step (a block run on new tokens with a KV cache) equals the closed form op
by op, and the closed form's attention and cache traffic equal counts written out here by hand."""
from __future__ import annotations

import itertools

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import models
import workloads
from models import KVCache
from tests.workloads.test_block_options import bias_option, config
from tests.workloads.test_workloads import assert_same_ops
from workloads import OpKind, block, layer, trace
from workloads.builders import preset_block

COMBOS = list(itertools.product(["transformer", "memoryformer"], ["layernorm", "rmsnorm"], [0.0, 0.25],
                                [False, True], [False, True]))


def traced_decode(blk, batch, seq_len, kv_len, d, dtype=torch.float16, device="meta"):
    x = torch.empty(batch, seq_len, d, device=device, dtype=dtype)
    cache = KVCache(*torch.empty(2, batch, kv_len + seq_len + 2, d, device=device, dtype=dtype), kv_len)
    return trace(blk, x, cache)


@pytest.mark.parametrize("kind,norm,rotary_pct,bias,parallel", COMBOS)
@pytest.mark.parametrize("seq_len,kv_len", [(1, 37), (3, 0)])
def test_traced_decode_step_equals_closed_form_for_every_option(kind, norm, rotary_pct, bias, parallel, seq_len,
                                                                kv_len):
    mf = dict(tau=4, expand_bits=1) if kind == "memoryformer" else {}
    blk = models.build_block(config(kind, 64, 4, norm, rotary_pct, bias, parallel, **mf), device="meta",
                             dtype=torch.float16)
    traced = traced_decode(blk, 3, seq_len, kv_len, 64)
    assert "unmodelled_ops" not in traced.meta
    built = block(kind, 64, seq_len, 3, 4, dtype="fp16", norm=norm, rotary_pct=rotary_pct, parallel_residual=parallel,
                  phase="decode", kv_len=kv_len, **bias_option(kind, bias), **mf)
    assert_same_ops(traced, built)
    names = [op.name for op in built]
    assert names.index("kv_append") + 1 == names.index("attention")


@pytest.mark.parametrize("kind,cfg,kw", [
    ("memoryformer", models.MemoryFormerConfig(64, 4, tau=4, expand_bits=1, gelu=True, share_qkv_hash=False),
     dict(tau=4, expand_bits=1, gelu=True, share_qkv_hash=False)),
    ("memoryformer", models.MemoryFormerConfig(64, 4, tau=8, expand_bits=2, weighting="official"),
     dict(tau=8, expand_bits=2, weighting="official")),
])
def test_traced_decode_step_equals_closed_form_memoryformer_variants(kind, cfg, kw):
    blk = models.build_block(cfg, device="meta", dtype=torch.float16)
    built = block(kind, 64, 1, batch=5, heads=4, dtype="fp16", phase="decode", kv_len=100, **kw)
    assert_same_ops(traced_decode(blk, 5, 1, 100, 64), built)


@pytest.mark.parametrize("name", ["pythia-70m", "memoryformer-tiny"])
def test_traced_decode_on_real_tensors_has_index_streams_of_the_new_tokens_only(name):
    p = models.get_preset(name)
    traced = workloads.trace_preset(name, 1, batch=4, dtype="fp32", phase="decode", kv_len=6)
    assert_same_ops(traced, preset_block(p, 1, 4, "fp32", phase="decode", kv_len=6))
    assert traced.meta["phase"] == "decode" and traced.meta["kv_len"] == 6
    for op in traced:
        if op.kind is OpKind.LOOKUP:
            assert op.index_stream.shape == (4, p.hidden_size // p.tau)  # batch x seq_len tokens, one row per table


@pytest.mark.parametrize("batch,seq_len,kv_len", [(1, 1, 2048), (8, 1, 100), (2, 4, 0)])
def test_decode_attention_and_cache_traffic_by_hand(batch, seq_len, kv_len):
    d, heads, b = 1024, 16, 2
    w = block("transformer", d, seq_len, batch, heads, phase="decode", kv_len=kv_len)
    n, keys = batch * seq_len, kv_len + seq_len
    att = w.op("attention")
    # Convention: seq_len query rows against all kv_len + seq_len keys, dense (the paper's 2 s^2 d at s = keys
    # = seq_len; Q K^T and P V are n x keys x d multiply-adds each, softmax 6 FLOPs per score)
    assert att.flops_paper == 2 * n * keys * d
    assert att.flops == 4 * n * keys * d + 6 * batch * heads * seq_len * keys
    # it reads the whole cache: kv_len + seq_len rows of k and of v, per sequence, plus q; writes the output
    assert att.bytes_read["activations"] == n * d * b + 2 * batch * keys * d * b
    assert att.bytes_written["activations"] == n * d * b
    assert att.dims["cache_len"] == kv_len and att.dims["seq_len"] == seq_len
    app = w.op("kv_append")  # only the new rows move
    assert app.kind is OpKind.COPY and app.flops == 0
    assert app.bytes_read["activations"] == app.bytes_written["activations"] == 2 * n * d * b
    # every other op sees the batch x seq_len new tokens
    assert w.op("qkv.matmul").dims["m"] == n and w.op("fc2.matmul").dims["m"] == n
    mf = block("memoryformer", d, seq_len, batch, heads, phase="decode", kv_len=kv_len)
    assert {op.dims["tokens"] for op in mf if op.kind in (OpKind.LOOKUP, OpKind.HASH)} == {n}


def test_attention_flops_against_torch_flop_counter():
    # torch's own bmm formula on an explicit attention of T queries against S keys: 2 products of 2 T S dh FLOPs
    batch, heads, t, keys, dh = 2, 4, 3, 11, 16
    q = torch.randn(batch, heads, t, dh)
    k, v = torch.randn(2, batch, heads, keys, dh)
    with FlopCounterMode(display=False) as fc:
        torch.softmax(q @ k.transpose(-1, -2), -1) @ v
    w = block("transformer", heads * dh, t, batch, heads, phase="decode", kv_len=keys - t)
    softmax = 6 * batch * heads * t * keys
    assert w.op("attention").flops - softmax == fc.get_total_flops() == 2 * w.op("attention").flops_paper


def test_decode_of_a_whole_prompt_into_an_empty_cache_is_prefill_plus_the_cache_write():
    pre = block("memoryformer", 256, 64, 2, rotary_pct=0.25)
    dec = block("memoryformer", 256, 64, 2, rotary_pct=0.25, phase="decode", kv_len=0)
    assert dec.flops == pre.flops and dec.flops_paper == pre.flops_paper
    # attention reads k and v back from the cache instead of being handed them: the same bytes
    assert dec.op("attention").bytes_read == pre.op("attention").bytes_read
    assert dec.total_bytes == pre.total_bytes + 2 * (2 * 2 * 64 * 256 * 2)  # the append: k, v read and written
    assert [o.name for o in dec if o.name != "kv_append"] == [o.name for o in pre]


def test_phase_and_kv_len_are_recorded():
    w = block("transformer", 512, 1, 8, phase="decode", kv_len=2047)
    assert w.meta["phase"] == "decode" and w.meta["kv_len"] == 2047 and "decode-kv2047" in w.name
    p = block("transformer", 512, 16)
    assert p.meta["phase"] == "prefill" and "kv_len" not in p.meta and "decode" not in p.name
    lw = layer("attention", 8, 512, batch=8, phase="decode", kv_len=9)
    assert [o.name for o in lw] == ["kv_append", "attention"] and lw.meta["kv_len"] == 9
    assert lw.op("attention").bytes_read["activations"] == (8 + 2 * 8 * 10) * 512 * 2
    # other layers do the same work in both phases
    assert layer("linear", 8, 512, phase="decode", kv_len=9).flops == layer("linear", 8, 512).flops


@pytest.mark.parametrize("kwargs,needle", [
    (dict(phase="decode", kv_len=-1), "kv_len must be a non-negative integer"),
    (dict(phase="decode"), "kv_len must be a non-negative integer"),
    (dict(phase="decode", kv_len=2.5), "given kv_len=2.5"),
    (dict(phase="prefill", kv_len=16), "kv_len applies to phase='decode' only"),
    (dict(phase="generate", kv_len=16), "phase must be one of prefill, decode"),
])
def test_bad_phase_or_kv_len_is_one_clear_error(kwargs, needle):
    for build in (lambda: block("memoryformer", 512, 1, **kwargs), lambda: layer("attention", 4, 64, **kwargs),
                  lambda: workloads.trace_preset("pythia-70m", 1, device="meta", **kwargs)):
        with pytest.raises(ValueError, match=needle):
            build()


def test_table2_baselines_refuse_the_decode_phase():
    with pytest.raises(ValueError, match="phase='decode' is modelled for the transformer and memoryformer blocks"):
        block("performer", 512, 1, phase="decode", kv_len=8)
