"""The correlated Bayesian t-test (benchmark.stats.bayes) against the library baycomp's CorrelatedTTest,
scipy's Student t, and its boundary cases. The function's docstring is the specification.

baycomp's orientation, read from its source and checked below: ``CorrelatedTTest(x, y)`` works on
``y - x`` and returns ``(p_left, p_rope, p_right)`` with ``p_left = P(y - x < -rope)``, the
probability that the first argument ``x`` scores higher; with ``rope = 0`` it returns
``(p_left, p_right)`` only.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

baycomp = pytest.importorskip("baycomp")

from benchmark.stats.bayes import correlated_bayesian_ttest  # noqa: E402

KEYS = {"p_a_better", "p_equivalent", "p_b_better", "mean", "scale", "df"}


def _baycomp_probs(x, y, rope, runs):
    """baycomp's probabilities as (x better, equivalent, y better)."""
    probs = baycomp.CorrelatedTTest(np.asarray(x), np.asarray(y), rope=rope, runs=runs).probs()
    if rope == 0:
        left, right = probs
        return left, 0.0, right
    return probs


def _ours(diffs, k, rope):
    # k-fold cross-validation on n images: n_train = n (k - 1) / k, n_test = n / k
    n = 600.0
    return correlated_bayesian_ttest(diffs, n_train=n * (k - 1) / k, n_test=n / k, rope=rope)


def test_baycomp_orientation_first_argument_better_is_p_left():
    rng = np.random.default_rng(0)
    x = 0.90 + 0.01 * rng.standard_normal(10)
    y = 0.80 + 0.01 * rng.standard_normal(10)
    left, rope, right = baycomp.CorrelatedTTest(x, y, rope=0.01).probs()
    assert left > 0.99 and right < 0.01
    ours = _ours(x - y, 10, 0.01)
    assert ours["p_a_better"] > 0.99 and ours["p_b_better"] < 0.01


@pytest.mark.parametrize("k", [5, 10])
@pytest.mark.parametrize("runs", [1, 3])
@pytest.mark.parametrize("rope", [0.0, 0.005, 0.02])
def test_matches_baycomp(k, runs, rope):
    rng = np.random.default_rng(1000 * k + 10 * runs + int(rope * 1000))
    for shift in (0.0, 0.01, -0.015, 0.03):
        x = np.clip(0.85 + 0.03 * rng.standard_normal(k * runs), 0, 1)
        y = np.clip(0.85 - shift + 0.03 * rng.standard_normal(k * runs), 0, 1)
        expected = _baycomp_probs(x, y, rope, runs)
        got = _ours(x - y, k, rope)
        assert set(got) == KEYS
        assert (got["p_a_better"], got["p_equivalent"], got["p_b_better"]) == pytest.approx(expected, abs=1e-9)
        assert got["df"] == k * runs - 1
        assert got["mean"] == pytest.approx(np.mean(x - y), abs=1e-15)


def test_scale_is_the_nadeau_bengio_standard_error():
    rng = np.random.default_rng(5)
    d = 0.02 + 0.03 * rng.standard_normal(15)
    got = correlated_bayesian_ttest(d, n_train=400.0, n_test=100.0, rope=0.01)
    assert got["scale"] == pytest.approx(math.sqrt((1 / 15 + 100 / 400) * np.var(d, ddof=1)), rel=1e-13)


@pytest.mark.parametrize("rope", [0.0, 0.001, 0.01, 0.05, 1.0])
def test_probabilities_sum_to_one(rope):
    rng = np.random.default_rng(7)
    for _ in range(20):
        d = rng.normal(rng.uniform(-0.05, 0.05), rng.uniform(0.001, 0.05), int(rng.integers(2, 31)))
        got = correlated_bayesian_ttest(d, n_train=480.0, n_test=120.0, rope=rope)
        probs = (got["p_a_better"], got["p_equivalent"], got["p_b_better"])
        assert all(0.0 <= p <= 1.0 for p in probs)
        assert sum(probs) == pytest.approx(1.0, abs=1e-12)


def test_zero_rope_is_the_one_sided_t_tail():
    rng = np.random.default_rng(11)
    d = 0.01 + 0.02 * rng.standard_normal(10)
    got = correlated_bayesian_ttest(d, n_train=540.0, n_test=60.0, rope=0.0)
    se = math.sqrt((1 / 10 + 60 / 540) * np.var(d, ddof=1))
    t = d.mean() / se
    assert got["p_equivalent"] == 0.0
    assert got["p_a_better"] == pytest.approx(sps.t.cdf(t, 9), abs=1e-12)  # P(mu > 0) = P(T < m / se)
    assert got["p_b_better"] == pytest.approx(sps.t.sf(t, 9), abs=1e-12)
    # the same tail from scipy's one-sample t statistic, rescaled to the corrected standard error
    naive = sps.ttest_1samp(d, 0.0).statistic
    ratio = math.sqrt(1 / 10) / math.sqrt(1 / 10 + 60 / 540)
    assert got["p_b_better"] == pytest.approx(sps.t.sf(naive * ratio, 9), abs=1e-12)


@pytest.mark.parametrize("rope", [0.0, 0.01])
def test_swapping_the_sign_swaps_a_and_b(rope):
    rng = np.random.default_rng(13)
    d = 0.015 + 0.02 * rng.standard_normal(30)
    plus = correlated_bayesian_ttest(d, n_train=400.0, n_test=100.0, rope=rope)
    minus = correlated_bayesian_ttest(-d, n_train=400.0, n_test=100.0, rope=rope)
    assert minus["p_a_better"] == pytest.approx(plus["p_b_better"], abs=1e-14)
    assert minus["p_b_better"] == pytest.approx(plus["p_a_better"], abs=1e-14)
    assert minus["p_equivalent"] == pytest.approx(plus["p_equivalent"], abs=1e-14)
    assert minus["mean"] == -plus["mean"] and minus["scale"] == plus["scale"]


@pytest.mark.parametrize(
    "value, rope, expected",
    [
        (0.03, 0.01, (1.0, 0.0, 0.0)),
        (-0.03, 0.01, (0.0, 0.0, 1.0)),
        (0.005, 0.01, (0.0, 1.0, 0.0)),
        (0.0, 0.01, (0.0, 1.0, 0.0)),
        (0.25, 0.25, (0.0, 1.0, 0.0)),  # on the boundary: the rope is closed
        (-0.25, 0.25, (0.0, 1.0, 0.0)),
        (0.0, 0.0, (0.0, 1.0, 0.0)),  # a point mass at 0 lies in [-0, 0]
        (0.02, 0.0, (1.0, 0.0, 0.0)),
        (-0.02, 0.0, (0.0, 0.0, 1.0)),
    ],
)
def test_zero_variance_is_a_point_mass(value, rope, expected):
    got = correlated_bayesian_ttest([value] * 10, n_train=450.0, n_test=50.0, rope=rope)
    assert (got["p_a_better"], got["p_equivalent"], got["p_b_better"]) == expected
    assert got["scale"] == 0.0 and got["df"] == 9.0 and got["mean"] == pytest.approx(value, abs=1e-15)


@pytest.mark.parametrize(
    "d",
    [
        0.1 + np.finfo(float).eps * 0.1 * np.arange(10),  # a spread of a few ulps: variance below 1e-20
        1e6 + 1e-8 * np.arange(10),  # variance above 1e-20, spread below a relative 1e-12
    ],
)
def test_rounding_level_spread_counts_as_zero_variance(d):
    assert np.ptp(d) > 0
    got = correlated_bayesian_ttest(d, n_train=450.0, n_test=50.0, rope=0.05)
    assert got["scale"] == 0.0
    assert (got["p_a_better"], got["p_equivalent"], got["p_b_better"]) == (1.0, 0.0, 0.0)


@pytest.mark.parametrize("diffs, mean, df", [([], math.nan, 0.0), ([0.04], 0.04, 0.0)])
def test_fewer_than_two_differences_give_nan(diffs, mean, df):
    got = correlated_bayesian_ttest(diffs, n_train=450.0, n_test=50.0, rope=0.01)
    assert set(got) == KEYS
    for key in ("p_a_better", "p_equivalent", "p_b_better", "scale"):
        assert math.isnan(got[key])
    assert (math.isnan(got["mean"]) and math.isnan(mean)) or got["mean"] == mean
    assert got["df"] == df


@pytest.mark.parametrize("rope", [-0.01, math.nan, math.inf])
def test_rope_must_be_a_finite_width_at_least_zero(rope):
    with pytest.raises(ValueError, match="rope"):
        correlated_bayesian_ttest([0.01, 0.02, 0.03], n_train=450.0, n_test=50.0, rope=rope)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_diffs_must_be_finite(bad):
    with pytest.raises(ValueError, match=r"diffs must be finite \(leave out folds where an AUC is undefined"):
        correlated_bayesian_ttest([0.01, bad, 0.03], n_train=450.0, n_test=50.0, rope=0.01)


@pytest.mark.parametrize("n_train, n_test", [(0, 50), (450, 0), (-1, 50), (450, -5), (math.nan, 50)])
def test_sizes_must_be_positive(n_train, n_test):
    with pytest.raises(ValueError, match="n_train and n_test must be positive"):
        correlated_bayesian_ttest([0.01, 0.02, 0.03], n_train=n_train, n_test=n_test, rope=0.01)
