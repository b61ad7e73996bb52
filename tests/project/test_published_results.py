"""The published results under results/ (``petl-bench publish``) are the code's numbers, and the README's are theirs.

Each published folder's derived tables are rebuilt from its predictions by this checkout's evaluation and
compared with the published ones (:func:`benchmark.publishing.check_published`: about 2 minutes for a quick
run on the 2-core CPU); the README's results table must show results/quick-busi/leaderboard.csv's ranked rows.
Both skip, saying so, while results/ holds no published folder.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from benchmark.runfolder import MANIFEST_FILE, PUBLISHED_DIR
from published_readme import leaderboard_rows, readme_rows

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = sorted(p for p in (ROOT / PUBLISHED_DIR).glob("*") if (p / MANIFEST_FILE).is_file())
QUICK = ROOT / PUBLISHED_DIR / "quick-busi"
NONE_YET = (f"{PUBLISHED_DIR}/ holds no published folder yet (make one: ./run_all.sh --profile quick, then "
            f"petl-bench publish RUN_DIR; docs/usage.md, \"Published results\")")


@pytest.mark.slow
@pytest.mark.parametrize("folder", PUBLISHED or [pytest.param(None, marks=pytest.mark.skip(reason=NONE_YET))],
                         ids=lambda p: p.name if p else "none")
def test_a_published_folder_is_what_the_evaluation_computes_from_its_predictions(folder):
    from benchmark.publishing import check_published

    result = check_published(folder)
    assert result.ok, result.summary()
    assert "leaderboard.csv" in result.compared and "claims.csv" in result.compared


def test_the_readme_shows_the_published_quick_leaderboard():
    if not (QUICK / MANIFEST_FILE).is_file():
        pytest.skip(f"no published quick run at {QUICK.relative_to(ROOT)}: " + NONE_YET)
    readme = readme_rows((ROOT / "README.md").read_text())
    assert readme == leaderboard_rows(QUICK), (
        f"README.md's results table differs from {QUICK.relative_to(ROOT)}/leaderboard.csv: run "
        f".venv/bin/python scripts/dev/readme_results.py and commit README.md and docs/results.json")
    sys.path.insert(0, str(ROOT / "scripts" / "dev"))
    try:
        import readme_results
    finally:
        sys.path.pop(0)
    summary = json.loads((ROOT / "docs" / "results.json").read_text())
    assert summary["rows"] == readme_results.summarise(QUICK)["rows"]
    assert summary["source"] == f"published {QUICK.relative_to(ROOT)}", \
        "docs/results.json was not written from the published folder: run scripts/dev/readme_results.py"


def test_a_comparison_with_the_published_quick_run_is_accepted_by_this_checkout():
    """The README's way in (a new plugin compared with results/quick-busi) works at every commit: the training code
    here is the published run's, or a commit with this training code trained published studies again to their
    scores (`code.reproduced_by`). A change to the training code fails here until that is recorded."""
    from benchmark.compare import _code_problems, changed_training_files
    from benchmark.publishing import read_manifest

    if not (QUICK / MANIFEST_FILE).is_file():
        pytest.skip(f"no published quick run at {QUICK.relative_to(ROOT)}: " + NONE_YET)
    manifest = read_manifest(QUICK)
    if changed_training_files(manifest["code"]["commit"]) is None:
        pytest.skip("not a git checkout with the published run's commit: the training code cannot be compared")
    refusals, _ = _code_problems(manifest, allow_code_change=False)
    assert not refusals, (
        f"{refusals[0]}\nCommit the change, then run `petl-bench check-published {QUICK.relative_to(ROOT)} --retrain "
        f"feature_extraction,bitfit` (a few minutes) and commit the MANIFEST.json it updates, or publish the quick "
        f"run again (docs/usage.md, \"Published results\")")


def _pins() -> dict:
    from benchmark.common.provenance import CONSTRAINTS_FILE

    lines = (ROOT / CONSTRAINTS_FILE).read_text().splitlines()
    return dict(line.split("==") for line in (s.split("#")[0].strip() for s in lines) if line)


def test_the_install_pins_the_versions_that_made_every_published_study():
    """Every published study's record names the pinned versions of the packages that compute its numbers, and the
    install (README, CI) pins them: a new release can move a published study's scores (measured in docs/usage.md,
    "The training guard"). A pin changed without regenerating the published
    results, or a study made with other versions, fails here."""
    from benchmark.common.provenance import CONSTRAINTS_FILE, NUMERIC_PACKAGES

    pins = _pins()
    assert sorted(pins) == sorted(NUMERIC_PACKAGES), f"{CONSTRAINTS_FILE} must pin exactly {NUMERIC_PACKAGES}"
    if not PUBLISHED:
        pytest.skip(NONE_YET)
    other = {}
    for record in sorted(p for folder in PUBLISHED for p in (folder / "runs").glob("*/*/*/results.json")):
        versions = json.loads(record.read_text())["provenance"]["versions"]
        moved = {k: versions.get(k) for k in pins if versions.get(k) != pins[k]}
        if moved:
            other[str(record.relative_to(ROOT))] = moved
    assert not other, (f"{len(other)} published studies were made with other versions than {CONSTRAINTS_FILE}'s, "
                       f"e.g. {next(iter(other.items()))}: regenerate them or restore the pins")
    for path in ("README.md", ".ci/run"):
        installs = [line for line in (ROOT / path).read_text().splitlines() if "pip install" in line and " -e " in line]
        assert installs and all(f"-c {CONSTRAINTS_FILE}" in line for line in installs), \
            f"{path} installs the suite without -c {CONSTRAINTS_FILE}: {installs}"
