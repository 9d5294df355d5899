"""Whole-model workloads (workloads/model.py): a step's ops and the bytes a model holds, against published
parameter counts and counts written out here."""
from __future__ import annotations

import pytest

import models
from workloads import OpKind, model_bytes, model_step
from workloads.builders import preset_block

# Pythia paper (Biderman et al., ICML 2023), Table 1 / the model cards: total parameters
PYTHIA_PARAMS = {"pythia-70m": 70_426_624, "pythia-160m": 162_322_944, "pythia-410m": 405_334_016}
# reference section 4 (derived): all tables of the whole model, fp16, tau 8, e 2: 0.83, 3.7 and 13.3 GB
MF_TABLES_GB = {"memoryformer-tiny": 0.83, "memoryformer-small": 3.7, "memoryformer-base": 13.3}


@pytest.mark.parametrize("name", sorted(PYTHIA_PARAMS))
def test_pythia_weights_are_the_published_parameter_counts(name):
    mb = model_bytes(models.get_preset(name), 1, 1)
    assert mb.weights_bytes == 2 * PYTHIA_PARAMS[name] and mb.tables_bytes == 0


@pytest.mark.parametrize("name", sorted(MF_TABLES_GB))
def test_memoryformer_tables_are_the_papers_storage(name):
    mb = model_bytes(models.get_preset(name), 1, 1)
    assert mb.tables_bytes / 1e9 == pytest.approx(MF_TABLES_GB[name], abs=0.051)
    p = models.get_preset(name)
    d, k = p.hidden_size, p.hidden_size // p.tau
    # q, k, v (K tables of 2^8 rows x d), M1 (2^8 rows x 10 K), M2 (2^10 rows x d), bf16
    per_block = 2 * k * (3 * 256 * d + 256 * 10 * k + 1024 * d)
    assert mb.tables_bytes == p.layers * per_block


def test_kv_cache_bytes_by_hand():
    p = models.get_preset("pythia-410m")
    # 24 layers x (k and v) x 8 sequences x 4096 tokens x 1024 x 2 B
    assert model_bytes(p, 8, 4096).kv_cache_bytes == 24 * 2 * 8 * 4096 * 1024 * 2


@pytest.mark.parametrize("name", ["pythia-160m", "memoryformer-small"])
def test_model_step_is_embedding_layers_final_norm_and_head(name):
    p = models.get_preset(name)
    batch, kv = 4, 300
    w = model_step(p, batch, 1, phase="decode", kv_len=kv)
    blk = preset_block(p, 1, batch, phase="decode", kv_len=kv)
    assert len(w) == 1 + p.layers * len(blk) + 2
    head = 2 * batch * p.vocab_size * p.hidden_size  # LM head on the last position of each sequence, no bias
    norm = w.op("final_norm.norm").flops
    assert w.flops == p.layers * blk.flops + head + norm
    assert w.op("embed_out.matmul").dims == {"m": batch, "n": 50304, "k": p.hidden_size, "bias": 0}
    emb = w.op("embed_in.gather")  # B x T rows of d from a 50304-row table
    assert emb.kind is OpKind.LOOKUP and emb.bytes_read["tables"] == batch * p.hidden_size * 2
    assert emb.table.total_bytes == 50304 * p.hidden_size * 2
    # the residual stream runs through the layers in order
    assert w.op("layers.0.attn_norm.norm").deps == ("embed_in.gather",)
    assert w.op("layers.1.attn_norm.norm").deps == ("layers.0.add_2",)
    assert w.op(f"layers.{p.layers - 1}.attention").dims["cache_len"] == kv
    assert w.op("final_norm.norm").deps == (f"layers.{p.layers - 1}.add_2",)
    assert w.meta["phase"] == "decode" and w.meta["kv_len"] == kv and "decode-kv300" in w.name
