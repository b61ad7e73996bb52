"""The method-level comparison of two methods: what a rerun of the whole protocol would vary.

Every fold model is a fresh training run (its own partition, training seeds and search draws),
so the spread of two methods' per-fold-model AUC differences holds the run-to-run variance as well
as the test images'. :func:`method_level` turns r x k such differences into the corrected
repeated k-fold t-test (Nadeau & Bengio 2003; Bouckaert & Frank 2004;
:func:`benchmark.stats.nadeau_bengio_ttest`) with its interval, on the training data set or an
external one (where the shared external images' sampling variance is added), for any two ranked
methods or a method and the logistic-regression reference. :func:`nadeau_bengio_sizes` gives the
sizes whose ratio sets the correction.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.evaluation.draws import bootstrap_draws, fold_aucs
from benchmark.evaluation.run_data import CONFIDENCE, RunData
from benchmark.runfolder import REFERENCE_METHOD
from benchmark.stats import nadeau_bengio_ttest

__all__ = ["method_level", "nadeau_bengio_sizes", "probability_best"]


def nadeau_bengio_sizes(data: RunData) -> tuple[float, float, str]:
    """``(n_train, n_test, source)`` for :func:`benchmark.stats.nadeau_bengio_ttest`: the partition's
    own sizes, whose ratio ``n_test / n_train`` sets the correction.

    ``n_test``: mean test images per fold (rows of ``predictions.csv``). ``n_train``: mean
    training images per fold as ``results.json`` records them (``dataset.split_sizes.train``),
    else approximated by the images outside the test fold, ``N - n_test`` (= (k-1)/k N for
    k folds; it counts the validation images as training images, which makes the correction a
    little smaller). A data-efficiency run read at a smaller training-set size keeps the
    partition's ratio (the whole training part, ``n_images - n_test - n_val`` of the records):
    the correction stands for the overlap of the folds' training sets, and subsets of them
    overlap less, so the partition's ratio is the conservative one (the subset's own ratio,
    126/25 at 25 images, would inflate the variance five-fold for an overlap that is not there).
    """
    folds = fold_aucs(data)
    ranked = folds[folds["method"].isin(data.order)]
    n_test = float(ranked["n_test"].mean())
    runs = data.runs.loc[data.runs["method"].isin(data.order)]
    if data.train_size is not None and {"n_images", "n_test", "n_val"} <= set(runs.columns):
        whole = (runs["n_images"] - runs["n_test"] - runs["n_val"]).dropna()
        if len(whole):
            return float(whole.astype(float).mean()), n_test, \
                "the partition's whole training part per fold (run records), at every training-set size"
    recorded = runs["n_train"].dropna() if data.train_size is None and "n_train" in runs else pd.Series(dtype=float)
    if len(recorded):
        return float(recorded.astype(float).mean()), n_test, "recorded training images per fold (results.json)"
    n = float(data.rows()["image_id"].nunique())
    return n - n_test, n_test, "approximated as the images outside the test fold, N - n_test = (k-1)/k N " \
                               "(validation images included)"


def _per_model_aucs(data: RunData, dataset: str, methods) -> dict[str, pd.Series]:
    """Each method's AUC per fold model, indexed by (repeat, fold): on its test fold for the training
    data set, on all the external images for an external one (the reference included when named)."""
    with_reference = REFERENCE_METHOD in methods
    if dataset == data.internal:
        folds = fold_aucs(data)
        if with_reference:
            folds = pd.concat([folds, fold_aucs(data, reference=True)], ignore_index=True)
        return {m: g.set_index(["repeat", "fold"])["auc"] for m, g in folds.groupby("method") if m in methods}
    boot = bootstrap_draws(data, dataset, reference=with_reference, statistic="per_model")
    k = int(data.predictions["fold"].max()) + 1
    out = {}
    for m in methods:
        cols = {(int(model) // k, int(model) % k): auc for (name, model), auc in boot.per_column.items() if name == m}
        out[m] = pd.Series(cols, dtype=float).rename_axis(["repeat", "fold"])
    return out


def method_level(data: RunData, dataset: str, pairs, confidence: float = CONFIDENCE) -> dict:
    """The method-level comparison of each pair ``(a, b)`` on one data set: ``{(a, b): result}``.

    ``result`` is :func:`benchmark.stats.nadeau_bengio_ttest` of the per-fold-model AUC differences
    (a minus b, every repeat and fold where both have an AUC), with ``auc_a``/``auc_b`` (their mean
    per-fold AUCs) and ``n_models``; sizes from :func:`nadeau_bengio_sizes`. On an external data set
    the image-sampling variance of the mean difference (the variance over the duplicate-group
    bootstrap of the mean over fold models, :func:`benchmark.evaluation.bootstrap_draws`) is added as
    ``extra_variance``. Either side may be the reference (:data:`REFERENCE_METHOD`).
    """
    methods = sorted({m for pair in pairs for m in pair})
    per_model = _per_model_aucs(data, dataset, methods)
    n_train, n_test, _ = nadeau_bengio_sizes(data)
    boot = None
    if dataset != data.internal:
        boot = bootstrap_draws(data, dataset, reference=REFERENCE_METHOD in methods)
    out = {}
    for a, b in pairs:
        both = pd.concat([per_model[a], per_model[b]], axis=1, keys=["a", "b"], join="inner").dropna()
        extra = 0.0
        if boot is not None:
            diff = boot.draws[:, boot.methods.index(a)] - boot.draws[:, boot.methods.index(b)]
            diff = diff[np.isfinite(diff)]
            extra = float(np.var(diff, ddof=1)) if diff.size > 1 else 0.0
        res = nadeau_bengio_ttest((both["a"] - both["b"]).to_numpy(), n_train, n_test, confidence, extra)
        out[(a, b)] = {**res, "auc_a": float(both["a"].mean()), "auc_b": float(both["b"].mean()),
                       "n_models": len(both)}
    return out


def probability_best(data: RunData, methods, n_draws: int = 20_000, seed: int = 0) -> pd.Series:
    """Each method's posterior probability of the highest mean per-fold-model AUC on the training data set.

    The joint form of the correlated Bayesian t-test (Corani & Benavoli 2015): with the ``J`` fold models'
    AUCs of every method (rows where all have one), the posterior of the methods' means is multivariate
    Student t with ``J - 1`` degrees of freedom, location their means and scale matrix their sample
    covariance times ``1/J + n_test/n_train`` (the sizes of :func:`nadeau_bengio_sizes`). Draws use the
    centred fold rows (exact when the covariance is singular, as with more methods than fold models); a
    fixed ``seed`` makes the answer reproducible. Either side may include the reference
    (:data:`REFERENCE_METHOD`). Ties in a draw go to the method listed first.
    """
    methods = list(methods)
    per_model = _per_model_aucs(data, data.internal, methods)
    wide = pd.concat([per_model[m] for m in methods], axis=1, keys=methods).dropna()
    j = len(wide)
    if j < 2:
        return pd.Series(np.nan, index=methods)
    n_train, n_test, _ = nadeau_bengio_sizes(data)
    x = wide.to_numpy()
    centred = (x - x.mean(axis=0)) * np.sqrt((1.0 / j + n_test / n_train) / (j - 1))
    rng = np.random.default_rng(seed)
    normal = rng.standard_normal((n_draws, j)) @ centred
    draws = x.mean(axis=0) + normal / np.sqrt(rng.chisquare(j - 1, size=(n_draws, 1)) / (j - 1))
    wins = np.bincount(np.argmax(draws, axis=1), minlength=len(methods))
    return pd.Series(wins / n_draws, index=methods)
