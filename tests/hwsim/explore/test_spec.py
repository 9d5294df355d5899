"""Sweep specs: the issue's spec loads as written, values come out in SI, and a bad spec is reported in full."""
from __future__ import annotations

import math

import pytest

from tests.hwsim.explore.sweep_helpers import ISSUE_SPEC, ISSUE_SPEC_YAML, small_spec
from hwsim.explore.spec import SpecError, load_spec


def test_the_issue_spec_loads_from_yaml(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(ISSUE_SPEC_YAML)
    spec = load_spec(path)
    bw = spec.axis("memory.dram.bandwidth")
    assert len(bw.values) == 10
    assert bw.values[0] == 1e12 and math.isclose(bw.values[-1], 16e12)
    ratios = [b / a for a, b in zip(bw.values, bw.values[1:])]  # logspace: a constant ratio of 16^(1/9)
    assert all(math.isclose(r, 16 ** (1 / 9)) for r in ratios)
    assert spec.axis("memory.sram[0].capacity").values == (16 * 2**20, 64 * 2**20, 256 * 2**20)  # binary MiB
    lat = spec.axis("memory.dram.latency").values
    assert [round(x * 1e9, 6) for x in lat] == [200, 350, 500, 650, 800]
    assert spec.axis("lookup.banks").values == (64, 128, 256, 512) and spec.axis("lookup.banks").integer
    assert spec.axis("memory.dram.bandwidth").path == ("memory", "dram", "bandwidth")


def test_list_items_by_index_or_dot_or_name_and_python_spelling_name_the_same_setting():
    for key in ("memory.sram[0].capacity", "memory.sram.0.capacity", "memory.sram.L2.capacity",
                "memory.sram[0].capacity_bytes"):
        spec = load_spec({**ISSUE_SPEC, "axes": {key: ["16 MiB"]}})
        assert spec.axis(key).path == ("memory", "sram", 0, "capacity")
        assert spec.axis(key).values == (16 * 2**20,)


def test_a_bad_spec_is_reported_in_full_with_key_paths():
    bad = {"base": ["h200", "h900"],
           "workload": {"model": "memoryformer-huge", "seq_len": 2048},
           "axes": {"memory.dram.bandwith": [1e12],              # misspelt key
                    "memory.sram[0].capacity": ["16 MB/s"],      # a bandwidth for a size
                    "lookup.banks": [],                          # empty
                    "memory.sram[7].capacity": [1],              # no such level
                    "clock": {"range": ["1 GHz", "2 GHz"]}},     # a grid needs n
           "sampling": {"method": "grid"},
           "constraints": ["area_mm3 <= 800"]}
    with pytest.raises(SpecError) as e:
        load_spec(bad, source="bad.yaml")
    keys = [p.key for p in e.value.problems]
    assert keys == ["base[1]", "workload.model", "axes.memory.dram.bandwith", "axes.memory.sram[0].capacity[0]",
                    "axes.lookup.banks", "axes.memory.sram[7].capacity", "axes.clock.n", "constraints[0]"]
    text = str(e.value)
    assert text.startswith("8 problems in the sweep spec bad.yaml:")
    assert '"bandwidth"' in text  # did you mean
    assert "MB/s" in text and "size in bytes" in text
    assert "h900" in text and "memoryformer-huge" in text


@pytest.mark.parametrize("change, key, words", [
    ({"sampling": {"method": "lhs"}}, "sampling.n", "positive whole number"),
    ({"sampling": {"method": "sobol", "n": 3}}, "sampling.method", "grid, random, lhs"),
    ({"axes": {"lookup.banks": {"logspace": [0, 64], "n": 3}}}, "axes.lookup.banks.logspace[0]", "positive"),
    ({"axes": {"runtime.launch_overhead_eager": {"logspace": [0, "5 us"], "n": 3}}},
     "axes.runtime.launch_overhead_eager.logspace", "lo > 0"),
    ({"axes": {"lookup.banks": {"range": [512, 64], "n": 3}}}, "axes.lookup.banks.range", "lo <= hi"),
    ({"axes": {"lookup.placement": {"range": ["on_chip", "near_memory"], "n": 2}}}, "axes.lookup.placement.range",
     "needs numbers"),
    ({"axes": {"memory.dram": [1]}}, "axes.memory.dram", "group of settings"),
    ({"base": "h200", "axes": {"compute.hash_unit.units": [4]}}, "axes.compute.hash_unit.units", "not set"),
    ({"options": {"mode": "lazy"}}, "options.mode", "eager, graph"),
    ({"workload": {"model": "memoryformer-tiny", "seq_len": 0}}, "workload.seq_len", "positive whole number"),
    ({"workload": {"model": "memoryformer-tiny", "seq_len": 64, "phase": "decode"}}, "workload.kv_len",
     "KV cache"),
    ({"workload": {"model": "memoryformer-tiny", "seq_len": 64, "kv_len": 8}}, "workload.kv_len", "decode only"),
    ({"workload": {"kind": "memoryformer", "hidden_size": 64, "seq_len": 64, "scope": "model"}}, "workload.scope",
     "preset"),
    ({"workload": {"model": "memoryformer-tiny", "seq_len": 64, "scope": "model", "tau": 6}}, "workload.tau",
     "scope block"),
    ({"constraints": ["latency_s <= fast"]}, "constraints[0]", "quantity"),
    ({"chunk_points": 0}, "chunk_points", "positive"),
    ({"workload": {"model": "memoryformer-tiny", "seq_len": 64, "norm": "batchnorm"}}, "workload.norm", "rmsnorm"),
    ({"workload": {"model": "memoryformer-tiny", "seq_len": 64, "gelu": "yes"}}, "workload.gelu", "true or false"),
    ({"workload": {"model": "memoryformer-tiny", "seq_len": 64, "variant": ["paper", "papr"]}}, "workload.variant[1]",
     "released, paper, bench"),
    ({"axes": {"hbm": {"zip": {"memory.dram.channels": [16, 32], "memory.dram.bandwidth": ["1 TB/s"]}}}},
     "axes.hbm.zip", "one length"),
    ({"axes": {"hbm": {"zip": {"memory.dram.channels": [16], "memory.dram.bandwidth": ["1 TB"]}}}},
     "axes.hbm.zip.memory.dram.bandwidth[0]", "bandwidth"),
    ({"axes": {"memory.dram.bandwidth": [1e12], "memory.dram.bandwidth_bytes_per_s": [2e12]}},
     "axes.memory.dram.bandwidth_bytes_per_s", "same setting"),
    # the guided search (nsga2)
    ({"sampling": {"method": "nsga2"}}, "sampling.n", "evaluations in all"),
    ({"sampling": {"method": "nsga2", "n": 100, "population": 1}}, "sampling.population", ">= 2"),
    ({"sampling": {"method": "nsga2", "n": 100, "population": 12.5}}, "sampling.population", ">= 2"),
    ({"sampling": {"method": "nsga2", "n": 40}}, "sampling.n", "n 40 < population 50"),  # the default population
    ({"sampling": {"method": "lhs", "n": 100, "population": 10}}, "sampling.population", "not lhs"),
    ({"sampling": {"method": "nsga2", "n": 100, "populaton": 10}}, "sampling.populaton", '"population"'),
    ({"objectives": ["latency_s"]}, "objectives", "hwsim pareto --objectives"),  # a grid has no objectives
    ({"sampling": {"method": "nsga2", "n": 100}, "objectives": ["latncy_s"]}, "objectives[0]", '"latency_s"'),
    ({"sampling": {"method": "nsga2", "n": 100}, "objectives": ["bound"]}, "objectives[0]", "numeric result"),
    ({"sampling": {"method": "nsga2", "n": 100}, "objectives": ["lookup.banks"]}, "objectives[0]", "numeric result"),
    ({"sampling": {"method": "nsga2", "n": 100}, "objectives": ["area_mm2", "area_mm2"]}, "objectives[1]", "twice"),
    ({"sampling": {"method": "nsga2", "n": 100}, "objectives": []}, "objectives", "non-empty"),
    ({"sampling": {"method": "nsga2", "n": 100}, "chunk_points": 10}, "chunk_points", "one part per generation"),
])
def test_each_kind_of_mistake_names_its_key(change, key, words):
    with pytest.raises(SpecError) as e:
        load_spec(small_spec(**change))
    assert [p.key for p in e.value.problems] == [key], str(e.value)
    assert words in str(e.value)


def test_units_in_constraints_are_read_as_si():
    spec = load_spec(small_spec(constraints=["latency_s <= 2 ms", "memory.dram.bandwidth >= 1 TB/s", "tables_fit",
                                             "not tables_fit"]))
    assert [(c.column, c.op, c.value, c.negate) for c in spec.constraints] == [
        ("latency_s", "<=", 2e-3, False), ("memory.dram.bandwidth", ">=", 1e12, False), ("tables_fit", None, None, False),
        ("tables_fit", None, None, True)]


def test_the_spec_hash_ignores_key_order_and_sees_values():
    a = load_spec(ISSUE_SPEC)
    b = load_spec(dict(reversed(list(ISSUE_SPEC.items()))))
    c = load_spec({**ISSUE_SPEC, "workload": {**ISSUE_SPEC["workload"], "seq_len": 1024}})
    assert a.sha256 == b.sha256 != c.sha256


def test_the_specs_in_the_docs_load():
    from pathlib import Path

    specs = sorted((Path(__file__).resolve().parents[3] / "docs" / "sweeps").glob("*.yaml"))
    assert specs
    for path in specs:
        assert load_spec(path).axes


def test_a_guided_search_spec_with_its_defaults_and_every_mistake_at_once():
    spec = load_spec(small_spec(sampling={"method": "nsga2", "n": 2000, "seed": 3}))
    assert (spec.method, spec.n, spec.seed, spec.population) == ("nsga2", 2000, 3, 50)
    assert spec.objectives == ("latency_s", "energy_j", "area_mm2")
    assert spec.chunk_points == 50  # part g holds generation g
    spec = load_spec(small_spec(sampling={"method": "nsga2", "n": 30, "population": 10},
                                objectives=["time_lookup_s", "dram_bytes"]))
    assert spec.objectives == ("time_lookup_s", "dram_bytes") and spec.population == 10
    with pytest.raises(SpecError) as e:
        load_spec(small_spec(sampling={"method": "nsga2", "n": 5, "population": 8}, objectives=["energy", "energy_j"],
                             chunk_points=4))
    assert [p.key for p in e.value.problems] == ["sampling.n", "objectives[0]", "chunk_points"]
