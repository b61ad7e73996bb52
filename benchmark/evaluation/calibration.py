"""Calibration of every ranked method (and the reference) on every data set of a run, raw and Platt-recalibrated.

Per data set, each **fold model** is a scorer of its own, as for the external per-model AUC: on
the training data set a fold model's test images, on an external set all its images. Each
model's Brier score, calibration intercept, calibration slope and adaptive ECE
(:mod:`benchmark.stats.calibration`) are averaged over a method's fold models and repeats (a
statistic a fold model cannot have, e.g. the slope of scores that separate the classes, is left
out of the mean): what one model of the method gives, consistent with the per-fold-model AUCs
the leaderboard ranks, rather than the pooled scores of five models (which also mixes the
models' scales). Beside the adaptive ECE, ``ece_adaptive_calibrated``: the ECE that a perfectly
calibrated model with the same scores shows on the same images (its mean and central 95% over
:data:`benchmark.stats.CALIBRATED_DRAWS` label sets drawn from the scores), the noise floor the
ECE has to clear before it says anything (the lower, the nearer the scores lie to 0 and 1; its size
on BUSI: docs/decisions/ece-interval.md).
Intervals: the same duplicate-group bootstrap as the AUC's
(:func:`benchmark.stats.cluster_bootstrap_weights`: groups resampled within folds on the training
data set when every repeat has one partition), ``data.n_bootstrap`` resamples (the profile's
``n_bootstrap``), seed :data:`benchmark.evaluation.draws.BOOTSTRAP_SEED`; each resample's
statistic is the mean over the fold models under its weights; the adaptive ECE's interval is the basic
(reverse-percentile) one, the others percentile intervals (:func:`_estimate`).

**Platt scaling** (``platt_*``), an option beside the raw scores that never replaces them: each
fold model's ``sigmoid(a + b logit(score))`` with ``(a, b)`` fitted on that fold's validation
images only (``validation_predictions.csv``, :mod:`benchmark.runfolder.validation`); the fitted
parameters stay fixed in the bootstrap (conditional on them, as the intervals are on the trained
models). Run folders written before the runner kept validation scores have none: those columns
are NaN and :func:`calibration_note` says why.

:func:`calibration_curves` gives the reliability diagram's points (scikit-learn's
``calibration_curve``, equal-mass bins) of every method's rows pooled over its fold models.
"""
from __future__ import annotations

import warnings
import zlib

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve

from benchmark.evaluation.draws import BOOTSTRAP_SEED, _fold_blocks, _methods, _rows
from benchmark.evaluation.run_data import CONFIDENCE, _NAN, RunData
from benchmark.runfolder import score_table
from benchmark.runfolder.validation import VALIDATION_PREDICTIONS_FILE, load_validation_predictions
from benchmark.stats import (CALIBRATED_DRAWS, CALIBRATION_METRICS, calibrated_ece_draws, calibration_metrics,
                             cluster_bootstrap_weights, percentile_interval, platt_apply, platt_fit)

__all__ = ["SCORES", "CURVE_COLUMNS", "CURVE_BINS", "CALIBRATED_ECE", "TABLE_METRICS", "calibration_table",
           "calibration_columns", "calibration_curves", "calibration_note"]

SCORES = {"raw": "the models' own scores", "platt": "Platt-scaled on each fold's validation images"}
CURVE_BINS = 10
CURVE_COLUMNS = ["dataset", "method", "scores", "bin", "mean_predicted", "fraction_malignant"]
TABLE_COLUMNS = ["dataset", "method", "scores", "metric", "value", "ci_low", "ci_high"]
CALIBRATED_ECE = "ece_adaptive_calibrated"  # the adaptive ECE a perfectly calibrated model with the same scores shows
TABLE_METRICS = CALIBRATION_METRICS + (CALIBRATED_ECE,)


def _reference(data: RunData, dataset: str) -> bool:
    return data.reference is not None and bool((data.reference["dataset"] == dataset).any())


def _platt_parameters(data: RunData) -> dict:
    """``(method, repeat, fold) -> (a, b)`` fitted on each study's validation scores (cached)."""
    if "platt" not in data.cache:
        rows, missing = load_validation_predictions(data.run_dir, data.runs[data.runs["method"].isin(data.order)])
        params = {}
        for (m, r, f), g in rows.groupby(["method", "repeat", "fold"]):
            try:
                params[(m, int(r), int(f))] = platt_fit(g["label"].to_numpy(), g["score"].to_numpy())
            except ValueError as exc:
                warnings.warn(f"{m} repeat {r} fold {f}: no Platt scaling ({exc})", stacklevel=2)
        data.cache["platt"] = params
        data.cache["platt_missing"] = missing
    return data.cache["platt"]


def scored_rows(data: RunData, dataset: str) -> pd.DataFrame:
    """The prediction rows of the ranked methods (and the reference) on ``dataset``, with ``platt``: the
    score recalibrated by its study's Platt parameters (NaN without them)."""
    frame = _rows(data, dataset, _reference(data, dataset))
    frame = frame[frame["method"].isin(_methods(data, _reference(data, dataset)))]
    params = _platt_parameters(data)
    platt = np.full(len(frame), np.nan)
    for (m, r, f), index in frame.groupby(["method", "repeat", "fold"]).indices.items():
        if (m, int(r), int(f)) in params:
            platt[index] = platt_apply(frame["score"].to_numpy()[index], *params[(m, int(r), int(f))])
    return frame.assign(platt=platt)


def _per_model(data: RunData, dataset: str, frame: pd.DataFrame, column: str, weights: np.ndarray) -> dict:
    """``method -> {metric: values}``: each fold model's statistics, mean over a method's models; for
    :data:`CALIBRATION_METRICS` the observed value then one per bootstrap resample, for :data:`CALIBRATED_ECE`
    the draws of :func:`benchmark.stats.calibrated_ece_draws` (seeded by the method's name and the model, so
    that a method's floor does not move when other methods join the run)."""
    k = int(frame["fold"].max()) + 1
    images, columns, matrix = score_table(frame.assign(repeat=frame["repeat"] * k + frame["fold"],
                                                       score=frame[column]), _methods(data, _reference(data, dataset)))
    y = images["label"].to_numpy()
    per_method: dict = {}
    for j, (m, model) in enumerate(columns):
        keep = np.isfinite(matrix[:, j])
        if not keep.any() or np.unique(y[keep]).size < 2:
            continue
        stats = calibration_metrics(y[keep], matrix[keep, j], weights[:, keep])
        seed = BOOTSTRAP_SEED + zlib.crc32(f"{m}/{model}".encode())  # the model's own: not its column's place
        stats[CALIBRATED_ECE] = calibrated_ece_draws(matrix[keep, j], CALIBRATED_DRAWS, seed=seed)
        for metric in TABLE_METRICS:
            per_method.setdefault(m, {}).setdefault(metric, []).append(stats[metric])
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample in which no model has the statistic: NaN
        for m, metrics in per_method.items():
            out[m] = {metric: np.nanmean(np.vstack(rows), axis=0) for metric, rows in metrics.items()}
    return out


def _estimate(metric: str, values: np.ndarray) -> tuple[float, float, float]:
    """(value, ci_low, ci_high) of one statistic from :func:`_per_model`'s values.

    The percentile interval of the bootstrap draws, except: the adaptive ECE gets the basic
    (reverse-percentile) interval ``[2v - q_hi, 2v - q_lo]``, its low end at least 0, because a
    resample's ECE is biased upwards as the ECE itself is; decided by simulation
    (why: docs/decisions/ece-interval.md). The basic interval is one for the ECE on unlimited images,
    so it can lie below the measured ECE. :data:`CALIBRATED_ECE`'s value is the mean of its draws and its
    interval their central 95%.
    """
    if metric == CALIBRATED_ECE:
        return (float(np.mean(values)), *percentile_interval(values, CONFIDENCE))
    lo, hi = percentile_interval(values[1:], CONFIDENCE) if len(values) > 1 else (_NAN, _NAN)
    if metric == "ece_adaptive" and np.isfinite(lo):
        lo, hi = max(0.0, 2 * values[0] - hi), 2 * values[0] - lo
    return float(values[0]), lo, hi


def calibration_table(data: RunData) -> pd.DataFrame:
    """Tidy: ``dataset, method, scores, metric, value, ci_low, ci_high`` for every data set, ranked method
    (and the reference), kind of scores (:data:`SCORES`) and statistic (cached on ``data``)."""
    if "calibration" in data.cache:
        return data.cache["calibration"]
    out = []
    for dataset in ([data.internal] + list(data.externals)) if data.order else []:
        frame = scored_rows(data, dataset)
        if frame.empty:
            continue
        images = frame.drop_duplicates("image_id").sort_values("image_id", kind="stable")  # score_table's order
        strata = _fold_blocks(data, _reference(data, dataset), [])[1] if dataset == data.internal else None
        draws = cluster_bootstrap_weights(images["label"].to_numpy(), images["group"].to_numpy(), data.n_bootstrap,
                                          seed=BOOTSTRAP_SEED, strata=strata)
        weights = np.vstack([np.ones(len(images)), draws])  # row 0: the observed statistic
        for scores in SCORES:
            for m, metrics in _per_model(data, dataset, frame, "score" if scores == "raw" else "platt",
                                         weights).items():
                for metric, values in metrics.items():
                    out.append([dataset, m, scores, metric, *_estimate(metric, values)])
    data.cache["calibration"] = pd.DataFrame(out, columns=TABLE_COLUMNS)
    return data.cache["calibration"]


def calibration_columns(table: pd.DataFrame, data: RunData) -> None:
    """Add the calibration columns to the leaderboard ``table`` (in place), NaN where a method has none.

    Training data set: ``brier``, ``calibration_intercept``, ``calibration_slope``, ``ece_adaptive``,
    ``ece_adaptive_calibrated`` (:data:`CALIBRATED_ECE`), then the same with the prefix ``platt_``;
    each with ``_ci_low`` and ``_ci_high``. Each external
    data set NAME: the same with the prefix ``external_NAME_``.
    """
    cal = calibration_table(data)
    for dataset in [data.internal] + list(data.externals):
        prefix = "" if dataset == data.internal else f"external_{dataset}_"
        for scores in SCORES:
            for metric in TABLE_METRICS:
                name = prefix + ("" if scores == "raw" else "platt_") + metric
                part = cal[(cal["dataset"] == dataset) & (cal["scores"] == scores) & (cal["metric"] == metric)]
                part = part.set_index("method")
                for suffix, col in (("", "value"), ("_ci_low", "ci_low"), ("_ci_high", "ci_high")):
                    table[name + suffix] = table["method"].map(part[col]).astype(float)


def calibration_curves(data: RunData, n_bins: int = CURVE_BINS) -> pd.DataFrame:
    """The reliability diagram of every data set, method and kind of scores (:data:`CURVE_COLUMNS`): scikit-learn's
    ``calibration_curve(strategy="quantile")`` of the method's rows pooled over its fold models and repeats
    (``bin`` numbers the non-empty bins from 0)."""
    out = []
    for dataset in ([data.internal] + list(data.externals)) if data.order else []:
        frame = scored_rows(data, dataset)
        for scores, column in (("raw", "score"), ("platt", "platt")):
            for m in _methods(data, _reference(data, dataset)):
                rows = frame[(frame["method"] == m) & frame[column].notna()]
                if rows.empty or rows["label"].nunique() < 2:
                    continue
                observed, predicted = calibration_curve(rows["label"], rows[column], n_bins=n_bins, strategy="quantile")
                out += [[dataset, m, scores, i, p, o] for i, (p, o) in enumerate(zip(predicted, observed))]
    return pd.DataFrame(out, columns=CURVE_COLUMNS)


def calibration_note(data: RunData) -> str | None:
    """Why the Platt-scaled columns are empty or partial (None when every ranked study has validation scores)."""
    _platt_parameters(data)
    missing = data.cache.get("platt_missing") or []
    reference = " The reference keeps no validation scores, so it is not recalibrated." \
        if data.reference is not None else ""
    if not missing:
        return reference.strip() or None
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    return (f"No Platt scaling for {len(missing)} of {len(data.runs[data.runs['method'].isin(data.order)])} studies "
            f"({shown}): their folders have no {VALIDATION_PREDICTIONS_FILE} (run folders written before "
            "the runner kept validation scores have none); run the suite again into a new run folder to get it."
            + reference)
