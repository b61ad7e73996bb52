"""Decision curves: each method's net benefit on a run's data sets recomputed with scikit-learn's confusion matrix
(tests/support/decision_oracles.py; that it agrees with the dcurves library: tests/stats/test_net_benefit.py)
from predictions.csv (internal: a repeat's pooled out-of-fold scores, mean over repeats; external: each fold model
on every image, mean over the fold models), biopsy all and none, and the range where a method beats both."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from decision_oracles import sklearn_curve
from fake_runs import make_run_folder

GRID = np.round(np.arange(0.02, 0.505, 0.01), 2)


@pytest.fixture(scope="module")
def curve_run(tmp_path_factory):
    run_dir = make_run_folder(tmp_path_factory.mktemp("dca"), methods=("good", "weak"), repeats=2, n_images=160,
                              n_malignant=50, externals={"ext": (90, 30)}, n_bootstrap=200, fold_offsets=0.5,
                              strengths={"good": 1.5, "weak": 0.6})
    from benchmark.evaluation import load_run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_dir, load_run(run_dir)


def _own_scores(monkeypatch):
    """Calibration's scored_rows without ``prior_corrected``: the curves on the models' own scores (predictions.csv)."""
    import benchmark.evaluation.decision_curves as dc

    original = dc.scored_rows
    monkeypatch.setattr(dc, "scored_rows", lambda data, dataset: original(data, dataset).drop(
        columns=[dc.PRIOR_CORRECTED], errors="ignore"))
    return original


def _dca(rows: pd.DataFrame) -> dict:
    """The net benefit of one scorer's rows: ``{"model", "all", "none"}`` arrays over GRID."""
    return sklearn_curve(rows["label"].to_numpy(), rows["score"].to_numpy(), GRID)


def test_net_benefit_recomputed_from_predictions(curve_run, monkeypatch):
    from benchmark.evaluation.decision_curves import BIOPSY_ALL, BIOPSY_NONE, CURVE_COLUMNS, decision_curves

    run_dir, data = curve_run
    _own_scores(monkeypatch)
    data.cache.pop("decision_curves", None)
    try:
        table = decision_curves(data)
    finally:
        data.cache.pop("decision_curves", None)
    assert list(table.columns) == CURVE_COLUMNS
    assert set(table.loc[~table["method"].isin([BIOPSY_ALL, BIOPSY_NONE]), "scores"]) == {"raw"}
    pred = pd.read_csv(run_dir / "predictions.csv", dtype={"image_id": str})
    for dataset, unit in (("busi", ["repeat"]), ("ext", ["repeat", "fold"])):
        rows = pred[pred["dataset"] == dataset]
        images = rows.drop_duplicates("image_id")
        for method in ("good", "weak"):
            mine = table[(table["dataset"] == dataset) & (table["method"] == method)].sort_values("threshold")
            np.testing.assert_allclose(mine["threshold"], GRID)
            expected = np.mean([_dca(g)["model"] for _, g in rows[rows["method"] == method].groupby(unit)], axis=0)
            np.testing.assert_allclose(mine["net_benefit"], expected, atol=1e-12, err_msg=f"{dataset} {method}")
            assert (mine["ci_low"] <= mine["net_benefit"] + 1e-12).all()
            assert (mine["net_benefit"] <= mine["ci_high"] + 1e-12).all() and (mine["ci_low"] < mine["ci_high"]).all()
        everyone = table[(table["dataset"] == dataset) & (table["method"] == BIOPSY_ALL)]["net_benefit"]
        np.testing.assert_allclose(everyone, _dca(images)["all"], atol=1e-12)
        nobody = table[(table["dataset"] == dataset) & (table["method"] == BIOPSY_NONE)]
        assert (nobody["net_benefit"] == 0).all()
        assert table.loc[table["dataset"] == dataset, "prevalence"].iloc[0] == pytest.approx(images["label"].mean())


def test_pooled_not_per_fold_on_the_training_set(curve_run, monkeypatch):
    """Planted: the internal curve as the mean of each fold model's own net benefit (the external rule) differs
    from the pooled out-of-fold one that the table gives (the fold models' offsets make them differ)."""
    from benchmark.evaluation.decision_curves import decision_curves

    run_dir, data = curve_run
    pred = pd.read_csv(run_dir / "predictions.csv", dtype={"image_id": str})
    rows = pred[(pred["dataset"] == "busi") & (pred["method"] == "good")]
    per_fold = np.mean([_dca(g)["model"] for _, g in rows.groupby(["repeat", "fold"])], axis=0)
    _own_scores(monkeypatch)
    data.cache.pop("decision_curves", None)
    mine = decision_curves(data)
    data.cache.pop("decision_curves", None)
    mine = mine[(mine["dataset"] == "busi") & (mine["method"] == "good")]["net_benefit"].to_numpy()
    assert np.abs(mine - per_fold).max() > 1e-3


def test_prior_corrected_scores_are_used_when_present(curve_run, monkeypatch):
    """When calibration's scored_rows gives ``prior_corrected`` for every row of a method, its curve is drawn on it
    (and says so); a method with a missing shift keeps its own scores, never a mix."""
    import benchmark.evaluation.decision_curves as dc

    run_dir, data = curve_run
    original = _own_scores(monkeypatch)

    def with_prior(data, dataset):
        frame = original(data, dataset)
        return frame.assign(prior_corrected=np.where((frame["method"] == "good") & (frame["fold"] == 0), np.nan,
                                                     frame["score"] ** 2))

    monkeypatch.setattr(dc, "scored_rows", with_prior)
    data.cache.pop("decision_curves", None)
    try:
        table = dc.decision_curves(data)
    finally:
        data.cache.pop("decision_curves", None)
    kinds = table.drop_duplicates("method").set_index("method")["scores"]
    assert kinds["weak"] == "prior-corrected" and kinds["good"] == "raw"
    good = table[(table["dataset"] == "busi") & (table["method"] == "good")]["net_benefit"].to_numpy()
    data.cache.pop("decision_curves", None)
    _own_scores(monkeypatch)
    raw = dc.decision_curves(data)
    data.cache.pop("decision_curves", None)
    np.testing.assert_allclose(good, raw[(raw["dataset"] == "busi") & (raw["method"] == "good")]["net_benefit"])
    pred = pd.read_csv(run_dir / "predictions.csv", dtype={"image_id": str})
    rows = pred[(pred["dataset"] == "busi") & (pred["method"] == "weak")]
    expected = np.mean([_dca(g.assign(score=g["score"] ** 2))["model"] for _, g in rows.groupby("repeat")], axis=0)
    mine = table[(table["dataset"] == "busi") & (table["method"] == "weak")]["net_benefit"]
    np.testing.assert_allclose(mine, expected, atol=1e-12)


def test_net_benefit_ranges():
    from benchmark.evaluation.decision_curves import BIOPSY_ALL, BIOPSY_NONE, net_benefit_ranges

    pts = [0.1, 0.2, 0.3, 0.4]
    rows = [("d", BIOPSY_ALL, [0.3, 0.2, 0.05, -0.1]), ("d", BIOPSY_NONE, [0, 0, 0, 0]),
            ("d", "a", [0.3, 0.25, 0.1, -0.05]),   # ties biopsy all at 0.1: from 0.2; below none at 0.4
            ("d", "b", [0.1, 0.1, 0.0, 0.0]),      # never above both
            ("d", "c", [0.31, 0.1, 0.06, 0.01])]   # above both at 0.1, 0.3, 0.4: a gap at 0.2
    table = pd.DataFrame([[d, m, "raw", pt, v, 0, 0, 0.35, 10] for d, m, vs in rows for pt, v in zip(pts, vs)],
                         columns=["dataset", "method", "scores", "threshold", "net_benefit", "ci_low", "ci_high",
                                  "prevalence", "n_images"])
    out = net_benefit_ranges(table).set_index("method")
    assert list(out.index) == ["a", "b", "c"]
    assert (out.loc["a", "pt_low"], out.loc["a", "pt_high"], out.loc["a", "n_thresholds"]) == (0.2, 0.3, 2)
    assert np.isnan(out.loc["b", "pt_low"]) and out.loc["b", "n_thresholds"] == 0
    assert (out.loc["c", "pt_low"], out.loc["c", "pt_high"], out.loc["c", "n_thresholds"]) == (0.1, 0.4, 3)
    assert out.loc["c", "n_grid"] == 4 and out.loc["c", "prevalence"] == 0.35


def test_the_run_folders_prior_corrected_scores_by_default(curve_run):
    """Without a patch the curves are on calibration's prior_corrected scores, where every study of a method has
    them (the records' training class counts), recomputed on that column."""
    from benchmark.evaluation.calibration import scored_rows
    from benchmark.evaluation.decision_curves import decision_curves

    _, data = curve_run
    data.cache.pop("decision_curves", None)
    table = decision_curves(data)
    rows = scored_rows(data, "ext")
    for method in ("good", "weak"):
        mine = table[(table["dataset"] == "ext") & (table["method"] == method)]
        if rows.loc[rows["method"] == method, "prior_corrected"].isna().any():
            assert set(mine["scores"]) == {"raw"}
            continue
        assert set(mine["scores"]) == {"prior-corrected"}
        own = rows[rows["method"] == method].assign(score=lambda f: f["prior_corrected"])
        expected = np.mean([_dca(g)["model"] for _, g in own.groupby(["repeat", "fold"])], axis=0)
        np.testing.assert_allclose(mine["net_benefit"], expected, atol=1e-12)


def test_a_method_trained_without_class_weights_is_labelled_raw():
    """Where the correction changed nothing (every study trained without class weights: a shift of 0), the curve is
    on the own scores and says so; planted: labelled by the column's presence alone, it would say prior-corrected."""
    from benchmark.evaluation.decision_curves import risk_scores

    frame = pd.DataFrame({"method": ["a", "a", "b", "b"], "score": [0.2, 0.7, 0.4, 0.6],
                          "prior_corrected": [0.2, 0.7, 0.3, 0.5]})
    risks, kinds = risk_scores(frame)
    assert kinds == {"a": "raw", "b": "prior-corrected"}
    np.testing.assert_allclose(risks["score"], [0.2, 0.7, 0.3, 0.5])
