"""The logistic-regression reference: computed on a run's folds, shown as an unranked row, and
a method significantly below it flagged, with wins over it not counted as evidence."""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_runs import make_run_folder
from sklearn.metrics import roc_auc_score

from benchmark.data import load_dataset
from benchmark.common.io import write_json_atomic
from benchmark.evaluation import (
    leaderboard,
    load_run,
    reference_comparison,
    reference_sentences,
    significance,
    summary_sentences,
)
from benchmark.common.profiles import load_profile
from benchmark.training.reference import reference_predictions, write_reference
from benchmark.runfolder import PREDICTION_COLUMNS, REFERENCE_FILE, REFERENCE_METHOD
from benchmark.training.runner import evaluation_splits
from benchmark.training.suite import save_test_images

# good is far above a reference of strength 1.5, random_a and weak far below it
METHODS = ("good", "random_a", "weak")


@pytest.fixture(scope="module")
def with_reference(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_run_folder(tmp_path_factory.mktemp("reference"), methods=METHODS, folds=5, repeats=2, n_images=150,
                               n_malignant=50, duplicate_pairs=10, n_bootstrap=100, reference=1.5)


def test_reference_row_is_unranked_and_below_methods_are_flagged(with_reference):
    data = load_run(with_reference)
    lb = leaderboard(data)
    assert list(lb["method"]) == ["good", "weak", "random_a", REFERENCE_METHOD]  # ranked, then the reference
    ref = lb.set_index("method").loc[REFERENCE_METHOD]
    assert pd.isna(ref["rank"]) and ref["status"].startswith("reference")
    rows = pd.read_csv(with_reference / REFERENCE_FILE)
    per_repeat = [np.average([roc_auc_score(f.label, f.score) for _, f in g.groupby("fold")],
                             weights=[(f.label == 1).sum() * (f.label == 0).sum() for _, f in g.groupby("fold")])
                  for _, g in rows.groupby("repeat")]
    assert ref["auc"] == pytest.approx(np.mean(per_repeat), abs=1e-12)
    assert ref["auc_pooled"] == pytest.approx(np.mean([roc_auc_score(g.label, g.score)
                                                       for _, g in rows.groupby("repeat")]), abs=1e-12)
    assert ref["auc_ci_low"] < ref["auc"] < ref["auc_ci_high"]
    comparison = reference_comparison(data).set_index("method")
    assert set(comparison.index) == set(METHODS)
    pred = pd.read_csv(with_reference / "predictions.csv")
    fold_auc = {k: roc_auc_score(g.label, g.score) for k, g in pd.concat([pred, rows]).groupby(
        ["method", "repeat", "fold"])}
    for m in METHODS:
        row = lb.set_index("method").loc[m]
        # the method-level estimate: the mean per-fold-model AUC difference
        diffs = [fold_auc[(m, r, f)] - fold_auc[(REFERENCE_METHOD, r, f)] for (_, r, f) in fold_auc if _ == m]
        assert row["vs_reference"] == pytest.approx(np.mean(diffs), abs=1e-12)
        assert row["vs_reference_ci_low"] <= row["vs_reference"] <= row["vs_reference_ci_high"]
    flagged = set(lb.loc[lb["below_reference"].fillna(False).astype(bool), "method"])
    assert flagged == {"random_a", "weak"}
    assert pd.isna(lb.set_index("method").loc[REFERENCE_METHOD, "below_reference"])


def test_wins_over_a_method_below_the_reference_are_not_evidence(with_reference):
    data = load_run(with_reference)
    sig = significance(data)
    primary = sig[sig["primary"]]
    assert set(primary.loc[primary["b_below_reference"], "method_b"]) == {"random_a", "weak"}
    assert REFERENCE_METHOD not in set(sig["method_a"]) | set(sig["method_b"])
    sentences = summary_sentences(sig)
    over_weak = [s for s in sentences if s.startswith("good vs weak")]
    assert over_weak and ("weak is also below a logistic-regression probe on the same frozen features and images "
                          "(busi): this shows that weak fell short here, not that good adds anything over the probe"
                          ) in over_weak[0]
    assert not any("trained badly" in s for s in sentences)
    words = " ".join(reference_sentences(leaderboard(data)))
    assert "Significantly below a logistic-regression probe on the same frozen features and images" in words
    assert "random_a" in words and "weak" in words and "trained badly" not in words
    assert "good (" not in words


def test_no_reference_no_row_and_no_flags(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_dir = make_run_folder(tmp_path, methods=METHODS, folds=2, n_images=60, n_malignant=20,
                                  duplicate_pairs=4, n_bootstrap=50)
    lb = leaderboard(run_dir)
    assert REFERENCE_METHOD not in set(lb["method"]) and lb["below_reference"].isna().all()
    assert reference_sentences(lb) == [] and not significance(run_dir)["b_below_reference"].any()


def test_a_reference_of_other_images_is_refused(with_reference, tmp_path):
    import shutil

    run_dir = shutil.copytree(with_reference, tmp_path / "run")
    rows = pd.read_csv(run_dir / REFERENCE_FILE)
    rows.iloc[1:].to_csv(run_dir / REFERENCE_FILE, index=False)
    with pytest.raises(ValueError, match=f"{REFERENCE_FILE}.*petl-bench reference"):
        load_run(run_dir)


@pytest.mark.slow
def test_report_shows_the_reference(with_reference, tmp_path, monkeypatch):
    import shutil

    from benchmark.reporting import write_report

    monkeypatch.setitem(sys.modules, "benchmark.analysis", None)  # no model is run
    run_dir = shutil.copytree(with_reference, tmp_path / "run")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = write_report(run_dir).read_text()
    summary = text[text.index('<p class="summary">'):]
    summary = summary[:summary.index("</p>")]
    assert "are over methods that are themselves below a logistic-regression probe on the same frozen features" \
        in summary
    assert "Unranked" not in summary  # the reference row is not a method without a configuration
    assert f'class="reference"><td>ref</td><td>{REFERENCE_METHOD}</td>' in text
    assert "3 methods" in text


@pytest.mark.slow
def test_reference_predictions_on_a_small_run(tmp_path):
    """The real probe: pretrained EfficientNet-Lite0 features of synthetic images, on the run's folds."""
    profile = load_profile("smoke")
    data = load_dataset("synthetic", 64, synthetic_images=90, synthetic_seed=0)
    folds = evaluation_splits(profile, data)
    save_test_images(tmp_path, data, folds)
    write_json_atomic(tmp_path / "suite.json", {"profile": profile.as_dict(), "dataset": "synthetic"})
    rows = pd.read_csv(write_reference(tmp_path))
    assert list(rows.columns) == PREDICTION_COLUMNS and set(rows["method"]) == {REFERENCE_METHOD}
    tested = {f.fold: set(np.asarray(data.ids)[f.split["test"]]) for f in folds}
    for fold, part in rows.groupby("fold"):
        assert set(part["image_id"]) == tested[fold]  # each fold's test images, scored by its own probe
        assert part["threshold"].nunique() == 1 and 0 < part["threshold"].iloc[0] < 1
    assert rows["image_id"].is_unique and len(rows) == sum(len(t) for t in tested.values())
    assert ((rows["score"] > 0) & (rows["score"] < 1)).all()
    assert roc_auc_score(rows["label"], rows["score"]) > 0.7  # synthetic lesions are easy to tell apart
    again = reference_predictions(tmp_path)
    assert np.allclose(again["score"], rows["score"])  # deterministic


def test_reference_needs_the_run_folder_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="test_images.npz"):
        reference_predictions(tmp_path)


@pytest.mark.slow
def test_the_probe_under_the_protocol_matches_the_reference_and_holds_out_validation(tmp_path):
    """`petl-bench reference --protocol`: its first value is the written reference's pooled AUC;
    the reference follows the methods' protocol (reference.json says which, and its partition)."""
    from benchmark.runfolder import REFERENCE_INFO_FILE, read_partition
    from benchmark.runfolder.partition import partition_fingerprint
    from benchmark.training.reference import PROTOCOL_PROBES, REFERENCE_PROTOCOL, protocol_probe_aucs

    profile = load_profile("smoke")
    data = load_dataset("synthetic", 64, synthetic_images=90, synthetic_seed=0)
    save_test_images(tmp_path, data, evaluation_splits(profile, data))
    write_json_atomic(tmp_path / "suite.json", {"profile": profile.as_dict(), "dataset": "synthetic"})
    rows = pd.read_csv(write_reference(tmp_path))
    aucs = protocol_probe_aucs(tmp_path)
    assert list(aucs) == list(PROTOCOL_PROBES)
    assert aucs[PROTOCOL_PROBES[0]] == pytest.approx(roc_auc_score(rows["label"], rows["score"]), abs=1e-12)
    assert all(0.5 < auc <= 1.0 for auc in aucs.values())
    info = json.loads((tmp_path / REFERENCE_INFO_FILE).read_text())
    assert info["protocol"] == REFERENCE_PROTOCOL and "training images" in info["protocol"]
    assert info["partition"] == partition_fingerprint(*read_partition(tmp_path))
    folds = evaluation_splits(profile, data)
    assert [f["n_train"] for f in info["folds"]] == [len(f.split["train"]) for f in folds]  # not validation


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A k-fold run folder of 90 synthetic images (no trained method) and its reference."""
    run_dir = tmp_path_factory.mktemp("small")
    profile = load_profile("smoke")
    profile = type(profile)(**{**profile.__dict__, "evaluation": type(profile.evaluation)(
        scheme="kfold", folds=3, split_seeds=(0,), n_bootstrap=50)})
    data = load_dataset("synthetic", 64, synthetic_images=90, synthetic_seed=0)
    folds = evaluation_splits(profile, data)
    save_test_images(run_dir, data, folds)
    write_json_atomic(run_dir / "suite.json", {"profile": profile.as_dict(), "dataset": "synthetic"})
    write_reference(run_dir, progress=False)
    return run_dir, data, folds, profile


def _relabel(run_dir, index, seed=0):
    """Permute the labels of ``index`` in the run folder's saved images (the probe's only labels)."""
    with np.load(run_dir / "test_images.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["labels"][index] = np.random.default_rng(seed).permutation(arrays["labels"][index])
    with open(run_dir / "test_images.npz", "wb") as fh:
        np.savez_compressed(fh, **arrays)


@pytest.mark.slow
def test_the_threshold_and_scores_of_a_fold_ignore_its_test_and_validation_labels(small_run, tmp_path):
    import shutil

    run_dir, data, folds, _ = small_run
    before = pd.read_csv(run_dir / REFERENCE_FILE)
    fold = folds[0]
    for part in ("test", "val"):
        copy = Path(shutil.copytree(run_dir, tmp_path / part))
        index = fold.split[part]
        assert len(set(data.labels[index])) == 2  # a permutation can move labels
        _relabel(copy, index)
        after = reference_predictions(copy)
        a, b = (t[t["fold"] == 0].sort_values("image_id") for t in (before, after))
        assert a["threshold"].iloc[0] == pytest.approx(b["threshold"].iloc[0], abs=1e-12), part
        assert np.allclose(a["score"], b["score"], atol=1e-12), part


@pytest.mark.slow
def test_a_reference_or_predictions_of_another_partition_are_refused(small_run, tmp_path, capsys):
    import shutil

    from benchmark.runfolder import load_predictions, load_reference
    from benchmark.training.reference import reference_is_current

    run_dir, data, _, profile = small_run
    copy = Path(shutil.copytree(run_dir, tmp_path / "run"))
    assert reference_is_current(copy) and load_reference(copy) is not None
    other = type(profile)(**{**profile.__dict__, "evaluation": type(profile.evaluation)(
        scheme="kfold", folds=3, split_seeds=(5,), n_bootstrap=50)})
    save_test_images(copy, data, evaluation_splits(other, data))  # a resumed run folder whose folds changed
    assert not reference_is_current(copy)
    with pytest.raises(ValueError, match=rf"{REFERENCE_FILE} was made on another partition.*petl-bench reference"):
        load_reference(copy)
    shutil.copy(copy / REFERENCE_FILE, copy / "predictions.csv")
    with pytest.raises(ValueError, match="predictions.csv was made on another partition.*new run folder"):
        load_predictions(copy)
    write_reference(copy)
    assert reference_is_current(copy) and load_reference(copy) is not None
    out = capsys.readouterr().out
    assert "reference: each fold's training images" in out and "repeat 0, fold 2:" in out  # its progress


def test_the_probe_threshold_comes_from_inner_out_of_fold_predictions():
    """Youden's threshold on the inner cross-validation's out-of-fold scores of the fitted images
    at the chosen C, not on the probe's own fitted scores; images outside ``fit`` change nothing."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict

    from benchmark.stats import youden_threshold
    from benchmark.training.reference import probe_fold

    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(60, int), np.ones(40, int)]
    x = rng.normal(size=(100, 8)) + 0.6 * y[:, None] * rng.normal(size=8)
    groups = np.arange(100) // 2  # pairs of images share a group
    y[1::2] = y[::2]
    fit = np.arange(100) < 70
    model, threshold = probe_fold(x, y, groups, fit, seed=1)
    cv = StratifiedGroupKFold(5, shuffle=True, random_state=1)
    inner = cross_val_predict(LogisticRegression(C=model.best_params_["C"], max_iter=5000), x[fit], y[fit],
                              groups=groups[fit], cv=cv, method="predict_proba")[:, 1]
    assert threshold == pytest.approx(youden_threshold(y[fit], inner), abs=1e-12)
    assert threshold != pytest.approx(youden_threshold(y[fit], model.predict_proba(x[fit])[:, 1]), abs=1e-9)
    shuffled = y.copy()
    shuffled[~fit] = rng.permutation(y[~fit])
    _, again = probe_fold(x, shuffled, groups, fit, seed=1)
    assert again == threshold


def test_the_probe_fits_with_one_blas_thread(monkeypatch):
    """Every logistic-regression fit of the probe runs with one BLAS thread: OpenBLAS's threads on
    these small fits made the reference on BUS-BRA take over 44 min on the busy 2-core machine."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info, threadpool_limits

    from benchmark.training.reference import C_GRID, INNER_FOLDS, probe_fold

    seen = []
    fit_original = LogisticRegression.fit

    def fit(self, *args, **kwargs):
        seen.append(max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"))
        return fit_original(self, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", fit)
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(30, int), np.ones(30, int)]
    x = rng.normal(size=(60, 4)) + y[:, None]
    with threadpool_limits(limits=2, user_api="blas"):  # as on a 2-core machine, whatever this one has
        probe_fold(x, y, np.arange(60), np.ones(60, bool))
    # the grid on every inner fold, the refit at the chosen C, the inner out-of-fold predictions
    assert len(seen) == len(C_GRID) * INNER_FOLDS + 1 + INNER_FOLDS and set(seen) == {1}


def _run_with_external(run_dir, checksum=None):
    """A 90-image synthetic k-fold run folder whose suite scored the external set synthetic_shifted (40 images)."""
    from benchmark.runfolder import EXTERNAL_FILE

    profile = load_profile("smoke")
    profile = type(profile)(**{**profile.__dict__, "data": type(profile.data)(
        **{**profile.data.__dict__, "synthetic_images": 90})})
    data = load_dataset("synthetic", 64, synthetic_images=90, synthetic_seed=profile.data.synthetic_seed)
    ext = load_dataset("synthetic_shifted", 64, synthetic_images=90, synthetic_seed=profile.data.synthetic_seed + 1)
    folds = evaluation_splits(profile, data)
    save_test_images(run_dir, data, folds)
    write_json_atomic(run_dir / "suite.json", {"profile": profile.as_dict(), "dataset": "synthetic",
                                               "external": ["synthetic_shifted"]})
    write_json_atomic(run_dir / EXTERNAL_FILE, {"synthetic_shifted": {"checksum": checksum or ext.checksum}})
    return data, ext, folds


@pytest.mark.slow
def test_each_fold_probe_scores_the_external_sets_as_a_methods_fold_model_does(tmp_path):
    """Every fold's probe scores every image of the run's external set with the very model (C, threshold) that
    scored its test fold: refitted here on the fold's training images with scikit-learn, its external scores
    agree. Planted: the external set scored by the last fold's probe for every fold: the refit disagrees."""
    from sklearn.linear_model import LogisticRegression

    from benchmark.runfolder import REFERENCE_INFO_FILE
    from benchmark.training.reference import frozen_features, reference_is_current, reference_summary

    data, ext, folds = _run_with_external(tmp_path)
    rows = pd.read_csv(write_reference(tmp_path, progress=False), dtype={"image_id": str})
    info = json.loads((tmp_path / REFERENCE_INFO_FILE).read_text())
    assert info["external"] == {"synthetic_shifted": ext.checksum} and reference_is_current(tmp_path)
    backbone = load_profile("smoke").backbone
    x = frozen_features(backbone.name, 64, backbone.weights, data.images, "cpu")
    xe = frozen_features(backbone.name, 64, backbone.weights, ext.images, "cpu")
    outside = rows[rows["dataset"] == "synthetic_shifted"]
    assert len(outside) == len(folds) * len(ext)
    for fold, fitted in zip(folds, info["folds"]):
        part = outside[outside["fold"] == fold.fold].set_index("image_id").loc[list(ext.ids)]
        assert (part["label"].to_numpy() == ext.labels).all() and (part["group"].to_numpy() == ext.groups).all()
        inside = rows[(rows["dataset"] == "synthetic") & (rows["fold"] == fold.fold)]
        assert part["threshold"].unique().tolist() == inside["threshold"].unique().tolist()
        train = fold.split["train"]
        probe = LogisticRegression(C=fitted["C"], max_iter=5000).fit(x[train], data.labels[train])
        np.testing.assert_allclose(part["score"], probe.predict_proba(xe)[:, 1], atol=1e-4)  # lbfgs's tolerance
    assert roc_auc_score(outside["label"], outside["score"]) > 0.6  # the same cues as the training images
    lines = reference_summary(tmp_path / REFERENCE_FILE)
    assert any(line.startswith(f"synthetic_shifted, repeat 0: logistic-regression reference, mean AUC of its "
                               f"{len(folds)} fold probes") for line in lines), lines
    # a run folder whose suite scored another external set: the reference is not current (the suite recomputes it)
    suite = json.loads((tmp_path / "suite.json").read_text())
    write_json_atomic(tmp_path / "suite.json", {**suite, "external": []})
    assert not reference_is_current(tmp_path)


def test_an_external_set_that_changed_since_the_suite_scored_it_is_refused(tmp_path):
    _run_with_external(tmp_path, checksum="0" * 64)
    with pytest.raises(ValueError, match=r"external set synthetic_shifted: its images here .*external\.json"):
        reference_predictions(tmp_path)
