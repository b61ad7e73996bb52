"""docs/checklist.md (TRIPOD+AI and CLAIM 2024 against the standard report) points only at what exists: every
page, template and module it links or names is in the repository, and every run-folder file it names is one of
the names benchmark/runfolder/layout.py defines. It also answers every item of both checklists exactly once."""
from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

from benchmark.runfolder import layout

ROOT = Path(__file__).resolve().parents[2]
CHECKLIST = ROOT / "docs" / "checklist.md"


REPO_DIRS = {"benchmark", "docs", "datasets", "methods", "reports", "scripts", "tests"}
FILE_NAME = re.compile(r"^[\w.*<>/-]+\.(?:csv|json|html|md|npz|db|pt|png|py|toml)$")
MODULE = re.compile(r"^benchmark(?:\.\w+)+$")
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`\n]+)`")
PLACEHOLDER = re.compile(r"<[^>]*>")

TRIPOD_ITEMS = ["1", "2", "3a", "3b", "3c", "4", "5a", "5b", "6a", "6b", "6c", "7", "8a", "8b", "8c", "9a", "9b",
                "9c", "10", "11", "12a", "12b", "12c", "12d", "12e", "12f", "12g", "13", "14", "15", "16", "17",
                "18a", "18b", "18c", "18d", "18e", "18f", "19", "20a", "20b", "20c", "21", "22", "23a", "23b",
                "24", "25", "26", "27a", "27b", "27c"]
CLAIM_ITEMS = [str(n) for n in range(1, 45)]


def layout_names() -> tuple[set[str], list[re.Pattern]]:
    """The string constants of layout.py (plain, or in tuples and lists), and a pattern per name-making
    function (``calibration_figure`` -> ``calibration_.+\\.png``)."""
    names, patterns = set(), []
    for attr in dir(layout):
        if attr.startswith("_"):
            continue
        value = getattr(layout, attr)
        if isinstance(value, str):
            names.add(value)
        elif isinstance(value, (tuple, list)):
            names.update(v for v in value if isinstance(v, str))
        elif callable(value) and attr in layout.__all__:
            made = value("PLACEHOLDER")
            patterns.append(re.compile(re.escape(made).replace("PLACEHOLDER", ".+") + "$"))
    return names, patterns


def pointers(text: str) -> tuple[list[str], list[str], list[str]]:
    """(repository paths, run-folder file names, modules) that ``text`` points to. A relative markdown link is a
    repository path (relative to docs/); so is inline code that starts with a top-level folder of the
    repository; other inline code that looks like a file name is a run-folder file; ``benchmark.x.y`` a module."""
    repo, run, modules = [], [], []
    for target in LINK.findall(text):
        if "://" in target or target.startswith("#"):
            continue
        path = (CHECKLIST.parent / target.split("#")[0]).resolve()
        repo.append(path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path))
    for span in CODE.findall(text):
        span = span.strip()
        if MODULE.match(span):
            modules.append(span)
        elif "/" in span and span.split("/")[0] in REPO_DIRS:
            repo.append(span.rstrip("/"))
        elif FILE_NAME.match(span):
            run.append(span)
    return repo, run, modules


def missing_repo_paths(paths) -> list[str]:
    return sorted({p for p in paths if not (ROOT / p).exists()})


def bad_run_names(spans, names, patterns) -> list[str]:
    """Run-folder names that layout.py does not define. Folders along the way must be layout names too (or a
    ``<placeholder>``, or a sites folder's ``train-<set>``)."""
    bad = []
    for span in spans:
        *folders, base = span.split("/")
        base = PLACEHOLDER.sub("X", base)
        ok = (base in names or any(p.match(base) for p in patterns)
              or ("*" in base and any(fnmatch.fnmatch(n, base) for n in names)))
        for folder in folders:
            ok = ok and (folder in names or PLACEHOLDER.fullmatch(folder) is not None
                         or folder.startswith(layout.SITE_RUN_PREFIX) or PLACEHOLDER.sub("", folder) in {"repeat-", "fold-"})
        if not ok:
            bad.append(span)
    return sorted(set(bad))


def missing_modules(modules) -> list[str]:
    """``benchmark.a.b`` must be a module or package; ``benchmark.a.b.name`` may end in one name that the module
    defines."""
    bad = []
    for dotted in modules:
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            base = ROOT.joinpath(*parts[:cut])
            source = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
            if source.is_file():
                rest = parts[cut:]
                if len(rest) > 1 or (rest and not re.search(rf"\b{re.escape(rest[0])}\b", source.read_text())):
                    bad.append(dotted)
                break
        else:
            bad.append(dotted)
    return bad


def items(text: str, mark: str) -> list[str]:
    return re.findall(rf"^\| {mark} (\w+) \|", text, flags=re.M)


@pytest.fixture(scope="module")
def text() -> str:
    return CHECKLIST.read_text()


def test_the_checklist_points_at_things(text):
    repo, run, modules = pointers(text)
    assert len(repo) > 50 and len(run) > 20 and modules  # the parser found the pointers, not nothing
    assert "docs/protocol.md" in repo and "benchmark/reporting/sections/calibration.html" in repo
    assert "detectable.csv" in run and "index.html" in run


def test_every_repository_path_exists(text):
    repo, _, _ = pointers(text)
    assert not missing_repo_paths(repo), "docs/checklist.md points at missing files: " + ", ".join(
        missing_repo_paths(repo))


def test_every_module_exists(text):
    _, _, modules = pointers(text)
    assert not missing_modules(modules), missing_modules(modules)


def test_every_run_folder_name_is_defined_in_layout(text):
    names, patterns = layout_names()
    _, run, _ = pointers(text)
    assert not bad_run_names(run, names, patterns), (
        "docs/checklist.md names run-folder files that benchmark/runfolder/layout.py does not define: "
        + ", ".join(bad_run_names(run, names, patterns)))


def test_every_item_of_both_checklists_is_answered_once(text):
    for mark, expected in (("T", TRIPOD_ITEMS), ("C", CLAIM_ITEMS)):
        found = items(text, mark)
        assert sorted(found) == sorted(expected), (mark, sorted(set(expected) - set(found)),
                                                   sorted({i for i in found if found.count(i) > 1}))


def test_every_row_has_a_status(text):
    for line in text.splitlines():
        if re.match(r"^\| [TC] \w+ \|", line):
            assert line.split("|")[3].strip() in {"yes", "partly", "no", "n/a", "user"}, line


def test_the_checks_catch_a_bad_pointer(text):
    """A planted bad pointer of each kind fails its check; the real text passes."""
    names, patterns = layout_names()
    planted = text + ("\n| x | [gone](../benchmark/reporting/sections/no_such.html) | `docs/no_such.md` | "
                      "`leaderbord.csv` | `runs/<method>/repeat-<r>/fold-<f>/result.json` | `benchmark.stats.no_such` |\n")
    repo, run, modules = pointers(planted)
    assert missing_repo_paths(repo) == ["benchmark/reporting/sections/no_such.html", "docs/no_such.md"]
    assert bad_run_names(run, names, patterns) == ["leaderbord.csv", "runs/<method>/repeat-<r>/fold-<f>/result.json"]
    assert missing_modules(modules) == ["benchmark.stats.no_such"]
    assert not bad_run_names(["figures/calibration_<set>.png", "analysis/*.csv", "train-<set>/index.html"],
                             names, patterns)
