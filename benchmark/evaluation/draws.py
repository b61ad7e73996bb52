"""The scores and bootstrap draws that every table of a run shares.

:func:`pooled_scores` lays out each (method, repeat)'s pooled out-of-fold scores side by side,
one row per image; :func:`bootstrap_draws` resamples duplicate groups once
(:func:`benchmark.stats.cluster_bootstrap_aucs`) and evaluates every ranked method on the same
resamples, so that the leaderboard's intervals and ranks, the paired differences and the
comparison with the reference all come from one set of draws; :func:`fold_aucs` gives the
per-fold AUCs. Results are cached on the :class:`benchmark.evaluation.RunData`, and
the seed is fixed (:data:`BOOTSTRAP_SEED`), so rebuilding gives identical numbers.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.evaluation.run_data import _NAN, RunData
from benchmark.runfolder import REFERENCE_METHOD, external_scores, score_table
from benchmark.stats import cluster_bootstrap_aucs, roc_auc

__all__ = ["Draws", "pooled_scores", "bootstrap_draws", "fold_aucs"]

BOOTSTRAP_SEED = 0


def _methods(data: RunData, reference: bool) -> list[str]:
    return data.order + ([REFERENCE_METHOD] if reference else [])


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
        if dataset == data.internal:
            frame = data.rows()
        else:
            frame = external_scores(data.predictions, dataset)
        if reference:
            frame = pd.concat([frame, data.reference[data.reference["dataset"] == dataset]], ignore_index=True)
        data.cache[key] = score_table(frame, _methods(data, reference))
    return data.cache[key]


@dataclass
class Draws:
    """Bootstrap AUCs of the ranked methods on one data set (see :func:`bootstrap_draws`)."""

    methods: list[str]
    observed: dict          # method -> AUC (mean over repeats of the pooled AUC)
    per_repeat: dict        # (method, repeat) -> pooled AUC
    draws: np.ndarray       # (B, len(methods)), same resamples for every method
    n_images: int
    n_groups: int


def bootstrap_draws(data: RunData, dataset: str | None = None, image_level: bool = False,
                    reference: bool = False) -> Draws:
    """Paired bootstrap of every ranked method's pooled AUC (mean over repeats) on one data set.

    Resamples duplicate groups (:func:`benchmark.stats.cluster_bootstrap_aucs`; with
    ``image_level=True`` every image is its own group, the naive image bootstrap, for
    comparison). One set of ``data.paired_resamples()`` group draws serves every method and
    every repeat: in each resample a method's statistic is the mean over its repeats of the
    AUC of its pooled scores under the resample's weights. With ``reference`` the reference
    (:data:`REFERENCE_METHOD`) is drawn too, as the last method. Cached on ``data``.
    """
    dataset = dataset or data.internal
    key = ("draws", dataset, image_level, reference)
    if key in data.cache:
        return data.cache[key]
    methods = _methods(data, reference)
    images, columns, matrix = pooled_scores(data, dataset, reference)
    y = images["label"].to_numpy()
    groups = np.arange(len(images)) if image_level else images["group"].to_numpy()
    per_repeat = {}
    for j, col in enumerate(columns):
        s = matrix[:, j]
        keep = np.isfinite(s)
        per_repeat[col] = roc_auc(y[keep], s[keep]) if len(np.unique(y[keep])) == 2 else _NAN
    scores = {col: matrix[:, j] for j, col in enumerate(columns)}
    raw = cluster_bootstrap_aucs(y, scores, groups, data.paired_resamples(), seed=BOOTSTRAP_SEED,
                                 allow_missing=bool(np.isnan(matrix).any())) if columns else np.empty((0, 0))
    draws = np.empty((raw.shape[0], len(methods)))
    observed = {}
    for k, m in enumerate(methods):
        cols = [j for j, c in enumerate(columns) if c[0] == m]
        if not cols:  # not scored on this data set: no statistic, no comparison
            observed[m], draws[:, k] = _NAN, _NAN
            continue
        observed[m] = float(np.mean([per_repeat[columns[j]] for j in cols]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN resamples stay NaN
            draws[:, k] = np.nanmean(raw[:, cols], axis=1)
    result = Draws(methods, observed, per_repeat, draws, len(images), int(images["group"].nunique()))
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
