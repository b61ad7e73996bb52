"""Pairwise significance of the ranked methods: every pair, every test, Holm-corrected per family.

:data:`TESTS` lists the tests in reporting order. The first, :data:`PRIMARY_TEST`, is the
**method-level** comparison, the same on every data set and in every profile, whatever the
number of repeats (column ``primary``): the corrected repeated k-fold t-test over all r x k
per-fold AUC differences (Nadeau & Bengio 2003, as in Bouckaert & Frank 2004), with its
confidence interval (:func:`method_level`). Each fold model is a fresh training run on its own
partition of the data, so the spread of the per-fold differences contains what a rerun varies
(partition, training seeds, search draws) as well as the test images; with one repeat it is
valid but weak (k - 1 degrees of freedom). On an external data set every fold model scores the
same images, so the spread over fold models leaves out the sampling of those images: their
variance, from the duplicate-group bootstrap of the mean over the fold models, is added
(Welch-Satterthwaite degrees of freedom).

The others are secondary, and conditional on the trained models (column ``conditional``): the
paired cluster bootstrap of the leaderboard's statistic ("model-level": these trained models,
these images resampled), DeLong's test on pooled scores (assumes independent images) and the
paper's bootstrap Wilcoxon test (anti-conservative). Each row also says whether its ``method_b``
is below the reference on that row's data set (:mod:`benchmark.evaluation.reference`).
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from benchmark.evaluation.draws import bootstrap_draws, pooled_scores
from benchmark.evaluation.method_level import method_level
from benchmark.evaluation.plan import load_plan
from benchmark.evaluation.reference import reference_comparison
from benchmark.evaluation.run_data import _NAN, ALPHA, CONFIDENCE, RunData, load_run
from benchmark.stats import (
    bootstrap_wilcoxon_test,
    delong_test,
    holm_correction,
    paired_differences,
    posterior_probabilities,
    roc_auc,
)

__all__ = ["PRIMARY_TEST", "MODEL_LEVEL_TEST", "TESTS", "TEST_LABELS", "SIGNIFICANCE_COLUMNS", "significance"]

# Test names in significance tables, in reporting order.
TESTS = ("nadeau_bengio", "cluster_bootstrap", "delong", "bootstrap_wilcoxon")
PRIMARY_TEST = TESTS[0]       # method-level: every data set, every profile
MODEL_LEVEL_TEST = TESTS[1]   # the secondary, model-level comparison: these trained models, resampled images
TEST_LABELS = {
    "cluster_bootstrap": "paired cluster bootstrap (model-level: these trained models)",
    "delong": "DeLong on pooled scores (assumes independent images)",
    "nadeau_bengio": "corrected repeated k-fold t-test over all fold models (method-level; Nadeau & Bengio)",
    "bootstrap_wilcoxon": "bootstrap Wilcoxon rank-sum (Byra 2021)",
}
SIGNIFICANCE_COLUMNS = ["dataset", "method_a", "method_b", "test", "repeat", "auc_a", "auc_b", "difference",
                        "statistic", "se", "df", "ci_low", "ci_high", "p", "p_holm", "significant",
                        "b_below_reference", "primary", "conditional", "prob_a_better", "prob_equivalent",
                        "prob_b_better"]


def _row(dataset, a, b, test, repeat, auc_a, auc_b, difference, statistic=_NAN, ci_low=_NAN, ci_high=_NAN, p=_NAN,
         se=_NAN, df=_NAN):
    return {"dataset": dataset, "method_a": a, "method_b": b, "test": test, "repeat": repeat, "auc_a": auc_a,
            "auc_b": auc_b, "difference": difference, "statistic": statistic, "se": se, "df": df, "ci_low": ci_low,
            "ci_high": ci_high, "p": p}


def significance(data, confidence: float = CONFIDENCE, tests=TESTS) -> pd.DataFrame:
    """Every unordered pair of ranked methods under every test, Holm-corrected per family.

    ``data`` is a :class:`benchmark.evaluation.RunData` or a run folder. ``method_a`` is the one ranked higher.
    Columns :data:`SIGNIFICANCE_COLUMNS`; ``dataset`` is the training data set, or an external
    one (paired comparisons on its images). Tests:

    * ``nadeau_bengio`` (primary, every data set): :func:`method_level`, the corrected repeated
      k-fold t-test on the per-fold-model AUC differences over all repeats and folds (the variance of
      the mean difference is the sample variance times ``1/(r k) + n_test/n_train``; on an external
      data set plus the image-sampling variance); ``auc_a``/``auc_b`` mean per-fold AUCs,
      ``statistic`` = t, ``se`` its standard error, ``df`` its degrees of freedom, ``ci_low``/``ci_high``
      the t interval; NaN p with fewer than two fold models;
    * ``cluster_bootstrap``: paired bootstrap of duplicate groups of the difference of the
      leaderboard's statistic (:func:`benchmark.evaluation.bootstrap_draws`,
      :func:`benchmark.stats.paired_differences`): the fold-stratified AUC (mean over repeats) on
      the training data set, the per-model AUC on an external one; ``difference``, percentile
      ``ci_low``/``ci_high``, two-sided p; ``repeat`` empty;
    * ``delong``: DeLong's test on the pooled scores of each repeat (``repeat`` set;
      ``statistic`` = z; on an external data set the fold models' mean scores). It assumes
      independent images, which duplicates violate;
    * ``bootstrap_wilcoxon`` (training data set): the paper's test on each repeat's pooled
      scores, ``n_bootstrap`` resamples per method (anti-conservative; for comparability only).

    ``p_holm``: Holm (1979) adjusted p over all pairs of one (dataset, test, repeat) family;
    ``significant``: ``p_holm < 0.05``; ``b_below_reference``: ``method_b`` is significantly
    below the logistic-regression reference on that row's data set under the primary test
    (:func:`benchmark.evaluation.reference_comparison`; False where the reference did not score
    it); ``primary``: the row is :data:`PRIMARY_TEST`'s; ``conditional``: the test leaves out the
    run-to-run variance (every test but the primary one); ``prob_a_better``/``prob_equivalent``/
    ``prob_b_better`` (method-level rows only): the correlated Bayesian t-test's posterior probabilities,
    with the analysis plan's margin as region of practical equivalence. Rows of the training data set
    come first. Unranked methods appear in no row. ``tests``: a subset of :data:`TESTS` to run (the budget
    curves' conclusions need the primary test only).
    """
    data = data if isinstance(data, RunData) else load_run(data)
    pairs = list(combinations(data.order, 2))
    rows = []
    for dataset in ([data.internal] + data.externals) if pairs else []:
        if PRIMARY_TEST in tests:
            rows += _method_level_rows(data, dataset, pairs, confidence)
        if MODEL_LEVEL_TEST in tests:
            rows += _cluster_rows(data, dataset, pairs, confidence)
        if {"delong", "bootstrap_wilcoxon"} & set(tests):
            rows += [r for r in _per_repeat_rows(data, dataset, pairs) if r["test"] in tests]
    if not rows:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in SIGNIFICANCE_COLUMNS})
        frame["repeat"] = frame["repeat"].astype("Int64")
        return frame
    frame = pd.DataFrame(rows)
    frame["repeat"] = frame["repeat"].astype("Int64")
    for col in ("auc_a", "auc_b", "difference", "statistic", "se", "df", "ci_low", "ci_high", "p"):
        frame[col] = frame[col].astype(float)
    frame["p_holm"] = np.nan
    for _, idx in frame.groupby(["dataset", "test", "repeat"], dropna=False, sort=False).groups.items():
        frame.loc[idx, "p_holm"] = holm_correction(frame.loc[idx, "p"].to_numpy(dtype=float))
    frame["significant"] = (frame["p_holm"] < ALPHA).fillna(False).astype(bool)
    datasets = {d: i for i, d in enumerate([data.internal] + data.externals)}
    frame["_d"] = frame["dataset"].map(datasets)
    frame["_t"] = frame["test"].map({t: i for i, t in enumerate(TESTS)})
    frame["_r"] = frame["repeat"].fillna(-1).astype(int)
    frame = frame.sort_values(["_d", "_t", "_r"], kind="stable")
    below = {(d, m) for d in datasets for m in reference_comparison(data, d).query("below")["method"]}
    frame["b_below_reference"] = [(d, b) in below for d, b in zip(frame["dataset"], frame["method_b"])]
    frame["primary"] = frame["test"] == PRIMARY_TEST
    frame["conditional"] = frame["test"] != PRIMARY_TEST
    _add_posterior(frame, load_plan().margin)
    return frame[SIGNIFICANCE_COLUMNS].reset_index(drop=True)


def _add_posterior(frame: pd.DataFrame, rope: float) -> None:
    """The correlated Bayesian t-test's probabilities on the method-level rows (the posterior t with the row's
    difference, standard error and degrees of freedom; region of practical equivalence +-``rope``)."""
    for col in ("prob_a_better", "prob_equivalent", "prob_b_better"):
        frame[col] = np.nan
    for i in frame.index[(frame["test"] == PRIMARY_TEST) & frame["se"].notna()]:
        r = frame.loc[i]
        probs = posterior_probabilities(r["difference"], r["se"], r["df"], rope)
        frame.loc[i, ["prob_a_better", "prob_equivalent", "prob_b_better"]] = \
            [probs["p_a_better"], probs["p_equivalent"], probs["p_b_better"]]


def _method_level_rows(data: RunData, dataset: str, pairs, confidence: float) -> list[dict]:
    res = method_level(data, dataset, pairs, confidence)
    return [_row(dataset, a, b, PRIMARY_TEST, pd.NA, r["auc_a"], r["auc_b"], r["mean_difference"],
                 statistic=r["t"], ci_low=r["ci_low"], ci_high=r["ci_high"], p=r["p"], se=r["se"], df=r["df"])
            for (a, b), r in res.items()]


def _cluster_rows(data: RunData, dataset: str, pairs, confidence: float) -> list[dict]:
    boot = bootstrap_draws(data, dataset)
    res = paired_differences(boot.observed, boot.draws, boot.methods, pairs, confidence)
    return [_row(dataset, a, b, "cluster_bootstrap", pd.NA, boot.observed[a], boot.observed[b], r["difference"],
                 ci_low=r["ci_low"], ci_high=r["ci_high"], p=r["p"]) for (a, b), r in res.items()]


def _per_repeat_rows(data: RunData, dataset: str, pairs) -> list[dict]:
    images, columns, matrix = pooled_scores(data, dataset)
    y = images["label"].to_numpy()
    col = {c: j for j, c in enumerate(columns)}
    rows = []
    for repeat in sorted({r for _, r in columns}):
        for a, b in pairs:
            if (a, repeat) not in col or (b, repeat) not in col:
                continue
            sa, sb = matrix[:, col[(a, repeat)]], matrix[:, col[(b, repeat)]]
            keep = np.isfinite(sa) & np.isfinite(sb)
            ya, sa, sb = y[keep], sa[keep], sb[keep]
            if len(np.unique(ya)) < 2:
                continue
            auc_a, auc_b = roc_auc(ya, sa), roc_auc(ya, sb)
            try:
                z, p = delong_test(ya, sa, sb)
            except ValueError:  # fewer than two images of a class
                z, p = _NAN, _NAN
            rows.append(_row(dataset, a, b, "delong", repeat, auc_a, auc_b, auc_a - auc_b, statistic=z, p=p))
            if dataset == data.internal:
                u, p = bootstrap_wilcoxon_test(ya, sa, sb, n_bootstrap=data.n_bootstrap, seed=repeat)
                rows.append(_row(dataset, a, b, "bootstrap_wilcoxon", repeat, auc_a, auc_b, auc_a - auc_b,
                                 statistic=u, p=p))
    return rows
