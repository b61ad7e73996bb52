"""Every ranked method against the logistic-regression reference of :mod:`benchmark.training.reference`.

The reference is scikit-learn's logistic regression on the frozen pretrained features, on the
run's own folds: it needs none of the suite's training loop. The comparison is made per data
set, with that data set's primary statistic (the fold-stratified AUC on the training data set,
the per-model AUC on an external one) and only against the reference's own predictions on it:
an external data set the reference did not score has no comparison. A method significantly
below it is flagged, in words that say what was measured ("below a logistic-regression probe on
the same frozen features and images"), and a win over it is not claimed as evidence
(:mod:`benchmark.evaluation.pairwise`, :mod:`benchmark.evaluation.sentences`).
"""
from __future__ import annotations

import pandas as pd

from benchmark.evaluation.draws import bootstrap_draws
from benchmark.evaluation.run_data import ALPHA, CONFIDENCE, RunData, load_run
from benchmark.runfolder import REFERENCE_METHOD
from benchmark.stats import holm_correction, paired_differences

__all__ = ["BELOW_REFERENCE", "reference_comparison"]

BELOW_REFERENCE = "below a logistic-regression probe on the same frozen features and images"


def reference_comparison(data, dataset: str | None = None) -> pd.DataFrame:
    """Every ranked method against the reference (:mod:`benchmark.training.reference`) on one data set.

    ``dataset`` defaults to the training one. Paired cluster bootstrap of ``AUC_method -
    AUC_reference`` (the leaderboard's resamples and statistic on that data set, with the
    reference drawn alongside): ``method, difference, ci_low, ci_high, p, p_holm`` (Holm over
    the ranked methods) and ``below`` (the difference is negative and ``p_holm`` below 0.05).
    Empty when the run has no reference, or the reference did not score ``dataset``.
    """
    data = data if isinstance(data, RunData) else load_run(data)
    dataset = dataset or data.internal
    columns = ["method", "difference", "ci_low", "ci_high", "p", "p_holm", "below"]
    if data.reference is None or not data.order or not (data.reference["dataset"] == dataset).any():
        return pd.DataFrame(columns=columns)
    key = ("reference_comparison", dataset)
    if key not in data.cache:
        boot = bootstrap_draws(data, dataset, reference=True)
        res = paired_differences(boot.observed, boot.draws, boot.methods,
                                 [(m, REFERENCE_METHOD) for m in data.order], CONFIDENCE)
        frame = pd.DataFrame([{"method": a, **r} for (a, _), r in res.items()])
        frame["p_holm"] = holm_correction(frame["p"].to_numpy(dtype=float))
        frame["below"] = (frame["difference"] < 0) & (frame["p_holm"] < ALPHA)
        data.cache[key] = frame[columns]
    return data.cache[key]
