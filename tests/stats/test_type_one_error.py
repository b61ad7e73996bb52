"""Type-I error of the method-level test and of the conditional bootstrap test, by simulation.

Two methods that are equal in expectation are compared on a BUSI-like data set: 631 images,
210 malignant, in 591 duplicate groups (40 pairs of near-copies, the rest single), cross-validated
in k = 5 folds stratified by label with groups kept whole (the suite's own partition,
:func:`benchmark.data.split.kfold_splits`). Fold model j of a method scores image i

    s_i = y_i (mu + b_j) + sqrt(0.7) e_i + sqrt(0.3) u_i

with ``e`` an image's noise seen by both methods (their scores correlate 0.7 within a class, as
for models on one backbone), ``u`` the method's own noise on that image (a duplicate pair shares
both), and ``b_j`` the fold model's training effect, drawn anew for every model. ``mu`` gives an
AUC of 0.88; the SD of ``b`` makes the SD of a method's fold-stratified AUC over reruns (new
training seeds, same images) about 0.0125. Every simulated run draws a new sample (new ``e``,
``u``) and new training effects; with r = 5 repeats the same images are partitioned five times,
with new ``b`` in every repeat.

The question is whether method A differs from method B in expectation over training and
sampling, so the training effects are part of the null variability. The corrected repeated
k-fold t-test (:func:`benchmark.stats.nadeau_bengio_ttest`) on the per-fold AUC differences sees
them; the paired duplicate-group bootstrap of the fold-stratified AUC conditions on the trained
models and resamples images only, so it answers "do these models differ on this population"
and rejects equal methods more often than its nominal 5%. Here the fold models' training effects
are independent, which the correction's ``n_test / n_train`` term (made for training sets that
overlap) overstates, so the corrected test is conservative in this setting (with one repeat it
inflates the variance of independent differences by (1/5 + 126/442) / (1/5), about 2.4, and
rejects about P(|t_4| > 1.56 t_{4, 0.975}) = 0.012); the test asserts that it does not exceed
nominal, and that the conditional test does. With no training effect (``b = 0``) the conditional
test holds its level too: its excess is the training variance it leaves out.

``pytest -s`` prints the measured rejection rates.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from benchmark.data.split import kfold_splits
from benchmark.stats import (cluster_bootstrap_aucs, nadeau_bengio_ttest, paired_differences, roc_auc,
                             stratified_auc)

N_IMAGES, N_PAIRS, N_MALIGNANT, MALIGNANT_PAIRS, K = 631, 40, 210, 14, 5
SHARED = 0.7                                      # within-class correlation of the two methods' scores
MU = math.sqrt(2.0) * stats.norm.ppf(0.88)        # binormal AUC Phi(mu / sqrt 2) = 0.88
SD_TRAINING = 0.2                                 # SD of b: fold-stratified AUC SD over reruns ~ 0.0125
ALPHA, BOOTSTRAP = 0.05, 400
METHODS = ("A", "B")


def _design() -> tuple[np.ndarray, np.ndarray]:
    """(label, duplicate group) per image: the pairs come first, 14 of them malignant."""
    n_groups = N_IMAGES - N_PAIRS
    group = np.r_[np.repeat(np.arange(N_PAIRS), 2), np.arange(N_PAIRS, n_groups)]
    group_label = np.zeros(n_groups, np.int64)
    group_label[:MALIGNANT_PAIRS] = 1
    group_label[N_PAIRS:N_PAIRS + N_MALIGNANT - 2 * MALIGNANT_PAIRS] = 1
    return group_label[group], group


LABELS, GROUPS = _design()


def _partition(seed: int) -> tuple[np.ndarray, float, float]:
    """The test fold of every image, and the mean training and test images per fold."""
    folds = kfold_splits(LABELS, GROUPS, K, seed)
    fold_of = np.empty(N_IMAGES, np.int64)
    for f, fold in enumerate(folds):
        fold_of[fold["test"]] = f
    return fold_of, float(np.mean([len(f["train"]) for f in folds])), float(np.mean([len(f["test"]) for f in folds]))


def _image_noise(rng: np.random.Generator) -> dict:
    """A new sample: each method's noise per image, ``sqrt(0.7) e + sqrt(0.3) u`` (shared within a group)."""
    n_groups = GROUPS.max() + 1
    shared = math.sqrt(SHARED) * rng.standard_normal(n_groups)
    return {m: (shared + math.sqrt(1.0 - SHARED) * rng.standard_normal(n_groups))[GROUPS] for m in METHODS}


def _scores(rng: np.random.Generator, noise: np.ndarray, fold_of: np.ndarray) -> np.ndarray:
    """One method's out-of-fold scores: every fold model with a new training effect ``b``."""
    b = SD_TRAINING * rng.standard_normal(K)
    return LABELS * (MU + b[fold_of]) + noise


def _fold_differences(scores: dict, fold_of: np.ndarray) -> list[float]:
    return [roc_auc(LABELS[t], scores["A"][t]) - roc_auc(LABELS[t], scores["B"][t])
            for t in (fold_of == f for f in range(K))]


def _conditional_p(scores: dict, fold_of: np.ndarray, seed: int) -> float:
    """The paired duplicate-group bootstrap p of the fold-stratified AUC difference (resampled within folds)."""
    observed = {m: stratified_auc(LABELS, scores[m], fold_of) for m in METHODS}
    draws = cluster_bootstrap_aucs(LABELS, scores, GROUPS, BOOTSTRAP, seed=seed, blocks=fold_of, strata=fold_of)
    return paired_differences(observed, draws, METHODS, [METHODS])[METHODS]["p"]


def _simulated_run(rng: np.random.Generator, repeats: int, conditional: bool) -> tuple[float, float]:
    """One run of both methods: (p of the corrected t-test, p of the conditional test or NaN)."""
    noise = _image_noise(rng)
    diffs, p_conditional = [], float("nan")
    for _ in range(repeats):
        fold_of, n_train, n_test = _partition(int(rng.integers(2**31)))
        scores = {m: _scores(rng, noise[m], fold_of) for m in METHODS}
        diffs += _fold_differences(scores, fold_of)
    if conditional:  # of the last (with one repeat: the only) partition
        p_conditional = _conditional_p(scores, fold_of, int(rng.integers(2**31)))
    return nadeau_bengio_ttest(diffs, n_train, n_test)["p"], p_conditional


def _rejection_rates(runs: int, repeats: int, conditional: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = np.array([_simulated_run(rng, repeats, conditional) for _ in range(runs)])
    return (p < ALPHA).mean(axis=0)


def test_simulation_matches_its_calibration():
    rng = np.random.default_rng(11)
    fold_of, _, _ = _partition(0)
    noise = _image_noise(rng)
    aucs = [stratified_auc(LABELS, _scores(rng, noise["A"], fold_of), fold_of) for _ in range(300)]
    within = LABELS == 0
    correlation = float(np.corrcoef(noise["A"][within], noise["B"][within])[0, 1])
    print(f"\nsimulated method: fold-stratified AUC {np.mean(aucs):.3f}, SD over reruns {np.std(aucs, ddof=1):.4f}, "
          f"score correlation of the two methods within a class {correlation:.2f}")
    assert LABELS.sum() == N_MALIGNANT and np.bincount(GROUPS).max() == 2
    assert 0.86 <= np.mean(aucs) <= 0.90
    assert 0.0105 <= np.std(aucs, ddof=1) <= 0.0145
    assert 0.62 <= correlation <= 0.78


@pytest.mark.slow
def test_one_repeat_corrected_ttest_holds_its_level_and_the_conditional_bootstrap_does_not():
    runs = 200
    corrected, conditional = _rejection_rates(runs, repeats=1, conditional=True, seed=2024)
    print(f"\nequal methods, 5-fold CV, 1 repeat, {runs} runs: corrected t-test rejects {corrected:.3f}, "
          f"conditional paired cluster bootstrap ({BOOTSTRAP} resamples) rejects {conditional:.3f} at {ALPHA}")
    assert corrected <= 0.08, f"the corrected t-test rejected {corrected:.3f} of {runs} null runs (nominal {ALPHA})"
    assert conditional >= 0.12, (f"the conditional bootstrap rejected {conditional:.3f} of {runs} null runs; "
                                 "expected clearly more than the nominal 0.05")


@pytest.mark.slow
def test_five_repeats_corrected_ttest_holds_its_level():
    runs = 100
    corrected, _ = _rejection_rates(runs, repeats=5, conditional=False, seed=2025)
    print(f"\nequal methods, 5-fold CV, 5 repeats, {runs} runs: corrected t-test rejects {corrected:.3f} at {ALPHA}")
    assert corrected <= 0.08, f"the corrected t-test rejected {corrected:.3f} of {runs} null runs (nominal {ALPHA})"
