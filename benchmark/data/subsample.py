"""Nested, stratified, group-aware subsets of a fold's training images (data-efficiency curves).

:func:`nested_subsets` draws, from one fold's training indices, a subset for every requested
size such that each smaller subset lies inside every larger one (a learning curve then adds
images, never swaps them), every subset keeps the training part's class proportions, and no
duplicate or patient group is split (a group is in a subset with all its images, or not at all).
Validation and test indices are not touched: the caller keeps them.

How: the groups of each class (a group's class is the majority label of its images) are put in
one seeded random order. Sizes are served smallest first; each size has per-class targets (the
size spread over the classes in the training part's proportions, by largest remainder, as
:mod:`benchmark.data.split` does), and each class takes groups in its order, continuing where the
previous size stopped: a group that fits under the class's target is taken; one that would
overshoot is passed over (it stays first in line for the next size). When a class cannot reach
its target with groups that fit, it takes the first remaining group that brings it closest to
the target, if that is closer than stopping short (and always one group when it has none yet).
So with singletons every size is met exactly; with duplicate groups, a subset can be off by at
most about half the size of a group, and its actual size is what the caller records.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from benchmark.common.train_sizes import ALL, OPTION, size_order
from benchmark.data.split import _class_targets


def smallest_size(labels: Sequence[int]) -> int:
    """The smallest subset size whose per-class targets give every class of ``labels`` an image."""
    counts = np.unique(np.asarray(labels), return_counts=True)[1]
    for n in range(len(counts), int(counts.sum()) + 1):
        if (_class_targets(counts, np.array([n, counts.sum() - n]))[0] > 0).all():
            return n
    return int(counts.sum())


def nested_subsets(train_index: Sequence[int], labels: Sequence[int], groups: Sequence[int], sizes: Sequence,
                   seed: int, where: str = "the training part") -> dict[str, np.ndarray]:
    """``{size label: sorted indices}``: a nested, stratified subset of ``train_index`` per size.

    ``labels`` and ``groups`` are indexed like the whole data set (``labels[train_index]`` are the
    training images' labels). ``sizes`` are positive integers and/or ``"all"`` (``train_index``
    itself). Deterministic for a seed. A ValueError names ``[data] train_sizes`` when a size
    exceeds the training part (``where`` names it in the message) or is too small to keep an
    image of every class.
    """
    train_index = np.sort(np.asarray(train_index, dtype=np.int64))
    y_all, g_all = np.asarray(labels, dtype=np.int64), np.asarray(groups, dtype=np.int64)
    order = size_order(sizes)
    y, g = y_all[train_index], g_all[train_index]
    classes, y_code = np.unique(y, return_inverse=True)
    counts = np.bincount(y_code, minlength=len(classes))
    n = len(train_index)
    floor = smallest_size(y)
    for s in order:
        if s != ALL and int(s) > n:
            raise ValueError(f"{OPTION}: {s} images is more than {where} holds ({n}); use \"all\" or a size "
                             f"up to {n}")
        if s != ALL and int(s) < floor:
            raise ValueError(f"{OPTION}: {s} images would leave a class without an image ({where}: "
                             f"{', '.join(f'{c} of class {k}' for k, c in zip(classes, counts))}); the smallest "
                             f"size that keeps both classes is {floor}")
    rng = np.random.default_rng(seed)
    gids, g_code = np.unique(g, return_inverse=True)
    members = [np.flatnonzero(g_code == k) for k in range(len(gids))]
    per_group = np.array([np.bincount(y_code[m], minlength=len(classes)) for m in members])
    group_class = per_group.argmax(1)
    queues = [list(rng.permutation(np.flatnonzero(group_class == c))) for c in range(len(classes))]
    have = np.zeros(len(classes), np.int64)
    chosen: list[int] = []
    out = {}
    for s in order:
        if s == ALL:
            out[s] = train_index.copy()
            continue
        size = int(s)
        targets = _class_targets(counts, np.array([size, n - size]))[0]
        for c in range(len(classes)):
            queue = queues[c]
            for k in list(queue):  # groups that fit, in order
                if have[c] + per_group[k, c] <= targets[c]:
                    queue.remove(k)
                    chosen.append(k)
                    have += per_group[k]
                if have[c] >= targets[c]:
                    break
            if have[c] < targets[c] and queue:  # short: the group that brings the class closest, if closer
                k = min(queue, key=lambda k: abs(targets[c] - have[c] - per_group[k, c]))
                if have[c] == 0 or abs(targets[c] - have[c] - per_group[k, c]) < targets[c] - have[c]:
                    queue.remove(k)
                    chosen.append(k)
                    have += per_group[k]
        out[s] = np.sort(train_index[np.concatenate([members[k] for k in chosen])])
    return out
