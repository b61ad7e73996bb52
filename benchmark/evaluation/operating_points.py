"""Clinical operating points of every ranked method (and the reference) on every data set of a run.

A breast-ultrasound classifier is asked to spare biopsies of benign lesions without missing cancers:
at a threshold chosen for a high sensitivity, what specificity is left? Per **fold model** the
threshold of each operating point (:data:`OPERATING_POINTS`) is chosen on that model's own
validation images (``validation_predictions.csv``, :mod:`benchmark.runfolder.validation`), never on
test images:

* ``sensitivity_0.95``, ``sensitivity_0.98``: the highest threshold whose validation sensitivity
  reaches the target (:func:`benchmark.stats.sensitivity_threshold`);
* ``youden``: the threshold the runner already chose on the same validation images (Youden's J,
  the ``threshold`` column of ``validation_predictions.csv``; the reference's is chosen on its inner
  cross-validation): the suite's own operating point, the nearest to the paper's.

Each threshold is applied to the fold model's own scores, as the calibration statistics are
(:mod:`benchmark.evaluation.calibration`): on the training data set to its test fold, on an
external set to every image. Sensitivity, specificity, PPV and NPV of each fold model are averaged
over a method's fold models and repeats (a model without the statistic, e.g. no NPV when it calls every
image malignant, is left out of the mean), with the percentile interval of the same duplicate-group
bootstrap (:func:`benchmark.stats.cluster_bootstrap_weights`, within folds on the training data set,
seed :data:`~benchmark.evaluation.draws.BOOTSTRAP_SEED`; each resample's statistic is the mean over
the fold models under its weights; the thresholds stay fixed). Beside them, ``threshold`` (the mean
threshold), ``validation_sensitivity`` (the mean sensitivity the thresholds reached on the
validation images) and ``validation_malignant`` (the mean number of validation cancers they were
chosen on): with few validation cancers a high target asks for all of them, so the test sensitivity
lands below the target. The same metrics on a data set's BI-RADS 4 images
(:func:`benchmark.evaluation.subgroups.clinical_subgroups`, subgroup ``BI-RADS 4``) when it has them.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from benchmark.evaluation.calibration import scored_rows
from benchmark.evaluation.draws import _methods, image_resamples, reference_scored
from benchmark.evaluation.run_data import _NAN, CONFIDENCE, RunData
from benchmark.evaluation.subgroups import MIN_PER_CLASS, clinical_subgroups
from benchmark.runfolder import REFERENCE_METHOD, load_image_table, score_table
from benchmark.runfolder.validation import load_validation_predictions
from benchmark.stats import (percentile_interval, sensitivity_threshold, threshold_metrics,
                             threshold_rates)

__all__ = ["OPERATING_POINTS", "METRICS", "ALL_IMAGES", "SUBGROUP", "OPERATING_POINT_COLUMNS",
           "THRESHOLD_COLUMNS", "THRESHOLD", "VALIDATION_SENSITIVITY",
           "VALIDATION_MALIGNANT", "validation_thresholds", "operating_points"]

OPERATING_POINTS = {"sensitivity_0.95": 0.95, "sensitivity_0.98": 0.98, "youden": None}  # name -> target
METRICS = ("sensitivity", "specificity", "ppv", "npv")  # on test images, with intervals
THRESHOLD, VALIDATION_SENSITIVITY = "threshold", "validation_sensitivity"  # means over the fold models, no interval
VALIDATION_MALIGNANT = "validation_malignant"  # the mean number of malignant validation images behind a threshold
ALL_IMAGES, SUBGROUP = "all", "BI-RADS 4"  # the subgroup column: every image of the set, or its BI-RADS 4 images
OPERATING_POINT_COLUMNS = ["dataset", "subgroup", "method", "operating_point", "metric", "value", "ci_low", "ci_high"]
THRESHOLD_COLUMNS = ["method", "repeat", "fold", "operating_point", "threshold", "validation_sensitivity",
                     "validation_malignant"]


def _stored_thresholds(data: RunData, validation: pd.DataFrame) -> dict:
    """``(method, repeat, fold) -> threshold`` the runner chose (Youden's J on the validation images): the
    validation files' ``threshold`` column, else (the reference, older run folders) predictions.csv's."""
    frames = [validation, data.rows()]
    if data.reference is not None:
        frames.append(data.reference[data.reference["dataset"] == data.internal])
    out: dict = {}
    for frame in frames:
        for (m, r, f), t in frame.groupby(["method", "repeat", "fold"])["threshold"].first().items():
            out.setdefault((m, int(r), int(f)), float(t))
    return out


def validation_thresholds(data: RunData) -> pd.DataFrame:
    """Each fold model's threshold of every operating point (:data:`THRESHOLD_COLUMNS`), chosen on its validation
    images only, and the sensitivity it reaches there (NaN without validation scores: the reference, older run
    folders, which then have the Youden point only). Cached on ``data``."""
    if "operating_thresholds" in data.cache:
        return data.cache["operating_thresholds"]
    validation, _ = load_validation_predictions(data.run_dir, data.runs[data.runs["method"].isin(data.order)])
    stored = _stored_thresholds(data, validation)
    by_model = {(m, int(r), int(f)): g for (m, r, f), g in validation.groupby(["method", "repeat", "fold"])}
    rows = []
    for (m, r, f), youden in sorted(stored.items()):
        if m not in data.order and m != REFERENCE_METHOD:
            continue
        val = by_model.get((m, r, f))
        y, s = (val["label"].to_numpy(), val["score"].to_numpy()) if val is not None else (None, None)
        for point, target in OPERATING_POINTS.items():
            if target is None:
                threshold = youden
            elif val is None or not (y == 1).any():
                continue
            else:
                threshold = sensitivity_threshold(y, s, target)
            reached = threshold_metrics(y, s, threshold)["sensitivity"] if val is not None else _NAN
            rows.append([m, r, f, point, threshold, reached, int((y == 1).sum()) if val is not None else _NAN])
    data.cache["operating_thresholds"] = pd.DataFrame(rows, columns=THRESHOLD_COLUMNS)
    return data.cache["operating_thresholds"]


def _per_model(y: np.ndarray, columns, matrix: np.ndarray, k: int, chosen: dict, weights: np.ndarray) -> dict:
    """``(method, point) -> {metric: values}``: each fold model's metrics at its own threshold, mean over a
    method's fold models; the observed value, then one per bootstrap resample (rows of ``weights``)."""
    collected: dict = {}
    for j, (m, model) in enumerate(columns):
        keep = np.isfinite(matrix[:, j])
        if not keep.any():
            continue
        for point in OPERATING_POINTS:
            threshold = chosen.get((m, *divmod(int(model), k), point))
            if threshold is None:
                continue
            stats = threshold_rates(y[keep], matrix[keep, j], threshold, weights[:, keep])
            for metric in METRICS:
                collected.setdefault((m, point), {}).setdefault(metric, []).append(stats[metric])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample in which no model has the statistic: NaN
        return {key: {metric: np.nanmean(np.vstack(v), axis=0) for metric, v in metrics.items()}
                for key, metrics in collected.items()}


def _subsets(data: RunData, dataset: str, images: pd.DataFrame) -> dict:
    """``{subgroup: mask over images}``: every image, and the BI-RADS 4 images when the data set has them with
    at least :data:`~benchmark.evaluation.subgroups.MIN_PER_CLASS` of each class."""
    out = {ALL_IMAGES: np.ones(len(images), bool)}
    table = load_image_table(data.run_dir)
    ids = clinical_subgroups(table, dataset).get(SUBGROUP) if table is not None else None
    if ids:
        mask = images["image_id"].astype(str).isin(set(map(str, ids))).to_numpy()
        y = images["label"].to_numpy()[mask]
        if min(int((y == 0).sum()), int((y == 1).sum())) >= MIN_PER_CLASS:
            out[SUBGROUP] = mask
    return out


def operating_points(data: RunData) -> pd.DataFrame:
    """Tidy (:data:`OPERATING_POINT_COLUMNS`): per data set (and BI-RADS 4 subgroup), method and operating point,
    the test metrics (:data:`METRICS`) with intervals, then ``threshold``, ``validation_sensitivity`` and
    ``validation_malignant`` (means over the fold models, no interval). Cached on ``data``."""
    if "operating_points" in data.cache:
        return data.cache["operating_points"]
    thresholds = validation_thresholds(data)
    chosen = {(m, int(r), int(f), p): t for m, r, f, p, t in
              thresholds[["method", "repeat", "fold", "operating_point", "threshold"]].itertuples(index=False)}
    out = []
    for dataset in ([data.internal] + list(data.externals)) if data.order else []:
        frame = scored_rows(data, dataset)
        if frame.empty:
            continue
        k = int(frame["fold"].max()) + 1
        methods = _methods(data, reference_scored(data, dataset))
        images, columns, matrix = score_table(frame.assign(repeat=frame["repeat"] * k + frame["fold"]), methods)
        models = frame[["method", "repeat", "fold"]].drop_duplicates()
        for subgroup, mask in _subsets(data, dataset, images).items():
            y = images["label"].to_numpy()[mask]
            weights = image_resamples(data, dataset, images, data.n_bootstrap, mask)
            per_model = _per_model(y, columns, matrix[mask], k, chosen, weights)
            for m in methods:
                mine = thresholds.merge(models[models["method"] == m], on=["method", "repeat", "fold"])
                for point in OPERATING_POINTS:
                    if (m, point) not in per_model:
                        continue
                    for metric, values in per_model[(m, point)].items():
                        out.append([dataset, subgroup, m, point, metric, float(values[0]),
                                    *percentile_interval(values[1:], CONFIDENCE)])
                    at = mine[mine["operating_point"] == point]
                    for metric in (THRESHOLD, VALIDATION_SENSITIVITY, VALIDATION_MALIGNANT):
                        value = float(at[metric].mean()) if at[metric].notna().any() else _NAN
                        out.append([dataset, subgroup, m, point, metric, value, _NAN, _NAN])
    data.cache["operating_points"] = pd.DataFrame(out, columns=OPERATING_POINT_COLUMNS)
    return data.cache["operating_points"]
