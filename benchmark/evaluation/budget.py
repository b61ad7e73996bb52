"""The search budget each method was given: ``search_budget.csv``, one row per method.

A ranking compares methods at the budget the profile gave them; a reader must see whether that budget was
equal. From ``trials.csv`` (every trial of every study) and the run records: the studies, the trials run and
how they ended (completed, pruned, failed; the collapsed ones, which scored every image alike, among the
failed), the epochs trained over all trials, and the selected models' epochs and training time. The trials'
own training times are not recorded, so the time is the selected models' (summed over the folds).
"""
from __future__ import annotations

import pandas as pd

__all__ = ["BUDGET_COLUMNS", "search_budget", "budget_sentence"]

BUDGET_COLUMNS = ["method", "n_studies", "trials_run", "trials_completed", "trials_pruned", "trials_failed",
                  "trials_collapsed", "epochs_total", "epochs_selected", "selected_train_seconds"]


def search_budget(trials: pd.DataFrame, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per method of ``trials`` (``trials.csv``; ``runs``: :func:`benchmark.runfolder.load_runs`, for the
    selected models' epochs and training seconds), in the order methods first appear."""
    rows = []
    for method, part in trials.groupby("method", sort=False):
        state = part["state"].astype(str)
        failure = part["failure"].fillna("").astype(str)
        mine = runs[runs["method"] == method] if runs is not None and not runs.empty else pd.DataFrame()
        rows.append({
            "method": method,
            "n_studies": int(part[["repeat", "fold"]].drop_duplicates().shape[0]),
            "trials_run": int(len(part)),
            "trials_completed": int((state == "COMPLETE").sum()),
            "trials_pruned": int((state == "PRUNED").sum()),
            "trials_failed": int((state == "FAIL").sum()),
            "trials_collapsed": int(failure.str.startswith("collapsed").sum()),
            "epochs_total": int(pd.to_numeric(part["epochs"], errors="coerce").fillna(0).sum()),
            "epochs_selected": int(pd.to_numeric(mine.get("epochs_run"), errors="coerce").fillna(0).sum())
            if len(mine) else 0,
            "selected_train_seconds": float(pd.to_numeric(mine.get("train_seconds"), errors="coerce").sum())
            if len(mine) else float("nan"),
        })
    return pd.DataFrame(rows, columns=BUDGET_COLUMNS)


def budget_sentence(budget: pd.DataFrame) -> str | None:
    """Whether the methods were given equal budgets: the trials per study, equal for every method or not."""
    if budget is None or budget.empty:
        return None
    per_study = (budget["trials_run"] / budget["n_studies"]).round(2)
    if per_study.nunique() == 1:
        return (f"Search budget: every method ran {per_study.iloc[0]:g} trial(s) per study "
                f"({int(budget['n_studies'].iloc[0])} studies each); the epochs differ by early stopping and "
                "pruning (search_budget.csv).")
    spread = ", ".join(f"{m} {v:g}" for m, v in zip(budget["method"], per_study))
    return (f"Search budget: the methods ran different numbers of trials per study ({spread}); a method with "
            "fewer trials was tuned less (search_budget.csv).")
