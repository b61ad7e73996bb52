"""Training-set sizes of a data-efficiency run (the profile's ``[data] train_sizes``), as labels.

A size is a positive number of training images or ``"all"`` (a fold's whole training part, not
subsampled). Everything that stores or compares sizes uses their labels, ``"25"`` or ``"all"``:
the profile's validation, the subsets (:mod:`benchmark.data.subsample`), the study folders and
names, the ``train_size`` column of ``predictions.csv`` and the learning curve.
"""
from __future__ import annotations

from typing import Iterable

ALL = "all"  # the whole training part, not subsampled
OPTION = "[data] train_sizes"
TRAIN_SIZE_COLUMNS = ("train_size", "n_train")  # predictions.csv's columns of a data-efficiency run


def size_label(size) -> str:
    """A size as its label: ``"all"`` or a positive integer as text (``25`` -> ``"25"``); a
    ValueError naming :data:`OPTION` otherwise."""
    if isinstance(size, str) and size.strip().lower() == ALL:
        return ALL
    text = str(size).strip() if isinstance(size, (int, str)) and not isinstance(size, bool) else ""
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{OPTION}: each size must be a positive number of images or \"{ALL}\", got {size!r}")
    return str(int(text))


def size_order(sizes: Iterable) -> list[str]:
    """The sizes' labels, smallest first, ``"all"`` last, each once."""
    labels = dict.fromkeys(size_label(s) for s in sizes)
    return sorted(labels, key=lambda s: (s == ALL, int(s) if s != ALL else 0))


def leaderboard_size(sizes: Iterable) -> str:
    """The size the leaderboard of a data-efficiency run reports: ``"all"`` when present, else the largest."""
    order = size_order(sizes)
    if not order:
        raise ValueError("no training-set sizes given")
    return order[-1]
