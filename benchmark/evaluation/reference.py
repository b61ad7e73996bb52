"""Every ranked method against the logistic-regression reference of :mod:`benchmark.training.reference`.

The reference is scikit-learn's logistic regression on the frozen pretrained features, on the
run's own folds: it needs none of the suite's training loop. The comparison is made per data
set, with the method-level test of every pair (:mod:`benchmark.evaluation.method_level`: the
per-fold-model AUC differences, so it includes what a rerun varies) and only against the
reference's own predictions on it:
an external data set the reference did not score has no comparison. A method significantly
below it is flagged, in words that say what was measured ("below a logistic-regression probe on
the same frozen features and images"), and a win over it is not claimed as evidence
(:mod:`benchmark.evaluation.pairwise`, :mod:`benchmark.evaluation.sentences`).
"""
from __future__ import annotations

import pandas as pd

from benchmark.evaluation.method_level import method_level
from benchmark.evaluation.run_data import ALPHA, CONFIDENCE, RunData, load_run
from benchmark.runfolder import REFERENCE_METHOD
from benchmark.stats import holm_correction

__all__ = ["BELOW_REFERENCE", "reference_comparison"]

BELOW_REFERENCE = "below a logistic-regression probe on the same frozen features and images"


def reference_comparison(data, dataset: str | None = None) -> pd.DataFrame:
    """Every ranked method against the reference (:mod:`benchmark.training.reference`) on one data set.

    ``dataset`` defaults to the training one. The method-level comparison of
    ``AUC_method - AUC_reference`` (:func:`benchmark.evaluation.method_level.method_level`: the corrected
    repeated k-fold t-test over the fold models, the reference fitted on the same folds; on an external
    data set with the external images' sampling variance added): ``method, difference, ci_low, ci_high,
    p, p_holm`` (Holm over the ranked methods) and ``below`` (the difference is negative and ``p_holm``
    below 0.05). Empty when the run has no reference, or the reference did not score ``dataset``.
    """
    data = data if isinstance(data, RunData) else load_run(data)
    dataset = dataset or data.internal
    columns = ["method", "difference", "ci_low", "ci_high", "p", "p_holm", "below"]
    if data.reference is None or not data.order or not (data.reference["dataset"] == dataset).any():
        return pd.DataFrame(columns=columns)
    key = ("reference_comparison", dataset)
    if key not in data.cache:
        res = method_level(data, dataset, [(m, REFERENCE_METHOD) for m in data.order], CONFIDENCE)
        frame = pd.DataFrame([{"method": a, "difference": r["mean_difference"], "ci_low": r["ci_low"],
                               "ci_high": r["ci_high"], "p": r["p"]} for (a, _), r in res.items()])
        frame["p_holm"] = holm_correction(frame["p"].to_numpy(dtype=float))
        frame["below"] = (frame["difference"] < 0) & (frame["p_holm"] < ALPHA)
        data.cache[key] = frame[columns]
    return data.cache[key]
