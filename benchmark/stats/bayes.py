"""The correlated Bayesian t-test: the Bayesian counterpart of :func:`benchmark.stats.nadeau_bengio_ttest`.

Corani & Benavoli (2015), "A Bayesian approach for comparing cross-validated algorithms on
multiple data sets", Machine Learning 100:285-304; Benavoli, Corani, Demsar & Zaffalon (2017),
"Time for a change: a tutorial for comparing multiple classifiers through Bayesian analysis",
JMLR 18(77):1-36.
"""
from __future__ import annotations

import numpy as np
from scipy import stats as _sps

from benchmark.stats.hypothesis import _ZERO_VARIANCE, fold_differences

__all__ = ["correlated_bayesian_ttest", "posterior_probabilities"]



def correlated_bayesian_ttest(diffs, n_train: float, n_test: float, rope: float) -> dict:
    """Posterior probabilities that A is better than, practically equivalent to, or worse than B.

    ``diffs`` are the ``J = k r`` per-fold differences ``d = score_a - score_b`` (e.g. AUC per
    fold) of k-fold cross-validation repeated r times. With mean ``m`` and sample variance ``s^2``
    (ddof=1), the posterior of the mean difference ``mu`` (Corani & Benavoli 2015, in the limit of a
    non-informative prior) is Student t with ``J - 1`` degrees of freedom, location ``m`` and scale

        ``sqrt((1/J + n_test/n_train) s^2)``,

    the variance correction of the corrected resampled t-test (Nadeau & Bengio 2003), so this
    test and :func:`benchmark.stats.nadeau_bengio_ttest` read the same training and test sizes.
    Corani & Benavoli write it with the correlation of the folds, ``rho = n_test / n`` and
    ``1/J + rho / (1 - rho)``; the ``rho = 1/k`` of k-fold cross-validation (as in the library
    baycomp's ``CorrelatedTTest``) is ``n_test/n_train = 1/(k - 1)`` when the training part is
    the rest of the data.

    With ``rope`` the half-width of the region of practical equivalence ``[-rope, rope]``:
    ``p_a_better = P(mu > rope)``, ``p_b_better = P(mu < -rope)`` and ``p_equivalent`` the rest
    (exactly 0 when ``rope`` is 0); the three sum to 1 (Benavoli et al. 2017).

    Returns ``{"p_a_better", "p_equivalent", "p_b_better", "mean", "scale", "df"}``. Fewer than 2
    differences: the probabilities and the scale are NaN (the mean too with none). Zero variance
    (the rule of :func:`benchmark.stats.nadeau_bengio_ttest`: a corrected variance of at most
    1e-20, or differences equal to a relative 1e-12) makes the posterior a point mass at ``m``
    (``scale = 0``) and the probabilities 0 or 1, the rope closed: ``m > rope`` is A better,
    ``m < -rope`` B better, and ``|m| <= rope`` (so ``m = 0`` with ``rope = 0``) equivalent.
    """
    d = fold_differences(diffs, n_train, n_test)
    if not (np.isfinite(rope) and rope >= 0):
        raise ValueError(f"rope must be a finite half-width >= 0, got {rope}")
    rope = float(rope)
    j = int(d.size)
    nan = float("nan")
    mean = float(d.mean()) if j else nan
    out = {"p_a_better": nan, "p_equivalent": nan, "p_b_better": nan, "mean": mean, "scale": nan,
           "df": float(max(j - 1, 0))}
    if j < 2:
        return out
    var = (1.0 / j + float(n_test) / float(n_train)) * float(np.var(d, ddof=1))
    zero = var <= _ZERO_VARIANCE or np.ptp(d) <= 1e-12 * np.abs(d).max()
    scale = 0.0 if zero else float(np.sqrt(var))
    return {**out, **posterior_probabilities(mean, scale, j - 1, rope), "scale": scale}


def posterior_probabilities(mean: float, scale: float, df: float, rope: float) -> dict:
    """``{"p_a_better", "p_equivalent", "p_b_better"}`` of a Student t posterior (``df`` degrees of
    freedom, location ``mean``, ``scale``) of the mean difference, with the region of practical
    equivalence ``[-rope, rope]``: what :func:`correlated_bayesian_ttest` returns, from a comparison
    already summarised (a method-level row's difference, standard error and degrees of freedom; an
    infinite ``df`` is the normal). ``scale = 0`` is the point mass, the rope closed."""
    if scale == 0:
        a, b = float(mean > rope), float(mean < -rope)
        return {"p_a_better": a, "p_equivalent": 1.0 - a - b, "p_b_better": b}
    p_a = float(_sps.t.sf(rope, df, loc=mean, scale=scale))
    p_b = float(_sps.t.cdf(-rope, df, loc=mean, scale=scale))
    p_eq = max(0.0, 1.0 - p_a - p_b) if rope > 0 else 0.0
    return {"p_a_better": p_a, "p_equivalent": p_eq, "p_b_better": p_b}
