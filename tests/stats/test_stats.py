"""Tests for benchmark.stats: DeLong, paired and cluster bootstraps, the paper's bootstrap Wilcoxon, split and
cross-validation tests, Holm, rank intervals, validation thresholds."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from benchmark.stats import bootstrap_aucs
from benchmark.stats import (
    bootstrap_wilcoxon_test,
    cluster_bootstrap_aucs,
    cluster_bootstrap_ci,
    delong_test,
    delong_variance,
    holm_correction,
    nadeau_bengio_ttest,
    paired_bootstrap_auc_difference,
    paired_bootstrap_auc_differences,
    paired_cluster_bootstrap,
    paired_split_test,
    rank_intervals,
    threshold_metrics,
    weighted_aucs,
    youden_threshold,
)


# ------------------------------------------------------------------ slow DeLong reference
def _slow_delong(y, scores_list):
    """O(m n) DeLong et al. (1988) straight from the definition of the placement values.

    psi(x, z) = 1 if x > z, 1/2 if x == z, 0 otherwise (x malignant, z benign);
    V10(x_i) = mean_j psi(x_i, z_j),  V01(z_j) = mean_i psi(x_i, z_j);
    S10, S01 = sample covariance matrices (ddof=1) of the V10 / V01 vectors;
    Cov(AUC) = S10 / m + S01 / n.
    """
    y = np.asarray(y)
    v10, v01 = [], []
    for s in scores_list:
        s = np.asarray(s, dtype=float)
        x, z = s[y == 1], s[y == 0]
        psi = np.zeros((x.size, z.size))
        for i in range(x.size):
            for j in range(z.size):
                psi[i, j] = 1.0 if x[i] > z[j] else (0.5 if x[i] == z[j] else 0.0)
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    v10, v01 = np.array(v10), np.array(v01)
    m, n = v10.shape[1], v01.shape[1]
    auc = v10.mean(axis=1)
    cov = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return auc, cov


def _correlated_case(seed, n=90, decimals=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:4] = [0, 0, 1, 1]
    a = rng.normal(size=n) + 1.0 * y
    b = 0.6 * a + rng.normal(size=n) * 0.8 + 0.5 * y
    return y, np.round(a, decimals), np.round(b, decimals)


# ----------------------------------------------------------------------------- DeLong
@pytest.mark.parametrize("seed", range(6))
def test_delong_matches_slow_definition(seed):
    y, a, b = _correlated_case(seed, n=60 + 7 * seed, decimals=seed % 3)
    auc, cov = _slow_delong(y, [a, b])
    var_diff = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    z_ref = (auc[0] - auc[1]) / np.sqrt(var_diff)
    p_ref = 2 * sps.norm.sf(abs(z_ref))

    z, p = delong_test(y, a, b)
    assert z == pytest.approx(z_ref, rel=1e-9)
    assert p == pytest.approx(p_ref, rel=1e-9)

    auc_a, var_a = delong_variance(y, a)
    assert auc_a == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert var_a == pytest.approx(cov[0, 0], rel=1e-9)


def test_delong_hand_example():
    # Malignant cases 1-3, benign cases 4-6.
    #   scorer A: malignant 0.9 0.8 0.4 | benign 0.7 0.3 0.2
    #   scorer B: malignant 0.2 0.8 0.6 | benign 0.5 0.9 0.1
    # V10 (share of benign beaten by each malignant case):
    #   A: 3/3, 3/3, 2/3  -> AUC_A = 8/9        B: 1/3, 2/3, 2/3 -> AUC_B = 5/9
    # V01 (share of malignant cases above each benign case):
    #   A: 2/3, 3/3, 3/3                         B: 2/3, 0/3, 3/3
    # Differences A - B:  D10 = (2/3, 1/3, 0),  D01 = (0, 1, 0)
    #   sample var D10 = ((1/3)^2 + 0 + (1/3)^2) / 2 = 1/9
    #   sample var D01 = ((1/3)^2 + (2/3)^2 + (1/3)^2) / 2 = 1/3
    #   Var(AUC_A - AUC_B) = (1/9)/3 + (1/3)/3 = 4/27
    #   z = (1/3) / sqrt(4/27) = sqrt(27)/6 = sqrt(3)/2 = 0.8660...
    #   p = 2 (1 - Phi(0.8660)) = 0.3865
    # Single scorer A: var V10_A = var(1, 1, 2/3) = 1/27, var V01_A = var(2/3, 1, 1) = 1/27
    #   Var(AUC_A) = (1/27)/3 + (1/27)/3 = 2/81
    y = [1, 1, 1, 0, 0, 0]
    a = [0.9, 0.8, 0.4, 0.7, 0.3, 0.2]
    b = [0.2, 0.8, 0.6, 0.5, 0.9, 0.1]
    z, p = delong_test(y, a, b)
    assert z == pytest.approx(np.sqrt(3) / 2, rel=1e-12)
    assert p == pytest.approx(0.38648, abs=5e-5)
    auc, var = delong_variance(y, a)
    assert auc == pytest.approx(8 / 9)
    assert var == pytest.approx(2 / 81, rel=1e-12)
    # swapping the scorers flips the sign of z and keeps p
    z_ba, p_ba = delong_test(y, b, a)
    assert z_ba == pytest.approx(-z) and p_ba == pytest.approx(p)


def test_delong_identical_scores_zero_variance():
    y, a, _ = _correlated_case(1)
    assert delong_test(y, a, a) == (0.0, 1.0)
    # any strictly increasing transform ranks the cases identically: still no difference
    assert delong_test(y, a, np.exp(a) * 3 + 1) == (0.0, 1.0)


def test_delong_degenerate_nonzero_difference():
    # perfect scorer vs constant scorer: all placement values constant, Var = 0, AUCs 1 vs 0.5
    y = [0, 0, 0, 1, 1, 1]
    z, p = delong_test(y, [0, 1, 2, 3, 4, 5], [7, 7, 7, 7, 7, 7])
    assert z == np.inf and p == 0.0


def test_delong_null_calibration():
    # Two exchangeable scorers: the rejection rate at 5 % should be close to 5 %.
    rng = np.random.default_rng(0)
    rejections = 0
    for _ in range(300):
        y = rng.integers(0, 2, 100)
        a = rng.normal(size=100) + y
        b = rng.normal(size=100) + y
        rejections += delong_test(y, a, b)[1] < 0.05
    assert 0.02 <= rejections / 300 <= 0.09


def test_delong_detects_real_difference():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    a = rng.normal(size=200) + 2.0 * y
    b = rng.normal(size=200) + 0.3 * y
    z, p = delong_test(y, a, b)
    assert z > 3 and p < 1e-3


def test_delong_input_validation():
    with pytest.raises(ValueError, match=r"y_true and scores_b have different lengths \(4 vs 3\)"):
        delong_test([0, 0, 1, 1], [1, 2, 3, 4], [1, 2, 3])
    with pytest.raises(ValueError, match=r"only class 1 \(malignant\)"):
        delong_test([1, 1, 1], [1, 2, 3], [3, 2, 1])
    with pytest.raises(ValueError, match="at least 2 malignant and 2 benign"):
        delong_test([0, 0, 1], [1, 2, 3], [3, 2, 1])
    with pytest.raises(ValueError, match="scores_a must be finite"):
        delong_test([0, 0, 1, 1], [1, np.nan, 3, 4], [1, 2, 3, 4])
    with pytest.raises(ValueError, match=r"found 3"):
        delong_variance([0, 3, 1, 1], [1, 2, 3, 4])


# --------------------------------------------------------------------- paired bootstrap
def test_paired_bootstrap_ci_contains_true_difference():
    # Binormal model: AUC = Phi(delta / sqrt(2)). delta_A = 2, delta_B = 1:
    # true difference Phi(1.4142) - Phi(0.7071) = 0.9214 - 0.7602 = 0.1612.
    true_diff = sps.norm.cdf(2 / np.sqrt(2)) - sps.norm.cdf(1 / np.sqrt(2))
    rng = np.random.default_rng(2)
    y = np.r_[np.ones(200, int), np.zeros(200, int)]
    noise = rng.normal(size=(2, 400))
    a = noise[0] + 2.0 * y
    b = noise[1] + 1.0 * y
    res = paired_bootstrap_auc_difference(y, a, b, n_bootstrap=2000, seed=0)
    assert res["difference"] == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b))
    assert res["ci_low"] < true_diff < res["ci_high"]
    assert res["ci_low"] > 0 and res["p"] < 0.01
    # the bootstrap spread agrees with the DeLong standard error of the difference
    z, _ = delong_test(y, a, b)
    se_delong = res["difference"] / z
    se_boot = (res["ci_high"] - res["ci_low"]) / (2 * sps.norm.ppf(0.975))
    assert se_boot == pytest.approx(se_delong, rel=0.2)


def test_paired_bootstrap_perfect_vs_random_excludes_zero():
    rng = np.random.default_rng(3)
    y = np.r_[np.ones(100, int), np.zeros(100, int)]
    perfect = y + rng.uniform(0, 0.5, 200)
    random_ = rng.uniform(size=200)
    res = paired_bootstrap_auc_difference(y, perfect, random_, n_bootstrap=2000, seed=0)
    assert res["ci_low"] > 0.2  # AUC 1 vs ~0.5, and the whole interval stays away from 0
    assert res["ci_high"] <= 0.5 + 0.2
    # no resample has difference <= 0, so p = 2 * (0 + 1) / (2000 + 1)
    assert res["p"] == pytest.approx(2 / 2001)
    # swapping the scorers mirrors the result
    rev = paired_bootstrap_auc_difference(y, random_, perfect, n_bootstrap=2000, seed=0)
    assert rev["difference"] == pytest.approx(-res["difference"])
    assert rev["ci_high"] == pytest.approx(-res["ci_low"]) and rev["p"] == pytest.approx(res["p"])


def test_paired_bootstrap_identical_scorers():
    y, a, _ = _correlated_case(4)
    res = paired_bootstrap_auc_difference(y, a, a, n_bootstrap=500)
    assert res == {"difference": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p": 1.0}


def test_paired_bootstrap_confidence_level_widens_interval():
    y, a, b = _correlated_case(5, n=150, decimals=3)
    r90 = paired_bootstrap_auc_difference(y, a, b, n_bootstrap=1000, seed=1, confidence=0.90)
    r99 = paired_bootstrap_auc_difference(y, a, b, n_bootstrap=1000, seed=1, confidence=0.99)
    assert r99["ci_low"] < r90["ci_low"] < r90["ci_high"] < r99["ci_high"]
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap_auc_difference(y, a, b, confidence=95)
    with pytest.raises(ValueError, match="n_bootstrap"):
        paired_bootstrap_auc_difference(y, a, b, n_bootstrap=0)


# ---------------------------------------------------------- the paper's bootstrap Wilcoxon
def test_bootstrap_wilcoxon_p_shrinks_with_n_bootstrap():
    """The documented caveat: same data, a small AUC difference that DeLong does not find
    significant, yet the rank-sum p-value goes to 0 as n_bootstrap grows."""
    rng = np.random.default_rng(3)
    y = np.r_[np.ones(50, int), np.zeros(80, int)]
    a = rng.normal(size=130) + 1.2 * y
    b = a + rng.normal(size=130) * 0.4
    assert delong_test(y, a, b)[1] > 0.3
    median_p = {
        n_boot: np.median([bootstrap_wilcoxon_test(y, a, b, n_bootstrap=n_boot, seed=s)[1] for s in range(5)])
        for n_boot in (10, 100, 2000)
    }
    assert median_p[10] > 0.05
    assert median_p[10] > median_p[100] > median_p[2000]
    assert median_p[2000] < 1e-6


def test_bootstrap_wilcoxon_statistic_range_and_reproducibility():
    y, a, b = _correlated_case(6, n=120, decimals=3)
    u, p = bootstrap_wilcoxon_test(y, a, b, n_bootstrap=300, seed=9)
    assert 0 <= u <= 300 * 300 and 0 <= p <= 1
    assert bootstrap_wilcoxon_test(y, a, b, n_bootstrap=300, seed=9) == (u, p)
    # U of A's sample is large when A's AUCs are larger
    y2 = np.r_[np.ones(60, int), np.zeros(60, int)]
    good = y2 + np.random.default_rng(0).normal(size=120) * 0.3
    bad = np.random.default_rng(1).normal(size=120)
    u_good, p_good = bootstrap_wilcoxon_test(y2, good, bad, n_bootstrap=200)
    assert u_good == 200 * 200 and p_good < 1e-10


def test_bootstrap_wilcoxon_bootstraps_methods_independently():
    # Same scorer twice: with shared resamples the two AUC samples would be identical
    # (U = B^2 / 2, p = 1); the paper bootstraps each method on its own resamples.
    y, a, _ = _correlated_case(7, n=120, decimals=3)
    u, p = bootstrap_wilcoxon_test(y, a, a, n_bootstrap=500, seed=0)
    assert u != 500 * 500 / 2 and p < 1.0


def test_bootstrap_wilcoxon_validation():
    with pytest.raises(ValueError, match="different lengths"):
        bootstrap_wilcoxon_test([0, 1, 0, 1], [1, 2, 3, 4], [1, 2, 3])
    with pytest.raises(ValueError, match="n_bootstrap"):
        bootstrap_wilcoxon_test([0, 1, 0, 1], [1, 2, 3, 4], [4, 3, 2, 1], n_bootstrap=0)


# ------------------------------------------------------------------- paired split test
def test_paired_split_test_hand_example():
    # d = a - b = (0.02, 0.03, -0.01, 0.04, 0.05); |d| ranks 2, 3, 1, 4, 5 -> T- = 1, T+ = 14.
    # Exact null: 2^5 = 32 equally likely sign patterns; T- <= 1 for 2 of them ({}, {1}),
    # so the two-sided exact p = 2 * 2/32 = 0.125.
    # Paired t: mean 0.026, sample sd sqrt(0.00212/4) = 0.023022, t = 0.026/(0.023022/sqrt 5) = 2.5253,
    # df 4 -> p = 0.0650.
    a = [0.80, 0.82, 0.85, 0.79, 0.90]
    b = [0.78, 0.79, 0.86, 0.75, 0.85]
    res = paired_split_test(a, b)
    assert res["n"] == 5
    assert res["mean_difference"] == pytest.approx(0.026)
    assert res["wilcoxon_p"] == pytest.approx(0.125)
    assert res["ttest_p"] == pytest.approx(2 * sps.t.sf(2.5253, 4), abs=1e-4)
    assert res["ttest_p"] == pytest.approx(0.0650, abs=5e-4)


def test_paired_split_test_exact_small_sample():
    # all six differences positive: exact two-sided p = 2 / 2^6 = 0.03125
    res = paired_split_test([0.9, 0.8, 0.85, 0.7, 0.95, 0.75], [0.8, 0.75, 0.84, 0.6, 0.8, 0.73])
    assert res["wilcoxon_p"] == pytest.approx(0.03125)
    assert res["mean_difference"] > 0


def test_paired_split_test_small_n_gives_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = paired_split_test([0.8], [0.7])
        none = paired_split_test([], [])
    assert one["n"] == 1 and one["mean_difference"] == pytest.approx(0.1)
    assert np.isnan(one["wilcoxon_p"]) and np.isnan(one["ttest_p"])
    assert none["n"] == 0 and np.isnan(none["mean_difference"]) and np.isnan(none["wilcoxon_p"])


def test_paired_split_test_degenerate_differences():
    same = paired_split_test([0.8, 0.9, 0.7], [0.8, 0.9, 0.7])
    assert same["wilcoxon_p"] == 1.0 and same["ttest_p"] == 1.0 and same["mean_difference"] == 0.0
    # constant non-zero differences (0.1 up to float rounding): t-test variance 0 -> p = 0;
    # signed-rank with n = 3, all positive: exact p = 2 / 2^3 = 0.25
    const = paired_split_test([0.8, 0.9, 0.7], [0.7, 0.8, 0.6])
    assert const["ttest_p"] == 0.0 and const["wilcoxon_p"] == pytest.approx(0.25)


def test_paired_split_test_validation():
    with pytest.raises(ValueError, match=r"different lengths \(3 vs 2\)"):
        paired_split_test([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        paired_split_test([0.1, np.nan], [0.1, 0.2])


# ------------------------------------------------------------------------------- Holm
def test_holm_hand_example():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    # back in input order: [0.03, 0.06, 0.06, 0.02]
    np.testing.assert_allclose(holm_correction([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])


def test_holm_nan_passthrough_and_cap():
    out = holm_correction([0.01, np.nan, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(out, [0.03, np.nan, 0.06, 0.06, 0.02])  # NaN does not count in m
    np.testing.assert_allclose(holm_correction([0.5, 0.6]), [1.0, 1.0])  # 2*0.5 = 1, max(1, 0.6) = 1
    assert holm_correction([]).shape == (0,)
    assert np.isnan(holm_correction([np.nan])).all()


def test_holm_properties_random():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.2, 25)
    adj = holm_correction(p)
    order = np.argsort(p)
    assert np.all(np.diff(adj[order]) >= 0)  # monotone in the raw p-values
    assert np.all(adj >= p) and np.all(adj <= 1)
    assert adj[order[0]] == pytest.approx(min(1.0, 25 * p.min()))  # smallest: Bonferroni
    assert adj[order[-1]] == pytest.approx(max(p.max(), adj[order[-2]]))


def test_holm_rejects_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm_correction([0.1, 1.2])


def test_many_pairs_at_once_equal_each_pair_alone():
    """The leaderboard bootstraps every scorer once per split; each pair must come out as the
    pairwise function gives it (same resamples, same columns)."""
    rng = np.random.default_rng(3)
    y = np.r_[np.zeros(40, int), np.ones(25, int)]
    scores = {name: y * shift + rng.normal(size=y.size) for name, shift in (("a", 1.5), ("b", 0.5), ("c", 0.0))}
    pairs = [("a", "b"), ("a", "c"), ("c", "b")]
    together = paired_bootstrap_auc_differences(y, scores, pairs, n_bootstrap=700, seed=5)
    assert list(together) == pairs
    for a, b in pairs:
        alone = paired_bootstrap_auc_difference(y, scores[a], scores[b], n_bootstrap=700, seed=5)
        assert together[(a, b)] == alone
    assert together[("a", "c")]["difference"] > 0 > together[("c", "b")]["difference"]


# ------------------------------------------------------------------ weighted AUC, cluster bootstrap
def _scored(seed, n=120, shift=1.0, decimals=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    return y, np.round(rng.normal(size=n) + shift * y, decimals)  # rounding makes ties


@pytest.mark.parametrize("seed", range(4))
def test_weighted_auc_equals_sklearn_with_sample_weight(seed):
    y, s = _scored(seed)
    rng = np.random.default_rng(100 + seed)
    weights = rng.integers(0, 4, size=(6, y.size)).astype(float)  # bootstrap counts: 0, 1, 2, 3
    weights[:, :2] = 1.0  # both classes present
    weights[-1] = rng.random(y.size)  # and arbitrary non-negative weights
    got = weighted_aucs(y, s, weights)
    for row, auc in zip(weights, got):
        assert auc == pytest.approx(roc_auc_score(y, s, sample_weight=row), abs=1e-12)
    assert weighted_aucs(y, s, np.ones(y.size)) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_weighted_auc_one_class_weighted_is_nan_and_bad_weights_raise():
    y, s = _scored(0)
    w = (y == 1).astype(float)  # no benign weight
    assert np.isnan(weighted_aucs(y, s, w))
    with pytest.raises(ValueError, match="non-negative"):
        weighted_aucs(y, s, -np.ones(y.size))
    with pytest.raises(ValueError, match="shape"):
        weighted_aucs(y, s, np.ones((2, y.size + 1)))


def test_one_cluster_resample_equals_sklearn():
    """A resample's AUC is sklearn's with the group draw counts as image weights."""
    y, s = _scored(5)
    groups = np.arange(y.size) // 2 * 2 + y  # pairs of same-label images share a group where possible
    draws = cluster_bootstrap_aucs(y, {"s": s}, groups, n_bootstrap=3, seed=11)[:, 0]
    # redraw the same group counts the function drew, from the same generator
    keys, index = np.unique(groups, return_inverse=True)
    label = np.array([y[index == g][0] for g in range(keys.size)])
    malignant, benign = np.flatnonzero(label == 1), np.flatnonzero(label == 0)
    rng = np.random.default_rng(11)
    picks = np.concatenate([malignant[rng.integers(0, malignant.size, size=(3, malignant.size))],
                            benign[rng.integers(0, benign.size, size=(3, benign.size))]], axis=1)
    for b in range(3):
        counts = np.bincount(picks[b], minlength=keys.size)
        assert draws[b] == pytest.approx(roc_auc_score(y, s, sample_weight=counts[index]), abs=1e-12)


def test_groups_mixing_labels_raise():
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="both benign and malignant"):
        cluster_bootstrap_aucs(y, {"s": np.arange(4.0)}, [0, 0, 1, 2], n_bootstrap=5)


def test_singleton_groups_give_the_image_bootstrap_distribution():
    y, s = _scored(2, n=150, decimals=3)
    cluster = cluster_bootstrap_aucs(y, {"s": s}, np.arange(y.size), n_bootstrap=4000, seed=1)[:, 0]
    image = bootstrap_aucs(y, s, n_bootstrap=4000, seed=2)
    assert cluster.mean() == pytest.approx(image.mean(), abs=0.003)
    assert cluster.std() == pytest.approx(image.std(), rel=0.08)


def test_duplicated_images_widen_the_cluster_bootstrap():
    """Every image copied twice: the copies are one case, not two; the naive bootstrap that
    counts them twice is too narrow (about 1/sqrt(2) of the right width)."""
    y, s = _scored(3, n=100, decimals=3)
    y2, s2 = np.repeat(y, 2), np.repeat(s, 2)
    groups = np.repeat(np.arange(y.size), 2)
    cluster = cluster_bootstrap_ci(y2, s2, groups, n_bootstrap=3000, seed=0)
    naive = cluster_bootstrap_ci(y2, s2, np.arange(y2.size), n_bootstrap=3000, seed=0)
    original = cluster_bootstrap_ci(y, s, np.arange(y.size), n_bootstrap=3000, seed=0)
    assert cluster["auc"] == naive["auc"] == pytest.approx(roc_auc_score(y, s))
    assert cluster["se"] > 1.25 * naive["se"]
    assert cluster["se"] == pytest.approx(original["se"], rel=0.1)  # the copies add no information
    assert cluster["ci_high"] - cluster["ci_low"] > naive["ci_high"] - naive["ci_low"]
    assert cluster["ci_low"] <= cluster["auc"] <= cluster["ci_high"]


def test_paired_cluster_bootstrap():
    y, a = _scored(4, n=200, shift=2.0, decimals=3)
    rng = np.random.default_rng(9)
    scores = {"a": a, "b": rng.normal(size=y.size), "a2": a.copy()}
    groups = np.arange(y.size) // 3 * 2 + y
    res = paired_cluster_bootstrap(y, scores, groups, [("a", "b"), ("a", "a2")], n_bootstrap=2000, seed=0)
    ab = res[("a", "b")]
    assert ab["difference"] == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, scores["b"]))
    assert ab["ci_low"] > 0 and ab["p"] == pytest.approx(2 / 2001)
    assert res[("a", "a2")] == {"difference": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p": 1.0}
    draws = cluster_bootstrap_aucs(y, scores, groups, n_bootstrap=2000, seed=0)  # same resamples for all
    np.testing.assert_allclose(np.quantile(draws[:, 0] - draws[:, 1], [0.025, 0.975]), [ab["ci_low"], ab["ci_high"]])


def test_cluster_bootstrap_with_missing_scores():
    y, s = _scored(6)
    part = s.copy()
    part[::3] = np.nan  # this scorer did not score every third image
    draws = cluster_bootstrap_aucs(y, {"all": s, "part": part}, np.arange(y.size), 50, seed=0, allow_missing=True)
    assert np.isfinite(draws).all()
    with pytest.raises(ValueError, match="finite"):
        cluster_bootstrap_aucs(y, {"part": part}, np.arange(y.size), 5)


# ------------------------------------------------------------------ rank intervals
def test_rank_intervals_contain_the_observed_rank_and_pin_a_dominant_method():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(120, int), np.ones(80, int)]
    scores = {"best": 4.0 * y + rng.normal(size=y.size)}
    scores.update({f"m{k}": 0.5 * y + rng.normal(size=y.size) for k in range(4)})
    groups = np.arange(y.size)
    draws = cluster_bootstrap_aucs(y, scores, groups, n_bootstrap=1000, seed=0)
    observed = {m: roc_auc_score(y, s) for m, s in scores.items()}
    ranks = rank_intervals(observed, draws, list(scores)).set_index("method")
    assert list(ranks.columns) == ["rank", "rank_low", "rank_high"]
    assert tuple(ranks.loc["best"]) == (1, 1, 1)
    assert ((ranks["rank_low"] <= ranks["rank"]) & (ranks["rank"] <= ranks["rank_high"])).all()
    assert sorted(ranks["rank"]) == [1, 2, 3, 4, 5]
    assert (ranks.loc[[f"m{k}" for k in range(4)], "rank_low"] >= 2).all()
    assert (ranks["rank_high"] - ranks["rank_low"]).loc[[f"m{k}" for k in range(4)]].max() >= 1  # close ones overlap


def test_rank_intervals_ties_share_the_better_rank():
    draws = np.array([[0.8, 0.8, 0.6], [0.9, 0.7, 0.7]])
    ranks = rank_intervals({"a": 0.8, "b": 0.8, "c": 0.6}, draws, ["a", "b", "c"], confidence=0.5)
    assert list(ranks["rank"]) == [1, 1, 3]


# ------------------------------------------------------------------ Nadeau-Bengio
def test_nadeau_bengio_is_more_conservative_than_the_naive_t_test():
    rng = np.random.default_rng(1)
    diffs = 0.02 + rng.normal(0.0, 0.03, 10)  # 5 folds x 2 repeats
    nb = nadeau_bengio_ttest(diffs, n_train=500, n_test=125)
    naive = sps.ttest_1samp(diffs, 0.0)
    assert nb["df"] == 9 and nb["mean_difference"] == pytest.approx(diffs.mean())
    assert nb["p"] > naive.pvalue
    expected_t = diffs.mean() / np.sqrt((1 / 10 + 125 / 500) * diffs.var(ddof=1))
    assert nb["t"] == pytest.approx(expected_t)
    assert nb["p"] == pytest.approx(2 * sps.t.sf(abs(expected_t), 9))


def test_nadeau_bengio_edge_cases():
    assert np.isnan(nadeau_bengio_ttest([0.1], 100, 20)["p"])
    assert nadeau_bengio_ttest([0.0, 0.0, 0.0], 100, 20)["p"] == 1.0
    assert nadeau_bengio_ttest([0.1, 0.1, 0.1], 100, 20)["p"] == 0.0
    with pytest.raises(ValueError):
        nadeau_bengio_ttest([0.1, np.nan], 100, 20)


# ------------------------------------------------------------------ validation thresholds
def test_youden_threshold_separable():
    y = np.array([0, 0, 0, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.35, 0.6, 0.7, 0.9])
    t = youden_threshold(y, s)
    assert t == pytest.approx((0.35 + 0.6) / 2)  # the midpoint of the gap between the classes
    assert threshold_metrics(y, s, t) == {"accuracy": 1.0, "sensitivity": 1.0, "specificity": 1.0}


def test_youden_threshold_maximises_j_and_prefers_the_highest_cut():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(size=300) + y, 1)
    t = youden_threshold(y, s)
    m = threshold_metrics(y, s, t)
    best = max(threshold_metrics(y, s, c)["sensitivity"] + threshold_metrics(y, s, c)["specificity"]
               for c in np.unique(s))
    assert m["sensitivity"] + m["specificity"] == pytest.approx(best)
    # two cuts with the same J: the higher (more specific) one wins
    y2, s2 = np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.3, 0.4])
    assert youden_threshold(y2, s2) == pytest.approx(0.35)
    with pytest.raises(ValueError, match="both classes"):
        youden_threshold([1, 1], [0.2, 0.3])


def test_threshold_metrics_counts():
    m = threshold_metrics([0, 0, 1, 1, 1], [0.2, 0.6, 0.6, 0.4, 0.9], 0.5)
    assert m == {"accuracy": 0.6, "sensitivity": pytest.approx(2 / 3), "specificity": 0.5}


# ------------------------------------------------------------------ fold-stratified AUC
def _fold_scored(seed: int, n: int = 120, k: int = 4):
    """Scores of k fold models, each on its own scale (an offset per fold), and duplicate pairs."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    fold = rng.integers(0, k, n)
    s = y * 1.2 + rng.normal(size=n) + 1.5 * fold  # fold f's model scores everything higher by 1.5 f
    groups = np.arange(n)
    for i in range(0, n - 1, 5):  # a few same-label, same-fold pairs share a group
        if y[i] == y[i + 1] and fold[i] == fold[i + 1]:
            groups[i + 1] = i
    return y, s, fold, groups


def _independent_stratified_auc(y, s, fold, weights=None):
    """sum_f AUC_f W1_f W0_f / sum_f W1_f W0_f with sklearn (weights: image weights)."""
    w = np.ones(y.size) if weights is None else weights
    num = den = 0.0
    for f in np.unique(fold):
        m = (fold == f) & (w > 0)
        w1, w0 = w[m & (y == 1)].sum(), w[m & (y == 0)].sum()
        if w1 and w0:
            num += roc_auc_score(y[m], s[m], sample_weight=w[m]) * w1 * w0
            den += w1 * w0
    return num / den


def test_stratified_auc_is_the_pair_weighted_fold_mean_and_ignores_scale_offsets():
    from benchmark.stats import stratified_auc

    y, s, fold, _ = _fold_scored(0)
    expected = _independent_stratified_auc(y, s, fold)
    assert stratified_auc(y, s, fold) == pytest.approx(expected, abs=1e-12)
    equal_weights = np.mean([roc_auc_score(y[fold == f], s[fold == f]) for f in np.unique(fold)])
    assert abs(stratified_auc(y, s, fold) - equal_weights) > 1e-4  # n_pos n_neg weights, not equal ones
    # the fold offsets change the pooled AUC, not the stratified one
    unshifted = s - 1.5 * fold
    assert stratified_auc(y, unshifted, fold) == pytest.approx(stratified_auc(y, s, fold), abs=1e-12)
    assert abs(roc_auc_score(y, s) - roc_auc_score(y, unshifted)) > 0.02
    assert stratified_auc(y, s, np.zeros(y.size)) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    with pytest.raises(ValueError, match="no.* stratum|none does"):
        stratified_auc(y, s, np.where(y == 1, 0, 1))


def test_cluster_bootstrap_with_blocks_and_strata_equals_sklearn_per_resample():
    """A resample's block-stratified AUC is the sklearn recompute with the group counts as weights,
    and resampling within strata keeps every fold's numbers of malignant and benign groups."""
    from benchmark.stats.cluster_bootstrap import _check_groups, _group_resamples, _group_strata

    y, s, fold, groups = _fold_scored(1)
    draws = cluster_bootstrap_aucs(y, {"s": s, "pooled": s}, groups, n_bootstrap=4, seed=5,
                                   blocks={"s": fold}, strata=fold)
    index, label = _check_groups(y, groups)
    stratum = _group_strata(fold, index, label.size)
    (c1, c0), = list(_group_resamples(label, 4, np.random.default_rng(5), 100, stratum))
    malignant, benign = np.flatnonzero(label == 1), np.flatnonzero(label == 0)
    for b in range(4):
        counts = np.zeros(label.size)
        counts[malignant], counts[benign] = c1[b], c0[b]
        w = counts[index]
        assert draws[b, 0] == pytest.approx(_independent_stratified_auc(y, s, fold, w), abs=1e-12)
        assert draws[b, 1] == pytest.approx(roc_auc_score(y, s, sample_weight=w), abs=1e-12)
        for f in np.unique(fold):  # each fold keeps its numbers of malignant and benign groups
            for cls, c, pos in ((1, c1[b], malignant), (0, c0[b], benign)):
                assert c[stratum[pos] == stratum[index[np.flatnonzero(fold == f)[0]]]].sum() == \
                    np.unique(index[(fold == f) & (y == cls)]).size
    with pytest.raises(ValueError, match="two strata"):
        cluster_bootstrap_aucs(y, {"s": s}, np.zeros(y.size, int) + y, 3, strata=fold)
