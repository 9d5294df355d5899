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


# ---- tampered files: one clear error naming the file and the field, never an IndexError later ----------

def saved(traced, tmp_path):
    workloads.save(traced, tmp_path / "b")
    return json.loads((tmp_path / "b.json").read_text())


def rewrite_json(tmp_path, doc):
    (tmp_path / "b.json").write_text(json.dumps(doc))


def rewrite_stream(tmp_path, op_name, change):
    with np.load(tmp_path / "b.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    names = [str(n) for n in arrays["names"]]
    key = f"op{names.index(op_name)}"
    arrays[key] = change(arrays[key])
    with open(tmp_path / "b.npz", "wb") as fh:
        np.savez_compressed(fh, **arrays)


def lookup_index(doc):
    return next(i for i, d in enumerate(doc["ops"]) if d["kind"] == "lookup")


@pytest.mark.parametrize("change,needles", [
    (lambda s: s + 5000, ["bucket id", "out of range 0..255", "q.lookup"]),          # past the table's rows
    (lambda s: s - 300, ["bucket id -", "out of range"]),                            # negative
    (lambda s: s[:-3], ["shape (32, 8)", "given (29, 8)", "dims.tokens"]),            # shorter than its op
    (lambda s: s.astype(np.float64) + 0.5, ["integer bucket ids", "float64"]),          # float ids
    (lambda s: s[:, :5], ["shape (32, 8)", "given (32, 5)"]),                          # fewer tables
])
def test_tampered_streams_are_refused(traced, tmp_path, change, needles):
    saved(traced, tmp_path)
    rewrite_stream(tmp_path, "q.lookup", change)
    with pytest.raises(ValueError) as e:
        workloads.load(tmp_path / "b")
    msg = str(e.value)
    assert "b.npz" in msg
    for n in needles:
        assert n in msg, msg


@pytest.mark.parametrize("field,value,needles", [
    ("flops", -1, ["ops[{i}].flops", "non-negative integer, given -1"]),
    ("flops", 2.5, ["ops[{i}].flops", "expected an integer, given 2.5"]),
    ("bytes_read", {"tables": -8}, ["ops[{i}].bytes_read.tables", "given -8"]),
    ("bytes_written", {"activations": "lots"}, ["bytes_written.activations", "'lots'"]),
    ("dims", "tokens=0", ["ops[{i}].dims", "expected an object"]),
    ("kind", "teleport", ["ops[{i}].kind", "teleport", "lookup"]),
    ("dtype", "fp7", ["ops[{i}]", "fp7", "bf16"]),
    ("table", {"tables": 8, "rows_per_table": 0, "row_bytes": 128}, ["table.rows_per_table", "positive"]),
    ("inputs", [[2, -1]], ["ops[{i}].inputs[0][1]", "given -1"]),
])
def test_tampered_op_fields_are_refused(traced, tmp_path, field, value, needles):
    doc = saved(traced, tmp_path)
    i = lookup_index(doc)
    doc["ops"][i][field] = value
    rewrite_json(tmp_path, doc)
    with pytest.raises(ValueError) as e:
        workloads.load(tmp_path / "b")
    msg = str(e.value)
    assert "b.json" in msg
    for n in needles:
        assert n.format(i=i) in msg, msg


def test_zero_tokens_and_missing_keys_are_refused(traced, tmp_path):
    doc = saved(traced, tmp_path)
    i = lookup_index(doc)
    doc["ops"][i]["dims"]["tokens"] = 0
    rewrite_json(tmp_path, doc)
    with pytest.raises(ValueError, match=rf"b.json: ops\[{i}\].dims.tokens: expected a positive integer, given 0"):
        workloads.load(tmp_path / "b")
    doc = saved(traced, tmp_path)
    del doc["ops"][0]["deps"]
    rewrite_json(tmp_path, doc)
    with pytest.raises(ValueError, match=r"b.json: ops\[0\]: missing key 'deps'"):
        workloads.load(tmp_path / "b")


@pytest.mark.parametrize("doc,needle", [
    ([1, 2, 3], "expected a JSON object at the top level, given list"),
    ({"format_version": 1, "name": "x"}, "missing key 'ops'"),
    ({"format_version": 1, "name": "x", "ops": {"a": 1}}, "ops: expected a list, given dict"),
    ({"format_version": 1, "name": "x", "ops": [], "streams_file": "../../etc/passwd"}, "streams_file"),
    ({"format_version": 1, "name": "x", "ops": [7]}, "ops[0]: expected an object, given int"),
])
def test_wrong_document_shapes_are_refused(tmp_path, doc, needle):
    (tmp_path / "w.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError) as e:
        workloads.load(tmp_path / "w.json")
    assert "w.json" in str(e.value) and needle in str(e.value)


def test_truncated_or_missing_npz_is_refused(traced, tmp_path):
    saved(traced, tmp_path)
    data = (tmp_path / "b.npz").read_bytes()
    (tmp_path / "b.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="b.npz: not a readable NPZ of index streams"):
        workloads.load(tmp_path / "b")
    (tmp_path / "b.npz").unlink()
    with pytest.raises(FileNotFoundError, match="b.npz: no such streams file"):
        workloads.load(tmp_path / "b")


def test_a_binary_file_or_a_directory_is_refused(tmp_path):
    (tmp_path / "bin.json").write_bytes(bytes(range(256)))
    with pytest.raises(ValueError, match="bin.json: not a text JSON file"):
        workloads.load(tmp_path / "bin.json")
    (tmp_path / "d.json").mkdir()
    with pytest.raises(ValueError, match="d.json: is a directory"):
        workloads.load(tmp_path / "d.json")


def test_a_loaded_workload_runs_in_the_des(traced, tmp_path):
    """What load accepts, the engines can index with: the streams replay in the DES without error."""
    import hwsim

    back = workloads.load(workloads.save(traced, tmp_path / "b"))
    r = hwsim.simulate(back, "lut-asic", engine="des")
    lookups = sum(op.index_stream.size for op in back.ops if op.index_stream is not None)
    assert r.extra["lookups"] == lookups
