"""Which method at which budget: each ranked method's AUC against its cost, the Pareto front marked.

:func:`pareto_table` takes the leaderboard (its primary ``auc`` with the interval, and
``trainable_parameters``) and the runs' recorded training time, and marks, per cost, the methods
that no other method beats on both axes (:func:`pareto_front`): a method is dominated when
another has an AUC at least as high at a cost at most as high, and is strictly better in one of
the two. The front is drawn on the point estimates; the AUC intervals (in the table) say how
firm a difference along the front is.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.runfolder import REFERENCE_METHOD

__all__ = ["PARETO_COLUMNS", "COSTS", "pareto_front", "training_seconds", "pareto_table"]

COSTS = {  # cost -> what it is
    "trainable_parameters": "trainable parameters of the selected model (median over folds)",
    "training_seconds": "seconds to train the selected model (results.json training.train_seconds; else seconds "
                        "per epoch x epochs run), mean over folds",
}
PARETO_COLUMNS = ["method", "cost", "cost_value", "auc", "auc_ci_low", "auc_ci_high", "on_front"]


def pareto_front(auc, cost) -> np.ndarray:
    """Whether each point is on the Pareto front of higher ``auc`` and lower ``cost``.

    A point is off the front when another point has ``auc >=`` and ``cost <=`` with at least one
    strict; equal points are both on it. Points with a missing (NaN) value are never on it.
    """
    auc, cost = np.asarray(auc, dtype=float), np.asarray(cost, dtype=float)
    if auc.shape != cost.shape:
        raise ValueError(f"auc ({auc.shape}) and cost ({cost.shape}) must have the same shape")
    ok = np.isfinite(auc) & np.isfinite(cost)
    front = ok.copy()
    for i in np.flatnonzero(ok):
        others = ok & (auc >= auc[i]) & (cost <= cost[i]) & ((auc > auc[i]) | (cost < cost[i]))
        front[i] = not others.any()
    return front


def training_seconds(runs: pd.DataFrame) -> pd.Series:
    """Each method's training time of its selected model, mean over folds: ``train_seconds``, else
    ``seconds_per_epoch`` x ``epochs_run`` (runs of :func:`benchmark.runfolder.load_runs`)."""
    if runs is None or runs.empty:
        return pd.Series(dtype=float)
    seconds = pd.to_numeric(runs.get("train_seconds"), errors="coerce")
    fallback = pd.to_numeric(runs["seconds_per_epoch"], errors="coerce") * \
        pd.to_numeric(runs["epochs_run"], errors="coerce").astype(float)
    return seconds.fillna(fallback).groupby(runs["method"]).mean()


def pareto_table(lb: pd.DataFrame, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (ranked method, cost) of :data:`COSTS`: ``method, cost, cost_value, auc,
    auc_ci_low, auc_ci_high, on_front`` (:data:`PARETO_COLUMNS`), best AUC first within a cost.

    ``lb`` is the leaderboard (``leaderboard.csv``); only its ranked methods take part (not the
    reference, not the unranked). ``runs`` gives the training time; without it the time rows are
    NaN and off the front.
    """
    ranked = lb[lb["rank"].notna() & (lb["method"] != REFERENCE_METHOD)]
    ranked = ranked.sort_values(["auc", "method"], ascending=[False, True], kind="stable")
    values = {"trainable_parameters": pd.to_numeric(ranked["trainable_parameters"], errors="coerce").to_numpy(float),
              "training_seconds": training_seconds(runs).reindex(ranked["method"]).to_numpy(float)
              if runs is not None else np.full(len(ranked), np.nan)}
    frames = []
    for cost in COSTS:
        frames.append(pd.DataFrame({
            "method": ranked["method"].to_numpy(), "cost": cost, "cost_value": values[cost],
            "auc": ranked["auc"].to_numpy(float), "auc_ci_low": ranked["auc_ci_low"].to_numpy(float),
            "auc_ci_high": ranked["auc_ci_high"].to_numpy(float),
            "on_front": pareto_front(ranked["auc"].to_numpy(float), values[cost])}))
    return pd.concat(frames, ignore_index=True)[PARETO_COLUMNS]
