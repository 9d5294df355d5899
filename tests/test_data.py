"""The measured data ships inside the repository, and nothing reads outside it."""
import csv
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CALIBRATION = REPO / "data" / "calibration"
# the files each machine's folder holds (issue 9: rows, README, the scripts that took them)
EXPECTED = {
    "h200": {"measured.csv", "energy.csv", "device.json", "README.md", "h200_bench.py", "h200_graphs.py",
             "h200_energy.py", "fused_memory_layer.py"},
    "cpu-2core": {"measured.csv", "README.md", "cpu_bench.py"},
}
# where code, tests, presets, notebooks and docs live
SCANNED = ["hwsim", "models", "workloads", "tests", "notebooks", "benchmarks", "README.md", "pyproject.toml",
           "data/README.md"]
# a path that climbs out of the checkout (../shared/...) or names the development machine's folders
OUTSIDE = re.compile(r"\.\./" + "shared|/work/" + "(shared|main)|REPO\\.parent")


@pytest.mark.parametrize("machine", sorted(EXPECTED))
def test_each_machine_folder_is_complete(machine):
    have = {p.name for p in (CALIBRATION / machine).iterdir()}
    assert EXPECTED[machine] <= have
    with open(CALIBRATION / machine / "measured.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and {"kind", "impl", "dtype", "time_us"} <= set(rows[0])


def test_the_data_readme_says_where_each_machine_was_measured():
    text = (REPO / "data" / "README.md").read_text()
    for machine in EXPECTED:
        assert f"calibration/{machine}/" in text


def _text_files():
    for entry in SCANNED:
        p = REPO / entry
        files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
        for f in files:
            if f.suffix in {".py", ".yaml", ".md", ".ipynb", ".toml", ".cfg", ".txt"} and "__pycache__" not in f.parts:
                yield f


def test_nothing_reads_outside_the_repository():
    hits = []
    for f in _text_files():
        for i, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line) and f.name != Path(__file__).name:
                hits.append(f"{f.relative_to(REPO)}:{i}: {line.strip()}")
    assert not hits, "paths outside the repository:\n" + "\n".join(hits)
