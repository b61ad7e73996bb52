"""The documented commands still run: every `petl-bench` line of the README and docs/*.md parses with the
real parser, every command's --help works and shows its defaults, and the README is a front page."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _subparsers(parser):
    return next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices


def documented_commands() -> list[tuple[str, str, bool]]:
    """(page, command line, complete) for every `petl-bench ...` in a code block (complete: it must parse as
    it stands) or in inline code (it may leave out required arguments, but its command and options must exist)."""
    found = []
    for page in PAGES:
        text = page.read_text()
        blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S)
        for block in blocks:
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #", 1)[0].strip()
                if line.startswith("petl-bench "):
                    found.append((page.name, line, True))
        for span in re.findall(r"`(petl-bench [^`]+)`", text):
            found.append((page.name, " ".join(span.split()), False))
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
        'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && ./run_all.sh --profile quick',
        ".venv/bin/python -m pytest --benchmark-disable"]
    for link in re.findall(r"\]\(([^)#]+)", readme):  # every linked page exists
        assert (ROOT / link).exists(), link
    for page in (ROOT / "docs").glob("*.md"):
        assert f"docs/{page.name}" in readme, f"README does not link docs/{page.name}"


def test_readme_results_table_is_generated_from_the_summary():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import readme_results
    finally:
        sys.path.pop(0)
    summary = json.loads((ROOT / "docs" / "results.json").read_text())
    for key in ("date", "commit", "profile", "machine", "rows"):
        assert summary.get(key), key
    assert readme_results.table(summary) in (ROOT / "README.md").read_text()
