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

from benchmark.evaluation.draws import BOOTSTRAP_SEED, _methods, _rows, image_resamples, reference_scored
from benchmark.evaluation.run_data import CONFIDENCE, _NAN, RunData
from benchmark.runfolder import REFERENCE_METHOD, score_table
from benchmark.runfolder.validation import VALIDATION_PREDICTIONS_FILE, load_validation_predictions
from benchmark.stats import (CALIBRATED_DRAWS, CALIBRATION_METRICS, calibrated_ece_draws, calibration_metrics,
                             percentile_interval, platt_apply, platt_fit, prior_correct,
                             smooth_calibration, smooth_ece, weighting_shift)

__all__ = ["SCORES", "COLUMN", "PREFIX", "CURVE_COLUMNS", "CURVE_BINS", "SMOOTH_COLUMNS", "CALIBRATED_ECE",
           "TABLE_METRICS", "calibration_table", "calibration_columns", "calibration_curves", "smooth_calibration_curves",
           "calibration_note", "prior_shifts", "scored_rows"]

SCORES = {"raw": "the models' own scores",
          "prior_corrected": "the models' scores with the class-weighted loss's shift of the prior removed",
          "platt": "Platt-scaled on each fold's validation images"}
COLUMN = {"raw": "score", "prior_corrected": "prior_corrected", "platt": "platt"}  # scored_rows' column of each kind
PREFIX = {"raw": "", "prior_corrected": "corrected_", "platt": "platt_"}  # leaderboard columns of each kind
CURVE_BINS = 10
SMOOTH_DRAWS = 200  # resamples of the smoothed curve's band: its ends, not a test, so fewer than the AUC's
SMOOTH_COLUMNS = ["dataset", "method", "scores", "predicted", "observed", "ci_low", "ci_high", "density", "bandwidth",
                  "smooth_ece"]
CURVE_COLUMNS = ["dataset", "method", "scores", "bin", "mean_predicted", "fraction_malignant"]
TABLE_COLUMNS = ["dataset", "method", "scores", "metric", "value", "ci_low", "ci_high"]
CALIBRATED_ECE = "ece_adaptive_calibrated"  # the adaptive ECE a perfectly calibrated model with the same scores shows
TABLE_METRICS = CALIBRATION_METRICS + (CALIBRATED_ECE,)


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


def prior_shifts(data: RunData) -> dict:
    """``(method, repeat, fold) -> log(w_malignant / w_benign)`` of each ranked study's training
    (:func:`benchmark.stats.weighting_shift`), from its record as ``data.runs`` holds it: the training split's
    class counts and the loss's class weights (``"balanced"`` for records written before the setting existed,
    which all trained so). A study without the counts gets NaN. The reference's probe is not weighted: 0."""
    if "prior_shift" not in data.cache:
        shifts = {}
        for row in data.runs[data.runs["method"].isin(data.order)].itertuples():
            known = pd.notna(row.n_train) and pd.notna(row.n_train_malignant)
            shifts[(row.method, int(row.repeat), int(row.fold))] = weighting_shift(
                int(row.n_train) - int(row.n_train_malignant), int(row.n_train_malignant), row.class_weights) \
                if known else _NAN
        data.cache["prior_shift"] = shifts
    return data.cache["prior_shift"]


def scored_rows(data: RunData, dataset: str) -> pd.DataFrame:
    """The prediction rows of the ranked methods (and the reference) on ``dataset``, with ``platt``: the
    score recalibrated by its study's Platt parameters (NaN without them), and ``prior_corrected``: the
    score with its study's class-weighting shift removed (:func:`prior_shifts`)."""
    frame = _rows(data, dataset, reference_scored(data, dataset))
    frame = frame[frame["method"].isin(_methods(data, reference_scored(data, dataset)))].reset_index(drop=True)
    params, shifts = _platt_parameters(data), prior_shifts(data)
    platt, corrected = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
    for (m, r, f), index in frame.groupby(["method", "repeat", "fold"]).indices.items():
        key, scores = (m, int(r), int(f)), frame["score"].to_numpy()[index]
        if key in params:
            platt[index] = platt_apply(scores, *params[key])
        shift = 0.0 if m == REFERENCE_METHOD else shifts.get(key, _NAN)
        if np.isfinite(shift):
            corrected[index] = prior_correct(scores, shift)
    return frame.assign(platt=platt, prior_corrected=corrected)


def _per_model(data: RunData, dataset: str, frame: pd.DataFrame, column: str, weights: np.ndarray) -> dict:
    """``method -> {metric: values}``: each fold model's statistics, mean over a method's models; for
    :data:`CALIBRATION_METRICS` the observed value then one per bootstrap resample, for :data:`CALIBRATED_ECE`
    the draws of :func:`benchmark.stats.calibrated_ece_draws` (seeded by the method's name and the model, so
    that a method's floor does not move when other methods join the run)."""
    k = int(frame["fold"].max()) + 1
    images, columns, matrix = score_table(frame.assign(repeat=frame["repeat"] * k + frame["fold"],
                                                       score=frame[column]), _methods(data, reference_scored(data, dataset)))
    y, groups = images["label"].to_numpy(), images["group"].to_numpy()
    per_method: dict = {}
    for j, (m, model) in enumerate(columns):
        keep = np.isfinite(matrix[:, j])
        if not keep.any() or np.unique(y[keep]).size < 2:
            continue
        stats = calibration_metrics(y[keep], matrix[keep, j], weights[:, keep])
        seed = BOOTSTRAP_SEED + zlib.crc32(f"{m}/{model}".encode())  # the model's own: not its column's place
        stats[CALIBRATED_ECE] = calibrated_ece_draws(matrix[keep, j], CALIBRATED_DRAWS, seed=seed, groups=groups[keep])
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

    The percentile interval of the bootstrap draws, except for the adaptive ECE, which is reported
    without one: no bootstrap interval of it covers as it claims (the percentile and the basic interval
    covered 80-82% of the time in the suite's simulation, and 3% for a calibrated model, because the ECE
    is not smooth at 0 and its bias depends on its true value: docs/decisions/ece-interval.md). It stays
    a descriptive number beside its noise floor; the intercept, slope and observed/expected ratio carry
    the inference. :data:`CALIBRATED_ECE`'s value is the mean of its draws and its interval their
    central 95%.
    """
    if metric == CALIBRATED_ECE:
        return (float(np.mean(values)), *percentile_interval(values, CONFIDENCE))
    if metric == "ece_adaptive":
        return float(values[0]), _NAN, _NAN
    lo, hi = percentile_interval(values[1:], CONFIDENCE) if len(values) > 1 else (_NAN, _NAN)
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
        weights = image_resamples(data, dataset, images, data.n_bootstrap)
        for scores in SCORES:
            for m, metrics in _per_model(data, dataset, frame, COLUMN[scores], weights).items():
                for metric, values in metrics.items():
                    out.append([dataset, m, scores, metric, *_estimate(metric, values)])
    data.cache["calibration"] = pd.DataFrame(out, columns=TABLE_COLUMNS)
    return data.cache["calibration"]


def calibration_columns(table: pd.DataFrame, data: RunData) -> pd.DataFrame:
    """The calibration columns of the leaderboard ``table``, aligned with its rows, NaN where a method has none.

    Training data set: ``brier``, ``calibration_intercept``, ``calibration_slope``, ``ece_adaptive``,
    ``ece_adaptive_calibrated`` (:data:`CALIBRATED_ECE`), then the same with the prefix ``platt_``;
    each with ``_ci_low`` and ``_ci_high``. Each external
    data set NAME: the same with the prefix ``external_NAME_``.
    """
    cal = calibration_table(data)
    columns = {}
    for dataset in [data.internal] + list(data.externals):
        prefix = "" if dataset == data.internal else f"external_{dataset}_"
        for scores in SCORES:
            for metric in TABLE_METRICS:
                name = prefix + PREFIX[scores] + metric
                part = cal[(cal["dataset"] == dataset) & (cal["scores"] == scores) & (cal["metric"] == metric)]
                part = part.set_index("method")
                for suffix, col in (("", "value"), ("_ci_low", "ci_low"), ("_ci_high", "ci_high")):
                    columns[name + suffix] = table["method"].map(part[col]).astype(float)
    return pd.DataFrame(columns, index=table.index)


def calibration_curves(data: RunData, n_bins: int = CURVE_BINS) -> pd.DataFrame:
    """The reliability diagram of every data set, method and kind of scores (:data:`CURVE_COLUMNS`): scikit-learn's
    ``calibration_curve(strategy="quantile")`` of the method's rows pooled over its fold models and repeats
    (``bin`` numbers the non-empty bins from 0)."""
    out = []
    for dataset in ([data.internal] + list(data.externals)) if data.order else []:
        frame = scored_rows(data, dataset)
        for scores, column in COLUMN.items():
            for m in _methods(data, reference_scored(data, dataset)):
                rows = frame[(frame["method"] == m) & frame[column].notna()]
                if rows.empty or rows["label"].nunique() < 2:
                    continue
                observed, predicted = calibration_curve(rows["label"], rows[column], n_bins=n_bins, strategy="quantile")
                out += [[dataset, m, scores, i, p, o] for i, (p, o) in enumerate(zip(predicted, observed))]
    return pd.DataFrame(out, columns=CURVE_COLUMNS)


def smooth_calibration_curves(data: RunData, n_draws: int = SMOOTH_DRAWS) -> pd.DataFrame:
    """The smoothed calibration curve of every data set, method and kind of scores (:data:`SMOOTH_COLUMNS`):
    ``E[malignant | score]`` kernel-smoothed over the method's rows pooled as in :func:`calibration_curves`
    (:func:`benchmark.stats.smooth_calibration`, at the bandwidth of relplot's smooth ECE on those rows),
    on a grid of scores every 0.01 within the scores' range, with the density of the scores there and a
    95% band: the percentile interval over ``n_draws`` duplicate-group bootstrap resamples of the images
    (the bandwidth fixed). ``smooth_ece`` is the curve's smooth calibration error (descriptive)."""
    out = []
    for dataset in ([data.internal] + list(data.externals)) if data.order else []:
        frame = scored_rows(data, dataset)
        images = frame.drop_duplicates("image_id").sort_values("image_id", kind="stable")
        draws = image_resamples(data, dataset, images, n_draws)[1:]
        position = pd.Series(np.arange(len(images)), index=images["image_id"].to_numpy())
        for scores, column in COLUMN.items():
            for m in _methods(data, reference_scored(data, dataset)):
                rows = frame[(frame["method"] == m) & frame[column].notna()]
                if rows.empty or rows["label"].nunique() < 2:
                    continue
                y, s = rows["label"].to_numpy(), rows[column].to_numpy()
                smooth, width = smooth_ece(y, s)
                grid = np.arange(np.ceil(s.min() * 100), np.floor(s.max() * 100) + 1) / 100
                if grid.size == 0:
                    continue
                curve, density = smooth_calibration(y, s, grid, width)
                index = position[rows["image_id"].to_numpy()].to_numpy()
                band = np.vstack([smooth_calibration(y, s, grid, width, weights=w[index])[0] for w in draws])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # a grid point no resample reaches
                    lo, hi = np.nanpercentile(band, [2.5, 97.5], axis=0)
                out += [[dataset, m, scores, *row, width, smooth] for row in zip(grid, curve, lo, hi, density)]
    return pd.DataFrame(out, columns=SMOOTH_COLUMNS)


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
