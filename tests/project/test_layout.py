"""The package's layout, read from its import graph with ``ast``: lower layers never import upper
ones, no module imports itself through a cycle, and no module grows past 450 lines.

The layers follow the data flow (docs/architecture.md): what a package may import is listed in
ALLOWED; imports inside functions count as much as those at the top of a module.
"""
from __future__ import annotations

import ast
from pathlib import Path


PACKAGE = Path(__file__).resolve().parents[2] / "benchmark"
MAX_LINES = 450

# subpackage -> the subpackages its modules may import (besides their own)
ALLOWED = {
    "common": set(),
    "stats": set(),
    "plugins": {"common"},  # the method registry: what a plugin declares, no model
    "data": {"common"},
    "runfolder": {"common"},
    "models": {"common", "plugins"},
    "training": {"common", "stats", "plugins", "data", "runfolder", "models"},
    "evaluation": {"common", "stats", "plugins", "runfolder"},
    "reporting": {"common", "stats", "plugins", "data", "runfolder", "evaluation"},  # no model, no training
    "cost": {"common", "stats", "plugins", "data", "runfolder", "models", "training"},
    "analysis": {"common", "plugins", "data", "runfolder", "models", "training"},  # reads trained states (and masks), writes tables
    "publishing": {"common", "plugins", "runfolder", "evaluation", "reporting"},  # published folders and their guard: no model
    "": {"common", "stats", "plugins", "data", "runfolder", "models", "training", "evaluation", "reporting", "cost",
         "analysis", "publishing", "cli"},  # the top level (pipeline.py, __main__.py) and the CLI package are one layer:
}
ALLOWED["cli"] = ALLOWED[""] - {"cli"} | {""}  # the commands call pipeline.py, which may import what they may


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
    assert "benchmark.reporting" in graph["benchmark.pipeline"]  # imported inside a step function
    assert "benchmark.training.reference" in graph["benchmark.training.suite"]


def test_no_module_imports_by_name_what_the_graph_would_not_see():
    """``importlib.import_module("benchmark....")`` would hide an upward import from the checks above."""
    hidden = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == \
                    "import_module" and node.args and isinstance(node.args[0], ast.Constant) and \
                    str(node.args[0].value).startswith("benchmark"):
                hidden.append(f"{name}:{node.lineno} imports {node.args[0].value} by name")
    assert not hidden, "\n".join(hidden)


def _layout_names() -> dict[str, str]:
    """Every file and folder name of a run folder that benchmark/runfolder/layout.py defines: value -> constant."""
    from benchmark.runfolder import layout

    names = {}
    for constant in layout.__all__:
        value = getattr(layout, constant)
        for v in (value if isinstance(value, tuple) else (value,)):
            if isinstance(v, str) and "." in v and " " not in v:
                names[v] = constant
    return names


def _docstring_ids(tree: ast.AST) -> set[int]:
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}


def _bare_file_names(source: str, names: dict[str, str]) -> list[tuple[int, str]]:
    """(line, name) of every string literal of ``source`` that is a run-folder file name, leaving out docstrings
    and a template's name given to ``render`` (it names the template)."""
    tree = ast.parse(source)
    skip = _docstring_ids(tree) | {id(node.args[0]) for node in ast.walk(tree) if isinstance(node, ast.Call)
                                   and getattr(node.func, "id", None) == "render" and node.args}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and id(node) not in skip and node.value in names]


def test_run_folder_file_names_live_only_in_the_layout_module():
    """A file of the run folder is named once, in benchmark/runfolder/layout.py; code elsewhere uses the constant."""
    names = _layout_names()
    bare = [f"{name}:{line} writes {value!r}: use runfolder.{names[value]}"
            for name, path in _modules().items() if name != "benchmark.runfolder.layout"
            for line, value in _bare_file_names(path.read_text(), names)]
    assert not bare, "\n".join(bare)


def test_the_layout_check_catches_a_bare_file_name():
    """The check above, planted: a module that names leaderboard.csv itself is found; its docstring and a
    template's name are not."""
    names = _layout_names()
    planted = '"""Writes leaderboard.csv."""\npath = run_dir / "leaderboard.csv"\npage = render("leaderboard.md")\n'
    assert _bare_file_names(planted, names) == [(2, "leaderboard.csv")]
    assert names["leaderboard.csv"] == "LEADERBOARD_FILE"


# helpers that once had several definitions: each is defined in exactly one module
ONE_DEFINITION = ("BATCH_NORMS", "read_json", "is_stale", "rebuild_trained", "test_images", "study_folders",
                  "read_record", "read_cost", "refresh", "draw_figures", "fmt_number", "fmt_int", "with_families",
                  "claims_table", "new_run_dir", "open_test_images", "fold_test_set")


def _top_level_definitions() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, path in _modules().items():
        for node in ast.parse(path.read_text()).body:
            targets = [node.name] if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else \
                [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
            for t in targets:
                found.setdefault(t, []).append(name)
    return found


def test_each_shared_helper_is_defined_once():
    found = _top_level_definitions()
    twice = {h: found.get(h, []) for h in ONE_DEFINITION if len(found.get(h, [])) != 1}
    assert not twice, "; ".join(f"{h} defined in {where or 'no module'}" for h, where in twice.items())


def test_every_run_folder_constant_is_defined_only_in_the_layout_module():
    from benchmark.runfolder import layout

    found = _top_level_definitions()
    again = {c: [m for m in found.get(c, []) if m != "benchmark.runfolder.layout"] for c in layout.__all__}
    assert not {c: m for c, m in again.items() if m}, again
