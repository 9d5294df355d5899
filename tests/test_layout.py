"""The package layout keeps one direction of imports (issue 7).

Every import statement in hwsim, workloads and models, at module level or inside a function, is read from the
source (ast), resolved to the module it names, and the graph must have no cycle: shared helpers move down rather
than being imported back up. Within hwsim the same holds between the components (config, io, engines, cli, ...),
and a stated layer order says which may import which."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("hwsim", "workloads", "models")

# hwsim's components from the bottom up; a component may import only those at its own level or below.
# (The public API, hwsim/__init__.py, sits on top: only the CLI and users import it.)
LAYERS = (
    {"config", "io"},
    {"lowering", "energy", "result", "area"},
    {"engines"},
    {"simulate"},
    {"validate", "calibrate", "explore", "serving"},
    {"report"},
    {"api"},
    {"cli"},
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}


def imports_of(name: str, path: Path, modules) -> set[str]:
    """Project modules that `name` imports: `from a.b import c` names a.b.c when c is a module, else a.b."""
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
        else:
            continue
        out.update(t for t in targets if t in modules and t != name)
    return out


def find_cycle(graph: dict[str, set[str]]):
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


@pytest.fixture(scope="module")
def graph():
    modules = all_modules()
    return {n: imports_of(n, p, modules) for n, p in modules.items()}


def component(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "hwsim":
        return None
    return "api" if len(parts) == 1 else parts[1]


def test_the_graph_is_read(graph):
    # the reader must see the imports it is meant to judge, or the checks below pass vacuously
    assert "hwsim.engines.analytic" in graph["hwsim.engines.run"]
    assert "hwsim.config.units" in graph["hwsim.config.schema"]  # a relative import
    assert "workloads.op" in graph["hwsim.lowering"]


def test_no_import_cycles(graph):
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_cycle_finder_finds_a_planted_cycle(graph):
    planted = {**graph, "hwsim.config.units": graph["hwsim.config.units"] | {"hwsim.simulate"}}
    assert find_cycle(planted) is not None


def test_components_import_only_downwards(graph):
    level = {c: i for i, layer in enumerate(LAYERS) for c in layer}
    wrong = []
    for mod, deps in graph.items():
        a = component(mod)
        for dep in deps:
            b = component(dep)
            if a is None or b is None or a == b:
                continue
            if a not in level or b not in level:
                wrong.append(f"{mod} -> {dep}: component not placed in LAYERS")
            elif level[b] > level[a]:
                wrong.append(f"{mod} -> {dep}")
    assert not wrong, "\n".join(wrong)


def test_models_and_workloads_never_import_hwsim(graph):
    bad = [f"{m} -> {d}" for m, deps in graph.items() if not m.startswith("hwsim") for d in deps
           if d.startswith("hwsim")]
    bad += [f"{m} -> {d}" for m, deps in graph.items() if m.startswith("models") for d in deps
            if d.startswith("workloads")]
    assert not bad, bad


def test_at_most_eight_loose_modules_in_hwsim():
    loose = sorted(p.name for p in (REPO / "hwsim").glob("*.py"))
    assert len(loose) <= 8, loose


def test_importing_hwsim_loads_neither_torch_nor_simpy():
    code = ("import sys, hwsim, hwsim.cli, workloads; "
            "print(','.join(m for m in ('torch', 'simpy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == ""
