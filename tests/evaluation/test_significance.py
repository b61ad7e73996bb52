"""The significance table recomputed row by row from predictions.csv, without the suite's data paths.

Every row of every test is rebuilt here from the run folder's files: the pooled or per-model scores
with pandas, the AUCs with scikit-learn, and each test's p-value with the tested statistics function
of :mod:`benchmark.stats` (checked against scipy and brute force in tests/stats/test_stats_oracles.py)
on inputs built here. Holm's families, the flags and the row order are recomputed too. Written for
the mutation check of ``benchmark.evaluation.pairwise`` (docs/testing.md).
"""
from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from benchmark.evaluation import bootstrap_draws, load_run, nadeau_bengio_sizes, significance
from benchmark.evaluation.pairwise import PRIMARY_TEST, TESTS
from benchmark.stats import bootstrap_wilcoxon_test, delong_test, holm_correction
from fake_runs import make_run_folder

RANKED = ("good", "weak", "random_a")


@pytest.fixture(scope="module", params=["kfold", "holdout"])
def run(request, tmp_path_factory):
    """Two repeats. k-fold: 4 folds, an external set, fold models on their own scales. Holdout: each repeat
    tests a different part of the images, so the pooled score matrix has gaps (NaN) per repeat."""
    root = tmp_path_factory.mktemp(request.param)
    if request.param == "kfold":
        run_dir = make_run_folder(root, methods=RANKED, repeats=2, folds=4, n_images=120, n_malignant=45,
                                  n_bootstrap=60, externals={"clinic_b": (50, 20)}, fold_offsets=1.0)
    else:
        run_dir = make_run_folder(root, methods=RANKED, repeats=2, folds=1, n_images=150, n_malignant=55,
                                  n_bootstrap=60)
    data = load_run(run_dir)
    return run_dir, data, significance(data)


def _pred(run_dir) -> pd.DataFrame:
    return pd.read_csv(run_dir / "predictions.csv", dtype={"image_id": str})


def _pooled(pred: pd.DataFrame, dataset: str, internal: bool) -> pd.DataFrame:
    """image_id x (method, repeat) scores: out-of-fold scores on the training set, the mean of a repeat's
    fold models on an external set; images sorted by id; plus the label column."""
    part = pred[pred["dataset"] == dataset]
    if not internal:
        part = part.groupby(["method", "repeat", "image_id"], as_index=False).agg(score=("score", "mean"),
                                                                                  label=("label", "first"))
    wide = part.pivot(index="image_id", columns=["method", "repeat"], values="score").sort_index()
    labels = part.drop_duplicates("image_id").set_index("image_id")["label"].reindex(wide.index)
    return wide, labels


def _n_bootstrap(run_dir) -> int:
    return json.loads((run_dir / "suite.json").read_text())["profile"]["evaluation"]["n_bootstrap"]


def _rows(sig, dataset, test, a, b, repeat=None):
    part = sig[(sig.dataset == dataset) & (sig.test == test) & (sig.method_a == a) & (sig.method_b == b)]
    if repeat is not None:
        part = part[part.repeat == repeat]
    assert len(part) == 1, (dataset, test, a, b, repeat)
    return part.iloc[0]


def test_per_repeat_rows_recompute(run):
    """DeLong (every data set) and the bootstrap Wilcoxon test (training set) of each repeat and pair, on the
    images both methods scored in that repeat."""
    run_dir, data, sig = run
    pred = _pred(run_dir)
    order = data.order
    assert set(order) == set(RANKED)
    n_rows = 0
    for dataset in [data.internal] + data.externals:
        wide, labels = _pooled(pred, dataset, dataset == data.internal)
        for repeat in (0, 1):
            for a, b in combinations(order, 2):
                both = wide[[(a, repeat), (b, repeat)]].dropna()
                y = labels.reindex(both.index).to_numpy()
                sa, sb = both[(a, repeat)].to_numpy(), both[(b, repeat)].to_numpy()
                auc_a, auc_b = roc_auc_score(y, sa), roc_auc_score(y, sb)
                z, p = delong_test(y, sa, sb)
                row = _rows(sig, dataset, "delong", a, b, repeat)
                assert (row.auc_a, row.auc_b, row.difference) == pytest.approx((auc_a, auc_b, auc_a - auc_b),
                                                                             abs=1e-12)
                assert (row.statistic, row.p) == pytest.approx((z, p), abs=1e-12)
                assert np.isnan(row.ci_low) and np.isnan(row.ci_high)
                n_rows += 1
                if dataset != data.internal:
                    assert not ((sig.dataset == dataset) & (sig.test == "bootstrap_wilcoxon")).any()
                    continue
                u, p = bootstrap_wilcoxon_test(y, sa, sb, n_bootstrap=_n_bootstrap(run_dir), seed=repeat)
                row = _rows(sig, dataset, "bootstrap_wilcoxon", a, b, repeat)
                assert (row.auc_a, row.auc_b, row.difference) == pytest.approx((auc_a, auc_b, auc_a - auc_b),
                                                                             abs=1e-12)
                assert (row.statistic, row.p) == pytest.approx((u, p), abs=1e-12)
                n_rows += 1
    assert n_rows == ((sig.test == "delong") | (sig.test == "bootstrap_wilcoxon")).sum()


def _fold_model_aucs(pred: pd.DataFrame, dataset: str) -> dict:
    """(method, repeat, fold) -> that fold model's AUC on its test fold, or on all of an external set."""
    part = pred.query("dataset == @dataset")
    return {k: roc_auc_score(g.label, g.score) for k, g in part.groupby(["method", "repeat", "fold"])}


def test_method_level_rows_recompute(run):
    """The corrected t-test over every (repeat, fold) AUC difference, sizes from results.json and the
    predictions, with its t interval; on an external set each fold model's AUC on all its images, and the
    variance of the bootstrap's mean difference added (Welch-Satterthwaite degrees of freedom)."""
    run_dir, data, sig = run
    pred = _pred(run_dir)
    internal = pred.query("dataset == @data.internal")
    n_test = internal.groupby(["method", "repeat", "fold"]).size().mean()
    n_train = data.runs.loc[data.runs.method.isin(RANKED), "n_train"].astype(float).mean()
    assert nadeau_bengio_sizes(data)[:2] == pytest.approx((n_train, n_test))
    for dataset in [data.internal] + data.externals:
        fold_auc = _fold_model_aucs(pred, dataset)
        keys = sorted({(r, f) for _, r, f in fold_auc})
        boot = None if dataset == data.internal else bootstrap_draws(data, dataset)
        for a, b in combinations(data.order, 2):
            diffs = np.array([fold_auc[(a, r, f)] - fold_auc[(b, r, f)] for r, f in keys])
            extra = 0.0
            if boot is not None:
                extra = np.var(boot.draws[:, boot.methods.index(a)] - boot.draws[:, boot.methods.index(b)], ddof=1)
            spread = (1 / len(diffs) + n_test / n_train) * diffs.var(ddof=1)
            df = len(diffs) - 1 if boot is None else (spread + extra) ** 2 / (spread ** 2 / (len(diffs) - 1))
            se = np.sqrt(spread + extra)
            t = diffs.mean() / se
            half = sps.t.ppf(0.975, df) * se
            row = _rows(sig, dataset, "nadeau_bengio", a, b)
            assert row.auc_a == pytest.approx(np.mean([fold_auc[(a, *k)] for k in keys]), abs=1e-12)
            assert row.auc_b == pytest.approx(np.mean([fold_auc[(b, *k)] for k in keys]), abs=1e-12)
            assert row.difference == pytest.approx(diffs.mean(), abs=1e-12)
            assert (row.statistic, row.p) == pytest.approx((t, 2 * sps.t.sf(abs(t), df)), abs=1e-12)
            assert (row.se, row.df) == pytest.approx((se, df), rel=1e-9)
            assert (row.ci_low, row.ci_high) == pytest.approx((diffs.mean() - half, diffs.mean() + half), abs=1e-12)
            assert pd.isna(row["repeat"])
    assert (sig.test == "nadeau_bengio").sum() == 3 * (1 + len(data.externals))


def test_cluster_rows_carry_each_methods_statistic_and_an_interval(run):
    """The paired cluster bootstrap rows: auc_a and auc_b are the leaderboard's statistics of the two
    methods, the difference their difference, the percentile interval ordered around it, no repeat."""
    from benchmark.evaluation import leaderboard

    run_dir, data, sig = run
    lb = leaderboard(data).set_index("method")
    for dataset in [data.internal] + data.externals:
        column = "auc" if dataset == data.internal else f"external_{dataset}_auc"
        for a, b in combinations(data.order, 2):
            row = _rows(sig, dataset, "cluster_bootstrap", a, b)
            assert row.auc_a == pytest.approx(lb.loc[a, column], abs=1e-12)
            assert row.auc_b == pytest.approx(lb.loc[b, column], abs=1e-12)
            assert row.difference == pytest.approx(row.auc_a - row.auc_b, abs=1e-12)
            assert row.ci_low < row.difference < row.ci_high and 0 < row.p <= 1
            assert pd.isna(row["repeat"]) and np.isnan(row.statistic)


def test_families_flags_and_row_order(run):
    """Holm within each (data set, test, repeat); significant = Holm p < 0.05; the method-level test is the
    primary one on every data set and the only one not conditional; rows ordered data set, test, repeat."""
    run_dir, data, sig = run
    datasets = [data.internal] + data.externals
    for (dataset, test, repeat), part in sig.groupby(["dataset", "test", "repeat"], dropna=False, sort=False):
        np.testing.assert_allclose(part["p_holm"], holm_correction(part["p"].to_numpy()), atol=1e-15)
        assert len(part) == 3
    assert (sig["significant"] == (sig["p_holm"] < 0.05)).all()
    assert PRIMARY_TEST == "nadeau_bengio"
    assert (sig["primary"] == (sig["test"] == PRIMARY_TEST)).all()
    assert (sig["conditional"] == (sig["test"] != PRIMARY_TEST)).all()
    key = list(zip(sig.dataset.map(datasets.index), sig.test.map(TESTS.index), sig.repeat.fillna(-1).astype(int)))
    assert key == sorted(key)
    assert sig.dataset.iloc[0] == data.internal
    assert sig.index.tolist() == list(range(len(sig)))
    assert str(sig["repeat"].dtype) == "Int64" and sig["repeat"].dropna().isin([0, 1]).all()


def test_the_confidence_level_reaches_the_cluster_bootstraps_interval(run):
    """A 50% interval lies inside the default 95% one, row by row; the estimates and p-values do not move."""
    run_dir, data, sig = run
    narrow = significance(data, confidence=0.5)
    boot = sig.test == "cluster_bootstrap"
    assert ((narrow.loc[boot, "ci_low"] > sig.loc[boot, "ci_low"])
            & (narrow.loc[boot, "ci_high"] < sig.loc[boot, "ci_high"])).all()
    pd.testing.assert_series_equal(narrow["p"], sig["p"])
    pd.testing.assert_series_equal(narrow["difference"], sig["difference"])


def test_one_ranked_method_gives_an_empty_table_with_the_columns(tmp_path):
    from benchmark.evaluation.pairwise import SIGNIFICANCE_COLUMNS

    sig = significance(make_run_folder(tmp_path, methods=("good",), folds=3, n_images=60, n_malignant=20,
                                       n_bootstrap=20, externals={"clinic_b": (30, 10)}))
    assert sig.empty and list(sig.columns) == SIGNIFICANCE_COLUMNS and str(sig["repeat"].dtype) == "Int64"


def test_one_repeat_keeps_a_method_level_primary_test(tmp_path):
    """One repeat: the method-level rows are still there, primary and not conditional (k - 1 degrees of
    freedom), so a quick run and a repeats run give verdicts that mean the same thing."""
    run_dir = make_run_folder(tmp_path, methods=RANKED, folds=3, n_images=90, n_malignant=35, n_bootstrap=40)
    sig = significance(run_dir)
    level = sig[sig.test == PRIMARY_TEST]
    assert len(level) == 3 and level["primary"].all() and not level["conditional"].any()
    assert (level["df"] == 2).all() and (level["ci_low"] < level["difference"]).all()
    assert sig.loc[sig.test != PRIMARY_TEST, "conditional"].all()
    assert (sig["primary"] == (sig["test"] == PRIMARY_TEST)).all()


def test_nadeau_bengio_sizes_without_recorded_training_sizes(run):
    """Without results.json's training sizes, n_train is the images outside the test fold (N - n_test), and
    the source says so; a method outside the ranking does not count."""
    run_dir, data, _ = run
    pred = _pred(run_dir).query("dataset == @data.internal")
    n_test = pred.groupby(["method", "repeat", "fold"]).size().mean()
    n_images = pred["image_id"].nunique()
    data.runs = data.runs.assign(n_train=np.nan)
    try:
        n_train, got_test, source = nadeau_bengio_sizes(data)
    finally:
        data.runs = load_run(run_dir).runs
    assert (n_train, got_test) == pytest.approx((n_images - n_test, n_test))
    assert source == ("approximated as the images outside the test fold, N - n_test = (k-1)/k N "
                      "(validation images included)")
    n_train, _, source = nadeau_bengio_sizes(data)
    assert source == "recorded training images per fold (results.json)"
    assert n_train == pytest.approx(data.runs.loc[data.runs.method.isin(RANKED), "n_train"].astype(float).mean())


def test_a_delong_test_that_cannot_run_leaves_its_rows_without_p(run, monkeypatch):
    """DeLong refuses a class with fewer than two images (ValueError): its rows stay, with NaN statistic and p,
    and the other tests are untouched."""
    import benchmark.evaluation.pairwise as pairwise

    run_dir, data, sig = run

    def refuse(*args, **kwargs):
        raise ValueError("fewer than two images of a class")

    monkeypatch.setattr(pairwise, "delong_test", refuse)
    again = significance(load_run(run_dir))
    delong = again.test == "delong"
    assert delong.sum() == (sig.test == "delong").sum() > 0
    assert again.loc[delong, ["statistic", "p", "p_holm"]].isna().all().all()
    assert not again.loc[delong, "significant"].any()
    pd.testing.assert_frame_equal(again[~delong], sig[~delong])


def test_the_significance_threshold_is_strict(run, monkeypatch):
    """``significant`` is Holm p < 0.05: a Holm p of exactly 0.05 is not significant."""
    import benchmark.evaluation.pairwise as pairwise

    monkeypatch.setattr(pairwise, "holm_correction", lambda p: np.full(len(p), 0.05))
    sig = significance(load_run(run[0]))
    assert (sig["p_holm"] == 0.05).all() and not sig["significant"].any()


# -- the logistic-regression reference, per data set ------------------------------------------------------

@pytest.fixture(scope="module")
def with_reference(tmp_path_factory):
    """Two repeats of 5 folds (the method-level test needs fold models: with 3 it has 2 degrees of freedom) and
    an external set that the reference scores too; 'good' above the reference, 'weak' and 'random_a' below it."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_run_folder(tmp_path_factory.mktemp("ref"), methods=RANKED, folds=5, repeats=2, n_images=150,
                               n_malignant=50, duplicate_pairs=10, n_bootstrap=100, reference=1.5,
                               externals={"clinic_b": (80, 30)}, reference_on_externals=True)


def _per_model_auc(rows: pd.DataFrame) -> float:
    """The mean over repeats of the mean over a repeat's fold models of each model's AUC."""
    per_repeat = [np.mean([roc_auc_score(f.label, f.score) for _, f in g.groupby("fold")])
                  for _, g in rows.groupby("repeat")]
    return float(np.mean(per_repeat))


def _fold_stratified_auc(rows: pd.DataFrame) -> float:
    weights = [(f.label == 1).sum() * (f.label == 0).sum() for _, f in rows.groupby("fold")]
    return float(np.average([roc_auc_score(f.label, f.score) for _, f in rows.groupby("fold")], weights=weights))


def test_reference_comparison_recomputes_on_every_data_set_it_scored(with_reference):
    """Per data set, the method-level difference of each method and the reference on the same images: the mean
    per-fold-model AUC difference (test folds on the training set, all images of the external one), each from
    its own predictions file; asked in either order, from a path or from loaded data, a data set never gets
    another's answer."""
    from benchmark.evaluation import reference_comparison
    from benchmark.runfolder import REFERENCE_FILE

    pred = _pred(with_reference)
    ref = pd.read_csv(with_reference / REFERENCE_FILE, dtype={"image_id": str})
    data = load_run(with_reference)
    external_first = reference_comparison(data, "clinic_b").set_index("method")
    internal = reference_comparison(data).set_index("method")
    for dataset, frame in (("busi", internal), ("clinic_b", external_first)):
        reference_auc = _per_model_auc(ref[ref.dataset == dataset])
        assert set(frame.index) == set(RANKED)
        for method, row in frame.iterrows():
            auc = _per_model_auc(pred[(pred.dataset == dataset) & (pred.method == method)])
            assert row["difference"] == pytest.approx(auc - reference_auc, abs=1e-12), (dataset, method)
            assert row["ci_low"] < row["difference"] < row["ci_high"]
        np.testing.assert_allclose(frame["p_holm"], holm_correction(frame["p"].to_numpy()))
        assert (frame["below"] == ((frame["difference"] < 0) & (frame["p_holm"] < 0.05))).all()
        assert frame.loc["good", "difference"] > 0 and frame.loc[["weak", "random_a"], "below"].all()
    pd.testing.assert_frame_equal(reference_comparison(with_reference, "clinic_b"),
                                  reference_comparison(load_run(with_reference), "clinic_b"))
    pd.testing.assert_frame_equal(reference_comparison(with_reference), reference_comparison(data, "busi"))


def test_no_comparison_on_a_data_set_the_reference_did_not_score(with_reference, tmp_path):
    """A reference of the training images only: the external set has an empty comparison (with the columns),
    the training set its full one."""
    import shutil

    from benchmark.evaluation import reference_comparison
    from benchmark.runfolder import REFERENCE_FILE

    run_dir = shutil.copytree(with_reference, tmp_path / "run")
    ref = pd.read_csv(run_dir / REFERENCE_FILE, dtype={"image_id": str})
    ref[ref.dataset == "busi"].to_csv(run_dir / REFERENCE_FILE, index=False)
    data = load_run(run_dir)
    assert len(reference_comparison(data)) == len(RANKED)
    empty = reference_comparison(data, "clinic_b")
    assert empty.empty and list(empty.columns) == ["method", "difference", "ci_low", "ci_high", "p", "p_holm",
                                                   "below"]
    assert not significance(data).query("dataset == 'clinic_b'")["b_below_reference"].any()


def test_below_the_reference_needs_holm_p_strictly_below_alpha(with_reference, monkeypatch):
    import benchmark.evaluation.reference as reference

    monkeypatch.setattr(reference, "holm_correction", lambda p: np.full(len(p), 0.05))
    frame = reference.reference_comparison(load_run(with_reference))
    assert (frame["p_holm"] == 0.05).all() and not frame["below"].any()
