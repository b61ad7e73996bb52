"""Pairwise significance of the ranked methods: every pair, every test, Holm-corrected per family.

:data:`TESTS` lists the tests in reporting order. Which one is primary (column ``primary``,
:func:`primary_test`) depends on the data set and on the repeats:

* training data set, one repeat: the paired cluster bootstrap of the fold-stratified AUC on the
  leaderboard's draws (same resamples for every method, duplicate groups whole, within folds).
  It resamples test images only, with one trained model per fold: its verdicts are conditional
  on the trained models (column ``conditional``; ``petl-bench spread`` shows how far reruns move);
* training data set, more than one repeat (each a new partition, training and sampler seeds):
  the corrected repeated k-fold t-test over all r x k per-fold AUC differences (Nadeau & Bengio
  2003, as in Bouckaert & Frank 2004), which includes the run-to-run variance;
* an external data set: the paired cluster bootstrap of the per-model external AUC on its
  images (conditional on the trained models), a family of its own.

The others are reported for comparison: DeLong's test on pooled scores (assumes independent
images) and the paper's bootstrap Wilcoxon test (anti-conservative). Each row also says whether
its ``method_b`` is below the reference on that row's data set (:mod:`benchmark.evaluation.reference`).
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from benchmark.evaluation.draws import bootstrap_draws, fold_aucs, pooled_scores
from benchmark.evaluation.reference import reference_comparison
from benchmark.evaluation.run_data import _NAN, ALPHA, CONFIDENCE, RunData, load_run
from benchmark.stats import (
    bootstrap_wilcoxon_test,
    delong_test,
    holm_correction,
    nadeau_bengio_ttest,
    paired_differences,
    roc_auc,
)

__all__ = ["PRIMARY_TEST", "REPEATS_PRIMARY_TEST", "TESTS", "TEST_LABELS", "SIGNIFICANCE_COLUMNS", "primary_test",
           "significance", "nadeau_bengio_sizes"]

# Test names in significance tables, in reporting order.
TESTS = ("cluster_bootstrap", "delong", "nadeau_bengio", "bootstrap_wilcoxon")
PRIMARY_TEST = TESTS[0]                # with one repeat, and on every external data set
REPEATS_PRIMARY_TEST = "nadeau_bengio"  # on the training data set with more than one repeat
TEST_LABELS = {
    "cluster_bootstrap": "paired cluster bootstrap",
    "delong": "DeLong on pooled scores (assumes independent images)",
    "nadeau_bengio": "corrected repeated k-fold t-test over all folds (Nadeau & Bengio; Bouckaert & Frank)",
    "bootstrap_wilcoxon": "bootstrap Wilcoxon rank-sum (Byra 2021)",
}
SIGNIFICANCE_COLUMNS = ["dataset", "method_a", "method_b", "test", "repeat", "auc_a", "auc_b", "difference",
                        "statistic", "ci_low", "ci_high", "p", "p_holm", "significant", "b_below_reference",
                        "primary", "conditional"]


def primary_test(n_repeats: int, internal: bool = True) -> str:
    """The primary test of a data set: :data:`REPEATS_PRIMARY_TEST` on the training data set with more
    than one repeat (it includes the run-to-run variance), else :data:`PRIMARY_TEST`."""
    return REPEATS_PRIMARY_TEST if internal and n_repeats > 1 else PRIMARY_TEST


def _row(dataset, a, b, test, repeat, auc_a, auc_b, difference, statistic=_NAN, ci_low=_NAN, ci_high=_NAN, p=_NAN):
    return {"dataset": dataset, "method_a": a, "method_b": b, "test": test, "repeat": repeat, "auc_a": auc_a,
            "auc_b": auc_b, "difference": difference, "statistic": statistic, "ci_low": ci_low, "ci_high": ci_high,
            "p": p}


def nadeau_bengio_sizes(data: RunData) -> tuple[float, float, str]:
    """``(n_train, n_test, source)`` for :func:`benchmark.stats.nadeau_bengio_ttest`.

    ``n_test``: mean test images per fold (rows of ``predictions.csv``). ``n_train``: mean
    training images per fold as ``results.json`` records them (``dataset.split_sizes.train``),
    else approximated by the images outside the test fold, ``N - n_test`` (= (k-1)/k N for
    k folds; it counts the validation images as training images, which makes the correction a
    little smaller).
    """
    folds = fold_aucs(data)
    ranked = folds[folds["method"].isin(data.order)]
    n_test = float(ranked["n_test"].mean())
    recorded = data.runs.loc[data.runs["method"].isin(data.order), "n_train"].dropna()
    if len(recorded):
        return float(recorded.astype(float).mean()), n_test, "recorded training images per fold (results.json)"
    n = float(data.rows()["image_id"].nunique())
    return n - n_test, n_test, "approximated as the images outside the test fold, N - n_test = (k-1)/k N " \
                               "(validation images included)"


def significance(data, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Every unordered pair of ranked methods under every test, Holm-corrected per family.

    ``data`` is a :class:`benchmark.evaluation.RunData` or a run folder. ``method_a`` is the one ranked higher.
    Columns :data:`SIGNIFICANCE_COLUMNS`; ``dataset`` is the training data set, or an external
    one (paired comparisons on its images). Tests:

    * ``cluster_bootstrap``: paired bootstrap of duplicate groups of the difference of the
      leaderboard's statistic (:func:`benchmark.evaluation.bootstrap_draws`,
      :func:`benchmark.stats.paired_differences`): the fold-stratified AUC (mean over repeats) on
      the training data set, the per-model AUC on an external one; ``difference``, percentile
      ``ci_low``/``ci_high``, two-sided p; ``repeat`` empty;
    * ``delong``: DeLong's test on the pooled scores of each repeat (``repeat`` set;
      ``statistic`` = z; on an external data set the fold models' mean scores). It assumes
      independent images, which duplicates violate;
    * ``nadeau_bengio`` (training data set): corrected repeated k-fold t-test on the per-fold AUC
      differences over all repeats and folds (:func:`benchmark.stats.nadeau_bengio_ttest`: the
      variance of the mean difference is the sample variance times ``1/(r k) + n_test/n_train``,
      sizes from :func:`nadeau_bengio_sizes`); ``auc_a``/``auc_b`` mean per-fold AUCs,
      ``statistic`` = t; NaN p with fewer than two folds;
    * ``bootstrap_wilcoxon`` (training data set): the paper's test on each repeat's pooled
      scores, ``n_bootstrap`` resamples per method (anti-conservative; for comparability only).

    ``p_holm``: Holm (1979) adjusted p over all pairs of one (dataset, test, repeat) family;
    ``significant``: ``p_holm < 0.05``; ``b_below_reference``: ``method_b`` is significantly
    below the logistic-regression reference on that row's data set
    (:func:`benchmark.evaluation.reference_comparison`; False where the reference did not score
    it), so a win over it is no evidence for ``method_a``; ``primary``: the row belongs to its
    data set's primary test (:func:`primary_test`); ``conditional``: the test's p-value leaves
    out the run-to-run variance (every test with one repeat; all but ``nadeau_bengio`` with
    more). Rows of the training data set come first. Unranked methods appear in no row.
    """
    data = data if isinstance(data, RunData) else load_run(data)
    pairs = list(combinations(data.order, 2))
    rows = []
    for dataset in ([data.internal] + data.externals) if pairs else []:
        rows += _cluster_rows(data, dataset, pairs, confidence)
        rows += _per_repeat_rows(data, dataset, pairs)
        if dataset == data.internal:
            rows += _nadeau_bengio_rows(data, pairs)
    if not rows:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in SIGNIFICANCE_COLUMNS})
        frame["repeat"] = frame["repeat"].astype("Int64")
        return frame
    frame = pd.DataFrame(rows)
    frame["repeat"] = frame["repeat"].astype("Int64")
    for col in ("auc_a", "auc_b", "difference", "statistic", "ci_low", "ci_high", "p"):
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
    n_repeats = int(data.rows()["repeat"].nunique())
    frame["primary"] = [t == primary_test(n_repeats, d == data.internal) for d, t in zip(frame["dataset"], frame["test"])]
    frame["conditional"] = (frame["test"] != REPEATS_PRIMARY_TEST) | (n_repeats < 2)
    return frame[SIGNIFICANCE_COLUMNS].reset_index(drop=True)


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


def _nadeau_bengio_rows(data: RunData, pairs) -> list[dict]:
    folds = fold_aucs(data).set_index(["method", "repeat", "fold"])["auc"]
    n_train, n_test, _ = nadeau_bengio_sizes(data)
    rows = []
    for a, b in pairs:
        both = pd.concat([folds.loc[a], folds.loc[b]], axis=1, keys=["a", "b"], join="inner").dropna()
        res = nadeau_bengio_ttest((both["a"] - both["b"]).to_numpy(), n_train, n_test)
        rows.append(_row(data.internal, a, b, "nadeau_bengio", pd.NA, float(both["a"].mean()),
                         float(both["b"].mean()), res["mean_difference"], statistic=res["t"], p=res["p"]))
    return rows
