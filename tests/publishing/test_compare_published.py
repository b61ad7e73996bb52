"""``petl-bench compare`` end to end, on a tiny published run: the new method alone trains, the report ranks both.

A smoke-profile suite of feature extraction on synthetic data is published (``allow_dirty``: a test checkout);
its manifest is given a clean made-up commit and the training-code diff is stubbed as empty (the refusals of a
changed or unchecked code are in test_compare_refusals.py). ``petl-bench compare --methods bitfit`` then trains
BitFit on the same two folds into a new run folder: the published studies' records are the published bytes and
no model of theirs was trained (no weights), the leaderboard ranks both methods, ``suite.json`` lists both,
``baseline.json`` and the report's provenance say which rows were published (with the commit) and which were
trained here. The comparison published over the baseline keeps the baseline's training commit and lists the new
method under ``code.contributed``; its new study trains again to the published scores (the CI check of a
contributed method), and a comparison whose training code differed is refused. About a minute on a 2-core CPU.
"""
from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

from benchmark import compare as compare_module
from benchmark.cli import main
from benchmark.publishing import check_published, publish
from benchmark.runfolder import (BASELINE_FILE, LEADERBOARD_FILE, MANIFEST_FILE, PREDICTIONS_FILE, REPORT_FILE,
                                 RESULTS_FILE, STATE_FILE, SUITE_FILE, TRIAL_PREDICTIONS_FILE)

pytestmark = pytest.mark.slow

PUBLISHED, NEW, COMMIT = "feature_extraction", "bitfit", "c0ffee" + "0" * 34


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, smoke_profile):
    from benchmark.training.suite import run_suite

    root = tmp_path_factory.mktemp("compare")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_suite(smoke_profile, "synthetic", root / "run", [PUBLISHED], device="cpu", progress=False, workers=1)
    folder = root / "results" / "smoke-synthetic"
    publish(root / "run", folder, allow_dirty=True, log=lambda *_: None)
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["code"] = {**manifest["code"], "commit": COMMIT, "dirty": False}  # as if trained by a clean checkout
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="module")
def compared(baseline, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("compared") / "run"
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        patch.setattr(compare_module, "changed_training_files", lambda commit, root=None: [])
        code = main(["compare", "--baseline", str(baseline), "--methods", NEW, "--run-dir", str(run_dir),
                     "--device", "cpu", "--workers", "1", "--no-progress"])
    assert code == 0
    return run_dir


def _studies(folder, method):
    return sorted((folder / "runs" / method).glob("repeat-*/fold-*"))


def test_only_the_new_method_is_trained(baseline, compared):
    published = _studies(baseline, PUBLISHED)
    assert len(published) == 2
    for study in published:
        here = compared / study.relative_to(baseline)
        assert (here / RESULTS_FILE).read_bytes() == (study / RESULTS_FILE).read_bytes()
        assert not (here / STATE_FILE).exists()  # never trained here: no model
    new = _studies(compared, NEW)
    assert [s.relative_to(compared / "runs" / NEW) for s in new] == [s.relative_to(baseline / "runs" / PUBLISHED)
                                                                      for s in published]  # the same folds
    assert all((s / RESULTS_FILE).is_file() and (s / STATE_FILE).is_file() for s in new)
    # the published out-of-fold scores are the run's, row for row
    mine = pd.read_csv(compared / PREDICTIONS_FILE, dtype={"image_id": str})
    theirs = pd.concat([pd.read_csv(s / PREDICTIONS_FILE, dtype={"image_id": str}) for s in published])
    key = ["dataset", "repeat", "fold", "image_id"]
    pd.testing.assert_frame_equal(mine[mine["method"] == PUBLISHED].sort_values(key).reset_index(drop=True),
                                  theirs.sort_values(key).reset_index(drop=True)[mine.columns], check_dtype=False)
    # the published trials' rows stay in the run's trial table beside the new ones
    assert set(pd.read_csv(compared / TRIAL_PREDICTIONS_FILE)["method"]) == {PUBLISHED, NEW}


def test_the_leaderboard_ranks_published_and_new_methods(compared):
    board = pd.read_csv(compared / LEADERBOARD_FILE)
    assert {PUBLISHED, NEW} <= set(board["method"])
    assert board.set_index("method").loc[[PUBLISHED, NEW], "rank"].notna().all()
    assert json.loads((compared / SUITE_FILE).read_text())["methods"] == [PUBLISHED, NEW]


def test_the_run_folder_says_which_rows_were_published(baseline, compared):
    info = json.loads((compared / BASELINE_FILE).read_text())
    assert info["baseline"] == str(baseline)
    assert info["published"]["methods"] == [PUBLISHED] and info["published"]["commit"] == COMMIT
    assert info["published"]["date"]
    assert info["trained_here"]["methods"] == [NEW] and "commit" in info["trained_here"]
    assert info["code_check"] == {"checked": True, "changed_files": []}
    page = (compared / REPORT_FILE).read_text()
    row = page[page.index(">published rows<"):]
    row = row[: row.index("</tr>")]
    assert f"{PUBLISHED}: published in <code>{baseline}</code>, trained by <code>{COMMIT}</code>" in row
    assert f"trained here: {NEW}, by <code>" in row and "the training code unchanged since that commit" in row


@pytest.fixture(scope="module")
def contributed(baseline, compared, tmp_path_factory):
    """The comparison published over (a copy of) the baseline, as a contributor's pull request would."""
    import shutil

    from benchmark.publishing.folder import default_out

    assert default_out(compared) == baseline  # a comparison extends the folder it compared with
    folder = tmp_path_factory.mktemp("contributed") / "results" / baseline.name
    shutil.copytree(baseline, folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        publish(compared, folder, allow_dirty=True, replace=True, log=lambda *_: None)
    return folder


def test_a_published_comparison_keeps_the_baseline_commit_and_lists_the_contribution(baseline, contributed):
    manifest = json.loads((contributed / MANIFEST_FILE).read_text())
    assert manifest["methods"] == [PUBLISHED, NEW]
    assert manifest["code"]["commit"] == COMMIT and manifest["code"]["dirty"] is False
    [entry] = manifest["code"]["contributed"]
    assert entry["methods"] == [NEW] and entry["code_check"] == {"checked": True, "changed_files": []}
    assert sum(c["studies"] for c in manifest["code"]["commits"]) == 4  # two folds of each method
    assert f"--methods {PUBLISHED},{NEW}" in manifest["regenerate"][0]
    assert check_published(contributed).ok  # every table recomputes from its predictions
    # the next comparison reads both methods as published, and the same training commit
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compare_module, "changed_training_files", lambda commit, root=None: [])
        checked = compare_module.check_baseline(contributed, ["ssf"], log=lambda *_: None)
    assert checked["published"] == [PUBLISHED, NEW] and checked["code"]["checked"]


def test_the_contributed_method_trains_again_to_its_published_scores(contributed):
    from benchmark.training.reproduce import retrain_study

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = retrain_study(contributed, NEW, 0, 0)
    assert result.reproduced, str(result)


def test_a_comparison_with_changed_training_code_is_not_published(compared, tmp_path):
    import shutil

    copy = tmp_path / "changed"
    shutil.copytree(compared, copy, ignore=shutil.ignore_patterns("*.pt"))
    info = json.loads((copy / BASELINE_FILE).read_text())
    info["code_check"] = {"checked": True, "changed_files": ["benchmark/training/trainer.py"]}
    (copy / BASELINE_FILE).write_text(json.dumps(info))
    with pytest.raises(ValueError, match="trainer.py.*cannot join the published ones"):
        publish(copy, tmp_path / "out", allow_dirty=True, log=lambda *_: None)
    assert not (tmp_path / "out").exists()
