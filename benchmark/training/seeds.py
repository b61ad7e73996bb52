"""Every seed of a study, derived in one place from what a rerun varies.

A study is (method, repeat, fold). Its randomness comes from three seeds, each a function of
the repeat's split seed (``[evaluation] split_seeds[repeat]``: the partition), the fold, and
the profile's ``[search] seed``:

- the partition (test folds, and each fold's train / validation parts): the split seed alone
  (:mod:`benchmark.data.split`), so every method sees the same folds;
- training (the new head's initialisation, the order of batches, which augmented view an
  epoch sees: :func:`train_seed`, one per trial) and the augmented views themselves
  (:func:`augment_seed`, one per fold, the same for every method, so paired comparisons share
  them);
- the search's sampler (:func:`sampler_seed`, one per study: the method's own draws);
- with ``[data] train_sizes``, the nested training subsets of a fold (:func:`subsample_seed`:
  the split seed and the fold, like the partition).

So a new repeat (another split seed) draws a new partition, new training seeds and new
sampler seeds; another ``[search] seed`` on the same split seeds keeps the partition and
draws new training and sampler seeds (what ``petl-bench spread`` compares); the same profile
reruns identically. Each seed is a 32-bit number from numpy's ``SeedSequence`` over its
inputs, and is recorded in the run's ``results.json`` (``config``: ``split_seed``,
``search_seed``, ``train_seed``, ``augment_seed``; ``search``: ``sampler_seed``).
"""
from __future__ import annotations

import zlib

import numpy as np

_TRAIN, _AUGMENT, _SAMPLER, _SUBSAMPLE = 1, 2, 3, 4  # keep the streams apart for equal inputs


def _seed(*values: int) -> int:
    return int(np.random.SeedSequence([int(v) % 2**32 for v in values]).generate_state(1)[0])


def train_seed(split_seed: int, fold: int, trial: int = 0, search_seed: int = 0) -> int:
    """The training seed of ``trial`` of a study (the grid: its ``repeat`` index)."""
    return _seed(_TRAIN, split_seed, fold, trial, search_seed)


def augment_seed(split_seed: int, fold: int, search_seed: int = 0) -> int:
    """The seed of a fold's augmented views: the same for every method of the fold."""
    return _seed(_AUGMENT, split_seed, fold, search_seed)


def subsample_seed(split_seed: int, fold: int) -> int:
    """The seed of a fold's nested training subsets (``[data] train_sizes``): part of the partition, so
    the split seed's alone (not ``[search] seed``), the same for every method."""
    return _seed(_SUBSAMPLE, split_seed, fold)


def sampler_seed(method: str, split_seed: int, fold: int, search_seed: int = 0, n_finished: int = 0) -> int:
    """The Optuna sampler's seed of a study; a resumed study (``n_finished`` trials done) is
    reseeded past them, so it continues instead of repeating their draws."""
    return _seed(_SAMPLER, zlib.crc32(method.encode()), split_seed, fold, search_seed, n_finished)
