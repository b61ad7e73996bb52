"""How much a leaderboard moves between repeats, and how many repeats its neighbours need.

A repeat draws a new partition, new training seeds and new sampler seeds, so the spread of a
method's fold-stratified AUC over repeats is what a rerun of the whole protocol varies.

* :func:`repeat_aucs`: each ranked method's fold-stratified AUC in each repeat, and its rank there;
* :func:`repeat_spread`: per method, the mean over repeats (the leaderboard's ``auc``), the
  standard deviation over repeats (ddof 1), the standard error of the mean (SD / sqrt(r)), the
  range, and the range of its per-repeat ranks;
* :func:`rank_stability`: how well two independent reruns of r repeats each agree. For r = 1 ..
  floor(R/2), over pairs of disjoint sets of r of the R repeats, the two rankings by the sets' mean
  AUCs are compared: mean Kendall tau, mean number of methods on another rank, and the largest move
  of a method's rank. The halves share no repeat, so neither ranking contains the other (comparing
  a subset with the mean of all R, which contains it, gives tau 1 at r = R by construction);
* :func:`repeats_needed`: the fewest repeats with which the corrected repeated k-fold t-test
  detects, with 80% power at 5% two-sided for one pair, a difference equal to the median gap
  between neighbouring methods, given the median SD of paired per-fold-model AUC differences
  (:func:`benchmark.evaluation.detectable.detectable_differences`, :func:`benchmark.stats.repeats_needed`);
  None when no number of repeats does: the test's variance has a floor that repeats do not lower.
"""
from __future__ import annotations

from itertools import combinations, islice

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from benchmark.evaluation.detectable import detectable_differences
from benchmark.evaluation.run_data import RunData, fold_stratified_aucs, load_run
from benchmark.stats import repeats_needed as _power_repeats_needed

__all__ = ["ALPHA", "MAX_PAIRS", "POWER", "RANK_STABILITY_COLUMNS", 
           "disjoint_pairs", "rank_stability", "repeat_aucs", "repeat_spread", "repeats_needed"]

RANK_STABILITY_COLUMNS = ["repeats_per_half", "n_pairs", "kendall_tau", "rank_changes", "max_rank_move"]
ALPHA, POWER = 0.05, 0.8  # two-sided level and power of the repeats-needed answer
MAX_PAIRS = 1000  # pairs of disjoint halves compared per r at most (all of them for R <= 9)


def _ranks(means: pd.Series) -> pd.Series:
    """1 = best; ties share the better rank."""
    return means.rank(ascending=False, method="min").astype(int)


def repeat_aucs(data) -> pd.DataFrame:
    """``method, repeat, auc, rank``: the fold-stratified AUC of each ranked method in each repeat, and its
    rank among the ranked methods in that repeat (1 = best), in the leaderboard's method order."""
    data = data if isinstance(data, RunData) else load_run(data)
    rows = data.rows()
    aucs = fold_stratified_aucs(rows[rows["method"].isin(data.order)]).rename("auc").reset_index()
    aucs["repeat"] = aucs["repeat"].astype(int)
    aucs["rank"] = aucs.groupby("repeat")["auc"].transform(_ranks).astype(int)
    order = {m: i for i, m in enumerate(data.order)}
    return aucs.sort_values(["method", "repeat"], key=lambda s: s.map(order) if s.name == "method" else s,
                            kind="stable").reset_index(drop=True)[["method", "repeat", "auc", "rank"]]


def repeat_spread(data) -> pd.DataFrame:
    """Per ranked method: ``n_repeats, auc_mean, auc_sd, auc_se, auc_min, auc_max, rank_best, rank_worst``
    over repeats (SD and SE NaN with one repeat), in the leaderboard's order."""
    per = repeat_aucs(data)
    grouped = per.groupby("method", sort=False)
    out = pd.DataFrame({"n_repeats": grouped["auc"].size(), "auc_mean": grouped["auc"].mean(),
                        "auc_sd": grouped["auc"].std(ddof=1), "auc_min": grouped["auc"].min(),
                        "auc_max": grouped["auc"].max(), "rank_best": grouped["rank"].min(),
                        "rank_worst": grouped["rank"].max()})
    out.insert(3, "auc_se", out["auc_sd"] / np.sqrt(out["n_repeats"]))
    return out.reset_index()




def disjoint_pairs(repeats, r: int, max_pairs: int = MAX_PAIRS) -> list[tuple[tuple, tuple]]:
    """Unordered pairs ``(a, b)`` of disjoint sets of ``r`` repeats each, ``a < b`` as sorted tuples, in
    lexicographic order; the first ``max_pairs`` of them when there are more."""
    repeats = sorted(repeats)

    def pairs():
        for a in combinations(repeats, r):
            for b in combinations([x for x in repeats if x not in a], r):
                if a < b:
                    yield a, b

    return list(islice(pairs(), max_pairs))


def _agreement(wide: pd.DataFrame, a: tuple, b: tuple) -> tuple[float, int, int]:
    """Kendall tau between the rankings by the mean AUCs over repeats ``a`` and over ``b``, the number of
    methods whose rank differs, and the largest |rank difference|."""
    mean_a, mean_b = wide[list(a)].mean(axis=1), wide[list(b)].mean(axis=1)
    rank_a, rank_b = _ranks(mean_a), _ranks(mean_b)
    tau = float(kendalltau(mean_a, mean_b).statistic) if len(wide) > 1 else 1.0
    return tau, int((rank_a != rank_b).sum()), int((rank_a - rank_b).abs().max())


def rank_stability(data, max_pairs: int = MAX_PAIRS) -> pd.DataFrame:
    """How well two independent reruns of r repeats each rank the methods alike, for r = 1 .. floor(R/2).

    Columns :data:`RANK_STABILITY_COLUMNS`, one row per ``repeats_per_half`` (r): ``n_pairs`` the pairs of
    disjoint sets of r repeats compared (:func:`disjoint_pairs`: every pair, or the first ``max_pairs`` in
    lexicographic order); over them, ``kendall_tau`` the mean Kendall tau (tau-b) between the rankings by
    the two sets' mean AUCs, ``rank_changes`` the mean number of methods whose rank (1 = best, ties the
    better rank) differs between the two, and ``max_rank_move`` the largest |rank difference| of any method
    in any pair. No rows with one repeat. Needs methods scored in every repeat (a ranked method is)."""
    wide = repeat_aucs(data).pivot(index="method", columns="repeat", values="auc")
    rows = []
    for r in range(1, len(wide.columns) // 2 + 1):
        taus, changes, moves = zip(*(_agreement(wide, a, b) for a, b in disjoint_pairs(wide.columns, r, max_pairs)))
        rows.append({"repeats_per_half": r, "n_pairs": len(taus), "kendall_tau": float(np.mean(taus)),
                     "rank_changes": float(np.mean(changes)), "max_rank_move": max(moves)})
    return pd.DataFrame(rows, columns=RANK_STABILITY_COLUMNS)


def _detectable_row(source) -> pd.Series | None:
    """The one row of :func:`detectable_differences`, from a run (folder or :class:`RunData`), its frame (as
    read back from ``detectable.csv``) or the row itself; None when the frame is empty."""
    if isinstance(source, pd.Series):
        return source
    frame = source if isinstance(source, pd.DataFrame) else detectable_differences(source)
    return frame.iloc[0] if len(frame) else None


def repeats_needed(source, alpha: float = ALPHA, power: float = POWER, max_repeats: int = 100) -> int | None:
    """The fewest repeats (up to ``max_repeats``) of this design with which the corrected repeated k-fold t-test
    detects, with ``power`` at two-sided ``alpha`` for one pair, a true difference equal to ``neighbour_gap``
    (the median gap between neighbouring methods), given ``sd_paired`` (the median SD of paired
    per-fold-model AUC differences), ``n_folds`` and ``test_over_train``: :func:`benchmark.stats.repeats_needed`
    on the row of :func:`detectable_differences` (``source``: a run, that frame, or its row).

    None when no number of repeats reaches it (the gap lies below the test's limit,
    :func:`benchmark.stats.detectable_floor`, or needs more than ``max_repeats``), when neighbouring means
    coincide, or when the run has no such row (fewer than two ranked methods or fold models)."""
    d = _detectable_row(source)
    if d is None or not float(d["neighbour_gap"]) > 0:
        return None
    return _power_repeats_needed(float(d["neighbour_gap"]), float(d["sd_paired"]), int(d["n_folds"]),
                                 float(d["test_over_train"]), alpha=alpha, power=power, n_comparisons=1,
                                 max_repeats=max_repeats)
