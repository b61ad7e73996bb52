"""How far a leaderboard moves between runs on the same folds.

A leaderboard's intervals cover the sampling of its test images, not the randomness of its own
training and search: runs that differ only in the sampler's draws (``[search] seed``), or in
the training seeds, select other models on the same folds and score the same images
differently. :func:`run_spread` puts each method's fold-stratified AUC (the leaderboard's
ranked statistic, mean over repeats; :func:`benchmark.evaluation.fold_stratified_aucs`), or
with ``statistic="pooled"`` its pooled out-of-fold AUC, from several such run folders side by
side, with its range and each run's rank by that statistic; ``petl-bench spread RUN_DIR
RUN_DIR ...`` prints it (``--pooled`` for the pooled AUC). A difference between two methods that is smaller than their ranges is within what
rerunning the search alone produces.

The runs must have scored the same images in the same folds and repeats (otherwise the spread
would mix the partition's effect into the search's, and :func:`run_spread` refuses them). The
logistic-regression reference, where the runs have it, needs no search, so its range shows
what the rest of the pipeline contributes (0 on the same machine).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.evaluation.run_data import RunData, fold_stratified_aucs, load_run, pooled_aucs
from benchmark.runfolder import PREDICTIONS_FILE, REFERENCE_METHOD

__all__ = ["SPREAD_STATISTICS", "run_spread", "run_labels", "profile_differences", "spread_markdown",
           "spread_sentences"]

# statistic -> (function of prediction rows, its name in sentences)
SPREAD_STATISTICS = {"fold_stratified": (fold_stratified_aucs, "Fold-stratified AUC"),
                     "pooled": (pooled_aucs, "Pooled out-of-fold AUC")}

_IGNORED_SETTINGS = {"name", "description", "source"}  # labels and the file it came from


def run_labels(run_dirs) -> list[str]:
    """A short, unique column label per run folder: its resolved name (``reports/latest`` gives
    the timestamped folder it points to), numbered where two share a name."""
    names = [Path(d).resolve().name for d in run_dirs]
    return [f"{n}#{i + 1}" if names.count(n) > 1 else n for i, n in enumerate(names)]


def _flatten(settings: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        elif key not in _IGNORED_SETTINGS:
            out[f"{prefix}{key}"] = value
    return out


def profile_differences(runs: list[RunData]) -> list[str]:
    """The profile settings (``suite.json``) that differ between the runs, ``"search.seed: 0, 1"``."""
    flat = [_flatten(run.suite.get("profile") or {}) for run in runs]
    keys = sorted(set().union(*flat))
    return [f"{key}: {', '.join(str(f.get(key, '-')) for f in flat)}"
            for key in keys if len({repr(f.get(key)) for f in flat}) > 1]


def _folds_key(run: RunData) -> set:
    """(repeat, fold, image_id) of the images the run's methods (or its reference) scored."""
    rows = run.rows()
    if run.order:
        rows = rows[rows["method"] == run.order[0]]
    elif run.reference is not None:
        rows = run.reference[run.reference["dataset"] == run.internal]
    return set(map(tuple, rows[["repeat", "fold", "image_id"]].to_numpy().tolist()))


def _check_same_folds(runs: list[RunData]) -> None:
    first, key = runs[0], _folds_key(runs[0])
    if not key:
        raise ValueError(f"{first.run_dir / PREDICTIONS_FILE}: no method has out-of-fold scores to compare")
    for run in runs[1:]:
        if run.internal != first.internal:
            raise ValueError(f"{run.run_dir} was trained on {run.internal!r}, {first.run_dir} on "
                             f"{first.internal!r}: compare runs of one data set")
        other = _folds_key(run)
        if other != key:
            raise ValueError(
                f"{run.run_dir / PREDICTIONS_FILE} scores other images or folds than {first.run_dir / PREDICTIONS_FILE} "
                f"({len(other - key)} (repeat, fold, image) entries only in the first, {len(key - other)} only in the "
                "second): the spread measures the search and training on the same folds; run both with the same "
                "data, [evaluation] folds and split_seeds")


def _aucs(frame: pd.DataFrame, statistic: str) -> pd.Series:
    """Each method's statistic, averaged over repeats."""
    return SPREAD_STATISTICS[statistic][0](frame).groupby(level="method").mean()


def run_spread(run_dirs, statistic: str = "fold_stratified") -> tuple[pd.DataFrame, list[str]]:
    """Each method's AUC (``statistic``: ``"fold_stratified"``, the leaderboard's ranked one, or
    ``"pooled"``) in every run, its range and ranks; and the settings that differ between the runs.

    One row per method ranked in any run (the reference last, when every run has it), sorted by
    the mean AUC over the runs: ``method``, ``auc_<label>`` and ``rank_<label>`` per run (labels
    from :func:`run_labels`; NaN where the method is not ranked in that run; rank 1 = highest
    ``statistic`` among the run's ranked methods), ``auc_min``, ``auc_max``, ``auc_range``,
    ``auc_mean``, ``n_runs`` (runs that ranked it).
    """
    if statistic not in SPREAD_STATISTICS:
        raise ValueError(f"statistic must be one of {list(SPREAD_STATISTICS)}, got {statistic!r}")
    if len(run_dirs) < 2:
        raise ValueError("give at least two run folders to compare")
    runs = [load_run(d) for d in run_dirs]
    _check_same_folds(runs)
    labels = run_labels(run_dirs)
    methods = list(dict.fromkeys(m for run in runs for m in run.order))
    table = pd.DataFrame({"method": methods})
    for label, run in zip(labels, runs):
        aucs = _aucs(run.rows()[run.rows()["method"].isin(run.order)], statistic) if run.order else \
            pd.Series(dtype=float)
        order = sorted(run.order, key=lambda m: (-np.nan_to_num(aucs.get(m, np.nan), nan=-1.0), m))
        table[f"auc_{label}"] = [float(aucs.get(m, np.nan)) for m in methods]
        table[f"rank_{label}"] = [float(order.index(m) + 1) if m in order else np.nan for m in methods]
    if all(run.reference is not None for run in runs):
        row = {"method": REFERENCE_METHOD}
        for label, run in zip(labels, runs):
            row[f"auc_{label}"] = float(_aucs(run.reference[run.reference["dataset"] == run.internal],
                                              statistic).iloc[0])
            row[f"rank_{label}"] = np.nan
        table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
    aucs = table[[f"auc_{label}" for label in labels]]
    table["auc_min"], table["auc_max"] = aucs.min(axis=1), aucs.max(axis=1)
    table["auc_range"] = table["auc_max"] - table["auc_min"]
    table["auc_mean"], table["n_runs"] = aucs.mean(axis=1), aucs.notna().sum(axis=1)
    is_reference = table["method"] == REFERENCE_METHOD
    table = pd.concat([table[~is_reference].sort_values(["auc_mean", "method"], ascending=[False, True]),
                       table[is_reference]], ignore_index=True)
    return table, profile_differences(runs)


def spread_markdown(table: pd.DataFrame, labels: list[str]) -> list[str]:
    """The table's lines in Markdown: the AUC of each run with its rank there, and the range."""
    def cell(auc, rank) -> str:
        if pd.isna(auc):
            return "-"
        return f"{auc:.3f}" + ("" if pd.isna(rank) else f" ({rank:.0f})")

    lines = ["| method | " + " | ".join(labels) + " | range |", "|---|" + "---:|" * (len(labels) + 1)]
    for _, row in table.iterrows():
        cells = [cell(row[f"auc_{label}"], row[f"rank_{label}"]) for label in labels]
        lines.append(f"| {row['method']} | " + " | ".join(cells) + f" | {row['auc_range']:.3f} |")
    return lines


def spread_sentences(table: pd.DataFrame, differences: list[str], statistic: str = "fold_stratified") -> list[str]:
    """What the spread says, in words: the largest and the median range, and the ranks that moved."""
    labels = [c.removeprefix("auc_") for c in table.columns
              if c.startswith("auc_") and c not in ("auc_min", "auc_max", "auc_range", "auc_mean")]
    methods = table[table["method"] != REFERENCE_METHOD]
    both = methods[methods["n_runs"] == len(labels)]
    out = [f"{len(labels)} runs on the same folds; their profiles differ in "
           + ("; ".join(differences) if differences else "nothing (the same settings: what moves is the machine's "
                                                           "and the training's own randomness)") + "."]
    if not both.empty:
        worst = both.loc[both["auc_range"].idxmax()]
        out.append(f"{SPREAD_STATISTICS[statistic][1]} range over the runs: largest {worst['auc_range']:.3f} ({worst['method']}, "
                   f"{worst['auc_min']:.3f} to {worst['auc_max']:.3f}), median {both['auc_range'].median():.3f} "
                   f"over {len(both)} methods ranked in every run.")
        ranks = both[[f"rank_{label}" for label in labels]]
        moved = both.loc[ranks.nunique(axis=1) > 1, "method"].tolist()
        out.append(f"Ranks that differ between the runs: {len(moved)} of {len(both)} methods"
                   + (f" ({', '.join(moved)})." if moved else "."))
    missing = methods[methods["n_runs"] < len(labels)]["method"].tolist()
    if missing:
        out.append(f"Not ranked in every run (no working configuration, or not run): {', '.join(missing)}.")
    reference = table[table["method"] == REFERENCE_METHOD]
    if not reference.empty:
        out.append(f"The reference (no search) ranges over {reference['auc_range'].iloc[0]:.3f}.")
    return out
