"""The train-site x test-site matrix: every method trained at one hospital and tested at the others.

A site run is a run folder of ``petl-bench suite`` trained on one data set whose selected models also
scored other data sets as external sets (``run_all.sh --profile sites`` writes one per training set
into ``RUN_DIR/train-<set>/``). Each cell of the matrix is read from that run's ``leaderboard.csv``,
nothing is recomputed: on the training set itself (on site) the **fold-stratified AUC** with its
interval (``auc``, ``auc_ci_low``, ``auc_ci_high``), on another set (off site) the **per-model AUC**
(``external_<set>_auc``, ``_ci_low``, ``_ci_high``, and ``_drop``, the on-site AUC minus it).
``n_images`` and ``n_malignant`` count the images the method's models scored (``predictions.csv``).

:func:`site_ranks` ranks the methods by their mean off-site AUC (over every cell with train set !=
test set). Its interval is approximate: a normal interval whose standard error combines the cells'
(each taken as its 95% interval's width / 3.92). Cells of one training set share its fold models, so
their errors are correlated: they are taken as perfectly correlated (their standard errors add), the
conservative bound; cells of different training sets (other models, other images) as independent. A
method that lacks an off-site cell another has is not ranked. Each cell's own interval is per cell:
it resamples that test set's images with the cell's fold models fixed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.runfolder import (LEADERBOARD_FILE, SITE_RUN_PREFIX, SUITE_FILE,
                                 internal_dataset, load_predictions)

__all__ = ["SiteRun", "SITE_MATRIX_COLUMNS", "SITE_RANK_COLUMNS", 
           "find_site_runs", "read_site_run", "run_cells", "site_matrix", "site_ranks"]

ON_SITE, OFF_SITE = "fold-stratified AUC", "per-model AUC"
SITE_MATRIX_COLUMNS = ["method", "train_set", "test_set", "on_site", "statistic", "auc", "ci_low", "ci_high", "drop",
                       "n_images", "n_malignant", "run_dir"]
SITE_RANK_COLUMNS = ["method", "rank", "mean_offsite_auc", "mean_offsite_ci_low", "mean_offsite_ci_high",
                     "n_offsite", "mean_onsite_auc", "mean_drop", "note"]
Z95 = 1.959963984540054


@dataclass
class SiteRun:
    """One run folder of the matrix: its training set, its leaderboard and how many images of each
    data set each method's models scored."""

    run_dir: Path
    train_set: str
    leaderboard: pd.DataFrame
    counts: pd.DataFrame          # method, dataset, n_images, n_malignant


def find_site_runs(paths) -> list[Path]:
    """The run folders of the matrix: each path is a run folder (it has ``suite.json``) or a folder
    holding them as ``train-<set>/`` (what ``run_all.sh --profile sites`` writes)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if (path / SUITE_FILE).is_file():
            found.append(path)
            continue
        inside = sorted(p for p in path.glob(f"{SITE_RUN_PREFIX}*") if (p / SUITE_FILE).is_file())
        if not inside:
            raise FileNotFoundError(f"{path} is neither a run folder (no {SUITE_FILE}) nor a folder of run folders "
                                    f"({SITE_RUN_PREFIX}<set>/ with a {SUITE_FILE}): give the folder "
                                    f"`run_all.sh --profile sites` wrote, or one run folder per training set")
        found.extend(inside)
    if len(set(p.resolve() for p in found)) < len(found):
        raise ValueError(f"a run folder is given twice: {', '.join(map(str, found))}")
    return found


def read_site_run(run_dir) -> SiteRun:
    """A run folder's training set, ``leaderboard.csv`` and the images its methods scored."""
    run_dir = Path(run_dir)
    path = run_dir / LEADERBOARD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: write it with `petl-bench report {run_dir}`")
    predictions = load_predictions(run_dir)
    rows = predictions.drop_duplicates(["method", "dataset", "image_id"])
    counts = rows.groupby(["method", "dataset"], sort=False)["label"].agg(["size", "sum"]).reset_index()
    counts.columns = ["method", "dataset", "n_images", "n_malignant"]
    return SiteRun(run_dir=run_dir, train_set=internal_dataset(run_dir, predictions),
                   leaderboard=pd.read_csv(path), counts=counts)


def run_cells(run: SiteRun) -> pd.DataFrame:
    """The cells of one run: per ranked method, its on-site cell and one per data set it scored."""
    lb = run.leaderboard[run.leaderboard["rank"].notna()]
    count = run.counts.set_index(["method", "dataset"])
    tests = [run.train_set] + [d for d in dict.fromkeys(run.counts["dataset"]) if d != run.train_set]
    cells = []
    for _, row in lb.iterrows():
        for test in tests:
            if (row["method"], test) not in count.index:
                continue
            if test == run.train_set:
                values = (ON_SITE, row["auc"], row["auc_ci_low"], row["auc_ci_high"], np.nan)
            else:
                prefix = f"external_{test}"
                if f"{prefix}_auc" not in lb.columns:
                    raise ValueError(f"{run.run_dir / LEADERBOARD_FILE} has no column {prefix}_auc although "
                                     f"predictions.csv scores {test}: rebuild it with "
                                     f"`petl-bench report {run.run_dir} --rebuild`")
                values = (OFF_SITE, row[f"{prefix}_auc"], row[f"{prefix}_ci_low"], row[f"{prefix}_ci_high"],
                          row[f"{prefix}_drop"])
            n = count.loc[(row["method"], test)]
            cells.append(dict(zip(SITE_MATRIX_COLUMNS, (
                row["method"], run.train_set, test, test == run.train_set, *values, int(n["n_images"]),
                int(n["n_malignant"]), str(run.run_dir)))))
    return pd.DataFrame(cells, columns=SITE_MATRIX_COLUMNS)


def site_matrix(runs: list[SiteRun]) -> pd.DataFrame:
    """Every run's cells in one tidy table (:data:`SITE_MATRIX_COLUMNS`), one row per (method, train
    set, test set); methods in :func:`site_ranks` order, training sets in the runs' order, and per
    training set its own set first. Two runs of one training set are refused."""
    seen: dict[str, Path] = {}
    for run in runs:
        if run.train_set in seen:
            raise ValueError(f"{seen[run.train_set]} and {run.run_dir} were both trained on {run.train_set}: give "
                             f"one run folder per training set")
        seen[run.train_set] = run.run_dir
    matrix = pd.concat([run_cells(run) for run in runs], ignore_index=True) if runs else \
        pd.DataFrame(columns=SITE_MATRIX_COLUMNS)
    order = list(site_ranks(matrix)["method"])
    matrix["method"] = pd.Categorical(matrix["method"], order, ordered=True)
    matrix = matrix.sort_values("method", kind="stable").reset_index(drop=True)
    matrix["method"] = matrix["method"].astype(str)
    return matrix


def _mean_interval(cells: pd.DataFrame) -> tuple[float, float]:
    """The mean's normal interval: standard errors added within a training set (shared fold models, taken as
    perfectly correlated), combined in quadrature across training sets."""
    se = (cells["ci_high"] - cells["ci_low"]) / (2 * Z95)
    per_train_set = se.groupby(cells["train_set"]).sum()
    mean, half = cells["auc"].mean(), Z95 * float(np.sqrt((per_train_set ** 2).sum())) / len(cells)
    return mean - half, mean + half


def site_ranks(matrix: pd.DataFrame) -> pd.DataFrame:
    """Per method (:data:`SITE_RANK_COLUMNS`): mean off-site AUC over its off-site cells, with an
    approximate interval (see the module), rank (1 = highest; ties share the better rank), mean
    on-site AUC and mean drop (on-site minus off-site, the leaderboard's ``external_*_drop``). A
    method missing an off-site cell that another method has is not ranked (``note`` says which)."""
    off = matrix[~matrix["on_site"].astype(bool)]
    pairs = set(zip(off["train_set"], off["test_set"]))
    rows = []
    for method in dict.fromkeys(matrix["method"]):
        own = off[off["method"] == method]
        missing = sorted(pairs - set(zip(own["train_set"], own["test_set"])))
        low, high = _mean_interval(own) if len(own) else (np.nan, np.nan)
        onsite = matrix[(matrix["method"] == method) & matrix["on_site"].astype(bool)]
        note = ("not ranked: no cell for " + ", ".join(f"trained on {a}, tested on {b}" for a, b in missing)
                if missing else "")
        rows.append({"method": method, "rank": np.nan, "mean_offsite_auc": own["auc"].mean() if len(own) else np.nan,
                     "mean_offsite_ci_low": low, "mean_offsite_ci_high": high, "n_offsite": len(own),
                     "mean_onsite_auc": onsite["auc"].mean() if len(onsite) else np.nan,
                     "mean_drop": own["drop"].mean() if len(own) else np.nan, "note": note})
    ranks = pd.DataFrame(rows, columns=SITE_RANK_COLUMNS)
    ranked = (ranks["note"] == "") & ranks["mean_offsite_auc"].notna()
    ranks.loc[ranked, "rank"] = ranks.loc[ranked, "mean_offsite_auc"].rank(ascending=False, method="min")
    return ranks.sort_values(["rank", "method"], na_position="last", kind="stable").reset_index(drop=True)
