"""Significance tests for comparing classifiers on the BUSI benchmark.

Conventions are those of :mod:`benchmark.metrics`: label 1 = malignant (positive),
higher score = more malignant, malignant/benign score ties count one half in the AUC.

Tests provided, from most to least recommended for one test set:

* :func:`delong_test` - DeLong, DeLong & Clarke-Pearson (1988) asymptotic test for two
  correlated AUCs on the same cases, computed with the fast O(n log n) algorithm of
  Sun & Xu (2014). It treats the images as independent cases; with duplicated images
  (BUSI) it understates the variance - prefer :func:`paired_cluster_bootstrap` there.
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

Duplicate-aware (cluster) bootstrap, for data sets in which some images are near-copies of
others (BUSI holds such duplicate groups; they are kept on one side of every split, and a
test set can hold a whole group):

* :func:`cluster_bootstrap_aucs` - AUCs of several scorers on the same stratified resamples
  of duplicate *groups* (a group's images enter a resample together, as often as the group
  is drawn); :func:`cluster_bootstrap_ci`, :func:`paired_cluster_bootstrap` and
  :func:`rank_intervals` summarise them. Images are not independent when they are copies
  of one another; resampling groups keeps that dependence (Davison & Hinkley 1997, sec. 3.8;
  Field & Welsh 2007). :func:`weighted_aucs` is the weighted Mann-Whitney AUC they rest on.

Operating points chosen on validation data:

* :func:`youden_threshold` - the threshold that maximises Youden's J on validation data;
  :func:`threshold_metrics` - accuracy, sensitivity and specificity at a given threshold.

Multiple comparisons:

* :func:`holm_correction` - Holm (1979) step-down adjusted p-values.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import stats as _sps

from .metrics import (
    _bootstrap_auc_matrix,
    _check_binary_scores,
    _check_labels,
    _check_n_bootstrap,
    _check_scores,
    _require_both_classes,
    roc_auc,
)

__all__ = [
    "cluster_bootstrap_aucs",
    "cluster_bootstrap_ci",
    "paired_cluster_bootstrap",
    "paired_differences",
    "percentile_interval",
    "rank_intervals",
    "weighted_aucs",
    "nadeau_bengio_ttest",
    "youden_threshold",
    "threshold_metrics",
    "delong_test",
    "delong_variance",
    "paired_bootstrap_auc_difference",
    "bootstrap_wilcoxon_test",
    "paired_split_test",
    "holm_correction",
]

# Below this the variance of an AUC (difference) is treated as exactly zero. AUCs are
# multiples of 1/(2 m n), so genuine variances of realistic test sets are far larger.
_ZERO_VARIANCE = 1e-20


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
    images make its p-values too small. :func:`paired_cluster_bootstrap` resamples duplicate
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
    :mod:`benchmark.metrics` (Efron & Tibshirani 1993, ch. 13 and 15).

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
    if not (0.0 < confidence < 1.0):
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
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


# ------------------------------------------------------------------ bootstrap summaries
def percentile_interval(draws, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap draws at level ``confidence`` (NaN draws left out).

    ``numpy.nanquantile`` with linear interpolation at ``(1 - confidence) / 2`` and
    ``(1 + confidence) / 2``; ``(nan, nan)`` when no draw is finite.
    """
    _check_confidence(confidence)
    d = np.asarray(draws, dtype=np.float64).ravel()
    if not np.isfinite(d).any():
        return float("nan"), float("nan")
    alpha = 1.0 - confidence
    lo, hi = np.nanquantile(d, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def _check_confidence(confidence: float) -> None:
    if not (0.0 < confidence < 1.0):
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")


def paired_differences(observed: dict, draws, methods, pairs, confidence: float = 0.95) -> dict:
    """Paired-bootstrap summary of ``AUC_a - AUC_b`` for each pair, from shared resamples.

    ``observed`` maps a method to its AUC on the full data; ``draws`` is ``(B, len(methods))``,
    column ``j`` holding ``methods[j]``'s AUC in each of the same ``B`` resamples (NaN: not
    defined in that resample; such resamples are left out of that pair). Returns
    ``{(a, b): {"difference", "ci_low", "ci_high", "p"}}``: the observed difference, the
    percentile interval of the bootstrap differences, and the two-sided bootstrap p-value
    ``min(1, 2 * min(#(d* <= 0) + 1, #(d* >= 0) + 1) / (B + 1))`` (Davison & Hinkley 1997,
    eq. 4.11: never exactly 0). Differences are rounded to 12 decimals before they are
    compared with 0, so that identical scorers give ``p = 1``.
    """
    _check_confidence(confidence)
    draws = np.asarray(draws, dtype=np.float64)
    column = {m: i for i, m in enumerate(methods)}
    out = {}
    for a, b in pairs:
        d = draws[:, column[a]] - draws[:, column[b]]
        d = d[np.isfinite(d)]
        if d.size == 0:
            out[(a, b)] = {"difference": float(observed[a] - observed[b]), "ci_low": float("nan"),
                           "ci_high": float("nan"), "p": float("nan")}
            continue
        d_cmp = np.round(d, 12)
        lo, hi = percentile_interval(d, confidence)
        below, above = int((d_cmp <= 0).sum()), int((d_cmp >= 0).sum())
        p = min(1.0, 2.0 * (min(below, above) + 1) / (d.size + 1))
        out[(a, b)] = {"difference": float(observed[a] - observed[b]), "ci_low": lo, "ci_high": hi, "p": float(p)}
    return out


# ------------------------------------------------------------------ weighted Mann-Whitney AUC
def _weighted_auc_sorted(w_sorted: np.ndarray, positive_sorted: np.ndarray, starts) -> np.ndarray:
    """AUC per row of ``w_sorted`` (weights of images in ascending score order).

    ``positive_sorted`` marks malignant images in that order; ``starts`` (or None when all
    scores are distinct) are the first positions of each distinct score value. Weighted
    Mann-Whitney: ``sum_i sum_j w_i w_j [s_i > s_j] + 1/2 [s_i == s_j]`` over malignant i and
    benign j, over ``W_malignant * W_benign``; NaN where either class has zero weight.
    """
    pos = w_sorted * positive_sorted
    neg = w_sorted - pos
    if starts is not None:
        pos = np.add.reduceat(pos, starts, axis=1)
        neg = np.add.reduceat(neg, starts, axis=1)
    neg_below = np.cumsum(neg, axis=1) - neg  # benign weight strictly below each value
    wins = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
    denominator = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, wins / np.where(denominator > 0, denominator, 1.0), np.nan)


class _ScoreLayout:
    """One scorer's images in ascending score order (images without a score left out)."""

    def __init__(self, y: np.ndarray, scores: np.ndarray):
        present = np.flatnonzero(np.isfinite(scores))
        order = present[np.argsort(scores[present], kind="stable")]
        s = scores[order]
        self.columns = order
        self.positive = (y[order] == 1).astype(np.float64)
        boundaries = np.flatnonzero(np.diff(s) != 0) + 1
        self.starts = None if boundaries.size == max(0, s.size - 1) else np.r_[0, boundaries]

    def aucs(self, weights: np.ndarray) -> np.ndarray:
        """AUC for each row of ``weights`` (``(b, n_images)``, all images of the data)."""
        return _weighted_auc_sorted(weights[:, self.columns], self.positive, self.starts)


def weighted_aucs(y_true, scores, weights) -> np.ndarray:
    """Weighted Mann-Whitney AUC of one scorer for each row of ``weights``.

    ``weights`` is ``(n,)`` or ``(b, n)`` non-negative case weights (e.g. how often a bootstrap
    resample drew each case). Ties between a malignant and a benign score count 1/2, so a row
    of weights gives what ``sklearn.metrics.roc_auc_score(y, scores, sample_weight=row)`` gives.
    Returns an array of length ``b`` (a float for 1-D weights); NaN where a class has zero
    total weight. Scores are sorted once; each row costs O(n).
    """
    y, (s,) = _check_binary_scores(y_true, scores)
    w = np.asarray(weights, dtype=np.float64)
    one = w.ndim == 1
    w = np.atleast_2d(w)
    if w.ndim != 2 or w.shape[1] != y.size:
        raise ValueError(f"weights must have shape (n,) or (b, n) with n = {y.size}, got {np.shape(weights)}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and non-negative")
    out = _ScoreLayout(y, s).aucs(w)
    return float(out[0]) if one else out


# ------------------------------------------------------------------ cluster bootstrap
_CLUSTER_CHUNK_CELLS = 2_000_000  # resamples are processed in chunks of at most this many group counts


def _check_groups(y: np.ndarray, groups) -> tuple[np.ndarray, np.ndarray]:
    """``(group index per image, label per group)``; raises if a group mixes labels."""
    g = np.asarray(groups)
    if g.ndim != 1 or g.shape[0] != y.shape[0]:
        raise ValueError(f"groups must be 1-D with one entry per image ({y.shape[0]}), got shape {g.shape}")
    keys, index = np.unique(g, return_inverse=True)
    index = index.reshape(-1)
    malignant = np.bincount(index, weights=(y == 1), minlength=keys.size)
    size = np.bincount(index, minlength=keys.size)
    mixed = np.flatnonzero((malignant > 0) & (malignant < size))
    if mixed.size:
        shown = ", ".join(repr(k.item() if hasattr(k, "item") else k) for k in keys[mixed[:5]])
        raise ValueError(f"duplicate group(s) {shown} hold both benign and malignant images; a duplicate group "
                         "must have one label (check the data set's duplicate groups)")
    return index, (malignant > 0).astype(np.int8)


def _group_resamples(group_label: np.ndarray, n_bootstrap: int, rng: np.random.Generator, chunk: int):
    """Yield ``(malignant_counts, benign_counts)`` of stratified group resamples, ``n_bootstrap`` rows in all.

    Each resample draws, with replacement, as many malignant groups from the malignant groups
    and as many benign groups from the benign groups as there are; ``malignant_counts[b, g]``
    is how often resample ``b`` drew the ``g``-th malignant group (groups in index order),
    likewise ``benign_counts``.
    """
    n1, n0 = int((group_label == 1).sum()), int((group_label == 0).sum())
    done = 0
    while done < n_bootstrap:
        b = min(chunk, n_bootstrap - done)
        counts = []
        for n in (n1, n0):
            drawn = rng.integers(0, n, size=(b, n)) + (np.arange(b)[:, None] * n)
            counts.append(np.bincount(drawn.ravel(), minlength=b * n).reshape(b, n))
        yield counts[0], counts[1]
        done += b


class _GroupKernel:
    """One scorer's Mann-Whitney kernel summed over duplicate groups.

    ``K[g, h]`` = sum over malignant images i of malignant group g and benign images j of
    benign group h of ``[s_i > s_j] + 1/2 [s_i == s_j]``; a resample with group counts ``c1``,
    ``c0`` then has the weighted AUC ``c1 K c0 / ((c1 . n1) (c0 . n0))`` with ``n1``, ``n0``
    the groups' numbers of scored images: one matrix product per chunk of resamples. Images
    without a score (NaN) are left out.
    """

    def __init__(self, y: np.ndarray, scores: np.ndarray, group_of_image: np.ndarray, group_label: np.ndarray):
        index1 = np.cumsum(group_label == 1) - 1  # position of a malignant group among malignant groups
        index0 = np.cumsum(group_label == 0) - 1
        g1, g0 = int((group_label == 1).sum()), int((group_label == 0).sum())
        present = np.isfinite(scores)
        pos, neg = present & (y == 1), present & (y == 0)
        sp, sn = scores[pos], scores[neg]
        rows, cols = index1[group_of_image[pos]], index0[group_of_image[neg]]
        per_row = np.zeros((g1, sn.size))
        for start in range(0, sp.size, 1024):  # blocks of malignant images bound the memory
            block = sp[start:start + 1024, None]
            np.add.at(per_row, rows[start:start + 1024], (block > sn[None, :]) + 0.5 * (block == sn[None, :]))
        kernel = np.zeros((g1, g0))
        np.add.at(kernel.T, cols, per_row.T)
        # Twice the kernel holds integers, and so does every partial sum of c1 (2K) c0. They are
        # at most 2 (G1 max n1)(G0 max n0): a resample draws G1 malignant and G0 benign groups.
        # Below 2^24 float32 computes them exactly, and about twice as fast as float64.
        self.n1 = np.bincount(rows, minlength=g1).astype(np.float64)
        self.n0 = np.bincount(cols, minlength=g0).astype(np.float64)
        bound = 2.0 * g1 * self.n1.max(initial=0.0) * g0 * self.n0.max(initial=0.0)
        self.dtype = np.float32 if bound < 2.0 ** 24 else np.float64
        self.kernel2 = (2.0 * kernel).astype(self.dtype)

    def aucs(self, c1: np.ndarray, c0: np.ndarray) -> np.ndarray:
        """AUC of each resample; ``c1``, ``c0``: group counts (any float dtype; exact integers)."""
        c1, c0 = c1.astype(self.dtype, copy=False), c0.astype(self.dtype, copy=False)
        wins = 0.5 * np.einsum("ij,ij->i", c1 @ self.kernel2, c0).astype(np.float64)
        denominator = (c1 @ self.n1.astype(self.dtype)).astype(np.float64) * \
            (c0 @ self.n0.astype(self.dtype)).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denominator > 0, wins / np.where(denominator > 0, denominator, 1.0), np.nan)


def cluster_bootstrap_aucs(y_true, scores_by_method: dict, groups, n_bootstrap: int = 2000, seed=0,
                           allow_missing: bool = False) -> np.ndarray:
    """AUCs of every scorer on the same stratified resamples of duplicate groups: ``(n_bootstrap, k)``.

    ``groups[i]`` is the duplicate group of image ``i`` (any hashable values; images that
    duplicate nobody have a group of their own). A group must not mix labels (ValueError).
    Each resample draws, with replacement, as many malignant groups from the malignant
    groups and as many benign groups from the benign groups as observed (stratified, so both
    classes are in every resample); an image's weight in the resample is how many times its
    group was drawn, and each scorer's AUC is the weighted Mann-Whitney AUC
    (:func:`weighted_aucs`; computed per group: for each scorer the Mann-Whitney kernel is
    summed over pairs of groups once, and a chunk of resamples is one matrix product). All
    scorers see the same resamples (paired), in the order of
    ``scores_by_method``'s keys. With every image in its own group this is the ordinary
    stratified bootstrap of :mod:`benchmark.metrics` (same distribution, other random draws).

    ``allow_missing=True`` lets a score vector hold NaN for images that scorer did not score
    (e.g. a holdout split's test set within the union of test sets): those images weigh 0 in
    its AUC, and a resample in which its scored images lack a class gives NaN. ``seed`` is
    anything ``numpy.random.default_rng`` accepts; the same inputs and seed give the same draws.
    """
    names = list(scores_by_method)
    if not names:
        raise ValueError("cluster_bootstrap_aucs needs at least one score vector")
    y = _check_labels(y_true)
    vectors = []
    for name in names:
        s = np.asarray(scores_by_method[name], dtype=np.float64) if allow_missing else \
            _check_scores(scores_by_method[name], str(name))
        if s.ndim != 1 or s.shape[0] != y.shape[0]:
            raise ValueError(f"scores of {name!r} must be 1-D with one score per image ({y.shape[0]}), "
                             f"got shape {s.shape}")
        if allow_missing and np.isinf(s).any():
            raise ValueError(f"scores of {name!r} must be finite or NaN (missing)")
        vectors.append(s)
    _require_both_classes(y, "cluster_bootstrap_aucs")
    n_bootstrap = _check_n_bootstrap(n_bootstrap)
    group_of_image, group_label = _check_groups(y, groups)
    kernels = [_GroupKernel(y, s, group_of_image, group_label) for s in vectors]
    rng = np.random.default_rng(seed)
    chunk = max(1, _CLUSTER_CHUNK_CELLS // max(1, group_label.size))
    out = np.empty((n_bootstrap, len(names)))
    row = 0
    for c1, c0 in _group_resamples(group_label, n_bootstrap, rng, chunk):
        as_type = {t: (c1.astype(t), c0.astype(t)) for t in {k.dtype for k in kernels}}  # convert once a chunk
        for k, kernel in enumerate(kernels):
            out[row:row + c1.shape[0], k] = kernel.aucs(*as_type[kernel.dtype])
        row += c1.shape[0]
    return out


def cluster_bootstrap_ci(y_true, scores, groups, n_bootstrap: int = 2000, seed=0, confidence: float = 0.95) -> dict:
    """AUC with its duplicate-aware bootstrap interval: ``{"auc", "ci_low", "ci_high", "se"}``.

    ``auc`` is the AUC of all images; ``ci_low``/``ci_high`` the percentile interval at
    ``confidence`` of :func:`cluster_bootstrap_aucs`; ``se`` the standard deviation (ddof=1)
    of those bootstrap AUCs.
    """
    _check_confidence(confidence)
    draws = cluster_bootstrap_aucs(y_true, {"scores": scores}, groups, n_bootstrap, seed)[:, 0]
    lo, hi = percentile_interval(draws, confidence)
    se = float(np.std(draws, ddof=1)) if draws.size >= 2 else float("nan")
    return {"auc": roc_auc(y_true, scores), "ci_low": lo, "ci_high": hi, "se": se}


def paired_cluster_bootstrap(y_true, scores_by_method: dict, groups, pairs, n_bootstrap: int = 10_000, seed=0,
                             confidence: float = 0.95) -> dict:
    """Paired duplicate-aware bootstrap of AUC differences: ``{(a, b): {"difference", "ci_low", "ci_high", "p"}}``.

    Every scorer is evaluated on the same group resamples (:func:`cluster_bootstrap_aucs`);
    each pair is summarised by :func:`paired_differences` (observed ``AUC_a - AUC_b``,
    percentile interval, two-sided p ``min(1, 2 * min(#(d* <= 0) + 1, #(d* >= 0) + 1) / (B + 1))``).
    """
    _check_confidence(confidence)
    names = list(scores_by_method)
    draws = cluster_bootstrap_aucs(y_true, scores_by_method, groups, n_bootstrap, seed)
    observed = {n: roc_auc(y_true, scores_by_method[n]) for n in names}
    return paired_differences(observed, draws, names, pairs, confidence)


def rank_intervals(observed_aucs: dict, draws, methods, confidence: float = 0.95):
    """Rank of each method (1 = highest AUC) with a bootstrap interval: DataFrame ``method, rank, rank_low, rank_high``.

    ``draws`` is ``(B, len(methods))`` (column ``j``: ``methods[j]``'s AUC in each resample, all
    methods on the same resamples). In every resample the methods are ranked by AUC, ties
    sharing the better (minimum) rank, as in the leaderboard; a NaN AUC ranks last. The
    interval is the percentile interval of a method's bootstrap ranks at ``confidence``,
    ``rank_low`` rounded down and ``rank_high`` up, then widened, if needed, to contain the
    observed rank (a percentile interval of a discrete statistic can miss it). Rows follow
    ``methods``.
    """
    import pandas as pd

    _check_confidence(confidence)
    methods = list(methods)
    draws = np.asarray(draws, dtype=np.float64)
    if draws.ndim != 2 or draws.shape[1] != len(methods):
        raise ValueError(f"draws must have shape (B, {len(methods)}), got {draws.shape}")
    observed = np.array([observed_aucs[m] for m in methods], dtype=np.float64)
    rank = _sps.rankdata(-np.nan_to_num(observed, nan=-np.inf), method="min").astype(int)
    ranks = _sps.rankdata(-np.nan_to_num(draws, nan=-np.inf), axis=1, method="min")
    alpha = 1.0 - confidence
    lo = np.floor(np.quantile(ranks, alpha / 2.0, axis=0)).astype(int) if len(draws) else rank
    hi = np.ceil(np.quantile(ranks, 1.0 - alpha / 2.0, axis=0)).astype(int) if len(draws) else rank
    return pd.DataFrame({"method": methods, "rank": rank, "rank_low": np.minimum(lo, rank),
                         "rank_high": np.maximum(hi, rank)})


# ------------------------------------------------------------------ cross-validation t-test
def nadeau_bengio_ttest(diffs, n_train: float, n_test: float) -> dict:
    """Corrected resampled t-test for paired per-fold differences (e.g. AUC_a - AUC_b per fold).

    Nadeau & Bengio (2003), Machine Learning 52:239-281; as the corrected repeated k-fold
    cross-validation test of Bouckaert & Frank (2004), PAKDD, LNCS 3056:3-12. With ``J = k r``
    per-fold differences ``d`` (k folds, r repeats) of mean ``m`` and sample variance ``s^2``
    (ddof=1), the folds' training sets overlap, so the variance of ``m`` is inflated from
    ``s^2 / J`` to ``(1/J + n_test/n_train) s^2``: ``t = m / sqrt((1/J + n_test/n_train) s^2)``,
    ``J - 1`` degrees of freedom, two-sided p. Returns ``{"mean_difference", "t", "p", "df"}``;
    with fewer than 2 differences ``t`` and ``p`` are NaN. All differences 0: ``t = 0, p = 1``;
    equal non-zero differences (zero variance): ``t = +-inf, p = 0``.
    """
    d = np.asarray(diffs, dtype=np.float64).ravel()
    if not np.isfinite(d).all():
        raise ValueError("diffs must be finite (leave out folds where an AUC is undefined, from both methods)")
    if not (n_train > 0 and n_test > 0):
        raise ValueError(f"n_train and n_test must be positive, got {n_train} and {n_test}")
    j = int(d.size)
    nan = float("nan")
    mean = float(d.mean()) if j else nan
    if j < 2:
        return {"mean_difference": mean, "t": nan, "p": nan, "df": max(j - 1, 0)}
    var = (1.0 / j + float(n_test) / float(n_train)) * float(np.var(d, ddof=1))
    if var <= _ZERO_VARIANCE or np.ptp(d) <= 1e-12 * np.abs(d).max():
        if abs(mean) < 1e-12:
            return {"mean_difference": mean, "t": 0.0, "p": 1.0, "df": j - 1}
        return {"mean_difference": mean, "t": float(np.copysign(np.inf, mean)), "p": 0.0, "df": j - 1}
    t = mean / np.sqrt(var)
    return {"mean_difference": mean, "t": float(t), "p": float(min(1.0, 2.0 * _sps.t.sf(abs(t), j - 1))), "df": j - 1}


# ------------------------------------------------------------------ operating points
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
