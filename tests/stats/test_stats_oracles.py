"""Independent oracles and exact boundary cases for the statistics in benchmark.stats.

The references are scipy.stats (t tests, Wilcoxon, Mann-Whitney), statsmodels' Holm
correction, scikit-learn's ROC curve and confusion matrix, and brute-force loops over
thresholds and malignant-benign pairs. Each function's docstring is the specification.
"""
from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve
from statsmodels.stats.multitest import multipletests

from benchmark.stats.hypothesis import (
    _ZERO_VARIANCE,
    bootstrap_wilcoxon_test,
    delong_test,
    delong_variance,
    holm_correction,
    nadeau_bengio_ttest,
    paired_bootstrap_auc_difference,
    paired_bootstrap_auc_differences,
    paired_split_test,
)
from benchmark.stats.calibration import brier_score
from benchmark.stats.metrics import (
    auc_standard_error,
    bootstrap_aucs,
    corner_operating_point,
    evaluate_scores,
    roc_auc,
    stratified_auc,
)
from benchmark.stats.thresholds import threshold_metrics, youden_threshold

NB_KEYS = {"mean_difference", "t", "p", "df", "se", "ci_low", "ci_high"}
SPLIT_KEYS = {"mean_difference", "wilcoxon_p", "ttest_p", "n"}
# Two values whose spread is exactly 1e-12 times the larger one, with no rounding anywhere:
# the edge of "equal up to rounding, relative 1e-12", which counts as equal.
AT_TOLERANCE = (524334.6095079901, 524334.6095085144)


def _scored_case(seed: int, n: int = 40, decimals: int = 2):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = np.round(rng.normal(size=n) + 0.9 * y, decimals)
    return y, s


# ------------------------------------------------------------------ nadeau_bengio_ttest
def test_nadeau_bengio_tiny_test_fraction_is_the_one_sample_t_test():
    diffs = np.array([0.03, 0.01, 0.04, 0.02, 0.05])  # all positive, unequal
    res = nadeau_bengio_ttest(diffs, n_train=1.0, n_test=1e-12)
    ref = sps.ttest_1samp(diffs, 0.0)
    assert set(res) == NB_KEYS
    assert res["t"] == pytest.approx(ref.statistic, rel=1e-9)
    assert res["p"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert res["df"] == 4
    assert res["mean_difference"] == pytest.approx(0.03)


def test_nadeau_bengio_hand_example_with_the_correction():
    # d = (0.1, 0.3): mean 0.2, s^2 = 0.02, J = 2, n_test / n_train = 1 / 1
    # t = 0.2 / sqrt((1/2 + 1) 0.02) = 0.2 / sqrt(0.03); df = 1, p = 2 (1/2 - atan(t) / pi)
    res = nadeau_bengio_ttest([0.1, 0.3], n_train=1, n_test=1)
    t = 0.2 / np.sqrt(0.03)
    assert res["t"] == pytest.approx(t, rel=1e-12)
    assert res["p"] == pytest.approx(1.0 - 2.0 * np.arctan(t) / np.pi, rel=1e-12)
    assert res["df"] == 1
    assert set(res) == NB_KEYS


def test_nadeau_bengio_two_differences_are_enough():
    res = nadeau_bengio_ttest([0.02, -0.01], n_train=400, n_test=100)
    t = 0.005 / np.sqrt((1 / 2 + 1 / 4) * np.var([0.02, -0.01], ddof=1))
    assert res["t"] == pytest.approx(t, rel=1e-12)
    assert 0.0 < res["p"] < 1.0
    assert res["p"] == pytest.approx(2 * sps.t.sf(abs(t), 1), rel=1e-12)


@pytest.mark.parametrize("n_train, n_test", [(0, 10), (10, 0), (0, 0), (-5, 10), (10, -1)])
def test_nadeau_bengio_needs_positive_set_sizes(n_train, n_test):
    with pytest.raises(ValueError, match="n_train and n_test must be positive"):
        nadeau_bengio_ttest([0.01, 0.02, 0.04], n_train, n_test)


def test_nadeau_bengio_accepts_set_sizes_of_one_and_fractions():
    for n_train, n_test in [(1, 1), (0.5, 0.25)]:
        res = nadeau_bengio_ttest([0.01, 0.02, 0.04], n_train, n_test)
        d = np.array([0.01, 0.02, 0.04])
        t = d.mean() / np.sqrt((1 / 3 + n_test / n_train) * d.var(ddof=1))
        assert res["t"] == pytest.approx(t, rel=1e-12)


@pytest.mark.parametrize("bad", [[0.1, np.nan, 0.2], [0.1, np.inf], [0.1, None, 0.2]])
def test_nadeau_bengio_rejects_missing_or_infinite_differences(bad):
    with pytest.raises(ValueError, match=r"^diffs must be finite \(leave out folds where an AUC is undefined"):
        nadeau_bengio_ttest(bad, 100, 20)


@pytest.mark.parametrize("diffs", [[], [0.25]])
def test_nadeau_bengio_fewer_than_two_differences(diffs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = nadeau_bengio_ttest(diffs, 100, 20)
    assert set(res) == NB_KEYS
    assert np.isnan(res["t"]) and np.isnan(res["p"])
    assert res["df"] == 0
    if diffs:
        assert res["mean_difference"] == 0.25
    else:
        assert np.isnan(res["mean_difference"])


@pytest.mark.parametrize("j", [2, 3, 5])
def test_nadeau_bengio_zero_differences(j):
    res = nadeau_bengio_ttest([0.0] * j, 100, 20)
    assert res == {"mean_difference": 0.0, "t": 0.0, "p": 1.0, "df": j - 1, "se": 0.0, "ci_low": 0.0, "ci_high": 0.0}


@pytest.mark.parametrize("value", [0.05, -0.02, 1e-12])
def test_nadeau_bengio_equal_nonzero_differences(value):
    res = nadeau_bengio_ttest([value] * 4, 100, 20)
    assert set(res) == NB_KEYS
    assert res["t"] == np.copysign(np.inf, value) and res["p"] == 0.0 and res["df"] == 3


def test_nadeau_bengio_differences_equal_up_to_rounding_have_zero_variance():
    x = 1e6 / 3  # large values: the sample variance is far above the absolute cut-off
    res = nadeau_bengio_ttest([x, x * (1 + 1e-13), x], 100, 20)
    assert res["t"] == np.inf and res["p"] == 0.0


def test_tolerance_pair_is_exactly_at_the_relative_tolerance():
    x, y = AT_TOLERANCE
    assert y - x == 1e-12 * y


def test_nadeau_bengio_differences_at_the_relative_tolerance_count_as_equal():
    res = nadeau_bengio_ttest(list(AT_TOLERANCE), 100, 20)
    assert res["t"] == np.inf and res["p"] == 0.0


def test_nadeau_bengio_corrected_variance_at_the_zero_cut_off_counts_as_zero():
    # d = (0, x): the corrected variance (1/2 + 1/2) s^2 equals the module's cut-off exactly,
    # so it is treated as zero variance with a non-zero mean: t = +inf, p = 0.
    d = [0.0, 1.414213562373095e-10]
    assert (1 / 2 + 1 / 2) * np.var(d, ddof=1) == _ZERO_VARIANCE
    res = nadeau_bengio_ttest(d, n_train=2, n_test=1)
    assert res["t"] == np.inf and res["p"] == 0.0


def test_nadeau_bengio_negligible_variance_and_mean_is_no_difference():
    res = nadeau_bengio_ttest([1e-15, 2e-15, 3e-15], 100, 20)
    assert res == {"mean_difference": pytest.approx(2e-15), "t": 0.0, "p": 1.0, "df": 2, "se": 0.0,
                   "ci_low": pytest.approx(2e-15), "ci_high": pytest.approx(2e-15)}


def test_nadeau_bengio_small_integer_differences():
    d = np.array([-100, 100, 60, -20], dtype=np.int8)  # int8 arithmetic would overflow
    res = nadeau_bengio_ttest(d, 1.0, 1e-12)
    ref = sps.ttest_1samp(d.astype(float), 0.0)
    assert res["t"] == pytest.approx(ref.statistic, rel=1e-9)


# ------------------------------------------------------------------ paired_split_test
def test_paired_split_test_two_splits_give_p_values():
    res = paired_split_test([0.8, 0.9], [0.7, 0.6])
    d = np.array([0.1, 0.3])
    t = d.mean() / (d.std(ddof=1) / np.sqrt(2))
    assert res["n"] == 2
    assert res["wilcoxon_p"] == pytest.approx(0.5)  # exact: 2 of the 4 sign patterns are as extreme
    assert res["ttest_p"] == pytest.approx(1.0 - 2.0 * np.arctan(t) / np.pi, rel=1e-9)


def test_paired_split_test_matches_scipy_for_positive_differences():
    a = np.array([0.81, 0.84, 0.79, 0.9, 0.86, 0.83])
    b = np.array([0.78, 0.80, 0.77, 0.85, 0.86, 0.75])
    res = paired_split_test(a, b)
    assert set(res) == SPLIT_KEYS
    assert res["ttest_p"] == pytest.approx(sps.ttest_rel(a, b).pvalue, rel=1e-9)
    d = (a - b)[a != b]
    assert res["wilcoxon_p"] == pytest.approx(sps.wilcoxon(d).pvalue, rel=1e-9)
    assert 0.0 < res["ttest_p"] < 1.0


def test_paired_split_test_nearly_constant_but_varying_differences_use_the_t_test():
    a = np.array([0.9, 0.9 + 5e-12])
    b = np.array([0.8, 0.8])
    res = paired_split_test(a, b)
    d = a - b
    t = d.mean() / (d.std(ddof=1) / np.sqrt(2))
    assert res["ttest_p"] > 0.0
    assert res["ttest_p"] == pytest.approx(1.0 - 2.0 * np.arctan(t) / np.pi, rel=1e-6)


def test_paired_split_test_differences_at_the_relative_tolerance_count_as_equal():
    res = paired_split_test(list(AT_TOLERANCE), [0.0, 0.0])
    assert res["ttest_p"] == 0.0 and res["wilcoxon_p"] == pytest.approx(0.5)


def test_paired_split_test_all_zero_differences():
    assert paired_split_test([0.7, 0.8, 0.9], [0.7, 0.8, 0.9]) == {
        "mean_difference": 0.0, "wilcoxon_p": 1.0, "ttest_p": 1.0, "n": 3}


@pytest.mark.parametrize("a, b", [([0.8, None, 0.7], [0.7, 0.6, 0.7]), ([0.8, 0.6, 0.7], [0.7, None, 0.7])])
def test_paired_split_test_rejects_missing_values(a, b):
    with pytest.raises(ValueError, match=r"^values_a and values_b must be finite \(drop failed splits"):
        paired_split_test(a, b)


def test_paired_split_test_rejects_2d_input_even_when_only_one_is_2d():
    with pytest.raises(ValueError, match="must be 1-D"):
        paired_split_test([[0.8, 0.7], [0.6, 0.9]], [0.7, 0.6])
    with pytest.raises(ValueError, match="must be 1-D"):
        paired_split_test([0.7, 0.6], [[0.8, 0.7], [0.6, 0.9]])


def test_paired_split_test_huge_values_emit_no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = paired_split_test([1e200, 3e200, 2e200], [0.0, 0.0, 0.0])
    assert res["n"] == 3 and 0.0 <= res["ttest_p"] <= 1.0


# ------------------------------------------------------------------ holm_correction
@pytest.mark.parametrize("seed", range(4))
def test_holm_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    p = np.round(rng.uniform(0, 0.2, 9), 2)  # rounding makes ties
    p[0] = 0.0
    p[1] = 1.0
    _, ref, _, _ = multipletests(p, method="holm")
    assert np.allclose(holm_correction(p), ref, rtol=0, atol=1e-15)


def test_holm_boundary_p_values_zero_and_one_are_valid():
    assert np.allclose(holm_correction([0.0, 1.0, 0.2]), [0.0, 1.0, 0.4])
    assert np.allclose(holm_correction([1.0]), [1.0])
    assert np.allclose(holm_correction([0.0]), [0.0])


def test_holm_nan_and_none_pass_through_and_keep_the_shape():
    p = np.array([[0.01, np.nan, 0.04], [0.03, 0.005, np.nan]])
    out = holm_correction(p)
    assert out.shape == (2, 3)
    assert np.isnan(out[0, 1]) and np.isnan(out[1, 2])
    _, ref, _, _ = multipletests(p[~np.isnan(p)], method="holm")
    assert np.allclose(out[~np.isnan(p)], ref)
    out_none = holm_correction([0.01, None, 0.04])
    assert np.isnan(out_none[1]) and np.allclose(out_none[[0, 2]], [0.02, 0.04])


def test_holm_cap_at_one_and_ties():
    assert np.allclose(holm_correction([0.4, 0.4, 0.6]), [1.0, 1.0, 1.0])
    assert np.allclose(holm_correction([0.01, 0.01, 0.2]), [0.03, 0.03, 0.2])


@pytest.mark.parametrize("bad", [[-0.01, 0.5], [0.5, 1.01]])
def test_holm_rejects_values_outside_the_unit_interval(bad):
    with pytest.raises(ValueError, match=r"^p-values must lie in \[0, 1\]"):
        holm_correction(bad)


# ------------------------------------------------------------------ youden_threshold / threshold_metrics
def _youden_oracle(y, s):
    """Highest-cut maximiser of J from sklearn's ROC curve, and the midpoint below it."""
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    j = tpr - fpr
    finite = np.isfinite(thr)
    best = np.max(j[finite])
    cut = np.max(thr[finite][np.isclose(j[finite], best, rtol=0, atol=1e-12)])
    lower = np.unique(s)[np.unique(s) < cut]
    return cut, ((cut + lower.max()) / 2 if lower.size else cut)


@pytest.mark.parametrize("seed", range(6))
def test_youden_matches_sklearn_roc_curve(seed):
    y, s = _scored_case(seed, n=50, decimals=1)
    cut, expected = _youden_oracle(y, s)
    t = youden_threshold(y, s)
    assert t == pytest.approx(expected, abs=1e-12)
    assert np.array_equal(s >= t, s >= cut)


def test_youden_highest_score_benign():
    y = np.array([1, 0, 1, 0, 1, 0])
    s = np.array([0.9, 0.95, 0.7, 0.3, 0.6, 0.2])
    cut, expected = _youden_oracle(y, s)
    assert youden_threshold(y, s) == pytest.approx(expected)
    assert youden_threshold(y, s) == pytest.approx(0.45)


def test_youden_inverted_scorer_calls_everything_malignant():
    # every cut above the lowest score has J < 0; the lowest score itself is returned
    assert youden_threshold([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == 0.1
    assert youden_threshold([1, 0], [0.0, 1.0]) == 0.0


def test_youden_best_cut_second_lowest_gives_the_midpoint():
    # J is best (= 1) when only the lowest score is called benign
    y, s = [0, 1, 1, 1], [0.1, 0.2, 0.3, 0.4]
    cut, expected = _youden_oracle(np.array(y), np.array(s))
    assert expected == pytest.approx(0.15)
    assert youden_threshold(y, s) == pytest.approx(0.15)


def test_youden_error_messages_name_the_argument_and_function():
    with pytest.raises(ValueError, match="y_true and scores_val have different lengths"):
        youden_threshold([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="^scores_val must be finite"):
        youden_threshold([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="^youden_threshold needs both classes"):
        youden_threshold([0, 0], [0.1, 0.2])


@pytest.mark.parametrize("seed", range(3))
def test_threshold_metrics_match_confusion_matrix(seed):
    y, s = _scored_case(seed, n=60, decimals=1)
    for t in np.unique(s)[::7]:  # thresholds equal to observed scores: ties are called malignant
        tn, fp, fn, tp = confusion_matrix(y, (s >= t).astype(int), labels=[0, 1]).ravel()
        m = threshold_metrics(y, s, t)
        assert m == {"accuracy": pytest.approx((tp + tn) / y.size),
                     "sensitivity": pytest.approx(tp / (tp + fn)),
                     "specificity": pytest.approx(tn / (tn + fp))}


def test_threshold_metrics_score_equal_to_threshold_is_malignant():
    m = threshold_metrics([1, 0], [0.5, 0.2], 0.5)
    assert m == {"accuracy": 1.0, "sensitivity": 1.0, "specificity": 1.0}


def test_threshold_metrics_single_class_gives_nan():
    only_benign = threshold_metrics([0, 0, 0], [0.1, 0.6, 0.7], 0.5)
    assert np.isnan(only_benign["sensitivity"])
    assert only_benign["specificity"] == pytest.approx(1 / 3) and only_benign["accuracy"] == pytest.approx(1 / 3)
    only_malignant = threshold_metrics([1, 1], [0.1, 0.6], 0.5)
    assert np.isnan(only_malignant["specificity"])
    assert only_malignant["sensitivity"] == 0.5 and only_malignant["accuracy"] == 0.5


# ------------------------------------------------------------------ DeLong variance
def _slow_delong_variance(y, s):
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), v10.var(ddof=1) / pos.size + v01.var(ddof=1) / neg.size


@pytest.mark.parametrize("seed", range(4))
def test_delong_variance_matches_explicit_structural_components(seed):
    y, s = _scored_case(seed, n=45, decimals=seed % 3)
    auc, var = delong_variance(y, s)
    auc_ref, var_ref = _slow_delong_variance(y, s)
    assert auc == pytest.approx(auc_ref, abs=1e-12)
    assert var == pytest.approx(var_ref, rel=1e-10)


def test_delong_variance_error_messages():
    with pytest.raises(ValueError, match="^delong_variance needs both classes"):
        delong_variance([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="^delong_variance needs at least 2 malignant and 2 benign"):
        delong_variance([1, 0, 0, 0], [0.1, 0.2, 0.3, 0.4])


# ------------------------------------------------------------------ auc_standard_error
def _hanley_mcneil_se(a, n1, n2):
    """Hanley & McNeil (1982), eq. 2, in exact rational arithmetic."""
    a = Fraction(a)
    q1 = a / (2 - a)
    q2 = 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n2 - 1) * (q2 - a * a)) / (n1 * n2)
    return float(var) ** 0.5


@pytest.mark.parametrize("auc, n_pos, n_neg", [
    (0.5, 1, 1), (0.5, 10, 30), (0.75, 30, 10), (0.9, 50, 120), (0.97, 200, 2), (0.3, 7, 1), (0.6, 1, 9)])
def test_auc_standard_error_is_hanley_mcneil(auc, n_pos, n_neg):
    assert auc_standard_error(auc, n_pos, n_neg) == pytest.approx(_hanley_mcneil_se(auc, n_pos, n_neg), rel=1e-12)


def test_auc_standard_error_factored_form():
    # Q1 - A^2 = A (1 - A)^2 / (2 - A) and Q2 - A^2 = A^2 (1 - A) / (1 + A)
    a, n1, n2 = 0.8, 40, 25
    var = a * (1 - a) * (1 + (n1 - 1) * (1 - a) / (2 - a) + (n2 - 1) * a / (1 + a)) / (n1 * n2)
    assert auc_standard_error(a, n1, n2) == pytest.approx(np.sqrt(var), rel=1e-12)
    assert auc_standard_error(0.5, 1, 1) == pytest.approx(0.5)


def test_auc_standard_error_endpoints():
    assert auc_standard_error(1.0, 20, 30) == 0.0
    assert auc_standard_error(0.0, 20, 30) == 0.0


@pytest.mark.parametrize("n_pos, n_neg", [(0, 5), (5, 0), (0, 0)])
def test_auc_standard_error_needs_both_classes(n_pos, n_neg):
    with pytest.raises(ValueError, match="^auc_standard_error needs both classes"):
        auc_standard_error(0.7, n_pos, n_neg)


@pytest.mark.parametrize("auc", [-0.01, 1.01, 1.5])
def test_auc_standard_error_rejects_auc_outside_unit_interval(auc):
    with pytest.raises(ValueError, match=r"^auc_standard_error: AUC must lie in \[0, 1\]"):
        auc_standard_error(auc, 10, 10)


# ------------------------------------------------------------------ corner_operating_point
def _corner_oracle(y, s):
    n_pos, n_neg = (y == 1).sum(), (y == 0).sum()
    best = None
    for t in sorted(np.unique(s), reverse=True):  # highest first: ties keep the highest
        tpr = Fraction(int(((s >= t) & (y == 1)).sum()), int(n_pos))
        fpr = Fraction(int(((s >= t) & (y == 0)).sum()), int(n_neg))
        d = fpr ** 2 + (1 - tpr) ** 2  # exact, so equal distances compare equal
        if best is None or d < best[0]:
            best = (d, t, float(tpr), float(1 - fpr))
    return best


@pytest.mark.parametrize("seed", range(4))
def test_corner_operating_point_brute_force(seed):
    y, s = _scored_case(seed, n=40, decimals=1)
    _, t, sens, spec = _corner_oracle(y, s)
    res = corner_operating_point(y, s)
    assert res["threshold"] == t
    assert res["sensitivity"] == pytest.approx(sens) and res["specificity"] == pytest.approx(spec)
    assert res["accuracy"] == pytest.approx(np.mean((s >= t) == (y == 1)))


def test_corner_operating_point_error_message():
    with pytest.raises(ValueError, match="^corner_operating_point needs both classes"):
        corner_operating_point([0, 0], [0.3, 0.4])


# ------------------------------------------------------------------ stratified_auc
def test_stratified_auc_brute_force_pairs():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 50)
    s = np.round(rng.normal(size=50) + y, 1)
    f = rng.integers(0, 4, 50)
    f[:3] = 7  # a stratum with ...
    y[:3] = 1  # ... one class only: no pairs
    wins = pairs = 0.0
    for i in range(50):
        for k in range(50):
            if y[i] == 1 and y[k] == 0 and f[i] == f[k]:
                wins += 1.0 if s[i] > s[k] else 0.5 if s[i] == s[k] else 0.0
                pairs += 1
    assert stratified_auc(y, s, f) == pytest.approx(wins / pairs, abs=1e-12)


def test_stratified_auc_error_messages():
    with pytest.raises(ValueError, match="y_true and strata have different shapes"):
        stratified_auc([0, 1], [0.1, 0.2], [0, 0, 1])
    with pytest.raises(ValueError, match="^stratified_auc needs a stratum holding both classes"):
        stratified_auc([0, 1], [0.1, 0.2], [0, 1])


# ------------------------------------------------------------------ bootstrap tests
def test_bootstrap_wilcoxon_defaults():
    y, a = _scored_case(11, n=30)
    b = np.round(a + np.random.default_rng(5).normal(0, 0.8, 30), 2)
    assert bootstrap_wilcoxon_test(y, a, b) == bootstrap_wilcoxon_test(y, a, b, n_bootstrap=1000, seed=0)


def test_bootstrap_wilcoxon_accepts_a_seed_sequence():
    y, a = _scored_case(13, n=30)
    b = np.round(a + np.random.default_rng(6).normal(0, 0.8, 30), 2)
    assert (bootstrap_wilcoxon_test(y, a, b, n_bootstrap=50, seed=np.random.SeedSequence(5))
            == bootstrap_wilcoxon_test(y, a, b, n_bootstrap=50, seed=5))


def test_bootstrap_wilcoxon_one_resample_is_allowed():
    y, a = _scored_case(14, n=30)
    b = np.round(a + np.random.default_rng(7).normal(0, 0.8, 30), 2)
    u, p = bootstrap_wilcoxon_test(y, a, b, n_bootstrap=1, seed=0)
    assert u in (0.0, 0.5, 1.0) and 0.0 <= p <= 1.0


def test_bootstrap_wilcoxon_all_auc_equal():
    y = np.array([0, 0, 0, 1, 1, 1])
    perfect = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert bootstrap_wilcoxon_test(y, perfect, perfect * 2, n_bootstrap=10, seed=0) == (50.0, 1.0)


def test_bootstrap_wilcoxon_aucs_spanning_zero_to_one_are_compared():
    # A's resampled AUCs range over [0, 1] exactly; B is perfect in every resample
    y = [0, 0, 1, 1]
    u, p = bootstrap_wilcoxon_test(y, [0.1, 0.9, 0.2, 0.8], [0.1, 0.2, 0.8, 0.9], n_bootstrap=200, seed=0)
    assert u < 200 * 200 / 2 and p < 1e-10


def test_bootstrap_wilcoxon_p_is_the_asymptotic_normal_approximation():
    y, a = _scored_case(15, n=60, decimals=6)
    b = a + np.random.default_rng(8).normal(0, 1.0, 60)
    n = 6  # small enough that scipy's method="auto" would use the exact distribution
    u, p = bootstrap_wilcoxon_test(y, a, b, n_bootstrap=n, seed=3)
    mu, sigma = n * n / 2, np.sqrt(n * n * (2 * n + 1) / 12)
    expected = 2 * sps.norm.sf((abs(u - mu) - 0.5) / sigma)  # continuity correction, no ties
    assert p == pytest.approx(min(1.0, expected), rel=1e-9)


def test_bootstrap_wilcoxon_error_messages():
    y = [0, 1, 0, 1]
    with pytest.raises(ValueError, match="y_true and scores_a have different lengths"):
        bootstrap_wilcoxon_test(y, [0.1, 0.2], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="y_true and scores_b have different lengths"):
        bootstrap_wilcoxon_test(y, [0.1, 0.2, 0.3, 0.4], [0.1, 0.2])
    with pytest.raises(ValueError, match="^bootstrap_wilcoxon_test needs both classes"):
        bootstrap_wilcoxon_test([1, 1], [0.1, 0.2], [0.3, 0.4])
    with pytest.raises(ValueError, match=r"^bootstrap_wilcoxon_test needs n_bootstrap >= 1$"):
        bootstrap_wilcoxon_test(y, [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1], n_bootstrap=0)


def test_paired_bootstrap_defaults():
    y, a = _scored_case(16, n=30)
    b = np.round(a + np.random.default_rng(9).normal(0, 0.8, 30), 2)
    assert (paired_bootstrap_auc_difference(y, a, b)
            == paired_bootstrap_auc_difference(y, a, b, n_bootstrap=2000, seed=0, confidence=0.95))


def test_paired_bootstrap_many_pairs_defaults_and_messages():
    y, a = _scored_case(17, n=30)
    b = np.round(a + np.random.default_rng(10).normal(0, 0.8, 30), 2)
    scores = {"net_a": a, "net_b": b}
    assert (paired_bootstrap_auc_differences(y, scores, [("net_a", "net_b")])
            == paired_bootstrap_auc_differences(y, scores, [("net_a", "net_b")], n_bootstrap=2000, seed=0))
    with pytest.raises(ValueError, match="y_true and net_b have different lengths"):
        paired_bootstrap_auc_differences(y, {"net_a": a, "net_b": b[:5]}, [("net_a", "net_b")])
    with pytest.raises(ValueError, match="^paired_bootstrap_auc_difference needs both classes"):
        paired_bootstrap_auc_difference([1, 1, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])
    with pytest.raises(ValueError, match=r"^paired_bootstrap_auc_difference needs n_bootstrap >= 1$"):
        paired_bootstrap_auc_difference(y, a, b, n_bootstrap=0)
    one = paired_bootstrap_auc_difference(y, a, b, n_bootstrap=1)
    assert one["ci_low"] == one["ci_high"]


# ------------------------------------------------------------------ DeLong test and class-count checks
def test_delong_needs_two_cases_of_each_class_and_two_are_enough():
    for y in ([1, 1, 0], [1, 1, 1, 0], [0, 0, 1], [0, 0, 0, 1]):
        s = np.linspace(0.1, 0.9, len(y))
        with pytest.raises(ValueError, match="needs at least 2 malignant and 2 benign cases"):
            delong_variance(y, s)
    y, s = np.array([1, 0, 1, 0]), np.array([0.9, 0.3, 0.4, 0.5])
    auc, var = delong_variance(y, s)
    auc_ref, var_ref = _slow_delong_variance(y, s)
    assert auc == pytest.approx(auc_ref) and var == pytest.approx(var_ref)
    z, p = delong_test(y, s, [0.8, 0.1, 0.2, 0.7])
    assert np.isfinite(z) and 0.0 < p <= 1.0


def test_delong_test_error_messages():
    with pytest.raises(ValueError, match="^delong_test needs both classes"):
        delong_test([0, 0, 0], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])
    with pytest.raises(ValueError, match="^delong_test needs at least 2 malignant and 2 benign"):
        delong_test([0, 0, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])


# ------------------------------------------------------------------ input validation (metrics)
def test_label_and_score_validation_messages():
    with pytest.raises(ValueError, match="^y_true is empty$"):
        roc_auc([], [])
    with pytest.raises(ValueError, match="^y_true must be real-valued"):
        roc_auc(np.array([0, 1], dtype=complex), [0.1, 0.2])
    with pytest.raises(ValueError, match="^scores must be real-valued"):
        roc_auc([0, 1], np.array([0.1, 0.2], dtype=complex))
    with pytest.raises(ValueError, match=r"found 2, 3, 4, 5, 6, \.\.\.$"):
        roc_auc([0, 1, 2, 3, 4, 5, 6, 7], np.arange(8.0))
    with pytest.raises(ValueError, match=r"found 2, 3, 4, 5, 6$"):
        roc_auc([0, 1, 2, 3, 4, 5, 6], np.arange(7.0))
    with pytest.raises(ValueError, match=r"found 2$"):
        roc_auc([0, 1, 2], np.arange(3.0))
    with pytest.raises(ValueError, match=r"^roc_auc needs both classes in y_true; only class 0 \(benign\) is present "
                                         r"\(no class 1 \(malignant\) cases among 2\)"):
        roc_auc([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="^scores must be finite"):
        brier_score([0, 1], [0.1, np.nan])


def test_function_names_in_class_errors():
    for fn, name in [(bootstrap_aucs, "bootstrap_aucs"), (evaluate_scores, "evaluate_scores")]:
        with pytest.raises(ValueError, match=f"^{name} needs both classes"):
            fn([1, 1], [0.1, 0.2], 10, 0)


# ------------------------------------------------------------------ evaluate_scores / bootstrap
def test_evaluate_scores_defaults_counts_and_small_bootstraps():
    y, s = _scored_case(18, n=30)
    res = evaluate_scores(y, s)
    assert res == evaluate_scores(y, s, n_bootstrap=1000, seed=0)
    assert res["n"] == 30 and res["n_positive"] == int(y.sum()) and res["n_bootstrap"] == 1000
    two = evaluate_scores(y, s, n_bootstrap=2, seed=4)
    assert np.isfinite(two["auc_std"])
    assert two["auc_std"] == pytest.approx(np.std(bootstrap_aucs(y, s, 2, 4), ddof=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n_bootstrap in (0, 1):
            res = evaluate_scores(y, s, n_bootstrap=n_bootstrap)
            assert all(np.isnan(res[k]) for k in ("auc_std", "accuracy_std", "sensitivity_std", "specificity_std"))


def test_bootstrap_over_several_chunks():
    # 20 000 cases: resamples are processed 100 at a time, so 250 resamples take three chunks
    rng = np.random.default_rng(19)
    y = (rng.random(20_000) < 0.4).astype(int)
    s = np.round(rng.normal(size=20_000) + y, 1)
    aucs = bootstrap_aucs(y, s, 250, 7)
    res = evaluate_scores(y, s, n_bootstrap=250, seed=7)
    assert aucs.shape == (250,)
    assert np.all(np.abs(aucs - roc_auc_score(y, s)) < 0.03)  # 0.03 is about 8 standard errors
    assert res["auc_std"] == pytest.approx(np.std(aucs, ddof=1), rel=1e-12)
    assert np.array_equal(aucs[:100], bootstrap_aucs(y, s, 100, 7))
    diff = paired_bootstrap_auc_difference(y, s, -s, n_bootstrap=250, seed=7)
    assert diff["ci_low"] == pytest.approx(np.quantile(2 * aucs - 1, 0.025))


# ------------------------------------------------------------------ corner point for huge test sets
def _counts_case(pos_counts: dict, neg_counts: dict):
    y = np.concatenate([np.ones(sum(pos_counts.values()), int), np.zeros(sum(neg_counts.values()), int)])
    s = np.concatenate([np.repeat(list(pos_counts), list(pos_counts.values())),
                        np.repeat(list(neg_counts), list(neg_counts.values()))]).astype(float)
    return y, s


@pytest.mark.parametrize("pos_counts, neg_counts, expected", [
    # best point at a score held by as many benign as malignant cases
    ({0.9: 40_000, 0.5: 5_000, 0.1: 5_000}, {0.5: 5_000, 0.2: 45_000}, 0.5),
    # best point at a score held by a single case
    ({0.9: 40_000, 0.7: 1, 0.1: 9_999}, {0.2: 50_000}, 0.7),
])
def test_corner_operating_point_huge_test_sets(pos_counts, neg_counts, expected):
    y, s = _counts_case(pos_counts, neg_counts)
    assert (y == 1).sum() * (y == 0).sum() >= 2e9  # the float comparison branch
    res = corner_operating_point(y, s)
    assert res["threshold"] == expected == _corner_oracle(y, s)[1]


def test_corner_operating_point_huge_random_test_set():
    # 60 000 cases per class: (n_pos n_neg)^2 no longer fits in int64
    rng = np.random.default_rng(20)
    y = np.r_[np.ones(60_000, int), np.zeros(60_000, int)]
    s = np.round(rng.normal(size=120_000) + 0.7 * y, 1)
    _, t, sens, spec = _corner_oracle(y, s)
    res = corner_operating_point(y, s)
    assert res["threshold"] == t
    assert res["sensitivity"] == pytest.approx(sens) and res["specificity"] == pytest.approx(spec)


def test_evaluate_scores_huge_test_set_with_a_rare_score():
    # resamples of a huge test set miss the single case scored 0.95 now and then
    y = np.r_[np.ones(50_000, int), np.zeros(50_000, int)]
    s = np.where(y == 1, 0.8, 0.2)
    s[:10_000] = 0.3
    s[0] = 0.95
    res = evaluate_scores(y, s, n_bootstrap=8, seed=1)
    _, t, sens, spec = _corner_oracle(y, s)
    assert res["threshold"] == t and res["sensitivity"] == pytest.approx(sens)
    assert np.isfinite(res["accuracy_std"]) and np.isfinite(res["sensitivity_std"])


@pytest.mark.parametrize("k", [3000, 3273])
def test_corner_operating_point_exact_tie_is_not_decided_by_rounding(k):
    # 44 007 cases per class (integer branch). Cut 0.9 gives (FP, FN) = (k, 7k), cut 0.5 gives (5k, 5k):
    # k^2 + 49 k^2 = 25 k^2 + 25 k^2, an exact tie, which goes to the higher cut. In floating point the
    # squared distances round differently for these k, so only an exact comparison gets this right.
    n = 44_007
    y, s = _counts_case({0.9: n - 7 * k, 0.5: 2 * k, 0.1: 5 * k}, {0.9: k, 0.5: 4 * k, 0.1: n - 5 * k})
    assert _corner_oracle(y, s)[1] == 0.9
    assert corner_operating_point(y, s)["threshold"] == 0.9
