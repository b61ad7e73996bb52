"""benchmark.evaluation, benchmark.runfolder and benchmark.reporting.figures on fake run folders (no training)."""
from __future__ import annotations

import itertools
import json
import os
import re
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_runs import METHODS, make_run_folder
from sklearn.metrics import roc_auc_score

from benchmark.common.io import write_csv_atomic
from benchmark.evaluation import (
    PRIMARY_TEST,
    SIGNIFICANCE_COLUMNS,
    TEST_LABELS,
    TESTS,
    leaderboard,
    load_run,
    paired_bootstrap_resamples,
    headline,
    significance,
    summary_sentences,
)
from benchmark.runfolder import REFERENCE_METHOD, external_scores, load_predictions, load_studies
from benchmark.reporting.sections.significance import CONDITIONAL_SECONDARY, TEST_CAVEATS, differences_by_test
from benchmark.reporting.sections.leaderboard import POOLED_VS_STRATIFIED
from benchmark.reporting import write_leaderboard
from benchmark.stats import corner_operating_point, holm_correction, nadeau_bengio_ttest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STATISTICS_DOC = Path(__file__).resolve().parents[2] / "docs" / "statistics.md"
RANKED = tuple(METHODS)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Four working methods, two repeats of 5-fold CV, one method without a working configuration in
    one study (the rest of its folds scored), one with none at all, and an external data set. Each
    fold model scores on its own scale (offsets of one logit SD), as differently scaled models do."""
    return make_run_folder(tmp_path_factory.mktemp("lb"), methods=RANKED + ("broken", "collapsed"), repeats=2,
                           failed={"broken": ("every trial's loss became NaN", [(1, 3)]),
                                   "collapsed": ("all trials collapsed to one class", None)},
                           externals={"clinic_b": (60, 24)}, fold_offsets=1.0)


@pytest.fixture(scope="module")
def data(run_dir):
    return load_run(run_dir)


@pytest.fixture(scope="module")
def lb(data):
    return leaderboard(data)


@pytest.fixture(scope="module")
def sig(data):
    return significance(data)


def _pred(run_dir) -> pd.DataFrame:
    return pd.read_csv(run_dir / "predictions.csv", dtype={"image_id": str})


# ------------------------------------------------------------------------------ loading
def test_load_predictions_validates(tmp_path):
    run_dir = make_run_folder(tmp_path, methods=("good", "weak"), n_images=60, n_malignant=20, folds=3)
    pred = load_predictions(run_dir)
    assert list(pred.columns) == ["dataset", "method", "repeat", "fold", "image_id", "group", "label", "score",
                                  "threshold"]
    original = _pred(run_dir)

    def broken(edit, match):
        frame = original.copy()
        edit(frame)
        frame.to_csv(run_dir / "predictions.csv", index=False)
        with pytest.raises(ValueError, match=match):
            load_predictions(run_dir)

    broken(lambda f: f.pop("threshold"), r"predictions\.csv: missing column\(s\) threshold")
    broken(lambda f: f.loc.__setitem__((3, "label"), 2), r"predictions\.csv: label must be 0 .* row 5 holds 2")
    broken(lambda f: f.loc.__setitem__((0, "score"), np.nan), r"score must be a finite number; row 2")
    broken(lambda f: f.loc.__setitem__((1, "image_id"), f.loc[0, "image_id"]) or
           f.loc.__setitem__((1, ["method", "repeat", "fold"]), f.loc[0, ["method", "repeat", "fold"]].to_list()),
           r"scored twice")

    def two_thresholds(f):
        first = f.index[(f.method == "good") & (f.fold == 1)][0]
        f.loc[first, "threshold"] += 0.1
    broken(two_thresholds, r"good, repeat 0, fold 1 .* more than one threshold")
    (run_dir / "predictions.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"predictions\.csv is missing"):
        load_predictions(run_dir)


def test_load_studies(run_dir):
    studies = load_studies(run_dir)
    assert {"method", "repeat", "fold", "status", "reason", "selected_params", "val_auc"} <= set(studies.columns)
    assert len(studies) == 6 * 2 * 5
    bad = studies[studies.status != "ok"]
    assert set(bad.method) == {"broken", "collapsed"} and len(bad) == 1 + 10


def test_missing_studies_file_warns_and_trusts_predictions(tmp_path):
    run_dir = make_run_folder(tmp_path, methods=("good", "weak"), n_images=60, n_malignant=20, folds=3)
    (run_dir / "studies.csv").unlink()
    with pytest.warns(UserWarning, match="studies.csv is missing"):
        data = load_run(run_dir)
    assert data.order == ["good", "weak"]


def test_external_scores_average_the_fold_models(run_dir):
    pred = _pred(run_dir)
    ext = external_scores(load_predictions(run_dir), "clinic_b")
    assert set(ext.columns) == {"dataset", "method", "repeat", "image_id", "group", "label", "score", "n_models"}
    assert (ext.loc[ext.method.isin(RANKED), "n_models"] == 5).all()
    assert len(ext[(ext.method == "good") & (ext.repeat == 0)]) == 60
    broken = ext[(ext.method == "broken") & (ext.repeat == 1)]  # one study failed: 4 fold models
    assert (broken["n_models"] == 4).all()
    row = ext.iloc[7]
    raw = pred[(pred.dataset == "clinic_b") & (pred.method == row.method) & (pred.repeat == row["repeat"])
               & (pred.image_id == row.image_id)]
    assert row.score == pytest.approx(raw.score.mean()) and len(raw) == 5


# ---------------------------------------------------------------------------- leaderboard
def recompute(run_dir) -> pd.DataFrame:
    """Per method, from predictions.csv with scikit-learn alone (no code of the suite): ``auc`` (fold-stratified:
    per-fold AUCs weighted by n_malignant * n_benign, mean over repeats), ``auc_pooled``, ``auc_fold_equal``
    (per-fold AUCs weighted equally) and per external data set NAME ``NAME`` (each fold model's own AUC, mean
    over models) and ``NAME_ensemble`` (AUC of the fold models' mean score, mean over repeats)."""
    pred = pd.read_csv(Path(run_dir) / "predictions.csv", dtype={"image_id": str})
    internal = json.loads((Path(run_dir) / "suite.json").read_text())["dataset"]
    out = {}
    for method, rows in pred[pred.dataset == internal].groupby("method"):
        strat, pooled, equal = [], [], []
        for _, rep in rows.groupby("repeat"):
            num = den = 0.0
            for _, fold in rep.groupby("fold"):
                pairs = (fold.label == 1).sum() * (fold.label == 0).sum()
                if pairs:
                    auc = roc_auc_score(fold.label, fold.score)
                    num, den = num + auc * pairs, den + pairs
                    equal.append(auc)
            strat.append(num / den)
            pooled.append(roc_auc_score(rep.label, rep.score))
        out[method] = {"auc": np.mean(strat), "auc_pooled": np.mean(pooled), "auc_fold_equal": np.mean(equal)}
    for name, ext in pred[pred.dataset != internal].groupby("dataset"):
        for method, rows in ext.groupby("method"):
            per_model = [roc_auc_score(g.label, g.score) for _, g in rows.groupby(["repeat", "fold"])]
            ensemble = [roc_auc_score(g.groupby("image_id").label.first(), g.groupby("image_id").score.mean())
                        for _, g in rows.groupby("repeat")]
            out.setdefault(method, {}).update({name: np.mean(per_model), f"{name}_ensemble": np.mean(ensemble)})
    return pd.DataFrame(out).T


def check_recomputed(lb: pd.DataFrame, expected: pd.DataFrame, externals) -> None:
    """The leaderboard's ranked rows hold the recomputed numbers to 1e-9, ranked by the fold-stratified AUC."""
    ranked = lb[lb["rank"].notna()].set_index("method")
    assert len(ranked) >= 2
    for method, row in ranked.iterrows():
        want = expected.loc[method]
        assert row["auc"] == pytest.approx(want["auc"], abs=1e-9, rel=0), method
        assert row["auc_pooled"] == pytest.approx(want["auc_pooled"], abs=1e-9, rel=0), method
        for name in externals:
            assert row[f"external_{name}_auc"] == pytest.approx(want[name], abs=1e-9, rel=0), (method, name)
            assert row[f"external_{name}_drop"] == pytest.approx(want["auc"] - want[name], abs=1e-9, rel=0)
            assert row[f"external_{name}_auc_ensemble"] == pytest.approx(want[f"{name}_ensemble"], abs=1e-9, rel=0)
    order = sorted(ranked.index, key=lambda m: (-expected.loc[m, "auc"], m))
    assert list(ranked.sort_values("rank", kind="stable").index) == order


def test_leaderboard_aucs_recomputed_with_sklearn(run_dir, lb):
    """leaderboard.csv's fold-stratified AUC (primary, ranked), pooled AUC, external per-model AUC, drop and
    ensemble AUC equal an independent recompute from predictions.csv with scikit-learn, to 1e-9; and on these
    data each differs from the statistic it could be confused with, so the check tells them apart."""
    expected = recompute(run_dir)
    check_recomputed(lb, expected, ["clinic_b"])
    ranked = expected.loc[list(RANKED)]
    assert (ranked["auc"] - ranked["auc_pooled"]).abs().max() > 0.02  # fold offsets move the pooled AUC
    assert (ranked["auc"] - ranked["auc_fold_equal"]).abs().max() > 1e-4  # n_pos n_neg weights, not equal ones
    assert (ranked["clinic_b"] - ranked["clinic_b_ensemble"]).abs().max() > 0.02  # per model, not the ensemble
    pred = _pred(run_dir)
    table = lb.set_index("method")
    for method in RANKED:
        folds = [roc_auc_score(g.label, g.score) for _, g in
                 pred[(pred.dataset == "busi") & (pred.method == method)].groupby(["repeat", "fold"])]
        assert table.loc[method, "auc_fold_mean"] == pytest.approx(np.mean(folds), abs=1e-12)
        assert table.loc[method, "auc_fold_sd"] == pytest.approx(np.std(folds, ddof=1), abs=1e-12)


@pytest.mark.slow
def test_written_leaderboard_csv_recomputes(tmp_path):
    """The same check on leaderboard.csv as written, with one repeat and the reference scoring the external set."""
    run_dir = make_run_folder(tmp_path, methods=RANKED, externals={"clinic_b": (60, 24)}, fold_offsets=0.5,
                              reference=1.0, reference_on_externals=True, n_bootstrap=50)
    write_leaderboard(run_dir, n_bootstrap=50)
    lb = pd.read_csv(run_dir / "leaderboard.csv")
    check_recomputed(lb, recompute(run_dir), ["clinic_b"])
    assert "external_clinic_b_below_reference" in lb.columns


def test_the_reference_flag_is_computed_per_data_set(tmp_path):
    """An external row is flagged only against the reference's own predictions on that data set, and not at all
    when the reference did not score it; the internal flag never spills over to external rows."""
    kw = dict(methods=("good", "weak", "random_a"), n_images=120, n_malignant=45, n_bootstrap=50,
              externals={"clinic_b": (60, 24)}, reference=1.5)
    without = make_run_folder(tmp_path, name="without", **kw)
    sig = significance(without)
    lb = leaderboard(without)
    assert lb["below_reference"].fillna(False).astype(bool).any()  # flagged on busi ...
    assert not sig.loc[sig.dataset == "clinic_b", "b_below_reference"].any()  # ... but not on clinic_b
    assert "external_clinic_b_below_reference" not in lb.columns
    with_ext = make_run_folder(tmp_path, name="with", reference_on_externals=True, **kw)
    lb = leaderboard(with_ext).set_index("method")
    sig = significance(with_ext)
    flagged = set(lb.index[lb["external_clinic_b_below_reference"].fillna(False).astype(bool)])
    assert flagged and flagged == set(sig.loc[(sig.dataset == "clinic_b") & sig.b_below_reference, "method_b"])
    reference = lb.loc[REFERENCE_METHOD, "external_clinic_b_auc"]
    assert all(lb.loc[m, "external_clinic_b_auc"] < reference for m in flagged)
    busi = set(lb.index[lb["below_reference"].fillna(False).astype(bool)])
    assert busi == set(sig.loc[(sig.dataset == "busi") & sig.b_below_reference, "method_b"])


@pytest.mark.skipif(not os.environ.get("PETL_BENCH_RUN"), reason="set PETL_BENCH_RUN to a finished run folder")
def test_a_real_run_recomputes():
    """``PETL_BENCH_RUN=reports/latest pytest tests/evaluation/test_leaderboard.py -k real_run``: a real run's
    leaderboard.csv (as written by petl-bench) against the recompute from its predictions.csv."""
    run_dir = Path(os.environ["PETL_BENCH_RUN"])
    lb = pd.read_csv(run_dir / "leaderboard.csv")
    externals = [c[len("external_"):-len("_auc")] for c in lb.columns if c.startswith("external_") and c.endswith("_auc")]
    check_recomputed(lb, recompute(run_dir), externals)


def test_leaderboard_operating_points(run_dir, lb):
    inner = _pred(run_dir).query("dataset == 'busi' and method == 'weak'")
    row = lb.set_index("method").loc["weak"]
    acc, sens, spec, corner = [], [], [], []
    for _, g in inner.groupby("repeat"):
        called = g.score >= g.threshold  # each image at its own fold's validation threshold
        acc.append((called == (g.label == 1)).mean())
        sens.append(called[g.label == 1].mean())
        spec.append((~called[g.label == 0]).mean())
        corner.append(corner_operating_point(g.label, g.score))
    assert row["accuracy"] == pytest.approx(np.mean(acc))
    assert row["sensitivity"] == pytest.approx(np.mean(sens))
    assert row["specificity"] == pytest.approx(np.mean(spec))
    for k in ("accuracy", "sensitivity", "specificity"):
        assert row[f"{k}_corner"] == pytest.approx(np.mean([c[k] for c in corner]))
    assert row["accuracy_corner"] >= row["accuracy"] - 0.05  # the corner point is chosen on the test scores


def test_leaderboard_ranks_intervals_and_facts(lb):
    ranked = lb[lb["rank"].notna()]
    assert list(ranked["method"]) == ["good", "weak", "random_a", "random_b"] or \
        list(ranked["method"])[:2] == ["good", "weak"]
    assert list(ranked["rank"]) == sorted(ranked["rank"])
    good = lb.set_index("method").loc["good"]
    assert good["rank"] == 1 and (good["rank_low"], good["rank_high"]) == (1, 1) and good["rank_interval"] == "1-1"
    assert ((ranked["rank_low"] <= ranked["rank"]) & (ranked["rank"] <= ranked["rank_high"])).all()
    assert all(re.fullmatch(r"\d+-\d+", t) for t in ranked["rank_interval"])
    assert ((ranked["auc_ci_low"] <= ranked["auc"]) & (ranked["auc"] <= ranked["auc_ci_high"])).all()
    # duplicates share their noise in the fake data: the cluster interval is wider on average
    width = (ranked["auc_ci_high"] - ranked["auc_ci_low"]).mean()
    assert width > (ranked["auc_ci_high_image"] - ranked["auc_ci_low_image"]).mean()
    assert good["trainable_parameters"] == 150_000 and good["trainable_parameters_without_head"] == 148_719
    assert good["seconds_per_epoch"] == pytest.approx(np.mean([1.5 + f for f in range(5)]))
    assert (good["n_repeats"], good["n_folds"], good["n_images"]) == (2, 10, 200)
    assert good["status"] == "ok"


def test_unranked_methods_are_listed_last_with_their_reason(lb, sig):
    """A method with a study that found no working configuration is unranked, says why, and appears in
    no significance row and no summary sentence, even if its other folds were scored."""
    tail = lb.iloc[-2:].set_index("method")
    assert set(tail.index) == {"broken", "collapsed"}
    assert tail["rank"].isna().all() and tail["auc"].isna().all() and tail["rank_interval"].isna().all()
    assert tail.loc["broken", "status"] == ("no working configuration found: every trial's loss became NaN "
                                           "(1 of 10 studies)")
    assert tail.loc["collapsed", "status"].startswith("no working configuration found: all trials collapsed")
    for name in ("broken", "collapsed"):
        assert name not in set(sig["method_a"]) | set(sig["method_b"])
        everything = summary_sentences(sig, tests=TESTS, only_significant=False)
        assert not any(name in s for s in everything)


def test_method_without_predictions_is_unranked(tmp_path):
    run_dir = make_run_folder(tmp_path, methods=("good", "weak", "random_a"), n_images=60, n_malignant=20, folds=3)
    pred = _pred(run_dir)
    pred[pred.method != "random_a"].to_csv(run_dir / "predictions.csv", index=False)
    lb = leaderboard(run_dir).set_index("method")
    assert lb.loc["random_a", "status"] == "no working configuration found: no predictions in predictions.csv"
    assert pd.isna(lb.loc["random_a", "rank"])


def test_holdout_scheme(tmp_path):
    """The paper's holdout splits: fold 0 only, a different test set per repeat."""
    run_dir = make_run_folder(tmp_path, methods=("good", "weak"), folds=1, repeats=3)
    lb = leaderboard(run_dir).set_index("method")
    inner = _pred(run_dir).query("method == 'weak'")
    aucs = [roc_auc_score(g.label, g.score) for _, g in inner.groupby("repeat")]
    assert lb.loc["weak", "auc"] == pytest.approx(np.mean(aucs), abs=1e-9)
    assert lb.loc["weak", "auc_ci_low"] < lb.loc["weak", "auc"] < lb.loc["weak", "auc_ci_high"]
    assert lb.loc["weak", "auc_fold_mean"] == pytest.approx(np.mean(aucs))
    sig = significance(run_dir)
    assert set(sig.test) == set(TESTS)
    nb = sig[sig.test == "nadeau_bengio"].iloc[0]
    assert np.isfinite(nb.p)


def test_different_images_for_two_methods_raise(tmp_path):
    run_dir = make_run_folder(tmp_path, methods=("good", "weak"), n_images=60, n_malignant=20, folds=3)
    pred = _pred(run_dir)
    pred = pred[~((pred.method == "weak") & (pred.image_id == pred.image_id.iloc[0]))]
    pred.to_csv(run_dir / "predictions.csv", index=False)
    with pytest.raises(ValueError, match=r"repeat 0: 'weak' and 'good' were scored on different images|"
                                         r"repeat 0: 'good' and 'weak' were scored on different images"):
        load_run(run_dir)


# --------------------------------------------------------------------------- significance
def test_significance_has_every_pair_test_and_family(data, sig):
    assert list(sig.columns) == SIGNIFICANCE_COLUMNS
    pairs = {frozenset(p) for p in combinations(RANKED, 2)}
    families = {("busi", "cluster_bootstrap", None), ("busi", "nadeau_bengio", None),
                ("busi", "delong", 0), ("busi", "delong", 1), ("busi", "bootstrap_wilcoxon", 0),
                ("busi", "bootstrap_wilcoxon", 1), ("clinic_b", "cluster_bootstrap", None),
                ("clinic_b", "delong", 0), ("clinic_b", "delong", 1), ("clinic_b", "nadeau_bengio", None)}
    seen = set()
    for (dataset, test, repeat), part in sig.groupby(["dataset", "test", "repeat"], dropna=False):
        key = (dataset, test, None if pd.isna(repeat) else int(repeat))
        seen.add(key)
        assert {frozenset(p) for p in zip(part.method_a, part.method_b)} == pairs, key
        np.testing.assert_allclose(part["p_holm"], holm_correction(part["p"].to_numpy()))
    assert seen == families
    assert (sig["significant"] == (sig["p_holm"] < 0.05)).all()
    # method_a is the one ranked higher
    rank = {m: i for i, m in enumerate(data.order)}
    assert all(rank[a] < rank[b] for a, b in zip(sig.method_a, sig.method_b))


def test_cluster_bootstrap_compares_the_leaderboards_statistic(data, lb, sig):
    """The paired cluster bootstrap's differences are those of the fold-stratified AUC (busi) and of the
    per-model external AUC (clinic_b), the leaderboard's columns."""
    table = lb.set_index("method")
    for dataset, column in (("busi", "auc"), ("clinic_b", "external_clinic_b_auc")):
        rows = sig[(sig.test == "cluster_bootstrap") & (sig.dataset == dataset)].set_index(["method_a", "method_b"])
        for (a, b), r in rows.iterrows():
            assert r.difference == pytest.approx(table.loc[a, column] - table.loc[b, column], abs=1e-12)
            assert r.ci_low <= r.difference <= r.ci_high
            assert r.p >= 2 / (data.paired_resamples() + 1)
    primary = sig[(sig.test == "cluster_bootstrap") & (sig.dataset == "busi")].set_index(["method_a", "method_b"])
    good_vs_random = primary.loc[[("good", "random_a"), ("good", "random_b")]]
    assert good_vs_random["significant"].all() and (good_vs_random["ci_low"] > 0.2).all()


def test_the_method_level_test_is_primary_on_every_data_set(sig):
    """Two repeats: the primary test of busi and of clinic_b is the corrected t-test over the fold models (what a
    rerun varies included, not conditional); every other test is secondary and conditional."""
    primary = sig[sig.primary]
    assert set(primary.loc[primary.dataset == "busi", "test"]) == {"nadeau_bengio"}
    assert set(primary.loc[primary.dataset == "clinic_b", "test"]) == {"nadeau_bengio"}
    assert not primary["conditional"].any()
    assert sig.loc[sig.test != "nadeau_bengio", "conditional"].all()


def test_one_repeat_keeps_the_method_level_primary_and_a_short_headline(tmp_path):
    run_dir = make_run_folder(tmp_path, methods=("good", "random_a", "weak"), n_images=120, n_malignant=45,
                              n_bootstrap=50, externals={"clinic_b": (60, 24)})
    sig = significance(run_dir)
    primary = sig[sig.primary]
    assert set(primary["test"]) == {PRIMARY_TEST} and not primary["conditional"].any()
    everything = summary_sentences(sig, tests=TESTS)
    secondary = [s for s in everything if ": significant" in s and "paired cluster bootstrap" in s]
    assert secondary and all("conditional on the trained models" in s and "petl-bench spread" in s
                             for s in secondary)
    lines = headline(sig)
    assert lines[0].startswith("Method level (the corrected t-test over every fold model") and " on busi survive" in lines[0]
    assert not any("(clinic_b)" in line for line in lines)  # the external family is reported on its own
    assert all(len(line) < 400 for line in lines)


def test_secondary_tests_say_they_leave_out_the_run_to_run_variance_only_where_the_primary_includes_it(sig, tmp_path):
    """The paired cluster bootstrap and DeLong are secondary and conditional while the method-level test is not,
    with repeats and with one: the page's count line for each says so (a reader otherwise sets 0 significant
    against 13)."""
    tests = {t["label"]: t for t in differences_by_test(sig)}
    conditional = CONDITIONAL_SECONDARY.format(dataset="busi")
    for label in (TEST_LABELS["cluster_bootstrap"], TEST_LABELS["delong"]):
        assert not tests[label]["primary"] and tests[label]["caveat"].startswith(conditional)
    assert tests[TEST_LABELS["delong"]]["caveat"].endswith(TEST_CAVEATS["delong"])
    assert tests[TEST_LABELS["nadeau_bengio"]]["primary"]
    assert "conditional" not in tests[TEST_LABELS["nadeau_bengio"]]["caveat"]
    one = significance(make_run_folder(tmp_path, methods=("good", "random_a", "weak"), n_images=120, n_malignant=45,
                                       n_bootstrap=50))
    tests = {t["label"]: t for t in differences_by_test(one)}
    assert tests[TEST_LABELS["cluster_bootstrap"]]["caveat"].startswith(conditional)
    assert "conditional" not in tests[TEST_LABELS["nadeau_bengio"]]["caveat"]


def test_nadeau_bengio_rows(run_dir, data, sig):
    pred = _pred(run_dir).query("dataset == 'busi'")
    fold_auc = {k: roc_auc_score(g.label, g.score) for k, g in pred.groupby(["method", "repeat", "fold"])}
    diffs = [fold_auc[("good", r, f)] - fold_auc[("weak", r, f)] for r in range(2) for f in range(5)]
    runs = data.runs[data.runs.method.isin(RANKED)]
    n_test = pred[pred.method.isin(RANKED)].groupby(["method", "repeat", "fold"]).size().mean()
    expected = nadeau_bengio_ttest(diffs, runs["n_train"].astype(float).mean(), n_test)
    row = sig[(sig.test == "nadeau_bengio") & (sig.method_a == "good") & (sig.method_b == "weak")].iloc[0]
    assert row.difference == pytest.approx(np.mean(diffs)) and row.p == pytest.approx(expected["p"])
    assert row.statistic == pytest.approx(expected["t"])


def test_delong_rows_use_each_repeats_pooled_scores(run_dir, sig):
    pred = _pred(run_dir).query("dataset == 'busi' and repeat == 1")
    row = sig[(sig.test == "delong") & (sig.repeat == 1) & (sig.method_a == "good")
              & (sig.method_b == "weak")].iloc[0]
    good = pred[pred.method == "good"]
    assert row.auc_a == pytest.approx(roc_auc_score(good.label, good.score))


def test_summary_sentences_name_only_primary_differences_that_survive_holm(sig):
    """Each data set's primary family, the training data set first; the headline counts busi's alone."""
    sentences = summary_sentences(sig)
    primary = sig[sig.primary & sig.significant]
    assert len(sentences) == len(primary)
    first = sentences[0]
    assert first.startswith("good vs weak (busi): mean fold-model AUC ") and "corrected t-test p" in first
    assert "95% CI" in first and first.endswith(": significant (method-level: what a rerun varies included)")
    external = [s for s in sentences if "(clinic_b)" in s]
    assert all("corrected t-test" in s and "conditional" not in s for s in external)
    lines = headline(sig)
    n_busi = int((primary.dataset == "busi").sum())
    assert f"{n_busi} of 6 pairwise differences on busi survive" in lines[0]
    assert not any("clinic_b" in line for line in lines)
    nothing = sig[sig.test == PRIMARY_TEST].copy()
    nothing["significant"] = False
    label = TEST_LABELS[PRIMARY_TEST]
    assert summary_sentences(nothing, tests=[PRIMARY_TEST]) == [
        f"{label}: no difference survives Holm correction (0 of 6 comparisons on busi).",
        f"{label}: no difference survives Holm correction (0 of 6 comparisons on clinic_b)."]
    assert "fewer than two methods" in summary_sentences(sig.iloc[0:0])[0]


@pytest.mark.parametrize("n_pairs, n_bootstrap", [(1, 1000), (66, 1000), (66, 50_000), (300, 200)])
def test_paired_bootstrap_resamples_let_holm_pass(n_pairs, n_bootstrap):
    b = paired_bootstrap_resamples(n_pairs, n_bootstrap)
    assert b >= max(10_000, n_bootstrap)
    assert n_pairs * 2 / (b + 1) <= 0.05 / 10


# ------------------------------------------------------------------------------- reports
def _check_png(path: Path):
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 10_000, path


@pytest.mark.slow
def test_write_leaderboard(tmp_path):
    run_dir = make_run_folder(tmp_path, methods=RANKED + ("collapsed",), failed={"collapsed": ("collapsed", None)},
                              cost=pd.DataFrame({"method": list(METHODS), "train_images_per_s": 10.0,
                                                 "infer_images_per_s": [50.0, 60.0, 70.0, 80.0]}))
    written = write_leaderboard(run_dir)
    for name in ("leaderboard.csv", "leaderboard.md", "leaderboard.html", "significance.csv",
                 "figures/roc.png", "figures/auc_vs_parameters.png", "figures/pvalues_nadeau_bengio.png", "detectable.csv", "analysis_plan.json"):
        assert (run_dir / name).is_file(), name
        assert written[name] == run_dir / name
    for name in ("roc.png", "auc_vs_parameters.png", "pvalues_nadeau_bengio.png"):
        _check_png(run_dir / "figures" / name)
    md = (run_dir / "leaderboard.md").read_text()
    assert "SYNTHETIC" not in md
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| rank | method |"))
    table = [line for line in itertools.takewhile(lambda s: s.startswith("|"), lines[start:]) if line.startswith("| ")]
    assert len(table) == 1 + len(METHODS) + 1
    assert "fold-stratified AUC [95% CI]" in table[0] and "pooled AUC (secondary)" in table[0]
    assert POOLED_VS_STRATIFIED in md
    assert table[1].startswith("| 1 | good |") and "150,000" in table[1] and "1-1" in table[1]
    assert table[-1].startswith("| — | collapsed |") and "no working configuration found: collapsed" in table[-1]
    assert "infer img/s" in table[0] and "optimistic" in table[0]
    html = (run_dir / "leaderboard.html").read_text()
    assert html.count("data:image/png;base64,") == 3
    assert "SYNTHETIC" not in html and 'class="banner"' not in html
    assert "abc123" in html and "quick" in html and "Holm" in html and "good vs random" in html
    lb = pd.read_csv(run_dir / "leaderboard.csv")
    assert lb.set_index("method").loc["weak", "infer_images_per_s"] == 80.0  # cost.csv merged
    sig = pd.read_csv(run_dir / "significance.csv")
    assert list(sig.columns) == SIGNIFICANCE_COLUMNS and "collapsed" not in set(sig.method_a) | set(sig.method_b)
    assert not [p for p in run_dir.rglob("*.tmp")]


@pytest.mark.slow
def test_rebuilding_gives_identical_csvs(tmp_path):
    run_dir = make_run_folder(tmp_path, methods=("good", "random_a", "weak"), n_images=80, n_malignant=30)
    write_leaderboard(run_dir, n_bootstrap=100)
    first = {n: (run_dir / n).read_bytes() for n in ("leaderboard.csv", "significance.csv", "leaderboard.md")}
    write_leaderboard(run_dir, n_bootstrap=100)
    assert first == {n: (run_dir / n).read_bytes() for n in first}


def test_synthetic_banner_comes_first(tmp_path):
    run_dir = make_run_folder(tmp_path, methods=("good", "random_a"), synthetic=True, n_images=80, n_malignant=30)
    write_leaderboard(run_dir, n_bootstrap=50)
    first_line = (run_dir / "leaderboard.md").read_text().splitlines()[0]
    assert "SYNTHETIC" in first_line and "say nothing about BUSI" in first_line
    html = (run_dir / "leaderboard.html").read_text()
    body = html.split("<body>", 1)[1].lstrip()
    assert body.startswith('<div class="banner"') and "SYNTHETIC" in body.split("</div>", 1)[0]
    _check_png(run_dir / "figures" / "roc.png")


def test_no_working_method_at_all(tmp_path):
    run_dir = make_run_folder(tmp_path, methods=("good", "weak"), n_images=60, n_malignant=20, folds=3,
                              failed={"good": ("collapsed", None), "weak": ("collapsed", None)}, externals={})
    # nothing scored: predictions.csv holds only a header
    write_csv_atomic(run_dir / "predictions.csv", pd.DataFrame(columns=_pred(run_dir).columns))
    written = write_leaderboard(run_dir)
    assert "figures/roc.png" not in written
    lb = pd.read_csv(run_dir / "leaderboard.csv")
    assert lb["rank"].isna().all() and lb["status"].str.startswith("no working configuration found").all()
    assert pd.read_csv(run_dir / "significance.csv").empty
    assert "fewer than two methods have a working configuration" in (run_dir / "leaderboard.md").read_text()


def test_docs_recompute_snippet_runs(tmp_path, lb, run_dir):
    """The "Recompute from predictions.csv" snippet of docs/statistics.md gives the leaderboard's fold-stratified
    (auc) and pooled (auc_pooled) AUCs."""
    text = STATISTICS_DOC.read_text()
    section = text.split("## Recompute from predictions.csv", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert 'run = "reports/latest"' in code
    namespace: dict = {}
    exec(code.replace('run = "reports/latest"', f"run = {str(run_dir)!r}"), namespace)
    table = lb.set_index("method")
    for name, column in (("auc", "auc"), ("pooled", "auc_pooled")):
        expected = table[column].dropna()
        expected = expected[[m for m in expected.index if table.loc[m, "status"] == "ok"]]
        for method in expected.index:
            assert namespace[name][method] == pytest.approx(expected[method], abs=1e-9), (name, method)


def test_leaderboard_from_a_path_equals_from_loaded_data(run_dir, lb):
    again = leaderboard(run_dir)
    pd.testing.assert_frame_equal(again, lb)


def test_suite_json_external_list_is_respected(run_dir):
    suite = json.loads((run_dir / "suite.json").read_text())
    assert suite["external"] == ["clinic_b"]
    assert load_run(run_dir).externals == ["clinic_b"]


def test_stale_tables_are_collected_from_the_studies(tmp_path):
    """A suite killed before it wrote predictions.csv and studies.csv: the leaderboard collects them
    from the studies' own files (benchmark.runfolder.records, the training side's collector)."""
    run_dir = make_run_folder(tmp_path, methods=("good", "weak", "collapsed"), n_images=60, n_malignant=20,
                              folds=3, failed={"collapsed": ("all trials collapsed", None)})
    pred = _pred(run_dir)
    for (m, r, f), part in pred.groupby(["method", "repeat", "fold"]):  # the runner's per-study files
        write_csv_atomic(run_dir / "runs" / m / f"repeat-{r}" / f"fold-{f}" / "predictions.csv", part)
    expected = leaderboard(run_dir)
    (run_dir / "predictions.csv").unlink()
    (run_dir / "studies.csv").unlink()
    write_leaderboard(run_dir, n_bootstrap=50)
    assert (run_dir / "predictions.csv").is_file() and (run_dir / "studies.csv").is_file()
    lb = pd.read_csv(run_dir / "leaderboard.csv").set_index("method")
    for m in ("good", "weak"):
        assert lb.loc[m, "auc"] == pytest.approx(expected.set_index("method").loc[m, "auc"], abs=1e-12)
    assert lb.loc["collapsed", "status"].startswith("no working configuration found: all trials collapsed")


def test_a_method_whose_folds_selected_models_of_different_sizes_shows_the_median_and_range(tmp_path):
    """LoRA's searched rank can differ between folds: the leaderboard gives the median over the
    selected models and the range, and the page shows both, without a warning."""
    import json
    import warnings

    from benchmark.reporting.sections.leaderboard import leaderboard_table

    run = make_run_folder(tmp_path, methods=("good", "weak"), n_bootstrap=50)
    sizes = [92_653, 184_025, 92_653, 48_000, 92_653]
    for f, size in enumerate(sizes):
        path = run / "runs" / "good" / "repeat-0" / f"fold-{f}" / "results.json"
        record = json.loads(path.read_text())
        record["parameters"].update(trainable=size, trainable_without_head=size - 1281)
        path.write_text(json.dumps(record))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = leaderboard(load_run(run)).set_index("method")
    good = table.loc["good"]
    assert (good["trainable_parameters"], good["trainable_parameters_min"], good["trainable_parameters_max"]) == \
        (92_653, 48_000, 184_025)
    assert good["trainable_parameters_without_head"] == 92_653 - 1281
    weak = table.loc["weak"]
    assert weak["trainable_parameters_min"] == weak["trainable_parameters_max"] == weak["trainable_parameters"]
    header, rows = leaderboard_table(table.reset_index())
    cells = {row[1]: row[header.index("trainable params")] for row in rows}
    assert cells["good"] == "92,653 (48,000–184,025)"
    assert "(" not in cells["weak"]
