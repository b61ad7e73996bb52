"""Power of the corrected repeated k-fold t-test: the smallest difference it can detect.

The method-level test of two methods is :func:`benchmark.stats.nadeau_bengio_ttest` (Nadeau &
Bengio 2003; Bouckaert & Frank 2004): with ``J = k r`` per-fold AUC differences (k folds, r
repeats) of standard deviation ``sd``, the mean difference has the variance
``(1/J + n_test/n_train) sd^2`` and the statistic ``t`` has ``J - 1`` degrees of freedom. For
a true mean difference ``delta`` the statistic is noncentral t with

    df = J - 1,    noncentrality  lambda = delta / (sd * sqrt(1/J + n_test/n_train)),

and the two-sided test at level ``a`` rejects with probability
``P(|T| > t_{J-1, 1-a/2}) = 1 - F(t_crit; df, lambda) + F(-t_crit; df, lambda)`` (F the noncentral
t distribution function).

* :func:`minimum_detectable_difference` - the ``delta`` that this probability (the power)
  reaches at a given level, over a family of comparisons;
* :func:`repeats_needed` - the fewest repeats whose minimum detectable difference reaches a
  target;
* :func:`detectable_floor` - the limit of the minimum detectable difference as repeats grow.
  The term ``n_test/n_train`` does not shrink with more repeats (the folds of every repeat
  train on overlapping images), so no number of repeats detects a difference below it.

Several comparisons are corrected as by Holm (1979): the smallest p-value of a family of
``m`` is compared with ``alpha / m``, the Bonferroni level, the first and strictest step of
Holm's procedure. Powers here are at that level: a difference this large is detected with the
stated power even when it is the family's only true difference (Holm's later steps are laxer).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import optimize as _opt
from scipy import stats as _sps

__all__ = ["minimum_detectable_difference", "repeats_needed", "detectable_floor"]


# ------------------------------------------------------------------ validation
def _check_positive(value, name: str) -> float:
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return float(value)


def _check_level(alpha, power, n_comparisons) -> float:
    """The per-comparison level ``alpha / n_comparisons``, after checking the three arguments."""
    if not (0.0 < alpha < 1.0):
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    if not (0.0 < power < 1.0):
        raise ValueError(f"power must lie strictly between 0 and 1, got {power}")
    if not (np.isfinite(n_comparisons) and n_comparisons >= 1):
        raise ValueError(f"n_comparisons must be a number >= 1, got {n_comparisons}")
    level = float(alpha) / float(n_comparisons)
    if power <= level:
        raise ValueError(f"power must exceed the test's level alpha / n_comparisons = {level:g} (the power with no "
                         f"difference at all), got {power}")
    return level


def _check_ratio(test_over_train) -> float:
    if not (np.isfinite(test_over_train) and test_over_train >= 0):
        raise ValueError(f"test_over_train must be a finite number >= 0 (n_test / n_train), got {test_over_train}")
    return float(test_over_train)


def _check_design(n_folds, n_repeats) -> int:
    """The number of per-fold differences ``J = n_folds * n_repeats``, after checking both (``n_folds = 1``:
    holdout splits, one difference per repeat); ``J`` must be at least 2."""
    if not (isinstance(n_folds, (int, np.integer)) and n_folds >= 1):
        raise ValueError(f"n_folds must be an integer >= 1, got {n_folds}")
    if not (isinstance(n_repeats, (int, np.integer)) and n_repeats >= 1):
        raise ValueError(f"n_repeats must be an integer >= 1, got {n_repeats}")
    if n_folds * n_repeats < 2:
        raise ValueError(f"n_folds * n_repeats must be at least 2 (one difference has no spread), got "
                         f"{n_folds} x {n_repeats}")
    return int(n_folds) * int(n_repeats)


# ------------------------------------------------------------------ power of the t-test
def _power(noncentrality: float, df: int, t_crit: float) -> float:
    """``P(|T| > t_crit)`` for ``T`` noncentral t with ``df`` degrees of freedom.

    The lower tail ``P(T < -t_crit)`` is computed as ``P(T' > t_crit)`` with ``T'`` of noncentrality
    ``-lambda`` (the same by symmetry): ``scipy.stats.nct.cdf`` gives NaN there for large ``lambda``.
    """
    return float(_sps.nct.sf(t_crit, df, noncentrality) + _sps.nct.sf(t_crit, df, -noncentrality))


def _detectable_noncentrality(df: int, level: float, power: float) -> float:
    """The noncentrality at which the two-sided t-test at ``level`` has power ``power`` (> level)."""
    t_crit = float(_sps.t.ppf(1.0 - level / 2.0, df))

    def gap(nc: float) -> float:  # increasing in nc, from level - power < 0 at nc = 0
        return _power(nc, df, t_crit) - power

    high = t_crit + float(_sps.norm.ppf(power)) + 1.0
    while gap(high) < 0:
        high *= 2.0
    return float(_opt.brentq(gap, 0.0, high, xtol=1e-12, rtol=1e-13))


def minimum_detectable_difference(sd: float, n_folds: int, n_repeats: int, test_over_train: float,
                                  alpha: float = 0.05, power: float = 0.8, n_comparisons: int = 1) -> float:
    """The smallest true mean difference the corrected repeated k-fold t-test detects with ``power``.

    ``sd``: the standard deviation of the per-fold differences (e.g. of AUCs); ``n_folds`` (k),
    ``n_repeats`` (r): the design, ``J = k r`` differences; ``test_over_train``: the
    correction's ``n_test / n_train``. The test is two-sided at the level ``alpha /
    n_comparisons`` - Bonferroni's, which is the first (strictest) step of Holm's procedure
    over a family of ``n_comparisons`` tests. Returns the ``delta`` solving (Brent's method)

        P(|T| > t_{J-1, 1 - alpha/(2 n_comparisons)}) = power,
        T ~ noncentral t(df = J - 1, lambda = delta / (sd sqrt(1/J + test_over_train))),

    that is ``delta = lambda* sd sqrt(1/J + test_over_train)``, in the units of ``sd``. ``power``
    must exceed the level (the test's power with no difference).
    """
    sd = _check_positive(sd, "sd")
    j = _check_design(n_folds, n_repeats)
    ratio = _check_ratio(test_over_train)
    level = _check_level(alpha, power, n_comparisons)
    return _detectable_noncentrality(j - 1, level, power) * sd * math.sqrt(1.0 / j + ratio)


def repeats_needed(target: float, sd: float, n_folds: int, test_over_train: float, alpha: float = 0.05,
                   power: float = 0.8, n_comparisons: int = 1, max_repeats: int = 100) -> int | None:
    """The fewest repeats ``r`` (1 .. ``max_repeats``; from 2 with ``n_folds = 1``, holdout splits) whose
    :func:`minimum_detectable_difference` is at most ``target``; None if even ``max_repeats``
    is not enough.

    The minimum detectable difference decreases with ``r`` towards :func:`detectable_floor`,
    ``(z_{1-alpha/(2m)} + z_power) sd sqrt(test_over_train)``, so a ``target`` below that floor
    gives None for any ``max_repeats``. The answer ``r`` satisfies ``MDD(r) <= target`` and, for
    ``r > 1``, ``target < MDD(r - 1)`` (found by bisection over ``r``).
    """
    target = _check_positive(target, "target")
    if not (isinstance(max_repeats, (int, np.integer)) and max_repeats >= 1):
        raise ValueError(f"max_repeats must be an integer >= 1, got {max_repeats}")

    def reached(r: int) -> bool:
        return minimum_detectable_difference(sd, n_folds, r, test_over_train, alpha, power, n_comparisons) <= target

    fewest = 2 if n_folds == 1 else 1  # holdout splits: one difference per repeat, and a t-test needs two
    if max_repeats < fewest or not reached(int(max_repeats)):
        return None
    low, high = fewest - 1, int(max_repeats)  # reached(high) holds; reached(low) does not (or low < fewest)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if reached(middle) else (middle, high)
    return high


def detectable_floor(sd: float, test_over_train: float, alpha: float = 0.05, power: float = 0.8,
                     n_comparisons: int = 1) -> float:
    """The limit of :func:`minimum_detectable_difference` as the repeats grow:
    ``(z_{1 - alpha/(2 n_comparisons)} + z_power) sd sqrt(test_over_train)``.

    With ``J`` large the t statistic becomes normal with variance factor ``test_over_train``
    alone; the formula neglects the opposite tail's rejections (probability
    ``Phi(-2 z_crit - z_power)``, about 1e-6 at alpha 0.05 and power 0.8). No number of repeats
    detects a smaller difference with ``power`` (up to that tail).
    """
    sd = _check_positive(sd, "sd")
    ratio = _check_ratio(test_over_train)
    level = _check_level(alpha, power, n_comparisons)
    z = float(_sps.norm.ppf(1.0 - level / 2.0) + _sps.norm.ppf(power))
    return z * sd * math.sqrt(ratio)
