"""The "Over repeats" section of ``leaderboard.md``: each method's spread over repeats and how far the
ranking moves with fewer repeats, from ``repeat_spread.csv`` and ``rank_stability.csv``
(:mod:`benchmark.evaluation.repeat_stability`), which :func:`write_repeat_tables` writes into the
run folder when it has more than one repeat."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.common.io import write_csv_atomic
from benchmark.evaluation.repeat_stability import (
    RANK_STABILITY_FILE,
    REPEAT_SPREAD_FILE,
    neighbour_gap,
    rank_stability,
    repeat_spread,
    repeats_needed,
)

__all__ = ["write_repeat_tables", "repeats_section"]


def write_repeat_tables(run_dir, data) -> dict[str, Path]:
    """``repeat_spread.csv`` and ``rank_stability.csv`` (atomically) when the run has two or more repeats of
    at least two ranked methods; ``{}`` otherwise."""
    if len(data.order) < 2 or data.rows()["repeat"].nunique() < 2:
        return {}
    run_dir = Path(run_dir)
    return {REPEAT_SPREAD_FILE: write_csv_atomic(run_dir / REPEAT_SPREAD_FILE, repeat_spread(data)),
            RANK_STABILITY_FILE: write_csv_atomic(run_dir / RANK_STABILITY_FILE, rank_stability(data))}


def repeats_section(run_dir) -> dict | None:
    """Header, rows and sentences of the section, read back from the run folder's files; None without them."""
    run_dir = Path(run_dir)
    if not (run_dir / REPEAT_SPREAD_FILE).exists() or not (run_dir / RANK_STABILITY_FILE).exists():
        return None
    spread = pd.read_csv(run_dir / REPEAT_SPREAD_FILE)
    stability = pd.read_csv(run_dir / RANK_STABILITY_FILE)
    header = ["method", "mean AUC", "SD over repeats", "SE of the mean", "range", "ranks"]
    rows = [[r.method, f"{r.auc_mean:.3f}", f"{r.auc_sd:.3f}", f"{r.auc_se:.3f}",
             f"{r.auc_min:.3f}-{r.auc_max:.3f}",
             str(r.rank_best) if r.rank_best == r.rank_worst else f"{r.rank_best}-{r.rank_worst}"]
            for r in spread.itertuples()]
    last = int(stability["n_repeats"].max())
    steps = "; ".join(f"{r.n_repeats}: tau {r.kendall_tau:.2f}, {r.rank_changes:.1f} methods moved, by at most "
                      f"{r.max_rank_move} rank(s), largest shift {r.max_shift:.3f}"
                      for r in stability.itertuples() if r.n_repeats < last)
    settled = stability[(stability["rank_changes"] == 0) & (stability["n_repeats"] < last)]
    needed = repeats_needed(spread)
    sentences = [
        "Each repeat is a new partition with new training and sampler seeds: the SD over repeats is what a rerun "
        "of the whole protocol varies, which the leaderboard's intervals (test images resampled) leave out.",
        f"The ranking by the mean over r of the {last} repeats against the ranking by all {last} (mean over every "
        f"subset of r repeats): {steps}.",
        (f"Every subset of {int(settled['n_repeats'].min())} repeats already gives the final ranking."
         if len(settled) else f"No subset of fewer than {last} repeats gives the final ranking every time: "
         "the lower ranks still move with the repeats drawn."),
        (f"Median SD over repeats {spread['auc_sd'].median():.3f} against a median gap of "
         f"{neighbour_gap(spread):.3f} between neighbouring "
         f"methods: about {needed} repeat(s) bring a method's standard error down to that gap "
         "(ceil((SD / gap)^2))." if needed is not None else
         "Neighbouring methods' means coincide: no number of repeats separates them."),
    ]
    return {"header": header, "rows": rows, "sentences": sentences}
