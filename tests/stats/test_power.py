"""Oracles for benchmark.stats.power: statsmodels' t-test power, a Monte Carlo run of the
corrected t-test itself, the repeats search, and the numbers quoted for the BUSI design."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, stats
from statsmodels.stats.power import TTestPower

from benchmark.stats import (detectable_floor, minimum_detectable_difference, nadeau_bengio_ttest,
                             repeats_needed)

BUSI_RATIO = 126 / 442  # n_test / n_train of 5-fold cross-validation on BUSI's 631 images


def _statsmodels_effect_size(nobs: int, level: float, power: float) -> float:
    """Cohen's d that the one-sample two-sided t-test on ``nobs`` cases detects with ``power``."""
    solver = TTestPower()
    # statsmodels solves to xtol 1e-5 by default; a 1e-6 relative comparison needs its root exact
    solver.start_bqexp["effect_size"] = dict(solver.start_bqexp["effect_size"], xtol=1e-13)
    return float(solver.solve_power(effect_size=None, nobs=nobs, alpha=level, power=power, alternative="two-sided"))


@pytest.mark.parametrize("folds, repeats, ratio, sd, alpha, m", [
    (5, 1, BUSI_RATIO, 0.015, 0.05, 1),
    (5, 5, BUSI_RATIO, 0.015, 0.05, 66),
    (10, 3, 1 / 9, 0.02, 0.01, 1),
    (3, 1, 0.5, 0.05, 0.10, 3),
    (5, 20, 0.0, 0.01, 0.05, 10),
])
def test_mdd_matches_statsmodels_noncentral_t(folds, repeats, ratio, sd, alpha, m):
    # the statistic is a one-sample t on J differences whose mean has variance (1/J + ratio) sd^2
    # instead of sd^2 / J: Cohen's d of the one-sample test maps to delta = d sd sqrt(J (1/J + ratio))
    j = folds * repeats
    expected = _statsmodels_effect_size(j, alpha / m, 0.8) * sd * math.sqrt(j * (1 / j + ratio))
    got = minimum_detectable_difference(sd, folds, repeats, ratio, alpha=alpha, n_comparisons=m)
    assert got == pytest.approx(expected, rel=1e-6)


def _power_by_integration(noncentrality: float, df: int, level: float) -> float:
    """``P(|Z + lambda| / sqrt(V / df) > t_crit)``, Z normal, V chi-square(df), integrated over V."""
    t_crit = stats.t.ppf(1 - level / 2, df)

    def given(v):
        bound = t_crit * math.sqrt(v / df)
        return (stats.norm.sf(bound - noncentrality) + stats.norm.cdf(-bound - noncentrality)) * stats.chi2.pdf(v, df)

    return integrate.quad(given, 0, np.inf, epsabs=1e-12, epsrel=1e-10, limit=200)[0]


@pytest.mark.parametrize("folds, repeats, ratio, alpha, m", [(2, 1, 1.0, 0.10, 3), (5, 1, BUSI_RATIO, 0.05, 66),
                                                             (5, 5, BUSI_RATIO, 0.05, 1)])
def test_power_at_the_mdd_is_the_stated_power(folds, repeats, ratio, alpha, m):
    # where the noncentrality is large (one degree of freedom, or a strict level) statsmodels'
    # solve_power can stop at its bracket (nobs=2 gives 10.0) and scipy's nct.cdf of the lower
    # tail gives NaN; the definition of the noncentral t, integrated, is the oracle there
    j, sd = folds * repeats, 0.02
    delta = minimum_detectable_difference(sd, folds, repeats, ratio, alpha=alpha, n_comparisons=m)
    noncentrality = delta / (sd * math.sqrt(1 / j + ratio))
    assert _power_by_integration(noncentrality, j - 1, alpha / m) == pytest.approx(0.8, abs=1e-7)


def test_mdd_is_detected_with_the_stated_power_by_the_corrected_ttest():
    # per-fold differences d_j = delta + c + e_j, c ~ N(0, ratio sd^2) shared by the folds and
    # e_j ~ N(0, sd^2): the mean has variance (1/J + ratio) sd^2 and the sample variance is
    # sd^2 chi2_{J-1} / (J-1), independent of it - the structure the correction assumes
    folds, repeats, sd, alpha, m, draws = 5, 2, 0.015, 0.05, 4, 4000
    n_test, n_train = 126, 442
    j, ratio = folds * repeats, n_test / n_train
    delta = minimum_detectable_difference(sd, folds, repeats, ratio, alpha=alpha, n_comparisons=m)
    rng = np.random.default_rng(20240611)
    diffs = delta + sd * (math.sqrt(ratio) * rng.standard_normal((draws, 1)) + rng.standard_normal((draws, j)))
    p = np.array([nadeau_bengio_ttest(d, n_train, n_test)["p"] for d in diffs])
    rate = float(np.mean(p < alpha / m))
    print(f"\nMonte Carlo power of the corrected t-test at the MDD {delta:.4f}: {rate:.3f} ({draws} draws)")
    assert abs(rate - 0.8) <= 0.03, f"rejection rate {rate:.4f} at the MDD {delta:.5f}, expected 0.8 +- 0.03"


@pytest.mark.parametrize("m", [1, 66])
def test_repeats_needed_is_the_first_repeat_count_that_reaches_the_target(m):
    sd, folds = 0.015, 5
    mdd = [minimum_detectable_difference(sd, folds, r, BUSI_RATIO, n_comparisons=m) for r in range(1, 41)]
    assert all(a > b for a, b in itertools.pairwise(mdd)), "the MDD must fall with every repeat"
    floor = detectable_floor(sd, BUSI_RATIO, n_comparisons=m)
    assert mdd[-1] > floor
    for target in np.linspace(mdd[-1], mdd[0] * 1.1, 15):
        r = repeats_needed(target, sd, folds, BUSI_RATIO, n_comparisons=m, max_repeats=40)
        assert r is not None and mdd[r - 1] <= target
        assert r == 1 or target < mdd[r - 2]
    answers = [repeats_needed(t, sd, folds, BUSI_RATIO, n_comparisons=m, max_repeats=40)
               for t in np.linspace(mdd[0], mdd[-1], 25)]
    assert answers == sorted(answers), "a smaller target must never need fewer repeats"
    assert repeats_needed(floor * 0.999, sd, folds, BUSI_RATIO, n_comparisons=m, max_repeats=100) is None
    assert repeats_needed(mdd[-1] * 0.999, sd, folds, BUSI_RATIO, n_comparisons=m, max_repeats=40) is None


def test_floor_is_the_normal_limit_of_the_mdd():
    sd, m = 0.015, 66
    floor = detectable_floor(sd, BUSI_RATIO, n_comparisons=m)
    far = minimum_detectable_difference(sd, 5, 20_000, BUSI_RATIO, n_comparisons=m)
    assert far == pytest.approx(floor, rel=1e-3)
    assert detectable_floor(sd, 0.0) == 0.0


def test_numbers_quoted_for_busi_five_by_five():
    one = minimum_detectable_difference(0.015, 5, 5, BUSI_RATIO, alpha=0.05, power=0.8)
    family = minimum_detectable_difference(0.015, 5, 5, BUSI_RATIO, alpha=0.05, power=0.8, n_comparisons=66)
    print(f"\nMDD, sd 0.015, 5 x 5 folds, ratio 126/442: one comparison {one:.4f}, 66 comparisons {family:.4f}; "
          f"floors {detectable_floor(0.015, BUSI_RATIO):.4f} and "
          f"{detectable_floor(0.015, BUSI_RATIO, n_comparisons=66):.4f}")
    assert abs(one - 0.025) <= 0.004, f"one comparison: MDD {one:.5f}, quoted as about 0.025"
    assert abs(family - 0.04) <= 0.004, f"66 comparisons: MDD {family:.5f}, quoted as about 0.04"


_VALID = dict(sd=0.015, n_folds=5, n_repeats=5, test_over_train=BUSI_RATIO, alpha=0.05, power=0.8, n_comparisons=1)


@pytest.mark.parametrize("name, bad", [
    ("sd", 0.0), ("sd", -0.01), ("sd", float("nan")), ("sd", float("inf")),
    ("n_folds", 0), ("n_folds", 2.5), ("n_repeats", 0), ("n_repeats", 1.5),
    ("test_over_train", -0.1), ("test_over_train", float("inf")),
    ("alpha", 0.0), ("alpha", 1.0), ("power", 0.0), ("power", 1.0), ("power", 0.01),
    ("n_comparisons", 0), ("n_comparisons", float("nan")),
])
def test_every_invalid_argument_is_named(name, bad):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        minimum_detectable_difference(**{**_VALID, name: bad})
    floor_args = {k: v for k, v in _VALID.items() if k not in ("n_folds", "n_repeats")}
    if name in floor_args:
        with pytest.raises(ValueError, match=rf"^{name} must"):
            detectable_floor(**{**floor_args, name: bad})
    repeats_args = {"target": 0.03, **{k: v for k, v in _VALID.items() if k != "n_repeats"}}
    if name in repeats_args:
        with pytest.raises(ValueError, match=rf"^{name} must"):
            repeats_needed(**{**repeats_args, name: bad})


@pytest.mark.parametrize("name, bad", [("target", 0.0), ("target", float("nan")), ("max_repeats", 0),
                                       ("max_repeats", 2.0)])
def test_repeats_needed_names_its_own_arguments(name, bad):
    args = {"target": 0.03, **{k: v for k, v in _VALID.items() if k != "n_repeats"}}
    with pytest.raises(ValueError, match=rf"^{name} must"):
        repeats_needed(**{**args, name: bad})


def test_holdout_splits_are_one_fold_per_repeat():
    """n_folds = 1 (the paper's holdout splits): J = n_repeats differences; one split alone has no spread."""
    assert minimum_detectable_difference(0.015, 1, 5, 0.3) == pytest.approx(
        minimum_detectable_difference(0.015, 5, 1, 0.3))
    with pytest.raises(ValueError, match=r"^n_folds \* n_repeats must be at least 2"):
        minimum_detectable_difference(0.015, 1, 1, 0.3)
    r = repeats_needed(0.05, 0.015, 1, 0.3)
    assert r is not None and r >= 2 and minimum_detectable_difference(0.015, 1, r, 0.3) <= 0.05
