"""Significance tests for comparing classifiers on the BUSI benchmark, and Holm's correction.

Conventions are those of :mod:`benchmark.stats.metrics`: label 1 = malignant (positive),
higher score = more malignant, malignant/benign score ties count one half in the AUC.

Tests provided, from most to least recommended for one test set:

* :func:`delong_test` - DeLong, DeLong & Clarke-Pearson (1988) asymptotic test for two
  correlated AUCs on the same cases, computed with the fast O(n log n) algorithm of
  Sun & Xu (2014). It treats the images as independent cases; with duplicated images
  (BUSI) it understates the variance - prefer
  :func:`benchmark.stats.paired_cluster_bootstrap` there.
* :func:`paired_bootstrap_auc_difference` - paired (same resampled cases for both
  methods) stratified bootstrap of the AUC difference, percentile confidence interval
  (Efron & Tibshirani 1993).
* :func:`bootstrap_wilcoxon_test` - the test used by Byra (2021): a Wilcoxon rank-sum
  test between two independently bootstrapped AUC distributions. Kept for comparability
  with the paper only; it is anti-conservative (see its docstring).

Across repeated train/test splits (one AUC per split seed and method):

* :func:`paired_split_test` - Wilcoxon signed-rank (Wilcoxon 1945) and paired t-test.
* :func:`nadeau_bengio_ttest` - the corrected resampled t-test (Nadeau & Bengio 2003;
  Bouckaert & Frank 2004) for per-fold differences of k-fold cross-validation repeated r
  times: the folds share training images, which the naive t-test ignores.

Multiple comparisons:

* :func:`holm_correction` - Holm (1979) step-down adjusted p-values.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import stats as _sps

from benchmark.stats.bootstrap import _check_confidence, paired_differences
from benchmark.stats.metrics import (
    _bootstrap_auc_matrix,
    _check_binary_scores,
    _check_n_bootstrap,
    _require_both_classes,
    roc_auc,
)

__all__ = [
    "delong_variance",
    "delong_test",
    "paired_bootstrap_auc_difference",
    "paired_bootstrap_auc_differences",
    "bootstrap_wilcoxon_test",
    "paired_split_test",
    "nadeau_bengio_ttest",
    "holm_correction",
]

# Below this the variance of an AUC (difference) is treated as exactly zero. AUCs are
# multiples of 1/(2 m n), so genuine variances of realistic test sets are far larger.
_ZERO_VARIANCE = 1e-20


# ------------------------------------------------------------------ one test set
def _placement_values(y: np.ndarray, score_matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DeLong structural components via midranks (Sun & Xu 2014, Algorithm "fastDeLong").

    ``score_matrix`` has shape ``(k, n)`` (k scorers). Returns ``(auc, v10, v01)`` with
    ``auc`` of shape ``(k,)``, ``v10`` of shape ``(k, m)`` (one value per malignant case:
    the fraction of benign cases it out-scores, ties 1/2) and ``v01`` of shape ``(k, n0)``
    (one per benign case: the fraction of malignant cases that out-score it, ties 1/2).
    """
    x = score_matrix[:, y == 1]
    z = score_matrix[:, y == 0]
    m, n = x.shape[1], z.shape[1]
    tx = _sps.rankdata(x, axis=1)  # midranks among malignant cases
    ty = _sps.rankdata(z, axis=1)  # midranks among benign cases
    tz = _sps.rankdata(np.concatenate([x, z], axis=1), axis=1)  # midranks among all cases
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    auc = v10.mean(axis=1)
    return auc, v10, v01


def _require_two_per_class(y: np.ndarray, what: str) -> None:
    m, n = int((y == 1).sum()), int((y == 0).sum())
    if m < 2 or n < 2:
        raise ValueError(
            f"{what} needs at least 2 malignant and 2 benign cases for its variance estimate; "
            f"got {m} malignant and {n} benign"
        )


def delong_variance(y_true, scores) -> tuple[float, float]:
    """AUC and its DeLong variance estimate, ``(auc, variance)``.

    DeLong, DeLong & Clarke-Pearson (1988), Biometrics 44:837-845; computed with midranks
    in O(n log n) as in Sun & Xu (2014), IEEE Signal Process. Lett. 21:1389-1393:

    ``var = S10 / m + S01 / n``, where ``S10`` is the sample variance (ddof=1) of the
    structural components V10 of the ``m`` malignant cases and ``S01`` that of the V01
    components of the ``n`` benign cases. Needs at least two cases of each class.
    """
    y, (s,) = _check_binary_scores(y_true, scores)
    _require_both_classes(y, "delong_variance")
    _require_two_per_class(y, "delong_variance")
    auc, v10, v01 = _placement_values(y, s[None, :])
    m, n = v10.shape[1], v01.shape[1]
    var = np.var(v10[0], ddof=1) / m + np.var(v01[0], ddof=1) / n
    return float(auc[0]), float(var)


def delong_test(y_true, scores_a, scores_b) -> tuple[float, float]:
    """DeLong test of equal AUCs for two scorers on the same cases: ``(z, two-sided p)``.

    The test assumes the cases (images) are independent draws; duplicated or near-duplicate
    images make its p-values too small. :func:`benchmark.stats.paired_cluster_bootstrap` resamples duplicate
    groups instead.

    DeLong, DeLong & Clarke-Pearson (1988), with the fast midrank computation of Sun & Xu
    (2014). ``z = (AUC_a - AUC_b) / sqrt(Var(AUC_a - AUC_b))`` where the variance of the
    difference uses the covariance of the two scorers' structural components, i.e. the
    variance of the per-case differences of components:
    ``Var = S10(V10_a - V10_b) / m + S01(V01_a - V01_b) / n``. ``p = 2 * (1 - Phi(|z|))``.
    A positive ``z`` means A has the larger AUC.

    Zero variance (e.g. identical score vectors, or any two scorers that rank the cases
    identically): ``z = 0, p = 1`` when the AUCs are equal. If the AUCs differ but the
    estimated variance is still zero (a degenerate case, e.g. a perfect scorer against a
    constant one), ``z = +-inf, p = 0``; the asymptotic test is not meaningful there.
    """
    y, (a, b) = _check_binary_scores(y_true, scores_a, scores_b, names=("scores_a", "scores_b"))
    _require_both_classes(y, "delong_test")
    _require_two_per_class(y, "delong_test")
    auc, v10, v01 = _placement_values(y, np.vstack([a, b]))
    m, n = v10.shape[1], v01.shape[1]
    d10 = v10[0] - v10[1]
    d01 = v01[0] - v01[1]
    diff = float(d10.mean())  # == AUC_a - AUC_b
    var = float(np.var(d10, ddof=1) / m + np.var(d01, ddof=1) / n)
    if var <= _ZERO_VARIANCE:
        if abs(diff) < 1e-12:
            return 0.0, 1.0
        return float(np.copysign(np.inf, diff)), 0.0
    z = diff / np.sqrt(var)
    p = float(2.0 * _sps.norm.sf(abs(z)))
    return float(z), min(1.0, p)


def paired_bootstrap_auc_difference(
    y_true, scores_a, scores_b, n_bootstrap: int = 2000, seed=0, confidence: float = 0.95
) -> dict:
    """Paired bootstrap of ``AUC_a - AUC_b``: percentile CI and two-sided p-value.

    Both scorers are evaluated on the *same* resampled cases in each resample (paired
    bootstrap), which keeps their correlation; resampling is stratified by class as in
    :mod:`benchmark.stats` (Efron & Tibshirani 1993, ch. 13 and 15).

    Returns ``{"difference", "ci_low", "ci_high", "p"}``:

    * ``difference``: AUC_a - AUC_b on the full test set;
    * ``ci_low``/``ci_high``: percentile interval of the bootstrap differences at level
      ``confidence`` (``numpy.quantile``, linear interpolation);
    * ``p``: two-sided bootstrap p-value for "no difference",
      ``min(1, 2 * min(#(d* <= 0) + 1, #(d* >= 0) + 1) / (B + 1))`` - twice the smaller
      tail mass of the bootstrap distribution beyond 0, with the +1 correction of
      Davison & Hinkley (1997, eq. 4.11) so that it is never exactly 0. Identical scorers
      give a difference of 0 in every resample and ``p = 1``.
    """
    return paired_bootstrap_auc_differences(y_true, {"a": scores_a, "b": scores_b}, [("a", "b")],
                                            n_bootstrap, seed, confidence)[("a", "b")]


def paired_bootstrap_auc_differences(y_true, scores: dict, pairs, n_bootstrap: int = 2000, seed=0,
                                     confidence: float = 0.95) -> dict:
    """:func:`paired_bootstrap_auc_difference` for many pairs of scorers: ``{(a, b): result}``.

    The resamples depend only on ``y_true``, ``n_bootstrap`` and ``seed``, so every scorer's
    bootstrap AUCs are computed once, on the shared resamples, and each pair's result is the
    one the pairwise function gives.
    """
    names = list(scores)
    y, vectors = _check_binary_scores(y_true, *(scores[n] for n in names), names=names)
    _require_both_classes(y, "paired_bootstrap_auc_difference")
    n_bootstrap = _check_n_bootstrap(n_bootstrap)
    if n_bootstrap < 1:
        raise ValueError("paired_bootstrap_auc_difference needs n_bootstrap >= 1")
    _check_confidence(confidence)
    aucs = _bootstrap_auc_matrix(y, vectors, n_bootstrap, seed)
    observed = {n: roc_auc(y, v) for n, v in zip(names, vectors)}
    return paired_differences(observed, aucs, names, pairs, confidence)


def bootstrap_wilcoxon_test(y_true, scores_a, scores_b, n_bootstrap: int = 1000, seed=0) -> tuple[float, float]:
    """The comparison used by Byra (2021): rank-sum test between two bootstrap AUC samples.

    Each method's test-set AUC is bootstrapped *independently* (separate stratified
    resamples, derived from ``seed`` via ``numpy.random.SeedSequence(seed).spawn(2)``),
    and the two samples of ``n_bootstrap`` AUCs are compared with the Wilcoxon rank-sum /
    Mann-Whitney U test (Wilcoxon 1945; Mann & Whitney 1947), two-sided, normal
    approximation with tie correction (``scipy.stats.mannwhitneyu``, method="asymptotic").
    Returns ``(U, p)`` where ``U`` is the Mann-Whitney statistic of method A's sample.

    Caveat - this test is anti-conservative and is reported only for comparability with
    the paper. The bootstrap AUCs are not independent observations of anything: their
    number ``n_bootstrap`` is chosen by the analyst, not by the data, and the rank-sum
    test treats it as the sample size. Any fixed difference between the two AUCs
    therefore becomes "significant" once ``n_bootstrap`` is large enough: the p-value
    shrinks towards 0 as ``n_bootstrap`` grows, for the same test set. It also ignores
    that both methods were scored on the same cases. This is why the suite reports the
    DeLong test (:func:`delong_test`) and the paired bootstrap
    (:func:`paired_bootstrap_auc_difference`) alongside it.
    """
    y, (a, b) = _check_binary_scores(y_true, scores_a, scores_b, names=("scores_a", "scores_b"))
    _require_both_classes(y, "bootstrap_wilcoxon_test")
    n_bootstrap = _check_n_bootstrap(n_bootstrap)
    if n_bootstrap < 1:
        raise ValueError("bootstrap_wilcoxon_test needs n_bootstrap >= 1")
    parent = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    seq_a, seq_b = parent.spawn(2)
    aucs_a = _bootstrap_auc_matrix(y, [a], n_bootstrap, seq_a)[:, 0]
    aucs_b = _bootstrap_auc_matrix(y, [b], n_bootstrap, seq_b)[:, 0]
    if np.ptp(np.concatenate([aucs_a, aucs_b])) == 0:  # all AUCs equal: no evidence of a difference
        return float(n_bootstrap * n_bootstrap / 2.0), 1.0
    res = _sps.mannwhitneyu(aucs_a, aucs_b, alternative="two-sided", method="asymptotic")
    return float(res.statistic), float(res.pvalue)


# ------------------------------------------------------------------ across repeated splits and folds
def paired_split_test(values_a, values_b) -> dict:
    """Compare two methods across split seeds from paired per-split values (e.g. AUCs).

    ``values_a[i]`` and ``values_b[i]`` must come from the same split ``i``. Uses the
    differences ``d = values_a - values_b``:

    * ``wilcoxon_p``: two-sided Wilcoxon signed-rank test (Wilcoxon 1945) via
      ``scipy.stats.wilcoxon`` with its default ``method="auto"`` - the exact null
      distribution for small samples without zeros/ties, the normal approximation
      otherwise; zero differences are dropped (``zero_method="wilcox"``);
    * ``ttest_p``: two-sided paired t-test (``scipy.stats.ttest_rel``).

    Returns ``{"mean_difference", "wilcoxon_p", "ttest_p", "n"}``. With ``n < 2`` the
    p-values are NaN (no exception). If all differences are 0 both p-values are 1. If all
    differences are equal and non-zero (up to rounding, relative 1e-12) the t-test p-value
    is 0 (zero variance) while the signed-rank p-value stays finite.
    """
    a = np.asarray(values_a, dtype=np.float64)
    b = np.asarray(values_b, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"values_a and values_b must be 1-D, got shapes {a.shape} and {b.shape}")
    if a.shape != b.shape:
        raise ValueError(f"values_a and values_b have different lengths ({a.size} vs {b.size})")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("values_a and values_b must be finite (drop failed splits from both first)")
    d = a - b
    n = int(d.size)
    mean_difference = float(d.mean()) if n else float("nan")
    nan = float("nan")
    if n < 2:
        return {"mean_difference": mean_difference, "wilcoxon_p": nan, "ttest_p": nan, "n": n}
    if np.all(d == 0):
        return {"mean_difference": mean_difference, "wilcoxon_p": 1.0, "ttest_p": 1.0, "n": n}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        wilcoxon_p = float(_sps.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)
        if np.ptp(d) <= 1e-12 * np.abs(d).max():  # constant (up to rounding), non-zero: t = +-inf
            ttest_p = 0.0
        else:
            ttest_p = float(_sps.ttest_rel(a, b).pvalue)
    return {"mean_difference": mean_difference, "wilcoxon_p": wilcoxon_p, "ttest_p": ttest_p, "n": n}


def fold_differences(diffs, n_train: float, n_test: float) -> np.ndarray:
    """Per-fold differences as a flat float array, checked with the sizes of a corrected resampled test
    (finite differences, positive sizes; ``ValueError`` saying what to do otherwise)."""
    d = np.asarray(diffs, dtype=np.float64).ravel()
    if not np.isfinite(d).all():
        raise ValueError("diffs must be finite (leave out folds where an AUC is undefined, from both methods)")
    if not (n_train > 0 and n_test > 0):
        raise ValueError(f"n_train and n_test must be positive, got {n_train} and {n_test}")
    return d


def nadeau_bengio_ttest(diffs, n_train: float, n_test: float, confidence: float = 0.95,
                        extra_variance: float = 0.0) -> dict:
    """Corrected resampled t-test for paired per-fold differences (e.g. AUC_a - AUC_b per fold), with
    its confidence interval.

    Nadeau & Bengio (2003), Machine Learning 52:239-281; as the corrected repeated k-fold
    cross-validation test of Bouckaert & Frank (2004), PAKDD, LNCS 3056:3-12. With ``J = k r``
    per-fold differences ``d`` (k folds, r repeats) of mean ``m`` and sample variance ``s^2``
    (ddof=1), the folds' training sets overlap, so the variance of ``m`` is inflated from
    ``s^2 / J`` to ``V = (1/J + n_test/n_train) s^2``: ``t = m / sqrt(V)``, ``J - 1`` degrees of
    freedom, two-sided p, and the interval ``m -+ t_{J-1, (1+confidence)/2} sqrt(V)``.

    ``extra_variance``: a variance of ``m`` that the fold-to-fold spread cannot show, added to
    ``V`` (for example the image-sampling variance of differences measured on one shared
    external test set, from a bootstrap); the degrees of freedom are then Welch-Satterthwaite's,
    ``(V + extra)^2 / (V^2 / (J - 1))``, the extra part counted as known.

    Returns ``{"mean_difference", "t", "p", "df", "se", "ci_low", "ci_high"}``; with fewer than 2
    differences all but the mean are NaN. Zero variance - a total variance of at most 1e-20, or
    differences equal to a relative 1e-12 with no extra variance - gives ``t = +-inf, p = 0`` and a
    zero-width interval, unless the mean difference is below 1e-12 in size (all differences 0,
    up to rounding): ``t = 0, p = 1``.
    """
    _check_confidence(confidence)
    d = fold_differences(diffs, n_train, n_test)
    if not (np.isfinite(extra_variance) and extra_variance >= 0):
        raise ValueError(f"extra_variance must be a finite variance >= 0, got {extra_variance}")
    j = int(d.size)
    nan = float("nan")
    mean = float(d.mean()) if j else nan
    out = {"mean_difference": mean, "t": nan, "p": nan, "df": float(max(j - 1, 0)), "se": nan, "ci_low": nan, "ci_high": nan}
    if j < 2:
        return out
    spread = (1.0 / j + float(n_test) / float(n_train)) * float(np.var(d, ddof=1))
    constant = np.ptp(d) <= 1e-12 * np.abs(d).max()
    if constant:
        spread = 0.0
    var = spread + float(extra_variance)
    df = float(j - 1) if spread <= _ZERO_VARIANCE or extra_variance == 0 else var ** 2 / (spread ** 2 / (j - 1))
    out["df"] = df
    if var <= _ZERO_VARIANCE:
        out.update(se=0.0, ci_low=mean, ci_high=mean)
        if abs(mean) < 1e-12:
            return {**out, "t": 0.0, "p": 1.0}
        return {**out, "t": float(np.copysign(np.inf, mean)), "p": 0.0}
    se = float(np.sqrt(var))
    t = mean / se
    half = float(_sps.t.ppf(0.5 + confidence / 2.0, df)) * se
    return {**out, "t": float(t), "p": float(min(1.0, 2.0 * _sps.t.sf(abs(t), df))), "se": se,
            "ci_low": mean - half, "ci_high": mean + half}


# ------------------------------------------------------------------ multiple comparisons
def holm_correction(p_values) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values (family-wise error control).

    With the ``m`` non-NaN p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the
    adjusted values are ``p~_(i) = min(1, max_{j <= i} (m - j + 1) p_(j))``, returned in
    the input order and shape. They are monotone in the raw p-values, never below them and
    capped at 1. NaN entries are passed through untouched and do not count towards ``m``.
    Example: ``[0.01, 0.04, 0.03, 0.005] -> [0.03, 0.06, 0.06, 0.02]``.
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    flat = p.ravel()
    finite = ~np.isnan(flat)
    vals = flat[finite]
    if vals.size and ((vals < 0).any() or (vals > 1).any()):
        raise ValueError("p-values must lie in [0, 1] (NaN allowed)")
    m = vals.size
    if m:
        order = np.argsort(vals, kind="stable")
        adjusted_sorted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * vals[order]))
        adjusted = np.empty(m)
        adjusted[order] = adjusted_sorted
        out_flat = out.ravel()
        out_flat[finite] = adjusted
        out = out_flat.reshape(p.shape)
    return out
