"""benchmark.data.split against oracles written here: Hamilton's apportionment by hand, the class targets'
margins, the exact bounds and messages of every refusal, and a data set's own test folds (BUS-BRA's
official partition) checked and used. Written for the mutation check of ``benchmark/data/split.py``
(docs/testing.md)."""
from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest

from benchmark.data.split import (
    PAPER_SPLIT,
    _class_targets,
    _largest_remainder,
    kfold_splits,
    split_sizes,
    stratified_group_split,
)


def _hamilton(total: int, weights) -> list[int]:
    """Largest-remainder apportionment in exact fractions; ties go to the earlier part."""
    w = [Fraction(x).limit_denominator(10**9) for x in weights]
    quotas = [total * x / sum(w) for x in w]
    seats = [int(q) for q in quotas]
    for i in sorted(range(len(w)), key=lambda i: (-(quotas[i] - seats[i]), i))[: total - sum(seats)]:
        seats[i] += 1
    return seats


@pytest.mark.parametrize("total, weights, expected", [
    (10, [1, 1, 1], [4, 3, 3]),          # equal remainders: the earlier parts first
    (7, [0.5, 0.3, 0.2], [4, 2, 1]),     # the largest remainder (0.5) takes the seat, not the smallest
    (10, [0.48, 0.52], [5, 5]),          # remainder 0.8 beats 0.2, although 5.2 > 4.8
    (647, PAPER_SPLIT, [452, 65, 130]),  # BUSI's paper split
    (0, [1, 2], [0, 0]),
])
def test_largest_remainder_by_hand(total, weights, expected):
    assert _largest_remainder(total, weights).tolist() == expected == _hamilton(total, weights)


def test_largest_remainder_against_exact_fractions():
    """Every part gets its quota rounded down, plus one for the largest remainders. Exactly equal remainders
    are ordered by the float rounding of ``total * w / sum(w)`` (deterministic, but not always the earlier
    part; changing that would move existing folds), so the oracle allows any order among exact ties."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        weights = rng.integers(1, 20, rng.integers(2, 8)).tolist()
        total = int(rng.integers(0, 200))
        seats = _largest_remainder(total, weights).tolist()
        quotas = [Fraction(total * w, sum(weights)) for w in weights]
        extra = [s - int(q) for s, q in zip(seats, quotas)]
        assert sum(seats) == total and set(extra) <= {0, 1}, (total, weights)
        remainders = [q - int(q) for q in quotas]
        assert all(remainders[i] >= remainders[j] for i in range(len(seats)) if extra[i]
                   for j in range(len(seats)) if not extra[j]), (total, weights, seats)


def test_class_targets_have_the_sizes_and_class_counts_as_margins():
    """Three classes (the partition is not binary-only): rows sum to the sizes, columns to the class counts,
    each class apportioned over the parts in proportion to their sizes."""
    counts, sizes = np.array([5, 7, 9]), np.array([10, 6, 5])
    targets = _class_targets(counts, sizes)
    assert targets.sum(1).tolist() == sizes.tolist() and targets.sum(0).tolist() == counts.tolist()
    for c in range(2):
        assert targets[:, c].tolist() == _hamilton(int(counts[c]), sizes.tolist())


def test_refusals_and_their_bounds():
    labels, groups = [0, 1] * 10, list(range(20))
    with pytest.raises(ValueError, match=r"^k-fold cross-validation needs k >= 2 folds, got 1$"):
        kfold_splits(labels, groups, 1, 0)
    # the first refusal is at n < 3k; 3k images can pass it (here 5 folds of 15 images split fine)
    assert len(kfold_splits([0, 1] * 7 + [1], list(range(15)), 5, 0)) == 5
    assert len(kfold_splits([0, 1] * 9 + [1], list(range(19)), 5, 0)) == 5
    with pytest.raises(ValueError, match=r"^14 images are too few for 5 folds$"):
        kfold_splits([0, 1] * 7, list(range(14)), 5, 0)
    with pytest.raises(ValueError, match=r"^5 images are too few for 2 folds$"):
        kfold_splits([0, 1, 0, 1, 0], list(range(5)), 2, 0)
    with pytest.raises(ValueError, match=r"^need at least 3 images to make train/val/test splits, got 2$"):
        split_sizes(2)
    with pytest.raises(ValueError, match=re.escape("sizes must be 3 positive numbers summing to 20, got [15, 5]")):
        stratified_group_split(labels, groups, 0, sizes=[15, 5])


def test_given_sizes_are_used():
    labels, groups = [0, 1] * 10, list(range(20))
    parts = stratified_group_split(labels, groups, 0, sizes=(10, 4, 6))
    assert [len(parts[s]) for s in ("train", "val", "test")] == [10, 4, 6]


@pytest.mark.parametrize("make, message", [
    # 2 malignant images for 3 test folds: one fold gets none
    (lambda: kfold_splits([1, 1] + [0] * 28, list(range(30)), 3, 0), "the test fold 0 would get no example of class 1"),
    # one malignant image left beside each test fold's: the validation part gets none
    (lambda: kfold_splits([1] * 3 + [0] * 27, list(range(30)), 3, 0),
     "the validation part of fold 0 would get no example of class 1"),
    (lambda: stratified_group_split([1] + [0] * 19, list(range(20)), 0), "the val split would get no example of class 1"),
])
def test_errors_name_the_part(make, message):
    with pytest.raises(ValueError, match="^" + re.escape(message) + " "):
        make()


# -- a data set's own test folds ---------------------------------------------------------------------------

def _official(n_patients=30, k=3, seed=0):
    """Patients with 1-3 images each, labels per patient, test folds per patient (as BUS-BRA's)."""
    rng = np.random.default_rng(seed)
    per_patient = rng.integers(1, 4, n_patients)
    groups = np.repeat(np.arange(n_patients), per_patient)
    labels = np.repeat(np.arange(n_patients) % 2, per_patient)
    folds = np.repeat(np.arange(n_patients) % k, per_patient)
    return labels, groups, folds


def test_given_test_folds_are_the_test_parts():
    labels, groups, folds = _official()
    splits = kfold_splits(labels, groups, 3, 0, test_folds=folds.tolist())
    assert len(splits) == 3
    for f, part in enumerate(splits):
        assert part["test"].tolist() == np.flatnonzero(folds == f).tolist()
        inner = np.concatenate([part["train"], part["val"]])
        assert sorted(inner.tolist()) == np.flatnonzero(folds != f).tolist()
        assert not set(groups[part["train"]]) & set(groups[part["val"]])  # patients whole in the inner split
        assert len(part["val"]) and set(labels[part["val"]]) == {0, 1}
    # the drawn test folds are something else
    drawn = kfold_splits(labels, groups, 3, 0)
    assert any(d["test"].tolist() != g["test"].tolist() for d, g in zip(drawn, splits))


@pytest.mark.parametrize("change, message", [
    (lambda f: f[:-1], "the given test folds must be {n} numbers 0..2"),
    (lambda f: np.where(np.arange(len(f)) == 0, 3, f), "the given test folds must be {n} numbers 0..2"),
    (lambda f: np.where(np.arange(len(f)) == 0, -1, f), "the given test folds must be {n} numbers 0..2"),
    (lambda f: np.where(f == 2, 0, f), "the given test folds leave fold(s) [2] empty"),
    (lambda f: np.where(f == 2, 1, f), "the given test folds leave fold(s) [2] empty"),
])
def test_given_test_folds_refused(change, message):
    labels, groups, folds = _official()
    with pytest.raises(ValueError, match="^" + re.escape(message.format(n=len(labels))) + "$"):
        kfold_splits(labels, groups, 3, 0, test_folds=change(folds).tolist())


@pytest.mark.parametrize("other_fold", [1, 2])
def test_a_patient_in_two_given_folds_is_refused_and_named(other_fold):
    labels, groups, folds = _official()
    patient = next(g for g in np.unique(groups) if (groups == g).sum() > 1 and folds[groups == g][0] == 0)
    folds = folds.copy()
    folds[np.flatnonzero(groups == patient)[-1]] = other_fold
    expected = (f"1 group(s) of images (a patient or duplicates) lie in two of the given test folds, e.g. group "
                f"{patient} in folds [0, {other_fold}]; the partition would put copies of one lesion in training "
                "and test")
    with pytest.raises(ValueError, match="^" + re.escape(expected) + "$"):
        kfold_splits(labels, groups, 3, 0, test_folds=folds.tolist())


# -- the partition itself ------------------------------------------------------------------------------

def test_partition_refusals_name_the_problem():
    from benchmark.data.split import stratified_group_partition as partition

    with pytest.raises(ValueError, match=r"^labels \(4\) and groups \(3\) must have the same length$"):
        partition([0, 1, 0, 1], [0, 1, 2], [2, 2], 0)
    for sizes in ([5, 5], [12, 0], [13, -1]):
        with pytest.raises(ValueError, match="^" + re.escape(f"sizes must be 2 positive numbers summing to 12, "
                                                              f"got {sizes}") + "$"):
            partition([0, 1] * 6, range(12), sizes, 0)
    # without names, the parts are called "part p"
    with pytest.raises(ValueError, match=r"^the part 0 would get no example of class 1 \(1 of 12 images have it"):
        partition([1] + [0] * 11, range(12), [6, 6], 0)
    # a duplicate group larger than a part's share of its class: the other part gets none of that class
    expected = ("the val split got no example of class 1: duplicate groups are too large for the split sizes",
                "the train split got no example of class 1: duplicate groups are too large for the split sizes")
    with pytest.raises(ValueError) as err:
        partition([1, 1] + [0] * 8, [0, 0] + list(range(1, 9)), [5, 5], 0, ["train split", "val split"])
    assert str(err.value) in expected


def test_a_part_of_one_image_is_allowed():
    from benchmark.data.split import stratified_group_partition as partition

    part_of = partition([0, 0, 0, 0], [0, 1, 2, 3], [3, 1], 0)
    assert np.bincount(part_of).tolist() == [3, 1]


@pytest.mark.parametrize("seed", range(5))
def test_small_duplicate_groups_leave_every_part_exactly_its_class_targets(seed):
    """200 images, 20 same-class pairs, the rest single: every part gets exactly its size, and each class
    exactly its apportioned share (there are enough single images to fill every gap)."""
    from benchmark.data.split import stratified_group_partition as partition

    rng = np.random.default_rng(seed)
    labels = (rng.random(180) < 0.35).astype(int)
    groups = np.arange(180)
    labels = np.concatenate([labels, np.repeat(labels[:20], 1)])      # 20 copies of the first 20 images
    groups = np.concatenate([groups, groups[:20]])
    sizes = [100, 60, 40]
    part_of = partition(labels, groups, sizes, seed)
    assert np.bincount(part_of, minlength=3).tolist() == sizes
    targets = _class_targets(np.bincount(labels), np.array(sizes))
    counts = np.array([[((part_of == p) & (labels == c)).sum() for c in (0, 1)] for p in range(3)])
    assert counts.tolist() == targets.tolist()
    for g in range(20):
        assert len(set(part_of[groups == g])) == 1
