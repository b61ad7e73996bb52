"""Calibration of probability scores: Brier score, calibration intercept and slope, adaptive ECE, Platt scaling.

A score in [0, 1] is read as the probability that the lesion is malignant (label 1). Every
statistic takes optional case weights ``(n,)`` or ``(b, n)`` (one row per bootstrap resample:
how often each image was drawn, :func:`benchmark.stats.cluster_bootstrap_weights`) and is
computed for all rows at once (numpy only):

* :func:`brier_score` - the weighted mean of ``(score - label)^2`` (Brier 1950);
* :func:`logistic_calibration` - logistic recalibration of the logit of the score (Cox 1958;
  Van Calster et al. 2016, 2019): the **calibration intercept** (calibration-in-the-large) is
  ``a`` in ``logit P(y=1) = a + logit(score)`` (the logit as an offset; 0 when the mean score
  matches the event rate, negative when the scores are too high), the **calibration slope** is
  ``b`` in ``logit P(y=1) = a' + b logit(score)`` (1 ideal; below 1: scores too extreme,
  overconfident; above 1: too moderate), both maximum-likelihood fits by Newton's method;
* :func:`adaptive_ece` - the expected calibration error over equal-mass bins of the score
  (Nixon et al. 2019, "adaptive calibration error"): ``sum_k (W_k / W) |mean score_k - event rate_k|``;
  equal-width bins hold few images at the extremes of a few hundred scores, which makes the
  classical ECE unstable;
* :func:`calibrated_ece_draws` - the adaptive ECE of labels drawn from the scores themselves
  (consistency resampling, Bröcker & Smith 2007): what a perfectly calibrated model with these
  scores shows on this many images: the ECE's noise floor, which on a fold's test images is not far
  below most methods' ECE (why: docs/decisions/ece-interval.md);
* :func:`platt_fit` / :func:`platt_apply` - Platt scaling (Platt 1999) on the logit of the score:
  the two-parameter fit of :func:`logistic_calibration`, applied as ``sigmoid(a' + b logit(score))``;
* :func:`weighting_shift` / :func:`prior_correct` - a model trained with class weights ``w_c`` predicts
  the odds of a set whose classes were reweighted, ``w_1 / w_0`` times the odds of the training set:
  the standard correction subtracts ``log(w_1 / w_0)`` from the logit (King & Zeng 2001; Elkan 2001);
* :func:`observed_expected` / :func:`mean_predicted` - calibration-in-the-large as the ratio of
  observed to expected events (1 ideal) and the mean predicted risk (to set beside the prevalence);
* :func:`smooth_calibration` - the calibration curve ``E[label | score]`` smoothed by a reflected
  Gaussian kernel, and :func:`smooth_ece`, the smooth calibration error (Blasiok & Nakkiran 2023),
  both computed by the maintained ``relplot`` package, whose automatic bandwidth they share.

Scores are clipped to ``[EPSILON, 1 - EPSILON]`` before the logit (:data:`EPSILON` = 1e-6, logits
within +-13.8): a float32 sigmoid returns exactly 0 or 1 beyond a logit of about -88 or +17, and
the logit of 0 or 1 is infinite. A fit that does not converge (e.g. labels perfectly separated by
the score: the slope is infinite) or is not identified (every score equal: no slope) gives NaN,
as does any statistic of a row whose weights are all 0.
"""
from __future__ import annotations

import numpy as np

from benchmark.stats.cluster_bootstrap import _check_weights
from benchmark.stats.metrics import _check_labels, _check_scores

__all__ = ["EPSILON", "ECE_BINS", "logit", "brier_score", "logistic_calibration", "adaptive_ece", "platt_fit",
           "platt_apply", "calibration_metrics", "CALIBRATION_METRICS", "calibrated_ece_draws",
           "CALIBRATED_DRAWS", "weighting_shift", "prior_correct", "observed_expected", "mean_predicted",
           "smooth_calibration", "smooth_ece"]

EPSILON = 1e-6
ECE_BINS = 10
CALIBRATED_DRAWS = 200
CALIBRATION_METRICS = ("brier", "calibration_intercept", "calibration_slope", "observed_expected", "mean_predicted",
                       "ece_adaptive")
_MAX_ITER, _MAX_HALVINGS, _TOL = 100, 40, 1e-10


def logit(scores) -> np.ndarray:
    """``log(s / (1 - s))`` of the scores clipped to ``[EPSILON, 1 - EPSILON]``."""
    s = np.clip(np.asarray(scores, dtype=np.float64), EPSILON, 1.0 - EPSILON)
    return np.log(s) - np.log1p(-s)


def _inputs(y_true, scores, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Labels (float), scores and ``(b, n)`` weights; whether the weights were one row."""
    y = _check_labels(y_true).astype(np.float64)
    s = _check_scores(scores)
    if s.shape != y.shape:
        raise ValueError(f"scores must have one entry per label ({y.size}), got shape {s.shape}")
    if (s < 0).any() or (s > 1).any():
        raise ValueError("calibration needs scores in [0, 1] (probabilities of malignancy); "
                         f"found values from {s.min():g} to {s.max():g}")
    w, one = _check_weights(np.ones(y.size) if weights is None else weights, y.size)
    return y, s, w, one


def _out(values: np.ndarray, one: bool):
    return float(values[0]) if one else values


def weighting_shift(n_benign: int, n_malignant: int, class_weights: str = "balanced") -> float:
    """``log(w_malignant / w_benign)``: how far class-weighted training moves every logit, for a training
    set of ``n_benign`` and ``n_malignant`` images weighted as the trainer's ``class_weights`` scheme does
    (``"balanced"``: ``w_c = n / (2 n_c)``, so the shift is ``log(n_benign / n_malignant)``; ``"none"``: 0)."""
    if class_weights == "none":
        return 0.0
    if class_weights != "balanced":
        raise ValueError(f"class weights {class_weights!r}: use 'balanced' or 'none'")
    if n_benign <= 0 or n_malignant <= 0:
        raise ValueError(f"the training set needs both classes, has {n_benign} benign and {n_malignant} malignant")
    return float(np.log(n_benign / n_malignant))


def prior_correct(scores, shift: float) -> np.ndarray:
    """``sigmoid(logit(score) - shift)``: the scores of a class-weighted model (``shift`` from
    :func:`weighting_shift`) as probabilities for the class balance it was trained on."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-(logit(scores) - shift)))


def observed_expected(y_true, scores, weights=None):
    """Observed over expected malignant cases, ``sum w y / sum w score`` (1: calibrated in the large;
    below 1: the scores predict too many cancers)."""
    y, s, w, one = _inputs(y_true, scores, weights)
    expected = w @ s
    with np.errstate(invalid="ignore", divide="ignore"):
        return _out(np.where(expected > 0, (w @ y) / np.where(expected > 0, expected, 1.0), np.nan), one)


def mean_predicted(y_true, scores, weights=None):
    """The mean predicted risk ``sum w score / sum w`` (to set beside the prevalence ``sum w y / sum w``)."""
    _, s, w, one = _inputs(y_true, scores, weights)
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _out(np.where(total > 0, (w @ s) / np.where(total > 0, total, 1.0), np.nan), one)


def smooth_ece(y_true, scores) -> tuple[float, float]:
    """``(smooth ECE, bandwidth)``: relplot's smooth calibration error with its automatic bandwidth
    (the kernel width at which the smoothed error equals the width, Blasiok & Nakkiran 2023)."""
    from relplot.metrics import smECE

    y, s, _, _ = _inputs(y_true, scores, None)
    value, width = smECE(s, y, return_width=True)
    return float(value), float(width)


def smooth_calibration(y_true, scores, grid, bandwidth: float, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """``(curve, density)`` on ``grid``: ``E[label | score]`` kernel-smoothed (relplot's reflected Gaussian
    kernel of width ``bandwidth``, e.g. :func:`smooth_ece`'s) and the kernel density of the scores
    there. ``weights`` ``(n,)`` counts each image (a bootstrap resample's multiplicities)."""
    from relplot.kernels import ReflectedGaussianKernel

    y, s, w, _ = _inputs(y_true, scores, weights)
    if w.shape[0] != 1:
        raise ValueError("smooth_calibration takes one row of weights")
    kernel = ReflectedGaussianKernel(float(bandwidth))
    grid = np.asarray(grid, dtype=np.float64)
    events = kernel.apply(s, w[0] * y, grid)
    density = kernel.apply(s, w[0], grid)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = np.where(density > 0, events / np.where(density > 0, density, 1.0), np.nan)
    return np.clip(curve, 0.0, 1.0), density / max(float(w[0].sum()), 1.0)


def brier_score(y_true, scores, weights=None):
    """Weighted mean squared difference between score and label (lower is better; 0.25 for a constant 0.5)."""
    y, s, w, one = _inputs(y_true, scores, weights)
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _out(np.where(total > 0, w @ (s - y) ** 2 / np.where(total > 0, total, 1.0), np.nan), one)


def _evaluate(y, x, w, a, b) -> tuple[np.ndarray, np.ndarray]:
    """Log-likelihood per row and the fitted probabilities of ``logit P = a + b x``."""
    eta = a[:, None] + b[:, None] * x[None, :]
    softplus = np.maximum(-eta, 0.0) + np.log1p(np.exp(-np.abs(eta)))  # -log P, without overflow
    return (w * ((y[None, :] - 1.0) * eta - softplus)).sum(axis=1), np.exp(-softplus)


def _fit(y, x, w, slope: bool) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood ``(a, b)`` of ``logit P = a + b x`` per row of ``w`` (``b`` fixed at 1 without ``slope``).

    Newton's method from ``(0, 1)`` (perfect calibration), a step halved until the log-likelihood
    does not drop, iterating only the rows not yet converged; NaN where the Hessian is singular
    (every score equal: no slope), without convergence within :data:`_MAX_ITER` steps, or, for the
    slope, where the score separates the classes (no maximum: the slope grows without bound).
    """
    rows = w.shape[0]
    a, b = np.zeros(rows), np.ones(rows)
    ll, p = _evaluate(y, x, w, a, b)
    active = np.arange(rows)
    for _ in range(_MAX_ITER):
        wa, pa = w[active], p[active]
        r, v = wa * (y[None, :] - pa), wa * pa * (1.0 - pa)
        ga, haa = r.sum(axis=1), v.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            if slope:
                gb, hab, hbb = r @ x, v @ x, v @ (x * x)
                det = haa * hbb - hab * hab
                det = np.where(det > 1e-12 * haa * hbb, det, np.nan)  # singular: every score (nearly) equal
                da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
            else:
                da, db = ga / np.where(haa > 0, haa, np.nan), np.zeros(active.size)
        finite = np.isfinite(da) & np.isfinite(db)
        a[active[~finite]], b[active[~finite]] = np.nan, np.nan
        step = np.where(finite, 1.0, 0.0)
        todo = np.flatnonzero(finite)
        for _ in range(_MAX_HALVINGS):
            rows_ = active[todo]
            ta, tb = a[rows_] + step[todo] * da[todo], b[rows_] + step[todo] * db[todo]
            new_ll, new_p = _evaluate(y, x, w[rows_], ta, tb)
            ok = new_ll >= ll[rows_] - 1e-12 * np.abs(ll[rows_])
            keep = rows_[ok]
            a[keep], b[keep], ll[keep], p[keep] = ta[ok], tb[ok], new_ll[ok], new_p[ok]
            todo = todo[~ok]
            if not todo.size:
                break
            step[todo] /= 2.0
        step[todo] = 0.0  # no ascent found at this precision: at the maximum
        moved = step * (np.abs(np.nan_to_num(da)) + np.abs(np.nan_to_num(db)))
        converged = moved < _TOL * (1.0 + np.abs(a[active]) + np.abs(b[active]))
        active = active[finite & ~converged]
        if not active.size:
            break
    a[active], b[active] = np.nan, np.nan
    if slope:  # (quasi-)complete separation: no maximum, the slope is infinite
        present = w > 0
        lo = lambda label: np.where(present & (y == label), x, np.inf).min(axis=1)  # noqa: E731
        hi = lambda label: np.where(present & (y == label), x, -np.inf).max(axis=1)  # noqa: E731
        separated = (hi(0) <= lo(1)) | (hi(1) <= lo(0))
        a[separated], b[separated] = np.nan, np.nan
    return a, b


def logistic_calibration(y_true, scores, weights=None) -> dict:
    """``{"intercept", "slope", "slope_intercept"}``: calibration intercept (calibration-in-the-large,
    ``logit(score)`` as an offset), calibration slope, and the intercept of the slope's fit
    (with the slope: Platt scaling's two parameters). Floats for 1-D weights, else arrays."""
    y, s, w, one = _inputs(y_true, scores, weights)
    x = logit(s)
    intercept, _ = _fit(y, x, w, slope=False)
    a, b = _fit(y, x, w, slope=True)
    return {"intercept": _out(intercept, one), "slope": _out(b, one), "slope_intercept": _out(a, one)}


def _equal_mass_bins(s: np.ndarray, w: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For scores ``s`` in ascending order and ``(b, n)`` weights: the first index of each distinct score,
    its bin per row of weights (``floor(n_bins * m / W)``, ``m`` the weight below the score plus half the
    weight at it, ``W`` the row's total weight) and the total weights ``(b,)``."""
    _, first = np.unique(s, return_index=True)
    tied = np.add.reduceat(w, first, axis=1)                     # weight at each distinct score
    total = tied.sum(axis=1, keepdims=True)
    middle = np.cumsum(tied, axis=1) - 0.5 * tied
    with np.errstate(invalid="ignore", divide="ignore"):
        bins = np.minimum(np.floor(n_bins * middle / np.where(total > 0, total, 1.0)), n_bins - 1).astype(np.int64)
    return first, bins, total[:, 0]


def _check_bins(n_bins) -> None:
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")


def adaptive_ece(y_true, scores, weights=None, n_bins: int = ECE_BINS):
    """Expected calibration error over ``n_bins`` equal-mass bins of the score.

    Images in ascending score order; an image (with all images of its score: ties share a bin)
    falls into bin ``floor(n_bins * m / W)``, ``m`` the weight below its score plus half the weight
    at it, ``W`` the total weight. ``sum_k |sum_(i in k) w_i (s_i - y_i)| / W``: the mass-weighted
    mean gap between the mean score and the fraction malignant of each bin. On a few hundred images
    it is biased upwards (each bin's gap is a noisy mean whose absolute value is positive even when
    the model is calibrated): :func:`calibrated_ece_draws` gives what sampling alone produces.
    """
    _check_bins(n_bins)
    y, s, w, one = _inputs(y_true, scores, weights)
    order = np.argsort(s, kind="stable")
    s, y, w = s[order], y[order], w[:, order]
    first, bins, total = _equal_mass_bins(s, w, int(n_bins))
    gap = np.add.reduceat(w * (s - y)[None, :], first, axis=1)
    rows = np.arange(w.shape[0])[:, None]
    per_bin = np.zeros((w.shape[0], int(n_bins)))
    np.add.at(per_bin, (np.broadcast_to(rows, bins.shape), bins), gap)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0, np.abs(per_bin).sum(axis=1) / np.where(total > 0, total, 1.0), np.nan)
    return _out(out, one)


def calibrated_ece_draws(scores, n_draws: int = CALIBRATED_DRAWS, seed: int = 0, n_bins: int = ECE_BINS,
                         groups=None) -> np.ndarray:
    """The adaptive ECE (:func:`adaptive_ece`) of ``n_draws`` label sets drawn as if the scores were perfectly
    calibrated, image ``i`` malignant with probability ``score_i`` (consistency resampling, Bröcker & Smith
    2007): ``(n_draws,)`` draws of the calibration error that sampling alone gives these scores on this many
    images. An observed ECE inside their range is not evidence of miscalibration.

    ``groups`` (one id per image, e.g. the duplicate groups): the copies of one lesion share a label, so
    one uniform number is drawn per group and image ``i`` is malignant when it is below ``score_i``; each
    image is still malignant with probability ``score_i``, and copies with equal scores always agree. A
    large group then moves the ECE as one image would: the floor rises where groups are large."""
    _check_bins(n_bins)
    s = _check_scores(scores)
    if (s < 0).any() or (s > 1).any():
        raise ValueError("calibration needs scores in [0, 1] (probabilities of malignancy); "
                         f"found values from {s.min():g} to {s.max():g}")
    if int(n_draws) != n_draws or n_draws < 1:
        raise ValueError(f"n_draws must be a positive integer, got {n_draws!r}")
    rng = np.random.default_rng(seed)
    if groups is None:
        labels = rng.random((int(n_draws), s.size)) < s[None, :]
    else:
        _, index = np.unique(np.asarray(groups), return_inverse=True)
        if index.size != s.size:
            raise ValueError(f"groups must have one entry per score ({s.size}), got {index.size}")
        labels = rng.random((int(n_draws), int(index.max()) + 1))[:, index.reshape(-1)] < s[None, :]
    order = np.argsort(s, kind="stable")
    s, labels = s[order], labels[:, order]
    first, bins, _ = _equal_mass_bins(s, np.ones((1, s.size)), int(n_bins))
    gap = np.add.reduceat(s[None, :] - labels, first, axis=1)     # (draws, distinct scores)
    per_bin = gap @ np.eye(int(n_bins))[bins[0]]                   # summed into the bins
    return np.abs(per_bin).sum(axis=1) / s.size


def calibration_metrics(y_true, scores, weights=None) -> dict:
    """Every statistic of :data:`CALIBRATION_METRICS` for the scores (per row of ``weights``)."""
    fit = logistic_calibration(y_true, scores, weights)
    return {"brier": brier_score(y_true, scores, weights), "calibration_intercept": fit["intercept"],
            "calibration_slope": fit["slope"], "observed_expected": observed_expected(y_true, scores, weights),
            "mean_predicted": mean_predicted(y_true, scores, weights),
            "ece_adaptive": adaptive_ece(y_true, scores, weights)}


def platt_fit(y_true, scores) -> tuple[float, float]:
    """Platt scaling's ``(a, b)`` fitted on (validation) scores: ``sigmoid(a + b logit(score))`` is calibrated
    on them. Raises ``ValueError`` when the fit does not exist (one class only, or every score equal)."""
    y = _check_labels(y_true)
    if np.unique(y).size < 2:
        raise ValueError("Platt scaling needs benign and malignant images among the scores it is fitted on")
    fit = logistic_calibration(y, scores)
    a, b = fit["slope_intercept"], fit["slope"]
    if not (np.isfinite(a) and np.isfinite(b)):
        raise ValueError("Platt scaling could not be fitted: the scores are all equal or separate the classes "
                         "perfectly")
    return float(a), float(b)


def platt_apply(scores, a: float, b: float) -> np.ndarray:
    """``sigmoid(a + b logit(score))``: the scores recalibrated by :func:`platt_fit`'s parameters."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-(a + b * logit(scores))))
