"""All-or-nothing output (staged_outputs), atomic single files, and a Ctrl-C that cannot get lost."""
import os
import signal

import pandas as pd
import pytest

from hwsim.io import files, interrupts
from hwsim.io.files import STAGING_PREFIX, save_figure, staged_outputs, write_csv


def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_files_appear_together_at_the_end(tmp_path):
    out = tmp_path / "a" / "b"
    with staged_outputs(out) as stage:
        write_csv(pd.DataFrame({"x": [1, 2]}), stage / "one.csv")
        (stage / "two.txt").write_text("2")
        assert not out.exists()  # nothing in place before the end
    assert tree(out) == ["one.csv", "two.txt"]
    assert pd.read_csv(out / "one.csv")["x"].tolist() == [1, 2]
    assert not [p for p in tmp_path.rglob("*") if STAGING_PREFIX in p.name]


def test_an_error_halfway_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="boom"):
        with staged_outputs(out) as stage:
            write_csv(pd.DataFrame({"x": [1]}), stage / "ops.csv")
            raise ValueError("boom")
    assert tree(tmp_path) == []  # no out dir, no staging dir


def test_an_existing_directory_keeps_its_other_files(tmp_path):
    (tmp_path / "keep.txt").write_text("k")
    with pytest.raises(KeyboardInterrupt):
        with staged_outputs(tmp_path) as stage:
            (stage / "new.csv").write_text("n")
            raise KeyboardInterrupt
    assert tree(tmp_path) == ["keep.txt"]
    with staged_outputs(tmp_path) as stage:
        (stage / "keep.txt").write_text("replaced")
    assert (tmp_path / "keep.txt").read_text() == "replaced"


def test_files_outside_the_out_dir_are_staged_beside_them(tmp_path):
    trace = tmp_path / "elsewhere" / "deep" / "t.json"
    with pytest.raises(RuntimeError):
        with staged_outputs(tmp_path / "out") as stage:
            stage.file(trace).write_text("{}")
            (stage / "ops.csv").write_text("x")
            raise RuntimeError
    assert tree(tmp_path) == []
    with staged_outputs(tmp_path / "out") as stage:
        stage.file(trace).write_text("{}")
        (stage / "ops.csv").write_text("x")
    assert trace.read_text() == "{}" and (tmp_path / "out" / "ops.csv").exists()


def test_bad_destinations_are_one_clear_error_before_anything_runs(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(ValueError, match="expected a directory, given an existing file"):
        with staged_outputs(f):
            pass
    with pytest.raises(ValueError, match="is a directory"):
        with staged_outputs(tmp_path / "out") as stage:
            stage.file(tmp_path)
    with pytest.raises(ValueError, match="is a file"):
        with staged_outputs(tmp_path / "out") as stage:
            stage.file(f / "sub" / "t.json")


def test_a_swallowed_ctrl_c_still_stops_the_commit(tmp_path):
    """SIGINT that lands in a finalizer or weakref callback raises KeyboardInterrupt there, where Python
    prints and drops it (matplotlib's callback registry). The commit must still refuse to happen."""
    out = tmp_path / "out"
    with interrupts.recording_sigint():
        with pytest.raises(KeyboardInterrupt):
            with staged_outputs(out) as stage:
                (stage / "ops.csv").write_text("x")
                try:
                    os.kill(os.getpid(), signal.SIGINT)
                except KeyboardInterrupt:
                    pass  # swallowed, as "Exception ignored in: <callback>" would
                assert interrupts.interrupted()
    assert not out.exists()
    assert not interrupts.interrupted()  # the flag belongs to one command


def test_save_figure_raises_a_swallowed_ctrl_c_after_the_figure(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with interrupts.recording_sigint():
        fig = plt.figure()
        try:
            os.kill(os.getpid(), signal.SIGINT)
        except KeyboardInterrupt:
            pass
        with pytest.raises(KeyboardInterrupt):
            save_figure(fig, tmp_path / "f.png")
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]  # the file itself is whole (atomic rename)
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_a_commit_counts_and_outside_the_cli_sigint_is_untouched(tmp_path):
    before = files.commits
    with staged_outputs(tmp_path) as stage:
        (stage / "a").write_text("a")
    assert files.commits == before + 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
