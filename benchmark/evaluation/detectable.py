"""What a run could detect: the minimum detectable difference of the method-level test, and the repeats
that a target difference needs.

From the measured spread of paired per-fold-model AUC differences on the training data set (the median
over all pairs of ranked methods of the standard deviation of their r x k differences), the power of
the corrected repeated k-fold t-test (:mod:`benchmark.stats.power`) gives: the smallest true
difference found with the plan's power for one comparison and for the Holm family of every pair that
the all-pairs table runs; the limit that no number of repeats passes (the correction's ``n_test /
n_train`` term does not shrink with repeats); and the repeats that the plan's margin needs. A report
states these beside its verdicts, so that "no significant difference" is read against what the run
could have found. External data sets are left out: their differences share one set of images, whose
sampling variance the fold models' spread does not show.
"""
from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd

from benchmark.evaluation.draws import fold_aucs
from benchmark.evaluation.method_level import nadeau_bengio_sizes
from benchmark.evaluation.plan import load_plan
from benchmark.evaluation.run_data import RunData, load_run
from benchmark.stats import detectable_floor, minimum_detectable_difference, repeats_needed

__all__ = ["DETECTABLE_COLUMNS", "detectable_differences"]

DETECTABLE_COLUMNS = ["dataset", "n_repeats", "n_folds", "test_over_train", "n_pairs", "sd_paired",
                      "sd_paired_q1", "sd_paired_q3", "neighbour_gap", "power", "alpha", "mdd_one", "mdd_family",
                      "floor_one", "floor_family", "target", "repeats_for_target_one", "repeats_for_target_family",
                      "plan"]


def _paired_sds(data: RunData) -> np.ndarray:
    """The SD (ddof 1) of each pair's per-fold-model AUC differences, over every pair of ranked methods."""
    wide = fold_aucs(data).pivot_table(index=["repeat", "fold"], columns="method", values="auc")
    wide = wide[[m for m in data.order if m in wide.columns]]
    sds = []
    for i, a in enumerate(wide.columns):
        for b in wide.columns[i + 1:]:
            d = (wide[a] - wide[b]).dropna()
            if len(d) > 1:
                sds.append(float(d.std(ddof=1)))
    return np.array(sds)


def detectable_differences(data, plan=None) -> pd.DataFrame:
    """One row (the training data set; empty with fewer than two ranked methods or two fold models).

    Columns :data:`DETECTABLE_COLUMNS`: ``sd_paired`` the median (``_q1``/``_q3`` the quartiles) over the
    ``n_pairs`` pairs of the SD of their per-fold-model AUC differences; ``neighbour_gap`` the median
    difference between neighbouring methods' fold-stratified AUCs; ``mdd_one``/``mdd_family`` the
    minimum detectable difference at the plan's power and two-sided level for one comparison and for
    ``n_pairs`` (Holm's first step); ``floor_*`` their limits with unlimited repeats; ``target`` the plan's
    margin and ``repeats_for_target_*`` the fewest repeats of this design that detect it (empty: none
    does, the floor lies above it).
    """
    data = data if isinstance(data, RunData) else load_run(data)
    plan = plan or load_plan()
    sds = _paired_sds(data) if len(data.order) > 1 else np.array([])
    folds = fold_aucs(data)
    n_repeats = int(folds["repeat"].nunique()) if len(folds) else 0
    n_folds = int(folds["fold"].nunique()) if len(folds) else 0
    if not len(sds) or n_repeats * n_folds < 2 or not np.median(sds) > 0:
        return pd.DataFrame(columns=DETECTABLE_COLUMNS)
    n_train, n_test, _ = nadeau_bengio_sizes(data)
    ratio, sd, m = n_test / n_train, float(np.median(sds)), comb(len(data.order), 2)
    means = folds[folds["method"].isin(data.order)].groupby("method")["auc"].mean().sort_values()
    level = {"alpha": plan.alpha, "power": plan.power}

    def needed(n: int):
        return repeats_needed(plan.margin, sd, n_folds, ratio, n_comparisons=n, **level)

    row = {"dataset": data.internal, "n_repeats": n_repeats, "n_folds": n_folds, "test_over_train": ratio,
           "n_pairs": m, "sd_paired": sd, "sd_paired_q1": float(np.quantile(sds, 0.25)),
           "sd_paired_q3": float(np.quantile(sds, 0.75)),
           "neighbour_gap": float(np.median(np.diff(means.to_numpy()))) if len(means) > 1 else np.nan,
           "power": plan.power, "alpha": level["alpha"],
           "mdd_one": minimum_detectable_difference(sd, n_folds, n_repeats, ratio, **level),
           "mdd_family": minimum_detectable_difference(sd, n_folds, n_repeats, ratio, n_comparisons=m, **level),
           "floor_one": detectable_floor(sd, ratio, **level),
           "floor_family": detectable_floor(sd, ratio, n_comparisons=m, **level),
           "target": plan.margin, "repeats_for_target_one": needed(1), "repeats_for_target_family": needed(m),
           "plan": plan.label}
    frame = pd.DataFrame([row], columns=DETECTABLE_COLUMNS)
    for col in ("repeats_for_target_one", "repeats_for_target_family"):
        frame[col] = frame[col].astype("Int64")
    return frame
