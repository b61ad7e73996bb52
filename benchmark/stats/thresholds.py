"""Operating points chosen on validation data, and the metrics they give on test data.

* :func:`youden_threshold` - the threshold that maximises Youden's J on validation data;
* :func:`sensitivity_threshold` - the highest threshold whose validation sensitivity reaches a target
  (a fixed-sensitivity operating point);
* :func:`threshold_rates` - accuracy, sensitivity, specificity, PPV and NPV at a given threshold, under
  rows of case weights (bootstrap resamples as weights); :func:`threshold_metrics`, its first three.

A threshold is chosen on validation images and applied to test images, so the test metrics
are not tuned on the test set (unlike the ROC corner point of
:func:`benchmark.stats.corner_operating_point`, chosen on the test scores themselves).
"""
from __future__ import annotations

import math

import numpy as np

from benchmark.stats.cluster_bootstrap import _check_weights
from benchmark.stats.metrics import _check_binary_scores, _require_both_classes

__all__ = ["youden_threshold", "sensitivity_threshold", "threshold_metrics", "threshold_rates"]


def youden_threshold(y_val, scores_val) -> float:
    """The threshold that maximises Youden's J = sensitivity + specificity - 1 on validation data.

    A case is called malignant when ``score >= threshold``. The candidate cuts lie between
    consecutive distinct validation scores (and below the lowest one, which calls everything
    malignant, J = 0). Among cuts with the largest J the highest (most specific) wins, and the
    threshold returned is the midpoint between the lowest score it calls malignant and the
    next lower distinct validation score (that lowest score itself when it is the lowest of
    all): it classifies the validation images exactly as the cut does, and test scores that
    fall in the gap go to the nearer side. Needs both classes (ValueError otherwise).
    """
    y, (s,) = _check_binary_scores(y_val, scores_val, names=("scores_val",))
    _require_both_classes(y, "youden_threshold")
    values, inverse = np.unique(s, return_inverse=True)
    inverse = inverse.reshape(-1)
    pos = np.bincount(inverse[y == 1], minlength=values.size)[::-1]  # descending values
    neg = np.bincount(inverse[y == 0], minlength=values.size)[::-1]
    # threshold = k-th highest value: malignant calls are the cases with the k highest values
    j = (np.cumsum(pos) * int(neg.sum()) - np.cumsum(neg) * int(pos.sum()))  # J * n_pos * n_neg, exact
    best = int(np.argmax(j))  # first maximum = highest threshold
    return _cut(values[::-1], best)


def _cut(desc: np.ndarray, k: int) -> float:
    """The threshold that calls the ``k + 1`` highest distinct values malignant: the midpoint to the next lower
    distinct value (the value itself when it is the lowest)."""
    return float(desc[k]) if k == desc.size - 1 else float((desc[k] + desc[k + 1]) / 2.0)


def sensitivity_threshold(y_val, scores_val, target: float) -> float:
    """The highest threshold whose sensitivity on validation data is at least ``target`` (0 < target <= 1).

    A case is called malignant when ``score >= threshold``. Cuts lie between consecutive distinct
    validation scores, as for :func:`youden_threshold`: the highest cut whose malignant calls hold at
    least ``ceil(target * n_malignant)`` of the validation cancers wins (the fewest benign calls that
    reach the target), and the threshold returned is the midpoint between the lowest score it calls
    malignant and the next lower distinct validation score (that lowest score itself when it is the
    lowest of all): it classifies the validation images exactly as the cut does. On few validation
    cancers the target is coarse: with 20, a target of 0.98 needs all 20 (sensitivity 1 on validation),
    so test sensitivity tends to land below it. Needs a malignant case (ValueError otherwise).
    """
    y, (s,) = _check_binary_scores(y_val, scores_val, names=("scores_val",))
    if not (0.0 < float(target) <= 1.0):
        raise ValueError(f"target sensitivity must lie in (0, 1], got {target!r}")
    n_pos = int((y == 1).sum())
    if n_pos == 0:
        raise ValueError(f"sensitivity_threshold needs a malignant case in y_val (none among {y.size})")
    needed = math.ceil(float(target) * n_pos - 1e-9)  # 0.95 * 20 is 19, not 19.000000000000004
    values, inverse = np.unique(s, return_inverse=True)
    pos = np.bincount(inverse.reshape(-1)[y == 1], minlength=values.size)[::-1]  # descending values
    k = int(np.argmax(np.cumsum(pos) >= needed))  # first (highest) cut that reaches the target
    return _cut(values[::-1], k)


def threshold_metrics(y_true, scores, threshold: float) -> dict:
    """Accuracy, sensitivity and specificity when ``score >= threshold`` is called malignant.

    Returns ``{"accuracy", "sensitivity", "specificity"}`` (:func:`threshold_rates`' first three); sensitivity
    (specificity) is NaN when there is no malignant (benign) case.
    """
    rates = threshold_rates(y_true, scores, threshold)
    return {k: rates[k] for k in ("accuracy", "sensitivity", "specificity")}


def threshold_rates(y_true, scores, threshold: float, weights=None) -> dict:
    """Accuracy, sensitivity, specificity, PPV and NPV when ``score >= threshold`` is called malignant.

    ``weights``: ``(n,)`` or ``(b, n)`` non-negative case weights (e.g. how often a bootstrap resample drew
    each case; None: 1 each). Returns ``{"accuracy", "sensitivity", "specificity", "ppv", "npv"}``, each a float
    (1-D or no weights) or an array of length ``b``; NaN where its denominator has zero weight (no malignant
    case, no benign case, no malignant call, no benign call).
    """
    y, (s,) = _check_binary_scores(y_true, scores)
    w, one = _check_weights(np.ones(y.size) if weights is None else weights, y.size)
    called, malignant = s >= float(threshold), y == 1
    tp, fn = w @ (called & malignant), w @ (~called & malignant)
    fp, tn = w @ (called & ~malignant), w @ (~called & ~malignant)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {"accuracy": (tp + tn) / (tp + tn + fp + fn), "sensitivity": tp / (tp + fn),
               "specificity": tn / (tn + fp), "ppv": tp / (tp + fp), "npv": tn / (tn + fn)}
    return {k: float(v[0]) if one else v for k, v in out.items()}
