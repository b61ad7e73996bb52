"""The package's layout, read from its import graph with ``ast``: lower layers never import upper
ones, no module imports itself through a cycle, and no module grows past 450 lines.

The layers follow the data flow (docs/architecture.md): what a package may import is listed in
ALLOWED; imports inside functions count as much as those at the top of a module.
"""
from __future__ import annotations

import ast
from pathlib import Path


PACKAGE = Path(__file__).resolve().parents[1] / "benchmark"
MAX_LINES = 450

# subpackage -> the subpackages its modules may import (besides their own)
ALLOWED = {
    "common": set(),
    "stats": set(),
    "data": {"common"},
    "runfolder": {"common"},
    "models": {"common"},
    "training": {"common", "stats", "data", "runfolder", "models"},
    "evaluation": {"common", "stats", "runfolder"},
    "reporting": {"common", "stats", "data", "runfolder", "models", "training", "evaluation"},
    "cost": {"common", "stats", "data", "runfolder", "models", "training"},
    "": {"common", "stats", "data", "runfolder", "models", "training", "evaluation", "reporting", "cost"},  # cli
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The benchmark modules ``name`` imports (``from pkg import mod`` counts as ``pkg.mod``)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [module] + [f"{module}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # benchmark.x.y.function -> benchmark.x.y
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else ""


def test_every_subpackage_has_a_layer():
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert subpackages == set(ALLOWED) - {""}, "add a new subpackage to ALLOWED (and docs/architecture.md)"


def test_lower_layers_never_import_upper_ones():
    upward = []
    for module, deps in _graph().items():
        own = _layer(module)
        for dep in deps:
            target = _layer(dep)
            if dep == "benchmark" or target == own:
                continue
            if target not in ALLOWED[own]:
                upward.append(f"{module} imports {dep} ({own or 'top'} may import {sorted(ALLOWED[own])})")
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if dep == "benchmark":
                continue
            if state.get(dep) == 1:
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_no_module_is_over_450_lines():
    """One lint test over every module (not one test id per module: the count reflects behaviour)."""
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, "; ".join(f"{name} has {n} lines" for name, n in sorted(long.items())) + \
        ": split them by job (see docs/architecture.md)"


def test_the_graph_sees_lazy_imports():
    """The check reads imports inside functions too (a cycle hidden in a function still counts)."""
    graph = _graph()
    assert "benchmark.reporting.report" in graph["benchmark.cli"]  # imported inside a command function
    assert "benchmark.training.reference" in graph["benchmark.training.suite"]
