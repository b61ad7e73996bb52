"""The search budget each method was given: ``search_budget.csv``, one row per method.

A ranking compares methods at the budget the profile gave them; a reader must see whether that budget was
equal. From ``trials.csv`` (every trial of every study) and the run records: the studies, the trials run and
how they ended (completed, pruned, failed; among the failed, the collapsed ones, which scored every image
alike, and the interrupted ones, which a killed run left behind and a resumed run trained again: they used no
budget), the epochs trained over all trials, the selected models' epochs and training time (summed over the
folds), and the search's own wall time (every trial's, where the records keep it: ``search_seconds``). The
epochs and the time leave the interrupted trials out: their recorded time runs from their start in the killed
run to their closing by the resumed one, so it holds however long the run stood still.

What pruning saved is an estimate: had a pruned trial not been stopped, it would have trained as many epochs
as its study's completed trials did on average (``epochs_saved``: the sum over pruned trials of that mean
minus the epochs it trained, never below 0; ``seconds_saved``: those epochs at the method's seconds per epoch
over all its trials). Records written before pruned trials kept their epochs give NaN.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["BUDGET_COLUMNS", "search_budget", "budget_sentence", "pruning_sentence"]

BUDGET_COLUMNS = ["method", "n_studies", "trials_run", "trials_completed", "trials_pruned", "trials_failed",
                  "trials_collapsed", "trials_interrupted", "epochs_total", "epochs_selected", "selected_train_seconds", "search_seconds",
                  "epochs_pruned", "epochs_saved", "seconds_saved"]


def search_budget(trials: pd.DataFrame, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per method of ``trials`` (``trials.csv``; ``runs``: :func:`benchmark.runfolder.load_runs`, for the
    selected models' epochs and training seconds), in the order methods first appear."""
    rows = []
    for method, part in trials.groupby("method", sort=False):
        state = part["state"].astype(str)
        failure = part["failure"].fillna("").astype(str)
        counted = part[~((state == "FAIL") & (failure == ""))]  # interrupted trials used no budget
        mine = runs[runs["method"] == method] if runs is not None and not runs.empty else pd.DataFrame()
        rows.append({
            "method": method,
            "n_studies": int(part[["repeat", "fold"]].drop_duplicates().shape[0]),
            "trials_run": int(len(part)),
            "trials_completed": int((state == "COMPLETE").sum()),
            "trials_pruned": int((state == "PRUNED").sum()),
            "trials_failed": int((state == "FAIL").sum()),
            "trials_collapsed": int(failure.str.startswith("collapsed").sum()),
            "trials_interrupted": int(len(part) - len(counted)),
            "epochs_total": int(pd.to_numeric(counted["epochs"], errors="coerce").fillna(0).sum()),
            "epochs_selected": int(pd.to_numeric(mine.get("epochs_run"), errors="coerce").fillna(0).sum())
            if len(mine) else 0,
            "selected_train_seconds": float(pd.to_numeric(mine.get("train_seconds"), errors="coerce").sum())
            if len(mine) else float("nan"),
            **_pruning(counted, state.loc[counted.index]),
        })
    return pd.DataFrame(rows, columns=BUDGET_COLUMNS)


def _pruning(part: pd.DataFrame, state: pd.Series) -> dict:
    """The method's search time and what pruning saved (see the module's docstring)."""
    epochs = pd.to_numeric(part["epochs"], errors="coerce")
    seconds = pd.to_numeric(part["seconds"], errors="coerce") if "seconds" in part else pd.Series(np.nan, part.index)
    pruned = state == "PRUNED"
    search_seconds = float(seconds.sum()) if seconds.notna().all() and len(seconds) else np.nan
    saved = 0.0
    for _, study in part.assign(_e=epochs, _p=pruned).groupby(["repeat", "fold"]):
        done = study.loc[(state.loc[study.index] == "COMPLETE"), "_e"]
        stopped = study.loc[study["_p"], "_e"]
        if stopped.empty:
            continue
        if stopped.isna().any() or done.isna().any() or done.empty:
            saved = np.nan
            break
        saved += float((done.mean() - stopped).clip(lower=0).sum())
    per_epoch = search_seconds / float(epochs.sum()) if np.isfinite(search_seconds) and epochs.notna().all() \
        and epochs.sum() > 0 else np.nan
    return {"search_seconds": search_seconds,
            "epochs_pruned": float(epochs[pruned].sum()) if epochs[pruned].notna().all() else np.nan,
            "epochs_saved": saved, "seconds_saved": saved * per_epoch}


def _counted_trials(budget: pd.DataFrame) -> pd.Series:
    """Each method's trials that used budget: all but the interrupted ones (absent from older tables)."""
    if "trials_interrupted" not in budget:
        return budget["trials_run"]
    return budget["trials_run"] - budget["trials_interrupted"]


def budget_sentence(budget: pd.DataFrame) -> str | None:
    """Whether the methods were given equal budgets: the trials per study, equal for every method or not."""
    if budget is None or budget.empty:
        return None
    counted = _counted_trials(budget)
    interrupted = budget["trials_run"] - counted
    per_study = (counted / budget["n_studies"]).round(2)
    redone = (f" (not counting {int(interrupted.sum())} trial(s) that a killed run left behind and the resumed run "
              "trained again)") if interrupted.sum() else ""
    if per_study.nunique() == 1:
        return (f"Search budget: every method ran {per_study.iloc[0]:g} trial(s) per study, "
                f"{int(budget['n_studies'].iloc[0])} studies each{redone}; the epochs differ by early stopping "
                "and pruning (search_budget.csv).")
    spread = ", ".join(f"{m} {v:g}" for m, v in zip(budget["method"], per_study))
    return (f"Search budget: the methods ran different numbers of trials per study ({spread}){redone}; a method "
            "with fewer trials was tuned less (search_budget.csv).")


def pruning_sentence(budget: pd.DataFrame) -> str | None:
    """How many trials pruning stopped and what it saved (an estimate: see the module's docstring); None when it
    stopped none."""
    if budget is None or budget.empty or int(budget["trials_pruned"].sum()) == 0:
        return None
    pruned, run = int(budget["trials_pruned"].sum()), int(_counted_trials(budget).sum())
    text = f"Median pruning stopped {pruned} of {run} trials ({pruned / run:.0%})"
    saved, total = budget["epochs_saved"], budget["epochs_total"]
    if saved.notna().all():
        text += (f"; had they trained as long as their studies' completed trials, the search would have trained "
                 f"about {saved.sum():,.0f} more epochs than its {total.sum():,.0f} ({saved.sum() / total.sum():.0%} "
                 "more)")
        if budget["seconds_saved"].notna().all() and budget["search_seconds"].notna().all():
            text += (f", about {budget['seconds_saved'].sum() / 3600:.1f} h on top of the search's "
                     f"{budget['search_seconds'].sum() / 3600:.1f} h of trial time")
    return text + " (search_budget.csv)."
