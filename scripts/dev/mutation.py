"""The mutation check of the core: mutmut, one target at a time, each in its own copy of the repository.

    scripts/dev/mutation.sh                  # every target of scripts/dev/mutation.toml
    scripts/dev/mutation.sh split selection  # some of them
    scripts/dev/mutation.sh --list           # the targets, their files and tests

For each target (scripts/dev/mutation.toml): copy the repository's files (``git ls-files``: tracked,
and new files git does not ignore) into a temporary folder, write mutmut's settings into the
copy's ``pyproject.toml`` (the base ``[tool.mutmut]`` table, plus the files to mutate and the
target's tests), run ``mutmut run`` there, and read every mutant's result. Prints per target the
mutants killed, survived, timed out and not covered by its tests, the kill rate
(killed + timeout over all checked) and the wall time, and lists the survivors; ``--keep`` keeps
the copies, where ``mutmut show NAME`` prints a survivor's diff. The summary goes to ``--out``
(default ``mutation-results.json``). Needs mutmut: ``pip install -e ".[mutation]"``.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGETS = Path(__file__).with_name("mutation.toml")
KILLED = {"killed", "timeout", "caught by type check"}


def load_targets() -> dict[str, dict]:
    targets = tomllib.loads(TARGETS.read_text())
    for name, t in targets.items():
        missing = {"mutate", "tests"} - set(t)
        if missing:
            raise SystemExit(f"{TARGETS}: target [{name}] needs {sorted(missing)}")
    return targets


def copy_repository(dest: Path) -> None:
    """The files a fresh clone would have, with the work in progress: tracked and untracked-not-ignored."""
    try:
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                                capture_output=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"scripts/dev/mutation.py copies the repository with git ls-files, which failed in {ROOT}: {exc}")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def configure(copy: Path, target: dict) -> None:
    """Add the target's files and tests to the copy's [tool.mutmut] table."""
    path = copy / "pyproject.toml"
    text = path.read_text()
    extra = (f"only_mutate = {json.dumps(target['mutate'])}\n"
             f"pytest_add_cli_args_test_selection = {json.dumps(target['tests'])}\n")
    if "[tool.mutmut]\n" not in text:
        raise SystemExit("pyproject.toml has no [tool.mutmut] table (the base settings of the mutation check)")
    path.write_text(text.replace("[tool.mutmut]\n", "[tool.mutmut]\n" + extra, 1))


def results(copy: Path) -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=copy,
                         capture_output=True, text=True).stdout
    return dict(m.groups() for m in re.finditer(r"^\s+(\S+): (.+)$", out, re.M))


def run_target(name: str, target: dict, keep: bool, max_children: int | None) -> dict:
    copy = Path(tempfile.mkdtemp(prefix=f"mutation-{name}-"))
    started = time.perf_counter()
    try:
        copy_repository(copy)
        configure(copy, target)
        patterns = target.get("mutants", [])
        command = [sys.executable, "-m", "mutmut", "run", *patterns]
        if max_children:
            command[4:4] = ["--max-children", str(max_children)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        log = copy / "mutmut-run.log"
        with open(log, "w") as fh:
            code = subprocess.run(command, cwd=copy, stdout=fh, stderr=subprocess.STDOUT, env=env).returncode
        status = results(copy)
        if patterns:
            status = {k: v for k, v in status.items() if any(fnmatch.fnmatch(k, p) for p in patterns)}
        counts: dict[str, int] = {}
        for s in status.values():
            counts[s] = counts.get(s, 0) + 1
        checked = sum(v for k, v in counts.items() if k not in ("not checked", "no tests", "skipped"))
        killed = sum(v for k, v in counts.items() if k in KILLED)
        summary = {"target": name, "files": target["mutate"], "tests": target["tests"], "mutants": len(status),
                   "counts": counts, "kill_rate": killed / checked if checked else None,
                   "survived": sorted(k for k, v in status.items() if v == "survived"),
                   "no_tests": sorted(k for k, v in status.items() if v == "no tests"),
                   "seconds": round(time.perf_counter() - started, 1), "mutmut_exit_code": code}
        if code != 0 and not status:
            summary["log_tail"] = log.read_text()[-3000:]
        if keep:
            summary["copy"] = str(copy)
        return summary
    finally:
        if not keep:
            shutil.rmtree(copy, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", help="targets of scripts/dev/mutation.toml (default: all)")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--keep", action="store_true", help="keep each target's copy (mutmut show NAME there)")
    parser.add_argument("--max-children", type=int, help="mutants run at once (default: the CPU count)")
    parser.add_argument("--out", default="mutation-results.json", help="where the summary goes")
    args = parser.parse_args(argv)
    targets = load_targets()
    if args.list:
        for name, t in targets.items():
            print(f"{name}: mutates {', '.join(t['mutate'])}{' (' + ', '.join(t['mutants']) + ')' if 'mutants' in t else ''}; "
                  f"tests {' '.join(t['tests'])}")
        return 0
    unknown = sorted(set(args.targets) - set(targets))
    if unknown:
        print(f"no target named {', '.join(unknown)} in {TARGETS}; targets: {', '.join(targets)}", file=sys.stderr)
        return 2
    summaries = []
    for name in args.targets or list(targets):
        s = run_target(name, targets[name], args.keep, args.max_children)
        summaries.append(s)
        rate = "n/a" if s["kill_rate"] is None else f"{100 * s['kill_rate']:.1f}%"
        print(f"{name}: {s['mutants']} mutants, {s['counts']}, kill rate {rate}, {s['seconds']:.0f} s", flush=True)
        for survivor in s["survived"]:
            print(f"    survived: {survivor}")
        if "log_tail" in s:
            print(s["log_tail"])
        Path(args.out).write_text(json.dumps(summaries, indent=2) + "\n")
    return 0 if all(s["kill_rate"] is not None for s in summaries) else 1


if __name__ == "__main__":
    raise SystemExit(main())
