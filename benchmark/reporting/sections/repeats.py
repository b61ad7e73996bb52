"""The "Over repeats" section of ``leaderboard.md``: each method's spread over repeats, how well two
independent reruns of fewer repeats rank the methods alike, and how many repeats the method-level test
needs to separate neighbouring methods; from ``repeat_spread.csv`` and ``rank_stability.csv``
(:mod:`benchmark.evaluation.repeat_stability`, written by :mod:`benchmark.evaluation.derived` when the
run has more than one repeat), and ``detectable.csv``."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.evaluation.repeat_stability import (
    ALPHA,
    POWER,
    RANK_STABILITY_COLUMNS,
    repeats_needed,
)
from benchmark.runfolder import DETECTABLE_FILE, RANK_STABILITY_FILE, REPEAT_SPREAD_FILE
from benchmark.stats import detectable_floor

__all__ = ["repeats_section"]

MAX_REPEATS = 100  # the most repeats the repeats-needed sentence looks at


def _stability_sentences(stability: pd.DataFrame, n_repeats: int) -> list[str]:
    """What two disjoint sets of r repeats each agree on, from ``rank_stability.csv``."""
    if list(stability.columns) != RANK_STABILITY_COLUMNS:
        return [f"{RANK_STABILITY_FILE} was written by an earlier version (subsets against the mean of all "
                "repeats, which contains them): petl-bench report RUN_DIR --rebuild compares disjoint halves."]
    steps = "; ".join(f"r = {r.repeats_per_half} ({r.n_pairs} pairs): tau {r.kendall_tau:.2f}, "
                      f"{r.rank_changes:.1f} methods on another rank, by at most {r.max_rank_move}"
                      for r in stability.itertuples())
    settled = stability[stability["rank_changes"] == 0]
    widest = int(stability["repeats_per_half"].max())
    return [f"Two independent reruns of r repeats each (pairs of disjoint sets of r of the {n_repeats} repeats, "
            f"each ranked by its mean AUC): {steps}.",
            f"Two disjoint sets of {int(settled['repeats_per_half'].min())} repeats always give the same ranking."
            if len(settled) else f"Even two disjoint sets of {widest} repeats do not always give the same ranking: "
            "a rerun of that size can reorder the methods."]


def _needed_sentence(detectable: pd.DataFrame | None) -> list[str]:
    """How many repeats the corrected test needs to separate neighbours, from ``detectable.csv``'s row."""
    if detectable is None or detectable.empty:
        return []
    d = detectable.iloc[0]
    gap, sd, level = float(d["neighbour_gap"]), float(d["sd_paired"]), f"{POWER:.0%} power at {ALPHA:.0%} two-sided"
    if not gap > 0:
        return ["Neighbouring methods' mean AUCs coincide: no number of repeats separates them."]
    needed = repeats_needed(detectable, max_repeats=MAX_REPEATS)
    floor = detectable_floor(sd, float(d["test_over_train"]), alpha=ALPHA, power=POWER)
    given = f"{level}, one pair, median SD of paired per-fold-model AUC differences {sd:.3f}"
    if needed is None and gap <= floor:
        return [f"No number of repeats of this design separates neighbours {gap:.3f} apart (the median gap between "
                f"neighbouring methods): the corrected test's limit is {floor:.3f} ({given}), and more repeats do "
                "not lower it."]
    if needed is None:
        return [f"Separating neighbours {gap:.3f} apart (the median gap) takes more than {MAX_REPEATS} repeats of "
                f"this design ({given}; the corrected test's limit is {floor:.3f})."]
    return [f"The corrected repeated k-fold t-test needs {needed} repeat(s) of {int(d['n_folds'])} folds to detect, "
            f"with {level}, a difference of {gap:.3f} (the median gap between neighbouring methods) in one pair, "
            f"given a median SD of paired per-fold-model AUC differences of {sd:.3f}."]


def repeats_section(run_dir) -> dict | None:
    """Header, rows and sentences of the section, read back from the run folder's files; None without the
    repeat tables."""
    run_dir = Path(run_dir)
    if not (run_dir / REPEAT_SPREAD_FILE).exists() or not (run_dir / RANK_STABILITY_FILE).exists():
        return None
    spread = pd.read_csv(run_dir / REPEAT_SPREAD_FILE)
    stability = pd.read_csv(run_dir / RANK_STABILITY_FILE)
    detectable = pd.read_csv(run_dir / DETECTABLE_FILE) if (run_dir / DETECTABLE_FILE).exists() else None
    header = ["method", "mean AUC", "SD over repeats", "SE of the mean", "range", "ranks"]
    rows = [[r.method, f"{r.auc_mean:.3f}", f"{r.auc_sd:.3f}", f"{r.auc_se:.3f}",
             f"{r.auc_min:.3f}-{r.auc_max:.3f}",
             str(r.rank_best) if r.rank_best == r.rank_worst else f"{r.rank_best}-{r.rank_worst}"]
            for r in spread.itertuples()]
    sentences = ["Each repeat is a new partition with new training and sampler seeds: the SD over repeats is what "
                 "a rerun of the whole protocol varies, which the leaderboard's intervals (test images resampled) "
                 "leave out."]
    sentences += _stability_sentences(stability, int(spread["n_repeats"].max()))
    sentences += _needed_sentence(detectable)
    return {"header": header, "rows": rows, "sentences": sentences}
