"""Every completed trial's test predictions are kept (trial_predictions.csv) and never read by selection.

A tiny search (the smoke profile on synthetic data: 2 folds, 3 trials per study) keeps each completed trial's
rows; the selected trial's rows are the study's predictions. The guard: rewrite every kept trial row (in the
artifact store, the study files and the run's table) so that each study's trials rank the other way round by
test AUC, select again from the stored trials and rebuild the tables: the selected trials, predictions.csv and
the leaderboard stay byte-identical. A selection planted to read the kept rows (the best test AUC) is caught
by the same guard. ``[search]
keep_trial_predictions = false`` trains the same trials, keeps no rows and names the same studies.
"""
from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import pandas as pd
import pytest

from benchmark.plugins.registry import get_method
from benchmark.runfolder import (LEADERBOARD_FILE, PREDICTIONS_FILE, RESULTS_FILE, SEARCH_BUDGET_FILE, STUDIES_FILE,
                                 TRIAL_PREDICTION_COLUMNS, TRIAL_PREDICTIONS_FILE, TRIALS_FILE, collect, study_folders)
from benchmark.stats import roc_auc

pytestmark = pytest.mark.slow  # two tiny suites and their leaderboards: about a minute on a 2-core CPU

METHOD = "feature_extraction"
COMPARED = (PREDICTIONS_FILE, STUDIES_FILE, TRIALS_FILE, LEADERBOARD_FILE, SEARCH_BUDGET_FILE)


def _profile(smoke_profile, keep: bool = True):
    """The smoke profile with 3 trials per study."""
    search = dataclasses.replace(smoke_profile.search, n_trials=3, startup_trials=2, keep_trial_predictions=keep)
    return dataclasses.replace(smoke_profile, search=search)


def _suite(profile, run_dir: Path) -> None:
    from benchmark.evaluation.derived import refresh
    from benchmark.training import search
    from benchmark.training.suite import run_suite

    with warnings.catch_warnings(), pytest.MonkeyPatch.context() as patch:
        warnings.simplefilter("ignore")
        # every trained state kept, so that a selection that changed could restore any trial
        patch.setattr(search, "_prune_states", lambda *args: None)
        run_suite(profile, "synthetic", run_dir, [METHOD], device="cpu", progress=False, workers=1)
        refresh(run_dir, force=True)


def _outputs(run_dir: Path) -> dict:
    """What selection and the leaderboard decide: each study's selected trial, and the tables' bytes."""
    out = {name: (run_dir / name).read_bytes() for name in COMPARED}
    for folder in study_folders(run_dir):
        record = json.loads((folder / RESULTS_FILE).read_text())
        out[folder.relative_to(run_dir).as_posix()] = (record["search"]["selected_trial"], record["metrics"]["auc"])
    return out


def _reverse_test_order(paths: list[Path]) -> None:
    """Rewrite the trial rows of ``paths`` so that each study's trials rank the other way round by test AUC:
    the trial at place p of n (best first; ties to the lower trial number) gets scores whose AUC is p / (n - 1)."""
    frames = {p: pd.read_csv(p, dtype={"image_id": str}) for p in paths}
    study = ["method", "repeat", "fold"]
    aucs = pd.concat(frames.values()).drop_duplicates([*study, "trial", "dataset", "image_id"]) \
        .groupby([*study, "trial"])[["label", "score"]].apply(lambda g: roc_auc(g["label"], g["score"]))
    place = {}
    for _, part in aucs.reset_index(name="auc").groupby(study):
        ordered = part.sort_values(["auc", "trial"], ascending=[False, True])
        place.update({(*key, n): (p, len(ordered)) for p, (*key, n) in enumerate(
            ordered[[*study, "trial"]].itertuples(index=False, name=None))})
    for path, rows in frames.items():
        p, n = zip(*(place[key] for key in rows[[*study, "trial"]].itertuples(index=False, name=None)))
        p, n = pd.Series(p, index=rows.index), pd.Series(n, index=rows.index)
        scores = (rows["label"] * p + (1 - rows["label"]) * (n - 1) / 2) / (n - 1).clip(lower=1)
        rows.assign(score=scores).to_csv(path, index=False)


def _changed_by_corrupting_the_trial_rows(run_dir: Path, profile) -> list[str]:
    """Reverse each study's trials' order by test AUC in every kept trial row, wherever it is stored, select
    again from the stored trials (the study folders emptied, the Optuna storage and the trained states kept)
    and rebuild the tables: which outputs changed."""
    before = _outputs(run_dir)
    kept = [p for p in (run_dir / "artifacts").rglob("*") if p.is_file() and p.read_bytes()[:7] == b"dataset"]
    assert kept, "no kept trial rows in the artifact store"
    _reverse_test_order(kept)
    _reverse_test_order([run_dir / TRIAL_PREDICTIONS_FILE])  # the study files are emptied below
    for folder in study_folders(run_dir):
        for f in folder.iterdir():
            f.unlink()
    _suite(profile, run_dir)
    collect(run_dir)
    after = _outputs(run_dir)
    return sorted(k for k in before if before[k] != after.get(k))


@pytest.fixture(scope="module")
def kept_run(tmp_path_factory, smoke_profile):
    run_dir = tmp_path_factory.mktemp("trial-predictions") / "run"
    _suite(_profile(smoke_profile), run_dir)
    return run_dir


def test_every_completed_trial_scores_the_test_fold_and_the_selected_one_is_the_run(kept_run):
    trials = pd.read_csv(kept_run / TRIALS_FILE)
    rows = pd.read_csv(kept_run / TRIAL_PREDICTIONS_FILE, dtype={"image_id": str})
    predictions = pd.read_csv(kept_run / PREDICTIONS_FILE, dtype={"image_id": str})
    assert list(rows.columns) == TRIAL_PREDICTION_COLUMNS
    complete = trials[trials["state"] == "COMPLETE"]
    assert len(complete) >= 4  # 2 folds x 3 trials, at most one lost to a collapse per fold
    assert set(map(tuple, rows[["fold", "trial"]].drop_duplicates().to_numpy().tolist())) == \
        set(map(tuple, complete[["fold", "trial"]].to_numpy().tolist()))  # pruned and failed trials have none
    for t in complete.itertuples():
        mine = rows[(rows["fold"] == t.fold) & (rows["trial"] == t.trial)]
        test = predictions[predictions["fold"] == t.fold]
        assert sorted(mine["image_id"]) == sorted(test["image_id"])  # the fold's test images, each once
        if t.selected:  # the selected trial's own rows are what its restored model scored
            merged = test.merge(mine, on="image_id", suffixes=("", "_trial"))
            assert merged["score"].to_numpy() == pytest.approx(merged["score_trial"].to_numpy(), abs=1e-6)
            assert (merged["threshold"] == merged["threshold_trial"]).all()
    for folder in study_folders(kept_run):  # each study keeps its own file, collected into the run's
        assert (folder / TRIAL_PREDICTIONS_FILE).is_file()


def test_corrupted_trial_predictions_change_no_selection_prediction_or_leaderboard(kept_run, smoke_profile):
    assert _changed_by_corrupting_the_trial_rows(kept_run, _profile(smoke_profile)) == []
    # and without them at all: the same tables
    before = {name: (kept_run / name).read_bytes() for name in COMPARED}
    for path in [kept_run / TRIAL_PREDICTIONS_FILE, *(f / TRIAL_PREDICTIONS_FILE for f in study_folders(kept_run))]:
        path.unlink()
    collect(kept_run)
    from benchmark.evaluation.derived import refresh

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refresh(kept_run, force=True)
    assert {name: (kept_run / name).read_bytes() for name in COMPARED} == before
    assert not (kept_run / TRIAL_PREDICTIONS_FILE).exists()


def test_a_selection_that_reads_the_trial_predictions_is_caught(tmp_path, smoke_profile, monkeypatch):
    """Plant a read of the kept rows in selection (the trial with the best test AUC) and show the guard fails."""
    from optuna.artifacts import FileSystemArtifactStore, download_artifact

    from benchmark.stats.selection import SelectionRule
    from benchmark.training.trial_predictions import TRIAL_PREDICTIONS_ATTR

    run_dir = tmp_path / "run"

    def by_test_auc(self, trials):
        store = FileSystemArtifactStore(str(run_dir / "artifacts"))

        def test_auc(t):
            local = tmp_path / f"peek-{t.number}.csv"
            download_artifact(artifact_store=store, file_path=str(local),
                              artifact_id=t.user_attrs[TRIAL_PREDICTIONS_ATTR])
            rows = pd.read_csv(local)
            local.unlink()
            return roc_auc(rows["label"], rows["score"])
        return max(trials, key=test_auc)

    monkeypatch.setattr(SelectionRule, "select", by_test_auc)
    profile = _profile(smoke_profile)
    _suite(profile, run_dir)
    assert _changed_by_corrupting_the_trial_rows(run_dir, profile) != []


def test_switched_off_the_same_trials_are_trained_and_no_rows_are_kept(tmp_path, smoke_profile, kept_run):
    from benchmark.training.search_space import study_fingerprint

    on, off = _profile(smoke_profile), _profile(smoke_profile, keep=False)
    method = get_method(METHOD)
    assert study_fingerprint(on, method, "abc") == study_fingerprint(off, method, "abc")  # the same studies
    run_dir = tmp_path / "off"
    _suite(off, run_dir)
    assert not (run_dir / TRIAL_PREDICTIONS_FILE).exists()
    assert not any((f / TRIAL_PREDICTIONS_FILE).exists() for f in study_folders(run_dir))
    assert not any(p.read_bytes()[:7] == b"dataset" for p in (run_dir / "artifacts").rglob("*") if p.is_file())
    columns = ["fold", "trial", "state", "params", "val_auc", "val_loss", "epochs", "selected"]
    assert pd.read_csv(run_dir / TRIALS_FILE)[columns].equals(pd.read_csv(kept_run / TRIALS_FILE)[columns])
