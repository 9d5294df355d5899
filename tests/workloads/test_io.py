"""Workloads saved and loaded: JSON for ops, NPZ for index streams, never pickle."""
import json

import numpy as np
import pytest
import torch

import models
import workloads


@pytest.fixture(scope="module")
def traced():
    torch.manual_seed(0)
    block = models.MemoryFormerBlock(models.MemoryFormerConfig(64, 4, tau=8))
    return workloads.trace(block, torch.randn(2, 16, 64))


def test_roundtrip_keeps_every_op_and_stream(traced, tmp_path):
    path = workloads.save(traced, tmp_path / "block")
    assert path.name == "block.json" and (tmp_path / "block.npz").exists()
    back = workloads.load(tmp_path / "block")
    assert back.name == traced.name and len(back) == len(traced)
    for a, b in zip(traced.ops, back.ops):
        assert a == b  # every field but the stream (compared below)
        if a.index_stream is None:
            assert b.index_stream is None
        else:
            np.testing.assert_array_equal(a.index_stream, b.index_stream)
    assert sum(op.index_stream is not None for op in back.ops) == 5  # q, k, v, m1, m2


def test_closed_form_workload_needs_no_npz(tmp_path):
    w = workloads.block("transformer", 128, 32)
    workloads.save(w, tmp_path / "t.json")
    assert not (tmp_path / "t.npz").exists()
    assert workloads.load(tmp_path / "t.json").ops == w.ops


def test_files_are_plain_json_and_npz_without_pickle(traced, tmp_path):
    workloads.save(traced, tmp_path / "b")
    doc = json.loads((tmp_path / "b.json").read_text())
    assert doc["format_version"] == 1 and len(doc["ops"]) == len(traced)
    with np.load(tmp_path / "b.npz", allow_pickle=False) as z:  # would raise if anything were pickled
        assert len(z.files) == 6  # five streams + their op names
    assert not list(tmp_path.glob("*.tmp"))


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.json"):
        workloads.load(tmp_path / "nothere")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        workloads.load(tmp_path / "bad.json")
    (tmp_path / "old.json").write_text(json.dumps({"format_version": 99, "name": "x", "ops": []}))
    with pytest.raises(ValueError, match="format_version: expected 1, given 99"):
        workloads.load(tmp_path / "old.json")
