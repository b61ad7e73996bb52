"""Net benefit and decision curves (Vickers & Elkin 2006): the benefit of biopsying by a model's risk.

A lesion is biopsied (treated) when its predicted risk of malignancy is at least the threshold
probability ``pt``; choosing ``pt`` says how many benign biopsies one cancer found is worth
(``(1 - pt) / pt``). Per case:

    NB(pt) = TP / n - FP / n * pt / (1 - pt)

* :func:`net_benefit` - a model's net benefit at each threshold, under rows of case weights (bootstrap
  resamples as weights);
* :func:`treat_all_net_benefit` - "biopsy all": ``prevalence - (1 - prevalence) * pt / (1 - pt)``;
  "biopsy none" is 0 at every threshold.

A model is worth using at ``pt`` when its net benefit exceeds both. The risks must be probabilities
on the scale of the population the benefit is for: a score trained with class weights is not (its
prior shift first needs removing).
"""
from __future__ import annotations

import numpy as np

from benchmark.stats.cluster_bootstrap import _check_weights
from benchmark.stats.metrics import _check_binary_scores, _check_labels

__all__ = ["net_benefit", "treat_all_net_benefit"]


def _check_thresholds(thresholds) -> np.ndarray:
    pt = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if pt.ndim != 1 or pt.size == 0 or not ((pt > 0) & (pt < 1)).all():
        raise ValueError(f"thresholds must be probabilities strictly between 0 and 1, got {thresholds!r}")
    return pt


def net_benefit(y_true, risks, thresholds, weights=None) -> np.ndarray:
    """Net benefit of biopsying when ``risk >= pt``, for each threshold ``pt`` of ``thresholds``.

    ``weights``: ``(n,)`` or ``(b, n)`` non-negative case weights (None: 1 each); ``n`` is their sum.
    Returns ``(len(thresholds),)`` for no or 1-D weights, else ``(b, len(thresholds))``; NaN for a row
    of zero total weight.
    """
    y, (s,) = _check_binary_scores(y_true, risks, names=("risks",))
    pt = _check_thresholds(thresholds)
    w, one = _check_weights(np.ones(y.size) if weights is None else weights, y.size)
    treated = s[:, None] >= pt[None, :]                      # (n, t)
    tp = w @ (treated & (y == 1)[:, None])                   # (b, t)
    fp = w @ (treated & (y == 0)[:, None])
    n = w.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (tp - fp * (pt / (1.0 - pt))[None, :]) / n
    return out[0] if one else out


def treat_all_net_benefit(y_true, thresholds, weights=None) -> np.ndarray:
    """Net benefit of biopsying every case: ``prevalence - (1 - prevalence) * pt / (1 - pt)``, the prevalence
    under each row of ``weights`` (shapes as :func:`net_benefit`)."""
    y = _check_labels(y_true)
    pt = _check_thresholds(thresholds)
    w, one = _check_weights(np.ones(y.size) if weights is None else weights, y.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        prevalence = (w @ (y == 1)) / w.sum(axis=1)
    out = prevalence[:, None] - (1.0 - prevalence[:, None]) * (pt / (1.0 - pt))[None, :]
    return out[0] if one else out
