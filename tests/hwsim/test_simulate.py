"""simulate()'s own checks: an unknown option or a run that cannot fit is one ValueError naming it."""
import pytest

import workloads
from hwsim import simulate
from hwsim.io import memory
from hwsim.result import OP_COLUMNS

W = workloads.layer("linear", 16, 16, 16)


@pytest.mark.parametrize("engine", ["analytic", "des"])
def test_an_unknown_option_is_named_with_the_allowed_ones(engine):
    with pytest.raises(ValueError) as e:
        simulate(W, "h200", engine=engine, foo=1)
    msg = str(e.value)
    assert "foo" in msg and "mode" in msg and "tables_resident" in msg
    assert ("seed" in msg) == (engine == "des")
    assert "zipf_exponent" in msg  # the analytic engine takes the bucket law for its lookup-hardware expectations


def test_a_des_option_on_the_analytic_engine_says_so():
    with pytest.raises(ValueError, match=r"seed: engine='des' only"):
        simulate(W, "h200", seed=3)


def test_not_a_workload_or_engine():
    with pytest.raises(ValueError, match="workload must be a workloads.Workload"):
        simulate("memoryformer", "h200")
    with pytest.raises(ValueError, match="engine must be one of analytic, des, given 'exact'"):
        simulate(W, "h200", engine="exact")


def test_a_des_run_that_cannot_fit_is_refused_before_it_allocates(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 2 * 10**9)
    w = workloads.block("memoryformer", 512, 1_000_000, heads=8)  # 320 M lookups
    with pytest.raises(ValueError, match=r"would need \d+ GB for the DES replay .*, 2.0 GB available"):
        simulate(w, "lut-asic", engine="des")


def test_result_ops_keep_the_columns_scripts_read():
    """Users' scripts read busy_s (device time alone) and dram_bytes per op from Result.ops."""
    assert {"busy_s", "dram_bytes", "time_s", "energy_j"} <= set(OP_COLUMNS)
    for engine in ("analytic", "des"):
        ops = simulate(workloads.block("memoryformer", 64, 32), "h200", engine=engine).ops
        assert list(ops.columns) == list(OP_COLUMNS)
        lookups = ops[ops["kind"] == "lookup"]
        # each lookup reads at least its rows: tokens x chunks x width x 2 B (bf16), some of them from DRAM
        assert (lookups["busy_s"] > 0).all() and (lookups["dram_bytes"] > 0).all()
        assert (ops["busy_s"] <= ops["time_s"].sum() * (1 + 1e-9)).all()
