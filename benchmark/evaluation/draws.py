"""The scores and bootstrap draws that every table of a run shares.

:func:`pooled_scores` lays out each (method, repeat)'s pooled out-of-fold scores side by side,
one row per image; :func:`bootstrap_draws` resamples duplicate groups once
(:func:`benchmark.stats.cluster_bootstrap_aucs`) and evaluates every ranked method on the same
resamples, so that the leaderboard's intervals and ranks, the paired differences and the
comparison with the reference all come from one set of draws. Its statistics
(:data:`STATISTICS`): on the training data set the **fold-stratified AUC** (the primary one:
only malignant-benign pairs scored by one fold model, :func:`benchmark.stats.stratified_auc`)
and the pooled out-of-fold AUC; on an external data set the **per-model AUC** (the mean over
the fold models of each model's own AUC) and the AUC of the fold models' mean score (the
ensemble). :func:`fold_aucs` gives the per-fold AUCs. Results are cached on the
:class:`benchmark.evaluation.RunData`, and the seed is fixed (:data:`BOOTSTRAP_SEED`), so
rebuilding gives identical numbers.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.evaluation.run_data import _NAN, RunData
from benchmark.runfolder import REFERENCE_METHOD, external_scores, score_table
from benchmark.stats import cluster_bootstrap_aucs, cluster_bootstrap_weights, roc_auc, stratified_auc

__all__ = ["STATISTICS", "Draws", "pooled_scores", "bootstrap_draws", "fold_aucs", "reference_scored", "image_resamples"]

BOOTSTRAP_SEED = 0
# statistic -> what it is; the first of each data set's kind is its default
STATISTICS = {
    "fold_stratified": "training data set: AUC over the pairs within one fold model's test images, mean over repeats",
    "pooled": "training data set: AUC of a repeat's pooled out-of-fold scores, mean over repeats",
    "per_model": "external data set: each fold model's own AUC, mean over the fold models and repeats",
    "ensemble": "external data set: AUC of the mean of a repeat's fold models' scores, mean over repeats",
}


def _methods(data: RunData, reference: bool) -> list[str]:
    return data.order + ([REFERENCE_METHOD] if reference else [])


def _rows(data: RunData, dataset: str, reference: bool) -> pd.DataFrame:
    """Prediction rows of ``dataset`` of the ranked methods (and the reference's, with ``reference``)."""
    frame = data.rows(dataset)
    if reference:
        frame = pd.concat([frame, data.reference[data.reference["dataset"] == dataset]], ignore_index=True)
    return frame


def pooled_scores(data: RunData, dataset: str | None = None, reference: bool = False):
    """``(images, columns, matrix)`` of :func:`benchmark.runfolder.score_table` for the ranked methods
    (and, with ``reference``, the reference last).

    For the training data set: the out-of-fold scores of each (method, repeat). For an
    external data set: :func:`benchmark.runfolder.external_scores` (the mean of a repeat's
    fold models per image).
    """
    dataset = dataset or data.internal
    key = ("scores", dataset, reference)
    if key not in data.cache:
        frame = _rows(data, dataset, reference)
        if dataset != data.internal:
            frame = external_scores(frame, dataset) if len(frame) else frame
        data.cache[key] = score_table(frame, _methods(data, reference))
    return data.cache[key]


def _model_scores(data: RunData, dataset: str, reference: bool):
    """``(images, columns, matrix)`` with one column per fold model: ``(method, model)``, ``model`` =
    ``repeat * k + fold``."""
    frame = _rows(data, dataset, reference)
    k = int(frame["fold"].max()) + 1 if len(frame) else 1
    return score_table(frame.assign(repeat=frame["repeat"] * k + frame["fold"]), _methods(data, reference))


def _fold_blocks(data: RunData, reference: bool, columns) -> tuple[dict, np.ndarray | None]:
    """Per (method, repeat) column the fold of each image (-1: not scored), and the strata to resample
    within: the folds when every column has the same partition of the same images, else None."""
    frame = _rows(data, data.internal, reference)
    _, _, folds = score_table(frame.assign(score=frame["fold"].astype(float)), _methods(data, reference))
    folds = np.nan_to_num(folds, nan=-1.0).astype(int)
    blocks = {c: folds[:, j] for j, c in enumerate(columns)}
    same = folds.size and (folds >= 0).all() and (folds == folds[:, :1]).all()
    return blocks, (folds[:, 0] if same else None)


def reference_scored(data: RunData, dataset: str) -> bool:
    """Whether the logistic-regression reference scored ``dataset``."""
    return data.reference is not None and bool((data.reference["dataset"] == dataset).any())


def image_resamples(data: RunData, dataset: str, images: pd.DataFrame, n_draws: int, mask=None) -> np.ndarray:
    """``(1 + n_draws, n)`` weights of ``images`` (one row per image, ``label`` and ``group`` columns; ``mask``
    selects a subset): row 0 all ones (the observed statistic), then the duplicate-group bootstrap
    (:func:`benchmark.stats.cluster_bootstrap_weights`, seed :data:`BOOTSTRAP_SEED`), within folds on the
    training data set when every repeat has one partition."""
    strata = _fold_blocks(data, reference_scored(data, dataset), [])[1] if dataset == data.internal else None
    if mask is not None:
        images, strata = images[mask], None if strata is None else strata[mask]
    draws = cluster_bootstrap_weights(images["label"].to_numpy(), images["group"].to_numpy(), n_draws,
                                      seed=BOOTSTRAP_SEED, strata=strata)
    return np.vstack([np.ones(len(images)), draws])


@dataclass
class Draws:
    """Bootstrap AUCs of the ranked methods on one data set (see :func:`bootstrap_draws`)."""

    methods: list[str]
    observed: dict          # method -> the statistic (mean over its columns: repeats, or fold models)
    per_column: dict        # (method, repeat) or (method, model) -> the statistic of that column
    draws: np.ndarray       # (B, len(methods)), same resamples for every method
    n_images: int
    n_groups: int
    statistic: str = "fold_stratified"


def bootstrap_draws(data: RunData, dataset: str | None = None, image_level: bool = False,
                    reference: bool = False, statistic: str | None = None) -> Draws:
    """Paired bootstrap of every ranked method's statistic (:data:`STATISTICS`) on one data set.

    ``statistic`` defaults to ``"fold_stratified"`` on the training data set and
    ``"per_model"`` on an external one. Resamples duplicate groups
    (:func:`benchmark.stats.cluster_bootstrap_aucs`; with ``image_level=True`` every image is
    its own group, the naive image bootstrap, for comparison); for the fold-stratified AUC
    within folds when every repeat has one partition (a group never straddles folds), so
    every fold model's test set keeps its numbers of malignant and benign groups. One set of
    ``data.paired_resamples()`` group draws serves every method, every repeat and every fold
    model: in each resample a method's statistic is the mean over its columns (repeats, or fold
    models) of their AUCs under the resample's weights. With ``reference`` the reference
    (:data:`REFERENCE_METHOD`) is drawn too, as the last method. Cached on ``data``.
    """
    dataset = dataset or data.internal
    internal = dataset == data.internal
    statistic = statistic or ("fold_stratified" if internal else "per_model")
    if statistic not in STATISTICS or internal != (statistic in ("fold_stratified", "pooled")):
        raise ValueError(f"statistic {statistic!r} does not apply to the {'training' if internal else 'external'} "
                         f"data set {dataset!r}; choose one of {list(STATISTICS)}")
    key = ("draws", dataset, image_level, reference, statistic)
    if key in data.cache:
        return data.cache[key]
    methods = _methods(data, reference)
    images, columns, matrix = (_model_scores(data, dataset, reference) if statistic == "per_model"
                               else pooled_scores(data, dataset, reference))
    y = images["label"].to_numpy()
    groups = np.arange(len(images)) if image_level else images["group"].to_numpy()
    blocks, strata = _fold_blocks(data, reference, columns) if statistic == "fold_stratified" else ({}, None)
    per_column = {}
    for j, col in enumerate(columns):
        s = matrix[:, j]
        keep = np.isfinite(s)
        if len(np.unique(y[keep])) < 2:
            per_column[col] = _NAN
        elif statistic == "fold_stratified":
            per_column[col] = stratified_auc(y[keep], s[keep], blocks[col][keep])
        else:
            per_column[col] = roc_auc(y[keep], s[keep])
    scores = {col: matrix[:, j] for j, col in enumerate(columns)}
    raw = cluster_bootstrap_aucs(y, scores, groups, data.paired_resamples(), seed=BOOTSTRAP_SEED,
                                 allow_missing=bool(np.isnan(matrix).any()), blocks=blocks or None,
                                 strata=strata) if columns else np.empty((0, 0))
    draws = np.empty((raw.shape[0], len(methods)))
    observed = {}
    for k, m in enumerate(methods):
        cols = [j for j, c in enumerate(columns) if c[0] == m]
        if not cols:  # not scored on this data set: no statistic, no comparison
            observed[m], draws[:, k] = _NAN, _NAN
            continue
        observed[m] = float(np.mean([per_column[columns[j]] for j in cols]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN resamples stay NaN
            draws[:, k] = np.nanmean(raw[:, cols], axis=1)
    result = Draws(methods, observed, per_column, draws, len(images), int(images["group"].nunique()), statistic)
    data.cache[key] = result
    return result


def fold_aucs(data: RunData, reference: bool = False) -> pd.DataFrame:
    """AUC of every (method, repeat, fold) on its test fold: ``method, repeat, fold, auc, n_test``.

    NaN where a test fold holds one class only. ``reference``: those of the reference instead.
    """
    inner = data.rows() if not reference else data.reference[data.reference["dataset"] == data.internal]
    rows = []
    for (m, r, f), g in inner.groupby(["method", "repeat", "fold"], sort=True):
        auc = roc_auc(g["label"], g["score"]) if g["label"].nunique() == 2 else _NAN
        rows.append({"method": m, "repeat": int(r), "fold": int(f), "auc": auc, "n_test": len(g)})
    return pd.DataFrame(rows, columns=["method", "repeat", "fold", "auc", "n_test"])
