"""Tests for benchmark.stats: AUC, corner operating point, bootstrap standard deviations."""
from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from benchmark.stats import bootstrap_aucs, corner_operating_point, evaluate_scores, roc_auc


def _random_case(seed: int, n: int = 130, decimals: int = 1):
    """Labels and scores with many ties (scores rounded to `decimals`)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]  # both classes present
    s = np.round(rng.normal(size=n) + 0.8 * y, decimals)
    return y, s


def _brute_force_corner(y, s):
    """Independent corner point: sklearn's full ROC curve, nearest point to (0, 1).

    sklearn lists thresholds in decreasing order with a leading +inf (the (0, 0) point),
    which our convention excludes. Among equally close points the highest threshold wins.
    """
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    keep = np.isfinite(thr)
    fpr, tpr, thr = fpr[keep], tpr[keep], thr[keep]
    d = fpr**2 + (1 - tpr) ** 2
    best = np.flatnonzero(np.isclose(d, d.min(), rtol=0, atol=1e-12))
    i = best[np.argmax(thr[best])]
    t = thr[i]
    pred = s >= t
    return {
        "threshold": t,
        "accuracy": np.mean(pred == (y == 1)),
        "sensitivity": tpr[i],
        "specificity": 1 - fpr[i],
    }


# ------------------------------------------------------------------------------ roc_auc
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("decimals", [0, 1, 3])
def test_roc_auc_matches_sklearn_with_ties(seed, decimals):
    y, s = _random_case(seed, decimals=decimals)
    assert len(np.unique(s)) < len(s) or decimals == 3
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_roc_auc_hand_examples():
    # pairs (malignant, benign): (0.35, 0.1) win, (0.35, 0.4) loss, (0.8, 0.1) win, (0.8, 0.4) win -> 3/4
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # one pair, tied -> 1/2
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    # pairs: (0.5 vs 0.5) tie 1/2, (0.5 vs 0.2) win, (0.9 vs both) 2 wins -> 3.5/4
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == pytest.approx(0.875)
    # reversed scorer
    assert roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.0)


def test_roc_auc_accepts_bool_and_float_labels_and_lists():
    y, s = _random_case(11)
    expected = roc_auc(y, s)
    assert roc_auc(y.astype(bool), s) == expected
    assert roc_auc(y.astype(float), s.tolist()) == expected


def test_roc_auc_one_class_names_the_class():
    with pytest.raises(ValueError, match=r"only class 1 \(malignant\)"):
        roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"only class 0 \(benign\)"):
        roc_auc([0, 0], [0.1, 0.2])


@pytest.mark.parametrize(
    "y, s, message",
    [
        ([0, 1, 1], [0.1, 0.2], r"different lengths \(3 vs 2\)"),
        ([0, 1, 2], [0.1, 0.2, 0.3], r"only 0 \(benign\) and 1 \(malignant\); found 2"),
        ([0, 1, -1], [0.1, 0.2, 0.3], r"found -1"),
        ([0, 1, 0.5], [0.1, 0.2, 0.3], r"found 0.5"),
        (["benign", "malignant"], [0.1, 0.2], r"labels 0 \(benign\) and 1 \(malignant\)"),
        ([0, 1, 1], [0.1, np.nan, 0.3], r"finite; 1 value\(s\) are NaN or infinite \(first at index 1\)"),
        ([0, 1, 1], [0.1, 0.2, np.inf], r"finite"),
        ([0, 1], ["a", "b"], r"numeric"),
        ([[0, 1]], [[0.1, 0.2]], r"y_true must be 1-D"),
        ([0, 1], [[0.1, 0.2]], r"scores must be 1-D"),
        ([], [], r"empty"),
    ],
)
def test_input_validation(y, s, message):
    with pytest.raises(ValueError, match=message):
        roc_auc(y, s)
    with pytest.raises(ValueError, match=message):
        evaluate_scores(y, s, n_bootstrap=10)


# ------------------------------------------------------------------ corner operating point
def test_corner_point_hand_example():
    # 4 benign, 4 malignant; a case is malignant when score >= t.
    #   t     TP FP  TPR   FPR   FPR^2 + (1-TPR)^2
    #   0.8   1  0   0.25  0     0.5625
    #   0.7   2  0   0.50  0     0.25
    #   0.6   3  0   0.75  0     0.0625   <- closest to (0, 1)
    #   0.5   3  1   0.75  0.25  0.125
    #   0.4   3  2   0.75  0.50  0.3125
    #   0.3   4  2   1     0.50  0.25
    #   0.2   4  3   1     0.75  0.5625
    #   0.1   4  4   1     1     1
    # At t = 0.6: sensitivity 3/4, specificity 4/4, accuracy (3 + 4)/8 = 0.875.
    y = [0, 0, 1, 0, 0, 1, 1, 1]
    s = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    point = corner_operating_point(y, s)
    assert point == pytest.approx({"threshold": 0.6, "accuracy": 0.875, "sensitivity": 0.75, "specificity": 1.0})


def test_corner_point_tie_goes_to_highest_threshold():
    # 2 benign (scores 1, 3), 2 malignant (2, 4):
    #   t=4: TPR 1/2, FPR 0   -> 0.25
    #   t=3: TPR 1/2, FPR 1/2 -> 0.5
    #   t=2: TPR 1,   FPR 1/2 -> 0.25
    #   t=1: TPR 1,   FPR 1   -> 1
    # t=4 and t=2 tie; the higher (more specific) t=4 is chosen:
    # sensitivity 1/2, specificity 1, accuracy 3/4.
    point = corner_operating_point([0, 1, 0, 1], [1, 2, 3, 4])
    assert point == pytest.approx({"threshold": 4.0, "accuracy": 0.75, "sensitivity": 0.5, "specificity": 1.0})


def test_corner_point_with_tied_scores():
    # benign 0.2, 0.5, 0.7; malignant 0.5, 0.9 (0.5 is shared by both classes)
    #   t=0.9: TP 1 FP 0 -> (0)^2 + (1/2)^2            = 0.25    <- closest
    #   t=0.7: TP 1 FP 1 -> (1/3)^2 + (1/2)^2          = 0.361
    #   t=0.5: TP 2 FP 2 -> (2/3)^2 + 0                = 0.444
    #   t=0.2: TP 2 FP 3 -> 1
    point = corner_operating_point([0, 0, 0, 1, 1], [0.2, 0.5, 0.7, 0.5, 0.9])
    assert point == pytest.approx({"threshold": 0.9, "accuracy": 0.8, "sensitivity": 0.5, "specificity": 1.0})


@pytest.mark.parametrize("seed", range(8))
def test_corner_point_matches_brute_force_roc(seed):
    y, s = _random_case(seed, n=60 + 10 * seed, decimals=seed % 3)
    assert corner_operating_point(y, s) == pytest.approx(_brute_force_corner(y, s), abs=1e-12)


def test_corner_point_perfect_separation():
    point = corner_operating_point([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9])
    assert point == pytest.approx({"threshold": 0.7, "accuracy": 1.0, "sensitivity": 1.0, "specificity": 1.0})


# -------------------------------------------------------------------------- evaluate_scores
def test_evaluate_scores_point_estimates_and_keys():
    y, s = _random_case(3)
    res = evaluate_scores(y, s, n_bootstrap=200, seed=1)
    assert set(res) == {
        "auc", "accuracy", "sensitivity", "specificity", "threshold",
        "auc_std", "accuracy_std", "sensitivity_std", "specificity_std",
        "n", "n_positive", "n_bootstrap",
    }
    assert res["auc"] == pytest.approx(roc_auc_score(y, s))
    corner = _brute_force_corner(y, s)
    for k in ("accuracy", "sensitivity", "specificity", "threshold"):
        assert res[k] == pytest.approx(corner[k])
    assert (res["n"], res["n_positive"], res["n_bootstrap"]) == (130, int(y.sum()), 200)
    for k in ("auc_std", "accuracy_std", "sensitivity_std", "specificity_std"):
        assert 0 < res[k] < 0.2


@pytest.mark.parametrize("flip", [False, True])
def test_bootstrap_matches_slow_reference_loop(flip):
    """Each vectorised resample equals sklearn / brute force on the same resampled cases.

    The reference reproduces the documented stratified draws: for one chunk of
    resamples, malignant indices (B x n_pos) are drawn first, then benign (B x n_neg).
    ``flip`` uses an inverted scorer (AUC near 0), whose nearest ROC point is the
    (1, 1) corner: score values absent from a resample must not become thresholds.
    """
    y, s = _random_case(5, n=80)
    if flip:
        s = -np.round(3 * y + np.random.default_rng(0).normal(size=y.size) * 0.5, 1)
        assert roc_auc(y, s) < 0.05
    n_boot, seed = 60, 123
    res = evaluate_scores(y, s, n_bootstrap=n_boot, seed=seed)
    aucs = bootstrap_aucs(y, s, n_boot, seed)

    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    pos_draw = pos[rng.integers(0, pos.size, size=(n_boot, pos.size))]
    neg_draw = neg[rng.integers(0, neg.size, size=(n_boot, neg.size))]
    ref = {"auc": [], "accuracy": [], "sensitivity": [], "specificity": []}
    for b in range(n_boot):
        idx = np.concatenate([pos_draw[b], neg_draw[b]])
        ref["auc"].append(roc_auc_score(y[idx], s[idx]))
        corner = _brute_force_corner(y[idx], s[idx])
        for k in ("accuracy", "sensitivity", "specificity"):
            ref[k].append(corner[k])
    np.testing.assert_allclose(aucs, ref["auc"], atol=1e-12)
    for k, v in ref.items():
        assert res[f"{k}_std"] == pytest.approx(np.std(v, ddof=1), abs=1e-12)


def test_bootstrap_is_stratified_and_reproducible():
    y, s = _random_case(8)
    a1 = bootstrap_aucs(y, s, 300, seed=4)
    a2 = bootstrap_aucs(y, s, 300, seed=4)
    a3 = bootstrap_aucs(y, s, 300, seed=5)
    np.testing.assert_array_equal(a1, a2)
    assert not np.array_equal(a1, a3)
    assert a1.shape == (300,)
    # AUCs of resamples with fixed class counts are multiples of 1 / (2 n_pos n_neg)
    n_pos, n_neg = int(y.sum()), int((y == 0).sum())
    k = a1 * 2 * n_pos * n_neg
    np.testing.assert_allclose(k, np.round(k), atol=1e-6)
    # the same seed gives the same resamples as evaluate_scores
    assert evaluate_scores(y, s, 300, seed=4)["auc_std"] == pytest.approx(np.std(a1, ddof=1))


def test_bootstrap_auc_std_agrees_with_delong_standard_error():
    # An independent estimate of the AUC standard error (DeLong 1988, slow definition):
    # var = Var(V10)/m + Var(V01)/n, with placement values V10/V01.
    rng = np.random.default_rng(21)
    y = np.r_[np.ones(60, int), np.zeros(90, int)]
    s = rng.normal(size=150) + 1.0 * y
    x, z = s[y == 1], s[y == 0]
    psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
    se = np.sqrt(psi.mean(1).var(ddof=1) / x.size + psi.mean(0).var(ddof=1) / z.size)
    res = evaluate_scores(y, s, n_bootstrap=2000, seed=0)
    assert res["auc_std"] == pytest.approx(se, rel=0.15)


def test_n_bootstrap_zero_gives_nan_stds():
    y, s = _random_case(2)
    res = evaluate_scores(y, s, n_bootstrap=0)
    assert res["n_bootstrap"] == 0
    for k in ("auc_std", "accuracy_std", "sensitivity_std", "specificity_std"):
        assert np.isnan(res[k])
    assert res["auc"] == pytest.approx(roc_auc_score(y, s))
    assert bootstrap_aucs(y, s, 0, 0).shape == (0,)


def test_perfect_scorer_has_zero_std():
    y = np.r_[np.zeros(20, int), np.ones(10, int)]
    s = np.r_[np.linspace(0, 0.4, 20), np.linspace(0.6, 1, 10)]
    res = evaluate_scores(y, s, n_bootstrap=100)
    assert res["auc"] == 1.0 and res["accuracy"] == 1.0
    assert res["auc_std"] == 0.0 and res["sensitivity_std"] == 0.0 and res["specificity_std"] == 0.0


@pytest.mark.parametrize("bad", [-1, 2.5, "10", True])
def test_bad_n_bootstrap(bad):
    y, s = _random_case(0)
    with pytest.raises(ValueError, match="n_bootstrap"):
        evaluate_scores(y, s, n_bootstrap=bad)


def test_evaluate_scores_one_class_raises():
    with pytest.raises(ValueError, match=r"only class 0 \(benign\)"):
        evaluate_scores([0, 0, 0], [0.1, 0.2, 0.3])


def test_bootstrap_is_fast():
    y, s = _random_case(1, n=130, decimals=4)
    evaluate_scores(y, s, n_bootstrap=50)  # warm-up
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        evaluate_scores(y, s, n_bootstrap=1000, seed=0)
        best = min(best, time.perf_counter() - t0)
    assert best < 0.5, f"1000 bootstrap resamples of 130 cases took {best:.3f} s"
