"""Clinical operating points (issue 38): sensitivity, specificity, PPV and NPV at thresholds chosen on each fold
model's validation images (sensitivity 0.95, 0.98 and the runner's Youden point), recomputed from the run folder's
predictions.csv and validation_predictions.csv with scikit-learn's roc_curve and confusion_matrix."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix, roc_curve

from fake_runs import make_run_folder

TARGETS = {"sensitivity_0.95": 0.95, "sensitivity_0.98": 0.98}


def add_validation_files(run_dir, dataset: str = "busi", seed: int = 0) -> None:
    """Each study's validation scores as the runner writes them: 63 images outside its test fold (20 cancers,
    BUSI's validation size), scored by a model of its own, with predictions.csv's threshold."""
    pred = pd.read_csv(run_dir / "predictions.csv", dtype={"image_id": str})
    inner = pred[pred["dataset"] == dataset]
    images = inner.drop_duplicates("image_id")
    rng = np.random.default_rng(seed)
    for (m, r, f), g in inner.groupby(["method", "repeat", "fold"]):
        rest = images[~images["image_id"].isin(g["image_id"])]
        val = pd.concat([rest[rest["label"] == 1].head(20), rest[rest["label"] == 0].head(43)])
        logits = 1.5 * (2 * val["label"].to_numpy() - 1) + rng.normal(0, 1.3, len(val))
        val = val.assign(method=m, repeat=r, fold=f, score=1 / (1 + np.exp(-logits)), threshold=g["threshold"].iloc[0])
        val[list(pred.columns)].to_csv(run_dir / "runs" / m / f"repeat-{r}" / f"fold-{f}" / "validation_predictions.csv",
                                       index=False)


@pytest.fixture(scope="module")
def clinical_run(tmp_path_factory):
    run_dir = make_run_folder(tmp_path_factory.mktemp("op"), methods=("good", "weak"), n_images=200, n_malignant=70,
                              externals={"ext": (90, 30)}, n_bootstrap=200, fold_offsets=0.5,
                              strengths={"good": 1.5, "weak": 0.6})
    add_validation_files(run_dir)
    return run_dir


def _load(run_dir):
    from benchmark.evaluation import load_run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_run(run_dir)


def _sklearn_threshold(val: pd.DataFrame, point: str) -> float:
    """The documented rule by scikit-learn: roc_curve's highest cut whose TPR reaches the target, moved down to the
    midpoint to the next lower distinct validation score; the Youden point is the stored threshold."""
    if point == "youden":
        return float(val["threshold"].iloc[0])
    _, tpr, thr = roc_curve(val["label"], val["score"], drop_intermediate=False)
    i = int(np.flatnonzero(tpr >= TARGETS[point] - 1e-12)[0])
    return float(thr[i]) if i + 1 == thr.size else float((thr[i] + thr[i + 1]) / 2)


def _expected(run_dir, dataset: str, method: str, point: str, ids=None) -> dict:
    """A method's metrics on ``dataset`` at ``point``, mean over its fold models, from the run folder's files."""
    pred = pd.read_csv(run_dir / "predictions.csv", dtype={"image_id": str})
    rows = pred[(pred["dataset"] == dataset) & (pred["method"] == method)]
    if ids is not None:
        rows = rows[rows["image_id"].isin(ids)]
    per_model = []
    for (r, f), g in rows.groupby(["repeat", "fold"]):
        val = pd.read_csv(run_dir / "runs" / method / f"repeat-{r}" / f"fold-{f}" / "validation_predictions.csv")
        t = _sklearn_threshold(val, point)
        tn, fp, fn, tp = confusion_matrix(g["label"], (g["score"] >= t).astype(int), labels=[0, 1]).ravel()
        vtn, vfp, vfn, vtp = confusion_matrix(val["label"], (val["score"] >= t).astype(int), labels=[0, 1]).ravel()
        with np.errstate(invalid="ignore"):
            per_model.append({"sensitivity": tp / (tp + fn), "specificity": tn / (tn + fp), "ppv": tp / (tp + fp),
                              "npv": tn / (tn + fn), "threshold": t, "validation_sensitivity": vtp / (vtp + vfn)})
    # a model without the statistic (no benign call: no NPV) is left out of the mean
    return {k: np.nanmean([m[k] for m in per_model]) for k in per_model[0]}


def check_against_sklearn(table: pd.DataFrame, run_dir, subgroup: str = "all", ids=None) -> None:
    for dataset in ("busi", "ext"):
        for method in ("good", "weak"):
            for point in ("sensitivity_0.95", "sensitivity_0.98", "youden"):
                expected = _expected(run_dir, dataset, method, point, ids)
                mine = table[(table["dataset"] == dataset) & (table["subgroup"] == subgroup)
                             & (table["method"] == method) & (table["operating_point"] == point)].set_index("metric")
                for metric, value in expected.items():
                    assert mine.loc[metric, "value"] == pytest.approx(value, abs=1e-9), (dataset, method, point, metric)


def test_operating_points_recomputed_with_sklearn(clinical_run):
    from benchmark.evaluation.operating_points import METRICS, OPERATING_POINT_COLUMNS, operating_points

    table = operating_points(_load(clinical_run))
    assert list(table.columns) == OPERATING_POINT_COLUMNS
    check_against_sklearn(table, clinical_run)
    assert set(table["subgroup"]) == {"all"}  # no images.csv: no BI-RADS subgroup
    # intervals around every test metric; the validation sensitivity reaches its target
    metrics = table[table["metric"].isin(METRICS)]
    assert (metrics["ci_low"] <= metrics["value"] + 1e-12).all() and (metrics["value"] <= metrics["ci_high"] + 1e-12).all()
    assert (metrics["ci_low"] < metrics["ci_high"]).all()
    reached = table[table["metric"] == "validation_sensitivity"].set_index(["operating_point"])["value"]
    assert (reached.loc["sensitivity_0.95"] >= 0.95).all() and (reached.loc["sensitivity_0.98"] == 1.0).all()


def test_a_threshold_chosen_on_test_images_fails(clinical_run, monkeypatch):
    """Planted: the thresholds chosen on each fold model's test scores (predictions.csv's rows in place of its
    validation_predictions.csv): the recomputation from the validation files no longer agrees."""
    import benchmark.evaluation.operating_points as op

    data = _load(clinical_run)
    test_rows = data.rows()

    def on_test_images(run_dir, runs):
        return test_rows.copy(), []

    monkeypatch.setattr(op, "load_validation_predictions", on_test_images)
    with pytest.raises(AssertionError):
        check_against_sklearn(op.operating_points(data), clinical_run)


def test_thresholds_do_not_move_with_the_test_images(clinical_run):
    """Flipping every test label (predictions.csv) leaves each fold model's thresholds as they were; changing one
    study's validation labels moves that study's sensitivity thresholds only."""
    from benchmark.evaluation.operating_points import validation_thresholds

    data = _load(clinical_run)
    before = validation_thresholds(data).copy()
    data.cache.clear()
    data.predictions = data.predictions.assign(label=1 - data.predictions["label"],
                                               score=1 - data.predictions["score"])
    pd.testing.assert_frame_equal(validation_thresholds(data), before)
    path = clinical_run / "runs" / "good" / "repeat-0" / "fold-0" / "validation_predictions.csv"
    original = path.read_text()
    try:
        val = pd.read_csv(path)
        val.assign(score=val["score"] ** 3).to_csv(path, index=False)
        data.cache.clear()
        after = validation_thresholds(data)
        moved = (after["threshold"] - before["threshold"]).abs() > 1e-12
        assert set(map(tuple, after.loc[moved, ["method", "repeat", "fold"]].to_numpy().tolist())) == {("good", 0, 0)}
    finally:
        path.write_text(original)


def test_bi_rads_4_subgroup_at_the_same_thresholds(clinical_run, tmp_path):
    """With a BI-RADS column in images.csv the same metrics on the BI-RADS 4 images, at the fold models' own
    thresholds (recomputed on those images alone)."""
    import shutil

    from benchmark.evaluation.operating_points import operating_points

    run_dir = tmp_path / "run"
    shutil.copytree(clinical_run, run_dir)
    pred = pd.read_csv(run_dir / "predictions.csv", dtype={"image_id": str})
    images = pred.drop_duplicates(["dataset", "image_id"])[["dataset", "image_id", "group", "label"]]
    number = images["image_id"].str.extract(r"(\d+)$")[0].astype(int)
    images = images.assign(birads=np.where(images["dataset"] == "busi", np.where(number % 2 == 0, "4", "3"), ""))
    images.to_csv(run_dir / "images.csv", index=False)
    table = operating_points(_load(run_dir))
    assert set(table.loc[table["dataset"] == "busi", "subgroup"]) == {"all", "BI-RADS 4"}
    assert set(table.loc[table["dataset"] == "ext", "subgroup"]) == {"all"}  # no BI-RADS there: skipped
    ids = set(images.loc[(images["dataset"] == "busi") & (images["birads"] == "4"), "image_id"])
    for method in ("good", "weak"):
        for point in ("sensitivity_0.95", "youden"):
            expected = _expected(run_dir, "busi", method, point, ids)
            mine = table[(table["subgroup"] == "BI-RADS 4") & (table["method"] == method)
                         & (table["operating_point"] == point)].set_index("metric")
            for metric in ("sensitivity", "specificity", "ppv", "npv", "threshold"):
                assert mine.loc[metric, "value"] == pytest.approx(expected[metric], abs=1e-9), (method, point, metric)


def test_old_run_folder_has_the_youden_point_only(tmp_path):
    from benchmark.evaluation.operating_points import operating_points

    run_dir = make_run_folder(tmp_path, methods=("good", "weak"), n_images=120, n_malignant=40, n_bootstrap=50)
    table = operating_points(_load(run_dir))
    assert set(table["operating_point"]) == {"youden"}
    assert table.loc[table["metric"] == "validation_sensitivity", "value"].isna().all()
