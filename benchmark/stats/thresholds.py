"""Operating points chosen on validation data, and the metrics they give on test data.

* :func:`youden_threshold` - the threshold that maximises Youden's J on validation data;
* :func:`threshold_metrics` - accuracy, sensitivity and specificity at a given threshold.

A threshold is chosen on validation images and applied to test images, so the test metrics
are not tuned on the test set (unlike the ROC corner point of
:func:`benchmark.stats.corner_operating_point`, chosen on the test scores themselves).
"""
from __future__ import annotations

import numpy as np

from benchmark.stats.metrics import _check_binary_scores, _require_both_classes

__all__ = ["youden_threshold", "threshold_metrics"]


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
    desc = values[::-1]
    if best == desc.size - 1:
        return float(desc[best])
    return float((desc[best] + desc[best + 1]) / 2.0)


def threshold_metrics(y_true, scores, threshold: float) -> dict:
    """Accuracy, sensitivity and specificity when ``score >= threshold`` is called malignant.

    Returns ``{"accuracy", "sensitivity", "specificity"}``; sensitivity (specificity) is NaN
    when there is no malignant (benign) case.
    """
    y, (s,) = _check_binary_scores(y_true, scores)
    called = s >= float(threshold)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    tp, tn = int((called & (y == 1)).sum()), int((~called & (y == 0)).sum())
    return {"accuracy": (tp + tn) / y.size,
            "sensitivity": tp / n_pos if n_pos else float("nan"),
            "specificity": tn / n_neg if n_neg else float("nan")}
