"""How much a leaderboard moves between repeats, and how many repeats its ranks need.

A repeat draws a new partition, new training seeds and new sampler seeds, so the spread of a
method's fold-stratified AUC over repeats is what a rerun of the whole protocol varies.

* :func:`repeat_aucs`: each ranked method's fold-stratified AUC in each repeat, and its rank there;
* :func:`repeat_spread`: per method, the mean over repeats (the leaderboard's ``auc``), the
  standard deviation over repeats (ddof 1), the standard error of the mean (SD / sqrt(r)), the
  range, and the range of its per-repeat ranks;
* :func:`rank_stability`: for every number of repeats r, the ranking by the mean over each subset
  of r repeats against the ranking by all of them: mean Kendall tau, mean number of methods on
  another rank, the largest move of a method's rank, and the largest shift of a method's mean.
  Ranks have stopped moving at the r where no method changes rank; with many close methods the
  largest rank move (1: only neighbours swap) is the more useful reading;
* :func:`repeats_needed`: the profile's rule, ``ceil((median SD / median neighbour gap)^2)``: the
  repeats after which a method's mean over repeats moves by less than the median distance between
  neighbouring methods (one standard error).
"""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from benchmark.evaluation.run_data import RunData, fold_stratified_aucs, load_run

__all__ = ["REPEAT_SPREAD_FILE", "RANK_STABILITY_FILE", "repeat_aucs", "repeat_spread", "rank_stability",
           "neighbour_gap", "repeats_needed"]

REPEAT_SPREAD_FILE = "repeat_spread.csv"
RANK_STABILITY_FILE = "rank_stability.csv"


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


def rank_stability(data) -> pd.DataFrame:
    """``n_repeats, n_subsets, kendall_tau, rank_changes, max_rank_move, max_shift``: for r = 1 .. R repeats,
    over every subset of r repeats, the mean Kendall tau between the ranking by the subset's mean AUC and the
    ranking by all R, the mean number of methods whose rank differs, the largest |rank difference| of any
    method in any subset, and the largest |subset mean - mean over all| of any method. Needs methods scored
    in every repeat (a ranked method is)."""
    per = repeat_aucs(data)
    wide = per.pivot(index="method", columns="repeat", values="auc")
    repeats = list(wide.columns)
    full = wide.mean(axis=1)
    full_rank = _ranks(full)
    rows = []
    for r in range(1, len(repeats) + 1):
        taus, changes, move, shift = [], [], 0, 0.0
        for subset in combinations(repeats, r):
            mean = wide[list(subset)].mean(axis=1)
            rank = _ranks(mean)
            taus.append(kendalltau(mean, full).statistic if len(full) > 1 else 1.0)
            changes.append(int((rank != full_rank).sum()))
            move = max(move, int((rank - full_rank).abs().max()))
            shift = max(shift, float((mean - full).abs().max()))
        rows.append({"n_repeats": r, "n_subsets": len(taus), "kendall_tau": float(np.mean(taus)),
                     "rank_changes": float(np.mean(changes)), "max_rank_move": move, "max_shift": shift})
    return pd.DataFrame(rows, columns=["n_repeats", "n_subsets", "kendall_tau", "rank_changes", "max_rank_move",
                                       "max_shift"])


def neighbour_gap(spread: pd.DataFrame) -> float:
    """The median distance between the mean AUCs of methods next to each other in the ranking."""
    means = np.sort(spread["auc_mean"].to_numpy(dtype=float))[::-1]
    return float(np.median(-np.diff(means))) if len(means) > 1 else float("nan")


def repeats_needed(spread: pd.DataFrame) -> int | None:
    """``ceil((median SD over repeats / median gap between neighbouring means)^2)``: the repeats after which
    the standard error of a method's mean is at most the median distance to its neighbour. None with fewer
    than two repeats or two methods, or when neighbouring means coincide."""
    sd = spread["auc_sd"].dropna()
    if sd.empty or len(spread) < 2:
        return None
    gap = neighbour_gap(spread)
    if gap <= 0:
        return None
    return max(1, math.ceil((float(sd.median()) / gap) ** 2))
