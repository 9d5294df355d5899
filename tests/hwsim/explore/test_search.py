"""The guided search (sampling method nsga2): its space stays on the axes' values, its hypervolume is exact
(checked against closed forms and Monte Carlo), it nears the brute-force grid front with a fraction of the
evaluations and beats random sampling on the same budget, its constraints steer it (not only filter it), and a
killed search resumes to the dataset an uninterrupted one writes, the same on every engine."""
from __future__ import annotations

import math
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from hwsim.explore.pareto import pareto
from hwsim.explore.runner import run_sweep
from hwsim.explore.spec import load_spec
from tests.hwsim.explore.sweep_helpers import lut_space, small_spec
from tests.hwsim.explore.test_pareto import brute_force_check
from tests.hwsim.explore.test_runner import ENGINE_AXES, REPO, parts, same_bytes_on_every_engine, wait_for_parts

optuna = pytest.importorskip("optuna")

from hwsim.explore import search  # noqa: E402  (needs optuna only when a search runs; imported after the skip)
from hwsim.explore.search import hypervolume  # noqa: E402

OBJ = ["latency_s", "energy_j", "area_mm2"]


def nsga2(n, seed=0, population=20, **changes):
    return lut_space(sampling={"method": "nsga2", "n": n, "seed": seed, "population": population}, **changes)


# ---- the space ---------------------------------------------------------------------------------------------

def test_axes_become_dimensions_on_their_values_or_continuous_without_n():
    from optuna.distributions import FloatDistribution, IntDistribution

    spec = load_spec(small_spec(sampling={"method": "nsga2", "n": 20, "population": 10},
                                workload={"model": "memoryformer-tiny", "seq_len": 256},
                                options={"mode": ["eager", "graph"], "lowering": "torch"},
                                axes={"lookup.banks": [128, 256, 512],                       # a list: its values
                                      "memory.dram.bandwidth": {"logspace": ["0.5 TB/s", "8 TB/s"], "n": 5},
                                      "memory.dram.latency": {"range": ["100 ns", "900 ns"]},  # no n: continuous
                                      "memory.dram.channels": {"logspace": [8, 64]},           # whole numbers
                                      "memory.sram.0.capacity": ["8 MiB"]}))                  # one value: fixed
    dims = {a.name: d for a, d, _ in search.dimensions(spec)}
    assert dims == {"mode": IntDistribution(0, 1), "lookup.banks": IntDistribution(0, 2),
                    "memory.dram.bandwidth": IntDistribution(0, 4),
                    "memory.dram.latency": FloatDistribution(100e-9, 900e-9),
                    "memory.dram.channels": IntDistribution(8, 64, log=True)}
    assert search.fixed_values(spec) == {"base": "lut-asic", "model": "memoryformer-tiny", "seq_len": 256,
                                         "lowering": "torch", "memory.sram.0.capacity": 8 * 2**20}


def test_every_point_lies_on_the_axes_and_the_dataset_has_a_generation_per_part(tmp_path):
    spec = small_spec(sampling={"method": "nsga2", "n": 60, "seed": 2, "population": 12},
                      axes={"lookup.banks": [64, 128, 256, 512],
                            "memory.dram.bandwidth": {"logspace": ["0.5 TB/s", "8 TB/s"], "n": 5},
                            "memory.dram.latency": {"range": ["100 ns", "900 ns"]}})
    r = run_sweep(spec, tmp_path / "s", workers=1, progress=False)
    df = pd.read_parquet(tmp_path / "s")
    assert r.evaluations == 60 and r.parts == 5 and len(parts(tmp_path / "s")) == 5  # 60 evaluations / 12
    assert len(df) == r.points == r.computed <= 60 and df["key"].is_unique and (df["error"] == "").all()
    assert set(df["generation"]) <= set(range(5)) and (df["generation"] == 0).sum() <= 12
    assert set(df["lookup.banks"]) <= {64, 128, 256, 512}
    bw = 0.5e12 * 16 ** (np.arange(5) / 4)  # the logspace's five values, computed here
    assert all(np.isclose(bw, x, rtol=1e-12).any() for x in df["memory.dram.bandwidth"])
    assert df["memory.dram.latency"].between(100e-9, 900e-9).all() and df["memory.dram.latency"].nunique() > 5
    again = run_sweep(spec, tmp_path / "s", workers=1, progress=False)  # finished: a replay, nothing computed
    assert again.computed == 0
    pd.testing.assert_frame_equal(again.frame, df)


def test_the_batched_sampler_proposes_what_optunas_own_nsga2_proposes():
    """Told each trial's generation (instead of scanning for it), the sampler must ask the same points as
    optuna's NSGAIISampler asked a generation at a time: a toy problem with a constraint, 300 evaluations."""
    import types
    import warnings

    from optuna.distributions import FloatDistribution, IntDistribution

    dists = {"a": IntDistribution(0, 9), "b": IntDistribution(0, 4), "c": FloatDistribution(0.1, 10, log=True)}

    def drive(study, batched):
        for g in range(15):
            if batched:
                study.sampler.generation = g
            trials = [study.ask(dists) for _ in range(20)]
            for t in trials:
                a, b, c = t.params["a"], t.params["b"], t.params["c"]
                t.set_user_attr("constraints", [a + b - 10.0])
                study.tell(t, [a + c, (9 - a) * (b + 1), abs(c - b)])
        return [t.params for t in study.trials]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        stock = optuna.create_study(directions=["minimize"] * 3, sampler=optuna.samplers.NSGAIISampler(
            population_size=20, seed=4, constraints_func=lambda t: t.user_attrs["constraints"]))
        ours = search.new_study(types.SimpleNamespace(population=20, seed=4, objectives=("x", "y", "z")))
        assert drive(ours, True) == drive(stock, False)


# ---- hypervolume ---------------------------------------------------------------------------------------------

def test_hypervolume_against_closed_forms():
    assert hypervolume([[0.5, 0.5]], [1, 1]) == pytest.approx(0.25)
    # two rectangles overlapping in [0.6, 1] x [0.6, 1]: 0.32 + 0.32 - 0.16
    assert hypervolume([[0.2, 0.6], [0.6, 0.2]], [1, 1]) == pytest.approx(0.48)
    # a dominated point and a point beyond the reference add nothing
    assert hypervolume([[0.2, 0.6], [0.6, 0.2], [0.7, 0.7], [0.1, 1.5]], [1, 1]) == pytest.approx(0.48)
    # 3-D: boxes of 0.5^3 and 0.8 x 0.8 x 0.2 overlapping in 0.5 x 0.5 x 0.2
    assert hypervolume([[0.5, 0.5, 0.5], [0.2, 0.2, 0.8]], [1, 1, 1]) == pytest.approx(0.125 + 0.128 - 0.05)
    assert hypervolume(np.zeros((0, 3)), [1, 1, 1]) == 0.0


@pytest.mark.parametrize("m, seed", [(2, 0), (3, 1), (3, 2), (4, 3)])
def test_hypervolume_against_monte_carlo(m, seed):
    rng = np.random.default_rng(seed)
    pts = rng.random((25, m)) ** 0.5  # spread toward the reference so that boxes overlap a lot
    u = rng.random((200_000, m))
    hit = np.zeros(len(u), dtype=bool)
    for p in pts:
        hit |= np.all(u >= p, axis=1)
    sigma = math.sqrt(hit.mean() * (1 - hit.mean()) / len(u))
    assert abs(hypervolume(pts, [1.0] * m) - hit.mean()) < 4 * sigma


# ---- how good a search is ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The brute-force front of the 540-point space, and the bounds its feasible points span."""
    df = run_sweep(lut_space(), tmp_path_factory.mktemp("grid") / "g", workers=1, progress=False).frame
    ok = df[df["feasible"] & (df["error"] == "")]
    lo, hi = ok[OBJ].min().to_numpy(), ok[OBJ].max().to_numpy()

    def hv(frame):  # on objectives normalised to the grid's feasible span, reference point 1.1 in each
        front = pareto(frame, OBJ)
        return hypervolume((front[OBJ].to_numpy() - lo) / (hi - lo), [1.1] * 3)

    return df, hv, hv(df)


def test_nsga2_nears_the_grid_front_with_fewer_evaluations_and_beats_random_sampling(grid, tmp_path):
    df, hv, best = grid
    assert len(df) == 540 and len(pareto(df, OBJ)) == 15
    ours, theirs = [], []
    for seed in range(5):  # 200 evaluations (37% of the grid), 10 generations of 20
        r = run_sweep(nsga2(200, seed), tmp_path / f"n{seed}", workers=1, progress=False)
        q = run_sweep(lut_space(sampling={"method": "random", "n": 200, "seed": seed}), tmp_path / f"r{seed}",
                      workers=1, progress=False)
        assert r.points < 200  # repeats are told their earlier values, not recomputed
        ours.append(hv(r.frame) / best)
        theirs.append(hv(q.frame) / best)
        # every search point is a grid point, so nothing can beat the grid's front
        assert ours[-1] <= 1 + 1e-12
    # measured: 0.991-0.998 of the grid front's hypervolume; random sampling 0.960-0.969
    assert min(ours) >= 0.97, ours
    assert np.mean(ours) > np.mean(theirs) and min(ours) > max(theirs), (ours, theirs)


def test_the_reported_front_is_not_dominated_and_meets_the_constraints(tmp_path):
    r = run_sweep(nsga2(120, seed=7), tmp_path / "s", workers=1, progress=False)
    df = r.frame
    front = pareto(df, OBJ)
    ok = df[df["feasible"] & (df["error"] == "")].reset_index(drop=True)
    brute_force_check(ok, OBJ, pareto(ok, OBJ))
    assert len(front) and front["tables_fit"].all() and (front["area_mm2"] <= 300).all()
    # and the constraints are read from the columns, as written: infeasible rows exist and are marked so
    bad = df[~df["feasible"]]
    assert len(bad) and (~bad["tables_fit"] | (bad["area_mm2"] > 300)).all()


def test_constraint_violations_are_relative_overshoots():
    spec = load_spec(nsga2(40, constraints=["tables_fit", "area_mm2 <= 300", "latency_s < 1 ms",
                                            "energy_j >= 2 mJ"]))
    row = {"error": "", "tables_fit": True, "area_mm2": 450.0, "latency_s": 1e-3, "energy_j": 1e-3}
    # error, tables_fit, area 50% over, latency exactly at a strict bound (violated, by the least amount), energy
    assert search.violations(spec, row) == [0.0, 0.0, 0.5, 1e-12, 0.5]
    row = {"error": "", "tables_fit": False, "area_mm2": 100.0, "latency_s": None, "energy_j": None}
    assert search.violations(spec, row) == [0.0, 1.0, 0.0, 1.0, 1.0]  # not simulated: unknown counts as missed
    assert search.objective_values(spec, row) == [math.inf, math.inf, 100.0]
    assert search.violations(spec, {"error": "boom"})[0] == 1.0


def test_constraints_steer_the_search_rather_than_only_filter_it(tmp_path, monkeypatch):
    """With a latency bound and only energy and area to minimise, NSGA-II told the violations finds more
    feasible points than the same search told nothing (whose infeasible points are only filtered afterwards)."""
    cons = ["tables_fit", "latency_s <= 0.5 ms"]

    def run(tag, seed):
        spec = nsga2(200, seed, constraints=cons, objectives=["energy_j", "area_mm2"])
        df = run_sweep(spec, tmp_path / f"{tag}{seed}", workers=1, progress=False).frame
        front = pareto(df, ["energy_j", "area_mm2"])
        return int(df["feasible"].sum()), hypervolume(front[["energy_j", "area_mm2"]].to_numpy() / [0.12, 300], [1, 1])

    steered = [run("with", s) for s in range(4)]
    monkeypatch.setattr(search, "violations", lambda spec, row: [0.0] * (1 + len(spec.constraints)))
    blind = [run("without", s) for s in range(4)]
    # measured: 53-60 feasible distinct points steered, 35-43 blind
    assert min(f for f, _ in steered) > max(f for f, _ in blind), (steered, blind)
    assert np.mean([h for _, h in steered]) >= np.mean([h for _, h in blind])


# ---- resuming and engines ------------------------------------------------------------------------------------

def kill_spec(tmp_path):
    spec = small_spec(sampling={"method": "nsga2", "n": 1200, "seed": 5, "population": 10},
                      axes={"lookup.banks": [128, 256, 512], "memory.dram.bandwidth": {"logspace": ["0.5 TB/s", "8 TB/s"]},
                            "memory.sram.0.capacity": {"range": ["4 MiB", "64 MiB"]}})
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_search_killed_with_sigkill_resumes_to_the_uninterrupted_dataset(tmp_path):
    spec = kill_spec(tmp_path)
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "hwsim.cli", "sweep", str(spec), "--out", str(out), "--workers",
                             "1", "--quiet"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_parts(out, 4, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    survived = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("part-*.parquet")}
    assert 4 <= len(survived) < 120, "the search finished before it could be killed: make it longer"
    stored = len(pd.read_parquet(out))
    resumed = run_sweep(spec, out, workers=1, progress=False)
    assert resumed.computed == resumed.points - stored  # the stored points were told, not recomputed
    assert {n: (p.stat().st_ino, p.stat().st_mtime_ns) for n, p in ((n, out / n) for n in survived)} == survived
    whole = run_sweep(spec, tmp_path / "whole", workers=1, progress=False)
    assert len(parts(out)) == 120 and parts(out) == parts(tmp_path / "whole")  # file for file, byte for byte
    pd.testing.assert_frame_equal(pd.read_parquet(out), whole.frame, check_exact=True)


def test_a_part_that_does_not_hold_what_the_search_proposes_is_refused(tmp_path):
    spec = small_spec(sampling={"method": "nsga2", "n": 30, "seed": 0, "population": 10})
    out = tmp_path / "s"
    run_sweep(spec, out, workers=1, progress=False)
    (out / "part-00001.parquet").write_bytes((out / "part-00000.parquet").read_bytes())
    with pytest.raises(ValueError, match="part-00001.parquet does not hold the points") as e:
        run_sweep(spec, out, workers=1, progress=False)
    assert "\n" not in str(e.value)


def test_every_engine_writes_the_same_bytes(tmp_path):
    spec = small_spec(sampling={"method": "nsga2", "n": 48, "seed": 1, "population": 12}, axes=ENGINE_AXES)
    assert len(same_bytes_on_every_engine(spec, tmp_path)) == 4


# ---- the command line ----------------------------------------------------------------------------------------

def test_the_commands_run_a_search_and_take_its_front(tmp_path, capsys):
    from hwsim.cli import main

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(nsga2(60, seed=1)))
    assert main(["sweep", str(path), "--out", str(tmp_path / "s"), "--workers", "1", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("nsga2: 60 evaluations over 3 generations, ")
    assert main(["pareto", str(tmp_path / "s")]) == 0
    front = pd.read_csv(tmp_path / "s" / "_pareto" / "pareto.csv")
    assert len(front) and front["feasible"].all() and "generation" in front


def test_without_optuna_one_line_says_how_to_install_it_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    from hwsim.cli import main

    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(nsga2(60)))
    assert main(["sweep", str(path), "--out", str(tmp_path / "s"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "optuna" in err and "pip install" in err
    assert not (tmp_path / "s").exists()
