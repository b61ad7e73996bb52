"""Stratified, group-aware train/val/test splits.

Sizes follow Byra (2021), who split BUSI's 647 benign + malignant images 452 / 65 / 130; other
n get the same proportions. Each split's per-class target is the class count spread over the
splits by largest remainder (so every split is within one image of the whole's class ratio).

Assignment (:func:`stratified_group_partition`, any number of parts): duplicate groups (two or more images) go first, largest first, ties in seeded
random order, each to the split where it overshoots its per-class target least, then to the
split with the largest share of its target still free, then at random. Singletons then fill
the remaining per-class places in a seeded random order, which hits the targets exactly unless
a group had to overshoot. No group straddles two splits; every index lands in exactly one.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

PAPER_SPLIT = (452, 65, 130)  # train/val/test for BUSI's 647 images as in Byra (2021)
SPLIT_NAMES = ("train", "val", "test")


def _largest_remainder(total: int, weights: Sequence[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    exact = total * w / w.sum()
    out = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - out), kind="stable")
    out[order[: total - out.sum()]] += 1
    return out


def split_sizes(n: int) -> tuple[int, int, int]:
    """Train/val/test sizes proportional to PAPER_SPLIT, summing to n (452/65/130 for 647)."""
    if n < 3:
        raise ValueError(f"need at least 3 images to make train/val/test splits, got {n}")
    sizes = _largest_remainder(n, PAPER_SPLIT)
    return tuple(int(s) for s in sizes)


def _class_targets(class_counts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """splits x classes targets: rows sum to sizes, columns to class_counts."""
    targets = np.zeros((len(sizes), len(class_counts)), np.int64)
    remaining = sizes.copy()
    for c, count in enumerate(class_counts[:-1]):
        targets[:, c] = np.minimum(_largest_remainder(int(count), sizes), remaining)
        remaining -= targets[:, c]
    targets[:, -1] = remaining
    return targets


def stratified_group_partition(
    labels: Sequence[int], groups: Sequence[int], sizes: Sequence[int], seed: int,
    names: Sequence[str] | None = None,
) -> np.ndarray:
    """The part (0 .. len(sizes)-1) of every index: stratified by label, groups kept whole.

    Part p gets ``sizes[p]`` indices (exactly, unless a duplicate group had to overshoot),
    each class spread over the parts in proportion to their sizes. Deterministic for a seed.
    ``names`` name the parts in errors. Raises ValueError if a part would get no example
    of some class.
    """
    labels = np.asarray(labels, dtype=np.int64)
    groups = np.asarray(groups, dtype=np.int64)
    n, parts = len(labels), len(sizes)
    names = list(names) if names is not None else [f"part {p}" for p in range(parts)]
    if len(groups) != n:
        raise ValueError(f"labels ({n}) and groups ({len(groups)}) must have the same length")
    sizes = np.asarray(sizes, dtype=np.int64)
    if sizes.sum() != n or (sizes < 1).any():
        raise ValueError(f"sizes must be {parts} positive numbers summing to {n}, got {sizes.tolist()}")
    classes, y = np.unique(labels, return_inverse=True)
    counts = np.bincount(y, minlength=len(classes))
    targets = _class_targets(counts, sizes)
    if (targets == 0).any():
        s, c = np.argwhere(targets == 0)[0]
        raise ValueError(
            f"the {names[s]} would get no example of class {classes[c]} "
            f"({counts[c]} of {n} images have it, sizes {sizes.tolist()}); use more data or larger splits"
        )

    rng = np.random.default_rng(seed)
    have = np.zeros_like(targets)
    part_of = np.full(n, -1, np.int64)
    gids, gsize = np.unique(groups, return_counts=True)
    multi = rng.permutation(gids[gsize > 1])
    multi = multi[np.argsort(-gsize[np.searchsorted(gids, multi)], kind="stable")]
    for g in multi:
        members = np.flatnonzero(groups == g)
        need = np.bincount(y[members], minlength=len(classes))
        free = targets - have
        overshoot = np.maximum(need - free, 0).sum(1)
        share_free = free.sum(1) / targets.sum(1)
        key = np.lexsort((rng.random(parts), -share_free, overshoot))
        s = key[0]
        part_of[members] = s
        have[s] += need

    for c in range(len(classes)):
        rest = rng.permutation(np.flatnonzero((part_of < 0) & (y == c)))
        free = np.maximum(targets[:, c] - have[:, c], 0)
        # a group that overshot leaves fewer singles than places: trim the largest gaps first
        while free.sum() > len(rest):
            free[np.argmax(free)] -= 1
        part_of[rest] = np.repeat(np.arange(parts), free)
        have[:, c] += free

    if (have == 0).any():
        s, c = np.argwhere(have == 0)[0]
        raise ValueError(
            f"the {names[s]} got no example of class {classes[c]}: duplicate groups "
            "are too large for the split sizes"
        )
    return part_of


def stratified_group_split(
    labels: Sequence[int], groups: Sequence[int], seed: int, sizes: Sequence[int] | None = None
) -> dict[str, np.ndarray]:
    """{"train", "val", "test"}: sorted index arrays, stratified by label, groups kept whole.

    Deterministic for a seed; different seeds give different splits. Raises ValueError if a
    split would get no example of some class.
    """
    n = len(labels)
    sizes = split_sizes(n) if sizes is None else sizes
    if len(sizes) != 3:
        raise ValueError(f"sizes must be 3 positive numbers summing to {n}, got {list(sizes)}")
    part_of = stratified_group_partition(labels, groups, sizes, seed, [f"{s} split" for s in SPLIT_NAMES])
    return {name: np.flatnonzero(part_of == s) for s, name in enumerate(SPLIT_NAMES)}


def kfold_splits(labels: Sequence[int], groups: Sequence[int], k: int, seed: int,
                 test_folds: Sequence[int] | None = None) -> list[dict[str, np.ndarray]]:
    """k folds, each {"train", "val", "test"}: every index is in exactly one fold's test set.

    The test folds are k near-equal parts, stratified by label and built from whole duplicate
    groups (:func:`stratified_group_partition`). The rest of each fold is split again, the same
    way, into train and validation in the paper's proportions (452 : 65), so early stopping and
    selection in a fold see only that fold's training images. Deterministic for a seed.

    ``test_folds`` (each index's test fold 0..k-1: a data set's official partition) replaces the
    drawn test folds; the validation parts are still drawn as above. A group in two of its test
    folds is a ValueError.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    if k < 2:
        raise ValueError(f"k-fold cross-validation needs k >= 2 folds, got {k}")
    if n < 3 * k:
        raise ValueError(f"{n} images are too few for {k} folds")
    groups = np.asarray(groups, dtype=np.int64)
    if test_folds is None:
        fold_of = stratified_group_partition(labels, groups, _largest_remainder(n, [1] * k), seed,
                                             [f"test fold {f}" for f in range(k)])
    else:
        fold_of = _given_test_folds(test_folds, groups, k)
    folds = []
    for f in range(k):
        rest = np.flatnonzero(fold_of != f)
        sizes = _largest_remainder(len(rest), PAPER_SPLIT[:2])
        inner = stratified_group_partition(labels[rest], groups[rest], sizes, seed * 1000 + f + 1,
                                           [f"training part of fold {f}", f"validation part of fold {f}"])
        folds.append({"train": rest[inner == 0], "val": rest[inner == 1], "test": np.flatnonzero(fold_of == f)})
    return folds


def _given_test_folds(test_folds: Sequence[int], groups: np.ndarray, k: int) -> np.ndarray:
    """``test_folds`` checked: one fold 0..k-1 per index, every fold used, no group in two folds."""
    fold_of = np.asarray(test_folds, dtype=np.int64)
    if len(fold_of) != len(groups) or (fold_of < 0).any() or (fold_of >= k).any():
        raise ValueError(f"the given test folds must be {len(groups)} numbers 0..{k - 1}")
    if len(np.unique(fold_of)) < k:
        raise ValueError(f"the given test folds leave fold(s) {sorted(set(range(k)) - set(fold_of.tolist()))} empty")
    gids, group_of = np.unique(groups, return_inverse=True)
    low, high = np.full(len(gids), k), np.full(len(gids), -1)
    np.minimum.at(low, group_of, fold_of)
    np.maximum.at(high, group_of, fold_of)
    spans = gids[low != high]
    if len(spans):
        raise ValueError(f"{len(spans)} group(s) of images (a patient or duplicates) lie in two of the given test "
                         f"folds, e.g. group {spans[0]} in folds {sorted(set(fold_of[groups == spans[0]].tolist()))}; "
                         "the partition would put copies of one lesion in training and test")
    return fold_of
