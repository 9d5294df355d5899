"""A sweep spec: which accelerators, workloads and options to cross, how to sample them, what must hold.

    base: h200                          # or a list: [h200, lut-asic]; preset names or YAML paths
    workload: {model: memoryformer-base, seq_len: 2048, batch: 1}   # each value a scalar or a list
    options: {mode: graph}              # simulate options (mode, lowering, lookup_impl, bank_mapping, ...)
    axes:                               # accelerator key paths (YAML or Python spelling), each a list,
      memory.dram.bandwidth: {logspace: ["1 TB/s", "16 TB/s"], n: 10}      # {range: [lo, hi], n} or
      lookup.banks: [64, 128, 256, 512]                                     # {logspace: [lo, hi], n}
      hbm_stacks:                       # any name: settings that move together, one value of each per step
        zip: {memory.dram.channels: [16, 32], memory.dram.bandwidth: ["0.82 TB/s", "1.64 TB/s"]}
    sampling: {method: grid}            # or {method: random | lhs, n: 10000, seed: 0}
    constraints: ["area_mm2 <= 800", tables_fit]
    # or a guided search (hwsim.explore.search): n evaluations in all, `population` per generation
    # sampling: {method: nsga2, n: 2000, seed: 0, population: 50}
    # objectives: [latency_s, energy_j, area_mm2]     # minimised; nsga2 only (the default shown)

Every problem is collected and reported at once (`SpecError`), each with its key path in the spec, before a
single point runs. Values are checked by the accelerator schema itself: an axis value goes through the same
validation as a preset file, so "16 MB/s" for a capacity fails here exactly as it would in YAML.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from hwsim.config import ConfigError, load_accelerator
from hwsim.config.errors import Problem, did_you_mean
from hwsim.engines.banks import BANK_MAPPINGS
from hwsim.engines.lookup_hw import TABLE_DTYPE_BYTES, TABLE_TIERS
from hwsim.engines.options import MODES
from hwsim.engines.reuse import POLICIES
from hwsim.explore.axis import Axis, grid_values
from hwsim.explore.columns import KIND_TIME_COLUMNS, OUTPUT_COLUMNS, PRE_COLUMNS
from hwsim.explore.constraints import Constraint, parse_constraint
from hwsim.explore.paths import leaf_adapter, resolve_path, thaw
from hwsim.explore.workload import WORKLOAD_COLUMNS, check_workload
from hwsim.lowering import LOOKUP_IMPLS, LOWERINGS

TOP_KEYS = ("base", "workload", "options", "axes", "sampling", "objectives", "constraints", "chunk_points",
            "description")
OPTION_CHOICES = {"mode": MODES, "lowering": LOWERINGS, "lookup_impl": LOOKUP_IMPLS, "bank_mapping": BANK_MAPPINGS,
                  "tables_resident": (False, True),
                  # lookup hardware (hwsim.engines.lookup_hw); hot-row cache sizes are the axis lookup.hot_cache.capacity
                  "table_dtype": tuple(TABLE_DTYPE_BYTES), "table_tier": TABLE_TIERS, "hot_cache_policy": POLICIES}
METHODS = ("grid", "random", "lhs", "nsga2")
SAMPLING_KEYS = ("method", "n", "seed", "population")
# What a guided search can minimise: the numeric results of a point (inputs are chosen, not found)
OBJECTIVE_COLUMNS = ("latency_s", "energy_j", "area_mm2", "flops", "dram_bytes", *KIND_TIME_COLUMNS)
DEFAULT_OBJECTIVES = ("latency_s", "energy_j", "area_mm2")
DEFAULT_POPULATION = 50


class SpecError(ValueError):
    """Every problem found in a sweep spec, one line each."""

    def __init__(self, problems, source: str = "spec"):
        self.problems = tuple(problems)
        lines = [str(p) for p in self.problems]
        super().__init__(lines[0] if len(lines) == 1 else
                         f"{len(lines)} problems in the sweep spec {source}:\n" + "\n".join("  " + s for s in lines))


@dataclass(frozen=True)
class Spec:
    source: str
    raw: dict                   # the spec as given (stored beside the results, hashed)
    axes: tuple[Axis, ...]      # base, workload fields, block options, options, accelerator axes, in that order
    bases: dict                 # base name as given -> its config as a YAML-shaped dict (SI values)
    method: str
    n: int | None
    seed: int
    constraints: tuple[Constraint, ...]
    chunk_points: int | None
    population: int | None = None          # nsga2: evaluations per generation
    objectives: tuple[str, ...] = ()       # nsga2: the columns it minimises

    @property
    def sha256(self) -> str:
        return spec_hash(self.raw)

    def axis(self, name: str) -> Axis:
        return next(a for a in [*self.axes, *self.settings()] if a.name == name)

    def settings(self) -> list[Axis]:
        """The accelerator settings that vary, zipped ones included, in column order."""
        out = []
        for a in self.axes:
            out += [a] if a.group == "accel" else list(a.members)
        return out


def spec_hash(raw) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


# ---- loading -----------------------------------------------------------------------------------------

def load_spec(spec, source: str | None = None) -> Spec:
    """A Spec from a YAML path or a mapping; raises SpecError listing every problem."""
    import yaml

    root = Path(".")
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, (str, Path)):
        path = Path(spec)
        source = source or str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise SpecError([Problem(source, "", f"cannot read the file ({e.strerror})")], source) from None
        try:
            spec = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise SpecError([Problem(source, "", f"not valid YAML: {e}")], source) from None
        root = path.parent
    source = source or "spec"
    if not isinstance(spec, dict):
        raise SpecError([Problem(source, "", "expected a mapping with base, workload, axes and sampling, given "
                                 f"{type(spec).__name__}")], source)
    return _Checker(spec, source, root).run()


class _Checker:
    """Walks a spec mapping once, collecting problems instead of stopping at the first."""

    def __init__(self, raw: dict, source: str, root: Path):
        self.raw, self.source, self.root = raw, source, root
        self.problems: list[Problem] = []

    def bad(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.source, key, message))

    def run(self) -> Spec:
        for k in self.raw:
            if k not in TOP_KEYS:
                self.bad(str(k), "unknown key" + did_you_mean(str(k), TOP_KEYS))
        bases = self.bases()
        axes = [Axis("base", "base", tuple(bases))] if bases else []
        axes += self.workload()
        axes += self.options()
        axes += self.accel_axes(bases)
        method, n, seed, population = self.sampling(axes)
        objectives = self.objectives(method)
        constraints = self.constraints(axes)
        chunk = self.raw.get("chunk_points")
        if chunk is not None and (not isinstance(chunk, int) or isinstance(chunk, bool) or chunk <= 0):
            self.bad("chunk_points", f"expected a positive whole number of points per part file, given {chunk!r}")
        elif chunk is not None and method == "nsga2":
            self.bad("chunk_points", "nsga2 writes one part per generation; set sampling.population instead")
        if self.problems:
            raise SpecError(self.problems, self.source)
        if method == "nsga2":  # part g of the dataset is generation g
            chunk = population
        return Spec(self.source, self.raw, tuple(axes), bases, method, n, seed, tuple(constraints), chunk,
                    population, objectives)

    # -- base accelerators
    def bases(self) -> dict:
        given = self.raw.get("base")
        if given is None:
            self.bad("base", "missing: name one or more accelerators (preset names or YAML paths)")
            return {}
        names = given if isinstance(given, list) else [given]
        if not names:
            self.bad("base", "empty list: name at least one accelerator")
        out = {}
        for i, name in enumerate(names):
            key = f"base[{i}]" if isinstance(given, list) else "base"
            if not isinstance(name, str):
                self.bad(key, f"expected a preset name or YAML path, given {name!r}")
                continue
            target = name
            if name.endswith((".yaml", ".yml")) and not Path(name).is_absolute():
                target = str(self.root / name)
            try:
                out[name] = thaw(load_accelerator(target).model_dump(by_alias=True))
            except ConfigError as e:
                for p in e.problems:
                    self.bad(key, str(p))
        return out

    # -- workload axes
    def workload(self) -> list[Axis]:
        return check_workload(self, self.raw.get("workload"))

    def options(self) -> list[Axis]:
        o = self.raw.get("options") or {}
        if not isinstance(o, dict):
            self.bad("options", f"expected a mapping of simulate options, given {type(o).__name__}")
            return []
        axes = []
        for k, v in o.items():
            if k not in OPTION_CHOICES:
                self.bad(f"options.{k}", "unknown option" + did_you_mean(str(k), OPTION_CHOICES))
                continue
            values = self.listed(f"options.{k}", v)
            for x in values:
                if x not in OPTION_CHOICES[k] or (k == "tables_resident") != isinstance(x, bool):
                    self.bad(f"options.{k}", f"expected one of {', '.join(map(str, OPTION_CHOICES[k]))}, given {x!r}")
            axes.append(Axis(k, "options", tuple(values)))
        return axes

    def listed(self, key: str, v) -> list:
        if isinstance(v, list):
            if not v:
                self.bad(key, "empty list: give at least one value")
            return v
        return [v]

    def number_axis(self, key: str, name: str, group: str, v, zero_ok=False) -> Axis:
        """Whole-number workload axes: a value, a list, or a range/logspace of integers."""
        def check(x, where):
            if isinstance(x, bool) or not isinstance(x, int) or x < 0 or (x == 0 and not zero_ok):
                self.bad(where, f"expected a {'non-negative' if zero_ok else 'positive'} whole number, given {x!r}")
                return False
            return True
        if isinstance(v, dict):
            ax = self.range_axis(key, name, group, v, lambda x, where: x if check(x, where) else None, integer=True)
            return ax
        values = self.listed(key, v)
        ok = [x for i, x in enumerate(values) if check(x, f"{key}[{i}]" if isinstance(v, list) else key)]
        return Axis(name, group, tuple(ok), integer=True)

    # -- accelerator axes
    def accel_axes(self, bases: dict) -> list[Axis]:
        axes_raw = self.raw.get("axes") or {}
        if not isinstance(axes_raw, dict):
            self.bad("axes", f"expected a mapping of accelerator key paths to values, given {type(axes_raw).__name__}")
            return []
        out, seen = [], {}
        for name, v in axes_raw.items():
            key, name = f"axes.{name}", str(name)
            if isinstance(v, dict) and "zip" in v:
                out.append(self.zip_axis(key, name, v, bases, seen))
            elif isinstance(v, dict):
                probe_only = self.setting_axis(key, name, [], bases, seen)
                if probe_only is not None:
                    path = probe_only.path
                    out.append(self.range_axis(key, name, "accel", v,
                                               lambda x, where, path=path: self.probe(bases, path, x, where), path=path))
            elif isinstance(v, list) and not v:
                self.bad(key, "empty list: give at least one value")
            else:
                ax = self.setting_axis(key, name, v if isinstance(v, list) else [v], bases, seen,
                                       listed=isinstance(v, list))
                if ax is not None:
                    out.append(ax)
        return out

    def zip_axis(self, key, label, v, bases, seen) -> Axis:
        """Settings that move together (HBM stacks: channels, bandwidth and capacity): lists of one length."""
        members_raw = v["zip"]
        for k in v:
            if k != "zip":
                self.bad(f"{key}.{k}", "unknown key; a zipped axis is {zip: {key path: [values], ...}}")
        if not isinstance(members_raw, dict) or not members_raw:
            self.bad(f"{key}.zip", "expected a mapping of key paths to lists of one length")
            return Axis(label, "zip", ())
        members, lengths = [], set()
        for name, values in members_raw.items():
            mkey, name = f"{key}.zip.{name}", str(name)
            if not isinstance(values, list) or not values:
                self.bad(mkey, "expected a non-empty list (zipped settings take lists)")
                continue
            lengths.add(len(values))
            ax = self.setting_axis(mkey, name, values, bases, seen)
            if ax is not None:
                members.append(ax)
        if len(lengths) > 1:
            self.bad(f"{key}.zip", f"the lists must have one length, given lengths {sorted(lengths)}")
            return Axis(label, "zip", ())
        if len(members) != len(members_raw):
            return Axis(label, "zip", ())
        return Axis(label, "zip", tuple(zip(*(m.values for m in members))), members=tuple(members))

    def setting_axis(self, key, name, values, bases, seen, listed=True) -> Axis | None:
        """One accelerator setting given as a list: its path in every base, each value checked by the schema."""
        paths = {}
        for b, data in (bases or {None: None}).items():
            path, msg = resolve_path(data, name)
            if msg:
                self.bad(key, msg + (f" (in base {b})" if len(bases) > 1 else ""))
            else:
                paths[b] = path
        if len(paths) != max(1, len(bases)):
            return None
        path = next(iter(paths.values()))
        if path in seen:
            self.bad(key, f"names the same setting as {seen[path]}")
            return None
        seen[path] = key
        si = [self.probe(bases, path, x, f"{key}[{i}]" if listed else key) for i, x in enumerate(values)]
        if any(x is None for x in si):
            return None
        return Axis(name, "accel", tuple(si), path=path,
                    integer=all(isinstance(x, int) and not isinstance(x, bool) for x in si))

    def probe(self, bases: dict, path: tuple, value, where: str):
        """`value` parsed by the schema's own type for that setting: its SI value, or None (reported).
        Clashes with other settings of a base (lookup banks wider than its capacity) are left to the points."""
        try:
            return leaf_adapter(path).validate_python(value)
        except ValidationError as e:
            err = e.errors(include_url=False)[0]
            msg = err["ctx"]["message"] if err["type"] == "hwsim" else f"{err['msg'][:1].lower()}{err['msg'][1:]}"
            self.bad(where, msg if "given" in msg else f"{msg}, given {value!r}")
            return None

    def range_axis(self, key, name, group, v, convert, integer=False, path=()) -> Axis:
        kinds = [k for k in ("range", "logspace") if k in v]
        extra = [k for k in v if k not in ("range", "logspace", "n")]
        for k in extra:
            self.bad(f"{key}.{k}", "unknown key" + did_you_mean(str(k), ("range", "logspace", "n")))
        if len(kinds) != 1:
            self.bad(key, "expected a list, {range: [lo, hi], n: N} or {logspace: [lo, hi], n: N}")
            return Axis(name, group, ())
        kind = kinds[0]
        ends = v[kind]
        if not isinstance(ends, list) or len(ends) != 2:
            self.bad(f"{key}.{kind}", f"expected [lo, hi], given {ends!r}")
            return Axis(name, group, ())
        lo, hi = (convert(x, f"{key}.{kind}[{i}]") for i, x in enumerate(ends))
        n = v.get("n")
        method = (self.raw.get("sampling") or {}).get("method", "grid") if isinstance(self.raw.get("sampling"),
                                                                                     dict) else "grid"
        if n is None and method == "grid":
            self.bad(f"{key}.n", "missing: a grid needs the number of points of a range")
        elif n is not None and (isinstance(n, bool) or not isinstance(n, int) or n <= 0):
            self.bad(f"{key}.n", f"expected a positive whole number of points, given {n!r}")
            n = None
        if lo is None or hi is None:
            return Axis(name, group, ())
        if isinstance(lo, (str, bool)) or isinstance(hi, (str, bool)):
            self.bad(f"{key}.{kind}", "a range needs numbers; give a list for this setting")
            return Axis(name, group, ())
        if hi < lo:
            self.bad(f"{key}.{kind}", f"expected lo <= hi, given {ends[0]!r} > {ends[1]!r}")
            return Axis(name, group, ())
        if kind == "logspace" and lo <= 0:
            self.bad(f"{key}.{kind}", f"a logspace needs lo > 0, given {ends[0]!r}")
            return Axis(name, group, ())
        integer = integer or (isinstance(lo, int) and isinstance(hi, int))
        values = grid_values(lo, hi, n or 1, kind == "logspace", integer) if n else ()
        return Axis(name, group, values, float(lo), float(hi), kind == "logspace", integer, path)

    # -- sampling and constraints
    def sampling(self, axes) -> tuple[str, int | None, int, int | None]:
        s = self.raw.get("sampling") or {"method": "grid"}
        if not isinstance(s, dict):
            self.bad("sampling", f"expected a mapping like {{method: grid}}, given {s!r}")
            return "grid", None, 0, None
        for k in s:
            if k not in SAMPLING_KEYS:
                self.bad(f"sampling.{k}", "unknown key" + did_you_mean(str(k), SAMPLING_KEYS))
        method = s.get("method", "grid")
        if method not in METHODS:
            self.bad("sampling.method", f"expected one of {', '.join(METHODS)}, given {method!r}")
        n, seed = s.get("n"), s.get("seed", 0)
        if method in ("random", "lhs", "nsga2") and (isinstance(n, bool) or not isinstance(n, int) or n <= 0):
            what = "evaluations in all" if method == "nsga2" else "points"
            self.bad("sampling.n", f"expected a positive whole number of {what} for {method} sampling, given {n!r}")
            n = None
        population = self.population(s, method, n)
        if method == "grid" and n is not None:
            self.bad("sampling.n", "a grid takes every combination; n is for random and lhs sampling")
        if isinstance(seed, bool) or not isinstance(seed, int):
            self.bad("sampling.seed", f"expected a whole number, given {seed!r}")
            seed = 0
        return method, n, seed, population

    def population(self, s: dict, method: str, n: int | None) -> int | None:
        """nsga2's generation size: at least 2 (two parents per child), at most n (one whole generation)."""
        if method != "nsga2":
            if "population" in s:
                self.bad("sampling.population", f"a population is for nsga2 sampling, not {method}")
            return None
        pop = s.get("population", DEFAULT_POPULATION)
        if isinstance(pop, bool) or not isinstance(pop, int) or pop < 2:
            self.bad("sampling.population", f"expected a whole number >= 2 (two parents per child), given {pop!r}")
            return None
        if n is not None and n < pop:
            self.bad("sampling.n", f"expected n >= population (n counts evaluations in all, population those of "
                                   f"one generation), given n {n} < population {pop}")
        return pop

    def objectives(self, method: str) -> tuple[str, ...]:
        """The columns nsga2 minimises: distinct numeric result columns."""
        given = self.raw.get("objectives")
        if given is None:
            return DEFAULT_OBJECTIVES if method == "nsga2" else ()
        if method != "nsga2":
            self.bad("objectives", f"objectives steer nsga2 sampling; {method} sampling takes the points it is "
                                   "given (name objectives to hwsim pareto --objectives instead)")
            return ()
        if not isinstance(given, list) or not given:
            self.bad("objectives", f"expected a non-empty list of columns to minimise, e.g. [latency_s, energy_j], "
                                   f"given {given!r}")
            return ()
        out = []
        for i, c in enumerate(given):
            key = f"objectives[{i}]"
            if not isinstance(c, str) or c not in OBJECTIVE_COLUMNS:
                self.bad(key, f"expected a numeric result column to minimise, given {c!r}"
                         + did_you_mean(str(c), OBJECTIVE_COLUMNS))
            elif c in out:
                self.bad(key, f"{c} is named twice")
            else:
                out.append(c)
        return tuple(out)

    def constraints(self, axes) -> list[Constraint]:
        given = self.raw.get("constraints") or []
        if not isinstance(given, list):
            given = [given]
        known = [a.name for a in axes] + [m.name for a in axes for m in a.members] + list(WORKLOAD_COLUMNS) \
            + list(PRE_COLUMNS) + list(OUTPUT_COLUMNS)
        out = []
        for i, text in enumerate(given):
            key = f"constraints[{i}]"
            c, msg = parse_constraint(text, known)
            if msg:
                self.bad(key, msg)
            else:
                out.append(c)
        return out
