"""Notebooks run top to bottom in the test suite, so they cannot rot; and what they compute must be the
paper's figures (the project's paper reference, memoryformer.md), so a notebook that runs but shows wrong numbers fails.

After the notebook's own cells, one extra cell prints, as JSON, the figures its tables and plots show; they
are compared with the paper's Tables 1, 3, 5 and the Figure 1 values derived from its formulas."""
import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))

# reference section 4, Table 1 (G, paper convention): (without attention, total)
TABLE1 = {"pythia-70m": (6.4, 10.7), "memoryformer-tiny": (0.4, 4.7), "pythia-160m": (14.5, 20.9),
          "memoryformer-small": (0.906, 7.35), "pythia-410m": (25.8, 34.4), "memoryformer-base": (1.6, 10.2)}
TABLE3 = {4: (0.14, 2.1), 8: (0.07, 16.8), 10: (0.054, 53.5)}  # tau: (GFLOPs, MB); tau 10 from its formula
TABLE5_MB = [33.6, 52.4, 88.1, 157.3]  # expanding bits 0..3
FIGURE1 = {(512, 2048): (10.74, 4.70), (1024, 2048): (34.36, 10.20), (3072, 1024): (122.41, 13.69),
           (3072, 2048): (257.70, 40.27)}  # reference section 5, derived: (d, s): (Transformer, MemoryFormer)
BLOCK_MB = {"memoryformer-tiny": 138, "memoryformer-small": 311, "memoryformer-base": 554}  # derived

FIGURES = """
import json
print(json.dumps({
    "figure1": [[int(r.hidden_size), int(r.seq_len), r.model, float(r.flops_paper)] for r in fig1.itertuples()],
    "ratio_2048": float(ratio["flops_paper"]),
    "table1": {r.model: [float(r.flops_wo_attn_paper), float(r.flops_paper)] for r in t1.itertuples()},
    "table3": [[int(r.tau), float(r.flops_paper), float(r.table_bytes)] for r in t3.itertuples()],
    "table5": [float(b) for b in t5.table_bytes],
    "block_bytes": {r.model: float(r.bytes_per_block) for r in mem.itertuples()},
    "slowdown": {r["accelerator"]: float(r["slowdown"]) for r in rows},
}))
"""


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"


@pytest.fixture(scope="module")
def executed():
    out = {}
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        if path.name == "figure1.ipynb":
            nb.cells.append(nbformat.v4.new_code_cell(FIGURES))
        # run from the repository root so `import models, workloads, hwsim` works without installing
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent.parent)}}).execute()
        out[path.name] = nb
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(executed, path):
    nb = executed[path.name]
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors


def test_figure1_notebook_shows_the_papers_numbers(executed):
    nb = executed["figure1.ipynb"]
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    got = json.loads(text)
    fig1 = {(d, s, m): f for d, s, m, f in got["figure1"]}
    assert len(fig1) == 24  # 6 hidden sizes x 2 sequence lengths x 2 models (reference section 5)
    for (d, s), (tf, mf) in FIGURE1.items():
        assert fig1[(d, s, "transformer")] / 1e9 == pytest.approx(tf, abs=0.005)
        assert fig1[(d, s, "memoryformer")] / 1e9 == pytest.approx(mf, abs=0.005)
    assert got["ratio_2048"] == pytest.approx(0.19, abs=0.01)  # "about 19%" at s = d = 2048
    for model, (wo, total) in TABLE1.items():
        a, b = got["table1"][model]
        assert a / 1e9 == pytest.approx(wo, abs=0.05) and b / 1e9 == pytest.approx(total, abs=0.05), model
    for tau, gflops, nbytes in got["table3"]:
        assert gflops / 1e9 == pytest.approx(TABLE3[tau][0], abs=0.005), tau
        assert nbytes / 1e6 == pytest.approx(TABLE3[tau][1], abs=0.05), tau
    assert [round(b / 1e6, 1) for b in got["table5"]] == TABLE5_MB
    for model, mb in BLOCK_MB.items():
        assert got["block_bytes"][model] / 1e6 == pytest.approx(mb, rel=0.01)
    # the notebook's closing claim: more time for fewer FLOPs on the GPU, less time on the lookup chip
    assert got["slowdown"]["h200"] > 1 > got["slowdown"]["lut-asic"]
