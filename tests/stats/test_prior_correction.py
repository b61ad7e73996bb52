"""The class-weighting shift and its correction, calibration-in-the-large as observed/expected, the ECE floor
drawn by duplicate group, and the smoothed calibration curve (benchmark.stats.calibration).

The shift is reproduced with models that are actually trained: a logistic regression fitted on simulated
features with the trainer's own class weights (benchmark.training.trainer.class_weights) and without them.
"""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from benchmark.stats import (adaptive_ece, calibrated_ece_draws, logistic_calibration, mean_predicted,
                             observed_expected, prior_correct, smooth_calibration, smooth_ece, weighting_shift)
from benchmark.training.trainer import class_weights


def _simulated_set(rng, n: int, prevalence: float = 0.32):
    y = (rng.random(n) < prevalence).astype(int)
    x = rng.normal(1.2 * y, 1.0, n)[:, None]
    return x, y


def test_weighted_training_shifts_the_intercept_and_the_correction_removes_it():
    """Five training sets of 441 images at BUSI's prevalence: the model trained with the trainer's balanced weights
    has a calibration intercept near -log(n_benign / n_malignant) (about -0.75) on fresh images, the unweighted one
    near 0, and the weighted one's prior-corrected scores near 0 too; the slope is unchanged by the correction.
    Planted: the shift with the wrong sign (logit plus the shift) leaves an intercept near -1.5."""
    rng = np.random.default_rng(0)
    x_test, y_test = _simulated_set(rng, 20_000)
    weighted, plain, corrected, wrong = [], [], [], []
    for _ in range(5):
        x, y = _simulated_set(rng, 441)
        w = class_weights(y, "balanced").numpy()[y]
        assert np.allclose(class_weights(y, "none").numpy(), 1.0)
        s_w = LogisticRegression(C=1e6).fit(x, y, sample_weight=w).predict_proba(x_test)[:, 1]
        s_p = LogisticRegression(C=1e6).fit(x, y).predict_proba(x_test)[:, 1]
        shift = weighting_shift(int((y == 0).sum()), int((y == 1).sum()), "balanced")
        assert shift == pytest.approx(np.log((y == 0).sum() / (y == 1).sum()))
        weighted.append((logistic_calibration(y_test, s_w)["intercept"], -shift))
        plain.append(logistic_calibration(y_test, s_p)["intercept"])
        fit = logistic_calibration(y_test, prior_correct(s_w, shift))
        corrected.append(fit["intercept"])
        assert fit["slope"] == pytest.approx(logistic_calibration(y_test, s_w)["slope"], abs=1e-6)
        wrong.append(logistic_calibration(y_test, prior_correct(s_w, -shift))["intercept"])
    for got, expected in weighted:
        assert got == pytest.approx(expected, abs=0.2)
    assert np.mean([g for g, _ in weighted]) < -0.55
    assert abs(np.mean(plain)) < 0.1 and abs(np.mean(corrected)) < 0.1
    assert np.mean(wrong) < -1.2


def test_the_shift_of_each_scheme():
    assert weighting_shift(300, 100, "none") == 0.0
    assert weighting_shift(300, 100) == pytest.approx(np.log(3))
    assert prior_correct(np.array([0.75]), np.log(3))[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="class weights 'inverse'"):
        weighting_shift(300, 100, "inverse")
    with pytest.raises(ValueError, match="both classes"):
        weighting_shift(0, 100)
    with pytest.raises(ValueError, match="class weights 'inverse'"):
        class_weights(np.array([0, 1, 1]), "inverse")


def test_observed_expected_and_mean_predicted():
    y, s = np.array([1, 0, 0, 1, 0]), np.array([0.9, 0.2, 0.4, 0.6, 0.1])
    assert observed_expected(y, s) == pytest.approx(2 / 2.2)
    assert mean_predicted(y, s) == pytest.approx(2.2 / 5)
    w = np.array([[1, 1, 1, 1, 1], [2, 0, 1, 0, 1]])
    np.testing.assert_allclose(observed_expected(y, s, w), [2 / 2.2, 2 / 2.3])
    np.testing.assert_allclose(mean_predicted(y, s, w), [0.44, 2.3 / 4])


def test_the_floor_draws_one_label_per_duplicate_group():
    """One group of 60 copies at score 0.5 and 40 single images: the copies always share their label, each image is
    still malignant with the frequency of its score, and the floor rises above the one drawn per image.
    Planted: groups ignored (a label per image): the copies disagree and the two floors are the same."""
    rng = np.random.default_rng(1)
    s = np.r_[np.full(60, 0.5), rng.uniform(0.05, 0.95, 40)]
    groups = np.r_[np.zeros(60, int), np.arange(1, 41)]
    per_group = calibrated_ece_draws(s, 2000, seed=3, groups=groups)
    per_image = calibrated_ece_draws(s, 2000, seed=3)
    assert per_group.mean() > per_image.mean() + 0.1
    u = np.random.default_rng(3).random((2000, 41))[:, groups] < s  # the labels the draws are made of
    assert (u[:, :60] == u[:, :1]).all()
    np.testing.assert_allclose(u.mean(axis=0), s, atol=0.04)
    np.testing.assert_allclose(per_group[:5], [adaptive_ece(row.astype(int), s) for row in u[:5]], atol=1e-12)
    singles = calibrated_ece_draws(s, 500, seed=4, groups=np.arange(100))
    assert singles.mean() == pytest.approx(calibrated_ece_draws(s, 500, seed=5).mean(), abs=0.01)
    with pytest.raises(ValueError, match="one entry per score"):
        calibrated_ece_draws(s, 10, groups=groups[:5])


def test_the_smoothed_curve_follows_the_true_calibration():
    """5000 images, a kernel of width 0.05: for calibrated scores the smoothed curve lies within 0.05 of the diagonal,
    for scores whose true risk is score^2 within 0.05 of that curve (away from the ends), and the smooth ECE of the
    second is larger; integer weights are repeated images."""
    rng = np.random.default_rng(2)
    s = rng.uniform(0.02, 0.98, 5000)
    grid = np.linspace(0.1, 0.9, 17)
    y = (rng.random(5000) < s).astype(int)
    curve, density = smooth_calibration(y, s, grid, 0.05)
    assert np.abs(curve - grid).max() < 0.05 and (density > 0.5).all()
    y2 = (rng.random(5000) < s ** 2).astype(int)
    value, _ = smooth_ece(y2, s)
    curve2, _ = smooth_calibration(y2, s, grid, 0.05)
    assert np.abs(curve2 - grid ** 2).max() < 0.05
    assert value > smooth_ece(y, s)[0] + 0.1
    w = rng.integers(0, 3, 300)
    repeated, _ = smooth_calibration(np.repeat(y[:300], w), np.repeat(s[:300], w), grid, 0.1)
    weighted, _ = smooth_calibration(y[:300], s[:300], grid, 0.1, weights=w)
    np.testing.assert_allclose(weighted, repeated, atol=1e-9)
