"""Net benefit (benchmark.stats.net_benefit) recomputed with scikit-learn and the dcurves library, and the fixed-sensitivity
threshold and the weighted operating-point metrics (benchmark.stats.thresholds) recomputed with scikit-learn."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, roc_curve

from decision_oracles import dcurves_curve, sklearn_curve
from benchmark.stats import (net_benefit, sensitivity_threshold, treat_all_net_benefit, threshold_rates,
                             youden_threshold)

GRID = np.round(np.arange(0.02, 0.505, 0.01), 2)


def _data(seed: int, n: int = 300, rounded: bool = True):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(int)
    risk = 1 / (1 + np.exp(-(1.6 * (2 * y - 1) - 0.8 + rng.normal(0, 1.2, n))))
    return y, np.round(risk, 2) if rounded else risk  # rounded: many risks sit exactly on a threshold


@pytest.mark.parametrize("oracle", [sklearn_curve, dcurves_curve], ids=["sklearn", "dcurves"])
@pytest.mark.parametrize("seed", [0, 1])
def test_net_benefit_matches_sklearn_and_dcurves(seed, oracle):
    """A model's, biopsy all's and biopsy none's net benefit at every pt as scikit-learn's confusion matrix and
    dcurves.dca give them (risks rounded to the grid, so that the >= at a risk equal to pt is checked)."""
    y, risk = _data(seed)
    ref = oracle(y, risk, GRID)
    np.testing.assert_allclose(net_benefit(y, risk, GRID), ref["model"], atol=1e-12)
    np.testing.assert_allclose(treat_all_net_benefit(y, GRID), ref["all"], atol=1e-12)
    np.testing.assert_allclose(ref["none"], 0.0)


def test_weights_are_repeated_images():
    y, risk = _data(2, n=120)
    w = np.random.default_rng(3).integers(0, 4, size=(4, y.size)).astype(float)
    batch, everyone = net_benefit(y, risk, GRID, w), treat_all_net_benefit(y, GRID, w)
    assert batch.shape == (4, GRID.size)
    for b in range(4):
        rep = np.repeat(np.arange(y.size), w[b].astype(int))
        np.testing.assert_allclose(batch[b], net_benefit(y[rep], risk[rep], GRID), atol=1e-12)
        np.testing.assert_allclose(everyone[b], treat_all_net_benefit(y[rep], GRID), atol=1e-12)


def test_net_benefit_hand_example_and_bad_input():
    # 2 cancers, 3 benign; at pt 0.25 the model biopsies risks 0.9, 0.4 (cancers) and 0.3 (benign): 2/5 - 1/5 * 1/3
    y, risk = np.array([1, 1, 0, 0, 0]), np.array([0.9, 0.4, 0.3, 0.1, 0.2])
    assert net_benefit(y, risk, [0.25])[0] == pytest.approx(2 / 5 - 1 / 5 / 3)
    assert treat_all_net_benefit(y, [0.25])[0] == pytest.approx(2 / 5 - 3 / 5 / 3)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        net_benefit(y, risk, [0.0, 0.5])
    with pytest.raises(ValueError, match="weights must have shape"):
        net_benefit(y, risk, [0.1], np.ones(4))


def _roc_sensitivity_cut(y, s, target: float) -> tuple[float, float]:
    """scikit-learn's view: among roc_curve's cuts (every distinct score), the highest whose TPR reaches the target;
    returns that cut (the lowest score called malignant) and the next lower distinct score (-inf when none)."""
    _, tpr, thr = roc_curve(y, s, drop_intermediate=False)  # thr[0] is +inf: nothing called
    i = int(np.flatnonzero(tpr >= target - 1e-12)[0])
    return thr[i], (thr[i + 1] if i + 1 < thr.size else -np.inf)


@pytest.mark.parametrize("target", [0.8, 0.95, 0.98, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sensitivity_threshold_is_rocs_highest_cut_reaching_the_target(target, seed):
    """The threshold lies strictly between the cut of roc_curve and the next lower distinct score (the midpoint),
    so it classifies the validation images exactly as that cut; its sensitivity reaches the target and the next
    higher cut's does not."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(20, int), np.zeros(43, int)]  # a validation fold of BUSI's size: 20 cancers
    s = np.round(1 / (1 + np.exp(-(1.5 * (2 * y - 1) + rng.normal(0, 1.2, y.size)))), 2)  # ties
    t = sensitivity_threshold(y, s, target)
    cut, below = _roc_sensitivity_cut(y, s, target)
    if np.isfinite(below):
        assert t == pytest.approx((cut + below) / 2)
    else:
        assert t == cut
    np.testing.assert_array_equal(s >= t, s >= cut)
    tn, fp, fn, tp = confusion_matrix(y, (s >= t).astype(int)).ravel()
    assert tp / (tp + fn) >= target - 1e-12
    higher = s[s > cut].min() if (s > cut).any() else None  # the next higher cut misses the target
    if higher is not None:
        assert ((s >= higher) & (y == 1)).sum() / 20 < target


def test_sensitivity_threshold_edges():
    y, s = np.array([1, 1, 0, 0]), np.array([0.9, 0.2, 0.5, 0.1])
    assert sensitivity_threshold(y, s, 0.5) == pytest.approx(0.7)   # 0.9 alone: midpoint to 0.5
    assert sensitivity_threshold(y, s, 1.0) == pytest.approx(0.15)  # down to 0.2: midpoint to 0.1
    assert sensitivity_threshold(y, np.array([0.9, 0.1, 0.5, 0.3]), 1.0) == 0.1  # the lowest score itself
    assert sensitivity_threshold(np.ones(20, int), np.linspace(0.05, 1, 20), 0.95) == pytest.approx(0.075)  # 19 of 20
    for bad in (0.0, 1.2):
        with pytest.raises(ValueError, match="target sensitivity"):
            sensitivity_threshold(y, s, bad)
    with pytest.raises(ValueError, match="malignant case"):
        sensitivity_threshold(np.zeros(4, int), s, 0.9)
    # the refactored Youden threshold is unchanged: the midpoint rule, the lowest score itself at the bottom
    assert youden_threshold(y, s) == pytest.approx(0.7)


def test_threshold_rates_match_confusion_matrix():
    y, s = _data(4, n=200, rounded=False)
    w = np.random.default_rng(5).integers(0, 3, size=(3, y.size)).astype(float)
    got = threshold_rates(y, s, 0.4, w)
    for b in range(3):
        tn, fp, fn, tp = confusion_matrix(y, (s >= 0.4).astype(int), sample_weight=w[b]).ravel()
        expected = {"accuracy": (tp + tn) / w[b].sum(), "sensitivity": tp / (tp + fn),
                    "specificity": tn / (tn + fp), "ppv": tp / (tp + fp), "npv": tn / (tn + fn)}
        for k, v in expected.items():
            assert got[k][b] == pytest.approx(v), k
    one = threshold_rates(y, s, 2.0)  # nothing called malignant: no PPV
    assert one["sensitivity"] == 0 and one["specificity"] == 1 and np.isnan(one["ppv"])
