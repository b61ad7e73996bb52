"""Duplicate-aware (cluster) bootstrap of AUCs, for data sets in which some images are near-copies of others.

BUSI holds such duplicate groups; they are kept on one side of every split, and a test set can
hold a whole group. Images are not independent when they are copies of one another; resampling
whole groups keeps that dependence (Davison & Hinkley 1997, sec. 3.8; Field & Welsh 2007).

* :func:`cluster_bootstrap_aucs` - AUCs of several scorers on the same stratified resamples
  of duplicate *groups* (a group's images enter a resample together, as often as the group
  is drawn); :func:`cluster_bootstrap_ci` and :func:`paired_cluster_bootstrap` summarise them
  with :mod:`benchmark.stats.bootstrap`;
* :func:`weighted_aucs` - the weighted Mann-Whitney AUC they rest on (an image's weight is
  how often its group was drawn);
* :func:`cluster_bootstrap_weights` - the same resamples as image weights, for any other
  weighted statistic (calibration: :mod:`benchmark.stats.calibration`).

Conventions are those of :mod:`benchmark.stats.metrics`: label 1 = malignant (positive),
higher score = more malignant, malignant/benign score ties count one half in the AUC.
"""
from __future__ import annotations

import numpy as np

from benchmark.stats.bootstrap import _check_confidence, paired_differences, percentile_interval
from benchmark.stats.metrics import (
    _check_binary_scores,
    _check_labels,
    _check_n_bootstrap,
    _check_scores,
    _require_both_classes,
    roc_auc,
)

__all__ = ["weighted_aucs", "cluster_bootstrap_aucs", "cluster_bootstrap_weights", "cluster_bootstrap_ci",
           "paired_cluster_bootstrap"]


# ------------------------------------------------------------------ weighted Mann-Whitney AUC
def _weighted_auc_sorted(w_sorted: np.ndarray, positive_sorted: np.ndarray, starts) -> np.ndarray:
    """AUC per row of ``w_sorted`` (weights of images in ascending score order).

    ``positive_sorted`` marks malignant images in that order; ``starts`` (or None when all
    scores are distinct) are the first positions of each distinct score value. Weighted
    Mann-Whitney: ``sum_i sum_j w_i w_j [s_i > s_j] + 1/2 [s_i == s_j]`` over malignant i and
    benign j, over ``W_malignant * W_benign``; NaN where either class has zero weight.
    """
    pos = w_sorted * positive_sorted
    neg = w_sorted - pos
    if starts is not None:
        pos = np.add.reduceat(pos, starts, axis=1)
        neg = np.add.reduceat(neg, starts, axis=1)
    neg_below = np.cumsum(neg, axis=1) - neg  # benign weight strictly below each value
    wins = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
    denominator = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, wins / np.where(denominator > 0, denominator, 1.0), np.nan)


class _ScoreLayout:
    """One scorer's images in ascending score order (images without a score left out)."""

    def __init__(self, y: np.ndarray, scores: np.ndarray):
        present = np.flatnonzero(np.isfinite(scores))
        order = present[np.argsort(scores[present], kind="stable")]
        s = scores[order]
        self.columns = order
        self.positive = (y[order] == 1).astype(np.float64)
        boundaries = np.flatnonzero(np.diff(s) != 0) + 1
        self.starts = None if boundaries.size == max(0, s.size - 1) else np.r_[0, boundaries]

    def aucs(self, weights: np.ndarray) -> np.ndarray:
        """AUC for each row of ``weights`` (``(b, n_images)``, all images of the data)."""
        return _weighted_auc_sorted(weights[:, self.columns], self.positive, self.starts)


def weighted_aucs(y_true, scores, weights) -> np.ndarray:
    """Weighted Mann-Whitney AUC of one scorer for each row of ``weights``.

    ``weights`` is ``(n,)`` or ``(b, n)`` non-negative case weights (e.g. how often a bootstrap
    resample drew each case). Ties between a malignant and a benign score count 1/2, so a row
    of weights gives what ``sklearn.metrics.roc_auc_score(y, scores, sample_weight=row)`` gives.
    Returns an array of length ``b`` (a float for 1-D weights); NaN where a class has zero
    total weight. Scores are sorted once; each row costs O(n).
    """
    y, (s,) = _check_binary_scores(y_true, scores)
    w, one = _check_weights(weights, y.size)
    out = _ScoreLayout(y, s).aucs(w)
    return float(out[0]) if one else out


def _check_weights(weights, n: int) -> tuple[np.ndarray, bool]:
    """Case weights ``(n,)`` or ``(b, n)`` as a ``(b, n)`` float array, and whether they were one row."""
    w = np.asarray(weights, dtype=np.float64)
    one = w.ndim == 1
    w = np.atleast_2d(w)
    if w.ndim != 2 or w.shape[1] != n:
        raise ValueError(f"weights must have shape (n,) or (b, n) with n = {n}, got {np.shape(weights)}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and non-negative")
    return w, one


# ------------------------------------------------------------------ cluster bootstrap
_CLUSTER_CHUNK_CELLS = 2_000_000  # resamples are processed in chunks of at most this many group counts


def _check_groups(y: np.ndarray, groups) -> tuple[np.ndarray, np.ndarray]:
    """``(group index per image, label per group)``; raises if a group mixes labels."""
    g = np.asarray(groups)
    if g.ndim != 1 or g.shape[0] != y.shape[0]:
        raise ValueError(f"groups must be 1-D with one entry per image ({y.shape[0]}), got shape {g.shape}")
    keys, index = np.unique(g, return_inverse=True)
    index = index.reshape(-1)
    malignant = np.bincount(index, weights=(y == 1), minlength=keys.size)
    size = np.bincount(index, minlength=keys.size)
    mixed = np.flatnonzero((malignant > 0) & (malignant < size))
    if mixed.size:
        shown = ", ".join(repr(k.item() if hasattr(k, "item") else k) for k in keys[mixed[:5]])
        raise ValueError(f"duplicate group(s) {shown} hold both benign and malignant images; a duplicate group "
                         "must have one label (check the data set's duplicate groups)")
    return index, (malignant > 0).astype(np.int8)


def _group_resamples(group_label: np.ndarray, n_bootstrap: int, rng: np.random.Generator, chunk: int,
                     group_stratum: np.ndarray | None = None):
    """Yield ``(malignant_counts, benign_counts)`` of stratified group resamples, ``n_bootstrap`` rows in all.

    Each resample draws, with replacement, as many malignant groups from the malignant groups
    and as many benign groups from the benign groups as there are (with ``group_stratum``:
    within each stratum, e.g. a fold, as many of each class as that stratum holds);
    ``malignant_counts[b, g]`` is how often resample ``b`` drew the ``g``-th malignant group
    (groups in index order), likewise ``benign_counts``.
    """
    stratum = np.zeros(group_label.size, np.int64) if group_stratum is None else group_stratum
    members = []  # per class: the positions (among that class's groups) of each stratum's groups
    for label in (1, 0):
        of_class = stratum[group_label == label]
        members.append([np.flatnonzero(of_class == s) for s in np.unique(of_class)])
    done = 0
    while done < n_bootstrap:
        b = min(chunk, n_bootstrap - done)
        counts = []
        for strata in members:
            n = sum(m.size for m in strata)
            drawn = np.concatenate([m[rng.integers(0, m.size, size=(b, m.size))] for m in strata], axis=1) \
                if strata else np.empty((b, 0), np.int64)
            drawn = drawn + (np.arange(b)[:, None] * n)
            counts.append(np.bincount(drawn.ravel(), minlength=b * n).reshape(b, n))
        yield counts[0], counts[1]
        done += b


class _GroupKernel:
    """One scorer's Mann-Whitney kernel summed over duplicate groups.

    ``K[g, h]`` = sum over malignant images i of malignant group g and benign images j of
    benign group h of ``[s_i > s_j] + 1/2 [s_i == s_j]``; a resample with group counts ``c1``,
    ``c0`` then has the weighted AUC ``c1 K c0 / ((c1 . n1) (c0 . n0))`` with ``n1``, ``n0``
    the groups' numbers of scored images: one matrix product per chunk of resamples. Images
    without a score (NaN) are left out. With ``block`` (an integer per image, e.g. the fold
    whose model scored it) only pairs within one block count: ``K`` sums those, ``n1``, ``n0``
    become ``(groups, blocks)`` counts and the denominator ``sum_b (c1 . n1[:, b]) (c0 . n0[:, b])``.
    """

    def __init__(self, y: np.ndarray, scores: np.ndarray, group_of_image: np.ndarray, group_label: np.ndarray,
                 block: np.ndarray | None = None):
        index1 = np.cumsum(group_label == 1) - 1  # position of a malignant group among malignant groups
        index0 = np.cumsum(group_label == 0) - 1
        g1, g0 = int((group_label == 1).sum()), int((group_label == 0).sum())
        present = np.isfinite(scores)
        pos, neg = present & (y == 1), present & (y == 0)
        sp, sn = scores[pos], scores[neg]
        rows, cols = index1[group_of_image[pos]], index0[group_of_image[neg]]
        _, blocks = np.unique(np.zeros(y.size, np.int64) if block is None else block, return_inverse=True)
        blocks = blocks.reshape(-1)
        bp, bn = blocks[pos], blocks[neg]
        per_row = np.zeros((g1, sn.size))
        for start in range(0, sp.size, 1024):  # chunks of malignant images bound the memory
            chunk = sp[start:start + 1024, None]
            pairs = (chunk > sn[None, :]) + 0.5 * (chunk == sn[None, :])
            if block is not None:  # only pairs scored by one model (of one block) count
                pairs = pairs * (bp[start:start + 1024, None] == bn[None, :])
            np.add.at(per_row, rows[start:start + 1024], pairs)
        kernel = np.zeros((g1, g0))
        np.add.at(kernel.T, cols, per_row.T)
        n_blocks = int(blocks.max(initial=0)) + 1
        # scored images of each group in each block
        self.n1 = np.zeros((g1, n_blocks))
        np.add.at(self.n1, (rows, bp), 1.0)
        self.n0 = np.zeros((g0, n_blocks))
        np.add.at(self.n0, (cols, bn), 1.0)
        # Twice the kernel holds integers, and so does every partial sum of c1 (2K) c0. They are
        # at most 2 (G1 max n1)(G0 max n0): a resample draws G1 malignant and G0 benign groups.
        # Below 2^24 float32 computes them exactly, and about twice as fast as float64.
        bound = 2.0 * g1 * self.n1.sum(axis=1).max(initial=0.0) * g0 * self.n0.sum(axis=1).max(initial=0.0)
        self.dtype = np.float32 if bound < 2.0 ** 24 else np.float64
        self.kernel2 = (2.0 * kernel).astype(self.dtype)

    def aucs(self, c1: np.ndarray, c0: np.ndarray) -> np.ndarray:
        """AUC of each resample; ``c1``, ``c0``: group counts (any float dtype; exact integers)."""
        c1, c0 = c1.astype(self.dtype, copy=False), c0.astype(self.dtype, copy=False)
        wins = 0.5 * np.einsum("ij,ij->i", c1 @ self.kernel2, c0).astype(np.float64)
        denominator = np.einsum("ij,ij->i", (c1 @ self.n1.astype(self.dtype)).astype(np.float64),
                                (c0 @ self.n0.astype(self.dtype)).astype(np.float64))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denominator > 0, wins / np.where(denominator > 0, denominator, 1.0), np.nan)


def cluster_bootstrap_aucs(y_true, scores_by_method: dict, groups, n_bootstrap: int = 2000, seed=0,
                           allow_missing: bool = False, blocks=None, strata=None) -> np.ndarray:
    """AUCs of every scorer on the same stratified resamples of duplicate groups: ``(n_bootstrap, k)``.

    ``groups[i]`` is the duplicate group of image ``i`` (any hashable values; images that
    duplicate nobody have a group of their own). A group must not mix labels (ValueError).
    Each resample draws, with replacement, as many malignant groups from the malignant
    groups and as many benign groups from the benign groups as observed (stratified, so both
    classes are in every resample); an image's weight in the resample is how many times its
    group was drawn, and each scorer's AUC is the weighted Mann-Whitney AUC
    (:func:`weighted_aucs`; computed per group: for each scorer the Mann-Whitney kernel is
    summed over pairs of groups once, and a chunk of resamples is one matrix product). All
    scorers see the same resamples (paired), in the order of
    ``scores_by_method``'s keys. With every image in its own group this is the ordinary
    stratified bootstrap of :mod:`benchmark.stats` (same distribution, other random draws).

    ``allow_missing=True`` lets a score vector hold NaN for images that scorer did not score
    (e.g. a holdout split's test set within the union of test sets): those images weigh 0 in
    its AUC, and a resample in which its scored images lack a class gives NaN. ``seed`` is
    anything ``numpy.random.default_rng`` accepts; the same inputs and seed give the same draws.

    ``blocks`` (one integer per image, or a dict giving each scorer its own) makes a scorer's
    statistic the block-stratified AUC of :func:`benchmark.stats.stratified_auc`: only
    malignant-benign pairs within one block count (the block of an image being, e.g., the fold
    whose model scored it), under the resample's weights. ``strata`` (one value per image;
    a group must lie in one stratum) resamples the groups within each stratum and class, so
    that every resample keeps each stratum's numbers of malignant and benign groups (e.g. each
    fold model's test set keeps its size).
    """
    names = list(scores_by_method)
    if not names:
        raise ValueError("cluster_bootstrap_aucs needs at least one score vector")
    y = _check_labels(y_true)
    vectors = []
    for name in names:
        s = np.asarray(scores_by_method[name], dtype=np.float64) if allow_missing else \
            _check_scores(scores_by_method[name], str(name))
        if s.ndim != 1 or s.shape[0] != y.shape[0]:
            raise ValueError(f"scores of {name!r} must be 1-D with one score per image ({y.shape[0]}), "
                             f"got shape {s.shape}")
        if allow_missing and np.isinf(s).any():
            raise ValueError(f"scores of {name!r} must be finite or NaN (missing)")
        vectors.append(s)
    _require_both_classes(y, "cluster_bootstrap_aucs")
    n_bootstrap = _check_n_bootstrap(n_bootstrap)
    group_of_image, group_label = _check_groups(y, groups)
    block_of = {name: _check_blocks(blocks.get(name) if isinstance(blocks, dict) else blocks, y.size, str(name))
                for name in names}
    kernels = [_GroupKernel(y, s, group_of_image, group_label, block_of[name]) for name, s in zip(names, vectors)]
    group_stratum = _group_strata(strata, group_of_image, group_label.size)
    rng = np.random.default_rng(seed)
    chunk = max(1, _CLUSTER_CHUNK_CELLS // max(1, group_label.size))
    out = np.empty((n_bootstrap, len(names)))
    row = 0
    for c1, c0 in _group_resamples(group_label, n_bootstrap, rng, chunk, group_stratum):
        as_type = {t: (c1.astype(t), c0.astype(t)) for t in {k.dtype for k in kernels}}  # convert once a chunk
        for k, kernel in enumerate(kernels):
            out[row:row + c1.shape[0], k] = kernel.aucs(*as_type[kernel.dtype])
        row += c1.shape[0]
    return out


def cluster_bootstrap_weights(y_true, groups, n_bootstrap: int = 2000, seed=0, strata=None) -> np.ndarray:
    """The stratified duplicate-group resamples of :func:`cluster_bootstrap_aucs` as image weights: ``(n_bootstrap, n)``.

    ``weights[b, i]`` is how often resample ``b`` drew image ``i``'s group (as many malignant and
    benign groups as observed, within each stratum of ``strata`` when given); any statistic that
    takes case weights (a Brier score, a logistic fit) evaluated on each row is its bootstrap.
    """
    y = _check_labels(y_true)
    _require_both_classes(y, "cluster_bootstrap_weights")
    n_bootstrap = _check_n_bootstrap(n_bootstrap)
    group_of_image, group_label = _check_groups(y, groups)
    malignant, benign = np.flatnonzero(group_label == 1), np.flatnonzero(group_label == 0)
    rng = np.random.default_rng(seed)
    chunk = max(1, _CLUSTER_CHUNK_CELLS // max(1, group_label.size))
    out = np.empty((n_bootstrap, y.size))
    row = 0
    for c1, c0 in _group_resamples(group_label, n_bootstrap, rng, chunk,
                                   _group_strata(strata, group_of_image, group_label.size)):
        counts = np.empty((c1.shape[0], group_label.size))
        counts[:, malignant], counts[:, benign] = c1, c0  # the counts in group order
        out[row:row + c1.shape[0]] = counts[:, group_of_image]
        row += c1.shape[0]
    return out


def _check_blocks(block, n: int, name: str) -> np.ndarray | None:
    if block is None:
        return None
    b = np.asarray(block)
    if b.shape != (n,):
        raise ValueError(f"blocks of {name!r} must be 1-D with one entry per image ({n}), got shape {b.shape}")
    return b


def _group_strata(strata, group_of_image: np.ndarray, n_groups: int) -> np.ndarray | None:
    """The stratum of each group (None without strata); raises if a group lies in two strata."""
    if strata is None:
        return None
    s = np.asarray(strata)
    if s.shape != group_of_image.shape:
        raise ValueError(f"strata must be 1-D with one entry per image ({group_of_image.size}), got shape {s.shape}")
    _, index = np.unique(s, return_inverse=True)
    index = index.reshape(-1)
    first = np.full(n_groups, -1)
    first[group_of_image[::-1]] = index[::-1]  # the stratum of each group's first image
    straddle = np.flatnonzero(first[group_of_image] != index)
    if straddle.size:
        raise ValueError(f"a duplicate group lies in two strata (image {int(straddle[0])}); resampling within strata "
                         "(folds) needs every group in one stratum")
    return first


def cluster_bootstrap_ci(y_true, scores, groups, n_bootstrap: int = 2000, seed=0, confidence: float = 0.95) -> dict:
    """AUC with its duplicate-aware bootstrap interval: ``{"auc", "ci_low", "ci_high", "se"}``.

    ``auc`` is the AUC of all images; ``ci_low``/``ci_high`` the percentile interval at
    ``confidence`` of :func:`cluster_bootstrap_aucs`; ``se`` the standard deviation (ddof=1)
    of those bootstrap AUCs.
    """
    _check_confidence(confidence)
    draws = cluster_bootstrap_aucs(y_true, {"scores": scores}, groups, n_bootstrap, seed)[:, 0]
    lo, hi = percentile_interval(draws, confidence)
    se = float(np.std(draws, ddof=1)) if draws.size >= 2 else float("nan")
    return {"auc": roc_auc(y_true, scores), "ci_low": lo, "ci_high": hi, "se": se}


def paired_cluster_bootstrap(y_true, scores_by_method: dict, groups, pairs, n_bootstrap: int = 10_000, seed=0,
                             confidence: float = 0.95) -> dict:
    """Paired duplicate-aware bootstrap of AUC differences: ``{(a, b): {"difference", "ci_low", "ci_high", "p"}}``.

    Every scorer is evaluated on the same group resamples (:func:`cluster_bootstrap_aucs`);
    each pair is summarised by :func:`benchmark.stats.paired_differences` (observed ``AUC_a - AUC_b``,
    percentile interval, two-sided p ``min(1, 2 * min(#(d* <= 0) + 1, #(d* >= 0) + 1) / (B + 1))``).
    """
    _check_confidence(confidence)
    names = list(scores_by_method)
    draws = cluster_bootstrap_aucs(y_true, scores_by_method, groups, n_bootstrap, seed)
    observed = {n: roc_auc(y_true, scores_by_method[n]) for n in names}
    return paired_differences(observed, draws, names, pairs, confidence)
