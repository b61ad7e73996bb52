"""The documented commands still run: every `petl-bench` line of the README, docs/*.md and docs/decisions/*.md
parses with the real parser, every command's --help works and shows its defaults, and the README is a front
page. The code names its design decisions by page (docs/decisions/NAME.md), every such page exists and is
indexed, and no string of the package or the plugins cites an issue number."""
from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
DECISIONS = ROOT / "docs" / "decisions"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(DECISIONS.glob("*.md"))]


def _page_name(page: Path) -> str:
    return str(page.relative_to(ROOT / "docs")) if page.is_relative_to(ROOT / "docs") else page.name


def _subparsers(parser):
    return next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices


def documented_commands() -> list[tuple[str, str, bool]]:
    """(page, command line, complete) for every `petl-bench ...` in a code block (complete: it must parse as
    it stands) or in inline code (it may leave out required arguments, but its command and options must exist)."""
    found = []
    for page in PAGES:
        text, name = page.read_text(), _page_name(page)
        blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S)
        for block in blocks:
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #", 1)[0].strip()
                if line.startswith("petl-bench "):
                    found.append((name, line, True))
        for span in re.findall(r"`(petl-bench [^`]+)`", text):
            found.append((name, " ".join(span.split()), False))
    return found


COMMANDS = documented_commands()


def test_the_docs_have_commands():
    assert len(COMMANDS) > 30 and any(page == "README.md" for page, _, _ in COMMANDS)


@pytest.mark.parametrize("page, line, complete", COMMANDS, ids=[f"{p}: {c}" for p, c, _ in COMMANDS])
def test_documented_command_parses(page, line, complete):
    parser = build_parser()
    tokens = shlex.split(line)[1:]
    commands = _subparsers(parser)
    assert tokens[0] in commands, f"{page}: `{line}`: no command {tokens[0]!r}"
    if complete:
        parser.parse_args(tokens)  # exits (fails the test) on an unknown option or a bad value
        return
    options = {s for a in commands[tokens[0]]._actions for s in a.option_strings}
    for token in tokens[1:]:
        if token.startswith("--"):
            assert token.split("=")[0] in options, f"{page}: `{line}`: {tokens[0]} has no option {token}"


@pytest.mark.parametrize("command", sorted(_subparsers(build_parser())))
def test_help_of_every_command(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    parser = _subparsers(build_parser())[command]
    for action in parser._actions:  # every option with a default says what it is
        if action.option_strings and action.default not in (None, False, [], "==SUPPRESS==") and action.nargs != 0:
            assert "default" in (action.help or ""), f"{command} {action.option_strings[0]}: help hides its default"
    if command in ("run", "suite"):
        profile = "smoke" if command == "run" else "quick"
        assert f"(default: {profile})" in text and "(default: busi)" in text


def test_run_all_help():
    done = subprocess.run([str(ROOT / "run_all.sh"), "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "--profile" in done.stdout


def test_readme_is_a_front_page():
    readme = (ROOT / "README.md").read_text()
    lines = readme.splitlines()
    assert len(lines) < 150
    first_block = re.search(r"```bash\n(.*?)```", readme, flags=re.S).group(1).splitlines()
    assert first_block == [
        'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" -c constraints.txt && ./run_all.sh --profile quick',
        ".venv/bin/python -m pytest --benchmark-disable"]
    for link in re.findall(r"\]\(([^)#]+)", readme):  # every linked page exists
        assert (ROOT / link).exists(), link
    for page in (ROOT / "docs").glob("*.md"):
        assert f"docs/{page.name}" in readme, f"README does not link docs/{page.name}"


def test_readme_results_table_is_generated_from_the_summary():
    sys.path.insert(0, str(ROOT / "scripts" / "dev"))
    try:
        import readme_results
    finally:
        sys.path.pop(0)
    summary = json.loads((ROOT / "docs" / "results.json").read_text())
    for key in ("date", "commit", "profile", "machine", "rows"):
        assert summary.get(key), key
    assert readme_results.table(summary) in (ROOT / "README.md").read_text()


ISSUE_NUMBER = re.compile(r"\bissues?\s+#?\d+|\bissue\s*#\d+", re.IGNORECASE)
DECISION_LINK = re.compile(r"docs/decisions/([a-z0-9][a-z0-9._-]*\.md)")


def _python_files(*folders: str) -> list[Path]:
    return sorted(f for folder in folders for f in (ROOT / folder).rglob("*.py"))


def _string_literals(path: Path):
    """(line, text) of every string literal of a module: docstrings, messages, the parts of f-strings."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_no_string_of_the_package_or_the_plugins_cites_an_issue_number():
    """An issue number says nothing to a user: a message says what to do, a docstring names its
    docs/decisions page."""
    found = [f"{path.relative_to(ROOT)}:{line}: {ISSUE_NUMBER.search(text).group(0)!r}"
             for path in _python_files("benchmark", "methods") for line, text in _string_literals(path)
             if ISSUE_NUMBER.search(text)]
    assert not found, "cite the docs/decisions page instead of the issue:\n" + "\n".join(found)


def test_the_issue_number_check_catches_one(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text('def f():\n    raise ValueError(f"no file {1} (written since issue 24)")\n')
    assert [ISSUE_NUMBER.search(text).group(0) for _, text in _string_literals(planted)
            if ISSUE_NUMBER.search(text)] == ["issue 24"]


def test_every_decision_page_named_in_the_code_exists():
    named = {(str(path.relative_to(ROOT)), page) for path in _python_files("benchmark", "methods", "scripts", "tests")
             for page in DECISION_LINK.findall(path.read_text())}
    assert named, "no code names a docs/decisions page"
    missing = sorted(f"{where}: docs/decisions/{page}" for where, page in named if not (DECISIONS / page).exists())
    assert not missing, "named in the code, but no such page:\n" + "\n".join(missing)


def test_every_decision_page_is_in_the_index():
    index = (DECISIONS / "README.md").read_text()
    listed = set(re.findall(r"\]\(([\w.-]+\.md)\)", index))
    pages = {page.name for page in DECISIONS.glob("*.md")} - {"README.md"}
    assert pages <= listed, f"add to docs/decisions/README.md: {sorted(pages - listed)}"


@pytest.mark.parametrize("page", [*sorted(DECISIONS.glob("*.md")), ROOT / "docs" / "testing.md",
                                  *sorted((ROOT / "scripts").glob("*/README.md"))],
                         ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_of_the_decision_pages_and_the_script_folders_resolve(page):
    for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
        assert (page.parent / link).exists(), f"{page.relative_to(ROOT)}: {link}"
