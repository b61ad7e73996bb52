"""Every ranked method against the logistic-regression reference of :mod:`benchmark.training.reference`.

The reference is scikit-learn's logistic regression on the frozen pretrained features, on the
run's own folds: it needs none of the suite's training loop, so every method should reach it.
A method significantly below it has not learned what the frozen features already hold; the
leaderboard flags it, and a win over it is not claimed as evidence
(:mod:`benchmark.evaluation.pairwise`, :mod:`benchmark.evaluation.sentences`).
"""
from __future__ import annotations

import pandas as pd

from benchmark.evaluation.draws import bootstrap_draws
from benchmark.evaluation.run_data import ALPHA, CONFIDENCE, RunData, load_run
from benchmark.runfolder import REFERENCE_METHOD
from benchmark.stats import holm_correction, paired_differences

__all__ = ["reference_comparison"]


def reference_comparison(data) -> pd.DataFrame:
    """Every ranked method against the reference (:mod:`benchmark.training.reference`) on the training data.

    Paired cluster bootstrap of ``AUC_method - AUC_reference`` (the leaderboard's resamples,
    with the reference drawn alongside): ``method, difference, ci_low, ci_high, p, p_holm``
    (Holm over the ranked methods) and ``below`` (the difference is negative and ``p_holm``
    below 0.05). Empty when the run has no reference.
    """
    data = data if isinstance(data, RunData) else load_run(data)
    columns = ["method", "difference", "ci_low", "ci_high", "p", "p_holm", "below"]
    if data.reference is None or not data.order:
        return pd.DataFrame(columns=columns)
    key = ("reference_comparison",)
    if key not in data.cache:
        boot = bootstrap_draws(data, reference=True)
        res = paired_differences(boot.observed, boot.draws, boot.methods,
                                 [(m, REFERENCE_METHOD) for m in data.order], CONFIDENCE)
        frame = pd.DataFrame([{"method": a, **r} for (a, _), r in res.items()])
        frame["p_holm"] = holm_correction(frame["p"].to_numpy(dtype=float))
        frame["below"] = (frame["difference"] < 0) & (frame["p_holm"] < ALPHA)
        data.cache[key] = frame[columns]
    return data.cache[key]
