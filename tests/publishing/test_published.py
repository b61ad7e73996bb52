"""Publishing a run folder (``petl-bench publish``) and the evaluation guard (``check-published``), on a fake run.

One fake run is published once for the module (the publication rebuilds its derived tables); each guard call
rebuilds them again in a temporary copy (a few seconds here). Two plants show the guard failing: the
bootstrap's seed moved (the intervals move) and the AUC moved by 1e-6 (above the guard's 1e-9 tolerance).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import shlex
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmark.cli import build_parser, main
from benchmark.evaluation import draws
from benchmark.evaluation.run_data import load_run
from benchmark.publishing import check_published, publish, read_manifest, unpack
from benchmark.publishing.guard import TOLERANCE, compare_file
from benchmark.runfolder import (LEADERBOARD_FILE, collect, MANIFEST_FILE, PREDICTIONS_FILE, RESULTS_FILE,
                                 VALIDATION_PREDICTIONS_FILE)
from fake_runs import make_run_folder
from published_readme import leaderboard_rows, readme_rows

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

# what a run folder holds that a published folder must not: weights, search storage, images, pages, figures
LEFT_OUT = ("runs/good/repeat-0/fold-0/trained_state.pt", "optuna.db", "artifacts/0a1b/trial.pt", "figures/roc.png",
            "index.html", "leaderboard.html", "test_images.npz", "analysis/activation_rates.png")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = make_run_folder(tmp_path_factory.mktemp("runs"), methods=("good", "weak", "random_a"), folds=3,
                          n_images=90, n_malignant=30, duplicate_pairs=10, externals={"ext": (40, 15)},
                          reference=1.0, reference_on_externals=True)
    for folder in sorted((run / "runs").glob("*/repeat-*/fold-*")):  # the runner's own files of each study
        pred = pd.read_csv(run / PREDICTIONS_FILE)
        method, fold = folder.parts[-3], int(folder.name.split("-")[1])
        mine = pred[(pred["method"] == method) & (pred["fold"] == fold)]
        mine.to_csv(folder / PREDICTIONS_FILE, index=False)
        mine.head(5).to_csv(folder / VALIDATION_PREDICTIONS_FILE, index=False)
    for rel in LEFT_OUT:
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        if not (run / rel).is_file():  # test_images.npz: the fake run's own
            (run / rel).write_bytes(b"not published")
    (run / "analysis" / "notes.md").write_text("the analysis's notes\n")
    collect(run)  # the run's tables from its studies, as the suite writes them when it ends
    return run


@pytest.fixture(scope="module")
def published(run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("results") / "quick-busi"
    publish(run_dir, out, allow_dirty=True, compress_above=20_000, log=lambda *_: None)
    return out


def test_publish_copies_the_inputs_and_derived_tables_without_weights_storage_images_or_pages(run_dir, published):
    manifest = read_manifest(published)
    paths = {f["path"] for f in manifest["files"]}
    assert paths == {p.relative_to(published).as_posix() for p in published.rglob("*") if p.is_file()} - \
        {MANIFEST_FILE}
    assert not paths & set(LEFT_OUT) and not any(p.startswith(("artifacts/", "figures/")) for p in paths)
    assert not any(p.endswith((".pt", ".png", ".html", ".npz", ".db")) for p in paths)
    assert "analysis/notes.md" in paths
    for study in ("runs/good/repeat-0/fold-1", "runs/weak/repeat-0/fold-2"):
        assert {f"{study}/{RESULTS_FILE}", f"{study}/{VALIDATION_PREDICTIONS_FILE}",
                f"{study}/{PREDICTIONS_FILE}"} <= paths
    for name in ("suite.json", "studies.csv", "reference_predictions.csv", LEADERBOARD_FILE, "significance.csv",
                 "claims.csv", "leaderboard.md", "analysis_plan.json", "operating_points.csv", "decision_curve.csv"):
        assert name in paths or name + ".gz" in paths, name
    # large files are compressed, byte for byte the run's, and every file is what the manifest says
    assert PREDICTIONS_FILE + ".gz" in paths and PREDICTIONS_FILE not in paths
    assert gzip.decompress((published / (PREDICTIONS_FILE + ".gz")).read_bytes()) == \
        (run_dir / PREDICTIONS_FILE).read_bytes()
    for f in manifest["files"]:
        data = (published / f["path"]).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (f["bytes"], f["sha256"]), f["path"]
    assert manifest["bytes"] == sum(f["bytes"] for f in manifest["files"]) < manifest["uncompressed_bytes"]
    # where it came from
    assert manifest["code"] == {"commits": [{"commit": "0123456789abcdef", "dirty": True, "studies": 9}],
                                "commit": "0123456789abcdef", "dirty": True}
    assert manifest["data"]["busi"] == {"checksum": "abc123", "n_images": 90}
    assert manifest["profile"]["name"] == "quick" and manifest["dataset"] == "busi"
    assert LEADERBOARD_FILE in manifest["derived"]
    command = shlex.split(manifest["regenerate"][1])
    assert command[0] == "petl-bench" and build_parser().parse_args(command[1:]).command == "publish"


def test_a_sites_folder_is_regenerated_by_the_sites_run():
    """A train-<set>/ folder of a sites run comes from `run_all.sh --profile sites` (which trains every [sites]
    set), not from a run of its data set with its external sets."""
    from benchmark.plugins.registry import method_set
    from benchmark.publishing.folder import _regenerate

    suite = {"profile": {"name": "sites", "sites": {"train": ["busi", "bus_bra"]}, "methods": ["core", "ssf"]},
             "dataset": "bus_bra", "methods": method_set(["core", "ssf"]), "external": ["busi", "breast_lesions_usg"]}
    run, publication = _regenerate(suite, Path("results/sites-bus_bra"))
    assert run == "./run_all.sh --profile sites"
    args = build_parser().parse_args(shlex.split(publication)[1:])
    assert args.command == "publish" and Path(args.run_dir) == Path("reports/latest/train-bus_bra")


def test_publish_refuses_dirty_code_and_an_existing_folder(run_dir, published, capsys):
    with pytest.raises(ValueError, match="uncommitted changes .*--allow-dirty"):
        publish(run_dir, published.parent / "other", log=lambda *_: None)
    assert main(["publish", str(run_dir), "--out", str(published.parent / "other")]) == 2
    assert "--allow-dirty" in capsys.readouterr().err
    assert not (published.parent / "other").exists()
    with pytest.raises(FileExistsError, match="--replace"):
        publish(run_dir, published, allow_dirty=True, log=lambda *_: None)


def test_an_unpacked_folder_is_a_run_folder_and_a_changed_file_is_refused(run_dir, published, tmp_path):
    run = unpack(published, tmp_path / "run")
    assert (run / PREDICTIONS_FILE).read_bytes() == (run_dir / PREDICTIONS_FILE).read_bytes()
    assert load_run(run).order == load_run(run_dir).order
    changed = tmp_path / "changed"
    changed.mkdir()
    for f in read_manifest(published)["files"] + [{"path": MANIFEST_FILE}]:
        (changed / f["path"]).parent.mkdir(parents=True, exist_ok=True)
        (changed / f["path"]).write_bytes((published / f["path"]).read_bytes())
    (changed / "claims.csv").write_text((changed / "claims.csv").read_text() + "\n")
    with pytest.raises(ValueError, match="claims.csv is not the published file"):
        unpack(changed, tmp_path / "again")


def test_a_command_that_rebuilds_tables_refuses_a_published_folder(published, capsys):
    """`petl-bench report` or `sites` on a published folder would collect its tables again from study folders
    whose predictions are compressed, dropping those studies: refused, nothing written."""
    before = {p: p.read_bytes() for p in published.rglob("*") if p.is_file()}
    assert main(["report", str(published)]) == 2
    assert f"{published} is a published folder (MANIFEST.json), not a run folder" in capsys.readouterr().err
    assert main(["sites", str(published), "--out", str(published.parent / "matrix")]) == 2
    assert "unpack it into a run folder first" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in published.rglob("*") if p.is_file()} == before


def test_the_guard_passes_on_a_fresh_publication(published, capsys):
    assert main(["check-published", str(published)]) == 0
    assert "are the published ones" in capsys.readouterr().out


def test_the_guard_fails_when_the_bootstrap_seed_moves(published, monkeypatch):
    """Planted: another bootstrap seed. The intervals, ranks and p-values move; the guard names them."""
    monkeypatch.setattr(draws, "BOOTSTRAP_SEED", draws.BOOTSTRAP_SEED + 1)
    result = check_published(published)
    assert not result.ok
    where = {(d.file, d.column) for d in result.differences}
    assert (LEADERBOARD_FILE, "auc_ci_low") in where, result.summary()
    assert (LEADERBOARD_FILE, "auc") not in where  # the point estimate does not depend on the seed
    assert "difference(s)" in result.summary() and "leaderboard.csv [auc_ci_low]" in result.summary()


def test_the_guard_fails_when_the_auc_moves_by_a_millionth(published, monkeypatch):
    """Planted: the fold-stratified AUC plus 1e-6, far below the table's three printed decimals, above the
    guard's tolerance."""
    auc = draws.stratified_auc
    monkeypatch.setattr(draws, "stratified_auc", lambda y, s, b: auc(y, s, b) + 1e-6)
    result = check_published(published)
    auc_rows = [d for d in result.differences if (d.file, d.column) == (LEADERBOARD_FILE, "auc")]
    assert auc_rows and "largest 1e-06" in auc_rows[0].detail, result.summary()


def test_compare_file_is_exact_on_text_and_tolerant_by_column(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("method,auc,note\nx,0.5,fine\ny,0.25,ok\n")
    b.write_text("method,auc,note\nx,0.5000000000001,fine\ny,0.25,ok\n")
    found, note = compare_file("t.csv", a, b)
    assert found == [] and "equal within 1e-09" in note
    b.write_text(f"method,auc,note\nx,{0.5 + 10 * TOLERANCE},fine\ny,0.25,changed\n")
    found, _ = compare_file("t.csv", a, b)
    assert [(d.column, d.detail.split(";")[0]) for d in found] == [
        ("auc", "1 of 2 rows differ by more than 1e-09 (largest 1e-08)"), ("note", "1 of 2 rows differ")]
    a.write_text("method,auc,note\nx,0.5,\ny,0.25,ok\n")  # an empty text cell in both: equal, in every pandas
    b.write_text("method,auc,note\nx,0.5000000000001,\ny,0.25,ok\n")
    assert compare_file("t.csv", a, b)[0] == []
    b.write_text("method,auc,note\nx,0.5000000000001,filled\ny,0.25,ok\n")
    assert [(d.column, d.detail) for d in compare_file("t.csv", a, b)[0]] == [
        ("note", "1 of 2 rows differ; row 0: published None, rebuilt 'filled'")]
    b.write_text("method,auc\nx,0.5\ny,0.25\n")
    assert [(d.column, d.detail) for d in compare_file("t.csv", a, b)[0]] == [("note", "only in the published table")]
    j1, j2 = tmp_path / "a.json", tmp_path / "b.json"
    j1.write_text(json.dumps({"sha256": "abc", "margin": 0.025}))
    j2.write_text(json.dumps({"sha256": "abd", "margin": 0.025}))
    assert [str(d) for d in compare_file("p.json", j1, j2)[0]] == ["p.json [sha256]: published 'abc', rebuilt 'abd'"]


def test_the_readme_check_sees_a_number_that_is_not_the_published_one(published, tmp_path):
    """The README check of tests/project/test_published_results.py on this publication: the table that
    scripts/dev/readme_results.py writes from it passes; one changed digit fails."""
    sys.path.insert(0, str(ROOT / "scripts" / "dev"))
    try:
        import readme_results
    finally:
        sys.path.pop(0)
    readme = tmp_path / "README.md"
    readme.write_text(f"# front page\n\n{readme_results.BEGIN}\n{readme_results.END}\n")
    readme_results.write_readme(readme_results.summarise(published), readme)
    rows = leaderboard_rows(published)
    assert readme_rows(readme.read_text()) == rows and len(rows) == 3
    auc = rows[0][1].split()[0]
    planted = readme.read_text().replace(f"| {auc} ", f"| {float(auc) + 0.001:.3f} ", 1)
    assert readme_rows(planted) != rows


def test_publishing_again_keeps_the_records_of_reproduction(run_dir, published, tmp_path):
    from benchmark.publishing import read_manifest, record_reproduction

    out = tmp_path / "quick-busi"
    publish(run_dir, out, allow_dirty=True, log=lambda *_: None)
    record_reproduction(out, "a" * 40, ["good repeat 0 fold 0"], date="2026-12-07")
    publish(run_dir, out, allow_dirty=True, replace=True, log=lambda *_: None)  # the evaluation changed: again
    kept = read_manifest(out)["code"]["reproduced_by"]
    assert kept == [{"commit": "a" * 40, "date": "2026-12-07", "studies": ["good repeat 0 fold 0"]}]
