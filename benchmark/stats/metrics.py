"""Test-set metrics for binary breast-mass classification (Byra 2021, section 3.3).

Byra (2021), "Breast mass classification with transfer learning based on scaling of
deep representations", Biomed. Signal Process. Control 69, reports on the test set:

* the area under the ROC curve (AUC);
* accuracy, sensitivity and specificity at the ROC operating point closest to the
  upper-left corner (0, 1) of the ROC plane;
* standard deviations of these four numbers obtained by bootstrapping the test set.

Conventions used throughout this module (and by :mod:`benchmark.stats`):

* label 1 is the positive class (malignant), label 0 the negative class (benign);
* a higher score means "more likely malignant"; a case is called malignant when
  ``score >= threshold``;
* ties between a malignant and a benign score count one half in the AUC, i.e. the
  AUC is the Mann-Whitney U statistic divided by ``n_pos * n_neg``
  (Hanley & McNeil 1982, Bamber 1975);
* the bootstrap is **stratified**: each resample draws ``n_pos`` malignant cases from
  the malignant cases and ``n_neg`` benign cases from the benign cases, with
  replacement, so every resample keeps the class counts of the test set and all
  metrics are defined in every resample (Efron & Tibshirani 1993, ch. 6; Carpenter &
  Bithell 2000, on stratified bootstrap for two-sample statistics).

The bootstrap is vectorised: a resample is represented by how many times it draws
each distinct score value from each class (a ``(n_resamples, n_distinct_scores)``
count matrix per class), from which AUCs and ROC corner points of all resamples
follow from cumulative sums, without sorting each resample.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

__all__ = ["roc_auc", "stratified_auc", "auc_standard_error", "corner_operating_point", "evaluate_scores", "bootstrap_aucs"]

_CLASS_NAMES = {0: "0 (benign)", 1: "1 (malignant)"}

# Resamples are processed in chunks whose count matrices hold at most this many cells.
_CHUNK_CELLS = 2_000_000


# --------------------------------------------------------------------------- validation
def _check_scores(scores, name: str = "scores") -> np.ndarray:
    s = np.asarray(scores)
    if s.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {s.shape}")
    if s.dtype == bool or not (np.issubdtype(s.dtype, np.number)):
        raise ValueError(f"{name} must be numeric, got dtype {s.dtype}")
    if np.issubdtype(s.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real-valued, got dtype {s.dtype}")
    s = s.astype(np.float64)
    bad = ~np.isfinite(s)
    if bad.any():
        raise ValueError(
            f"{name} must be finite; {int(bad.sum())} value(s) are NaN or infinite "
            f"(first at index {int(np.flatnonzero(bad)[0])})"
        )
    return s


def _check_labels(y_true) -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D, got shape {y.shape}")
    if y.size == 0:
        raise ValueError("y_true is empty")
    if y.dtype != bool and not np.issubdtype(y.dtype, np.number):
        raise ValueError(f"y_true must hold the labels 0 (benign) and 1 (malignant), got dtype {y.dtype}")
    if np.issubdtype(y.dtype, np.complexfloating):
        raise ValueError(f"y_true must be real-valued, got dtype {y.dtype}")
    ok = (y == 0) | (y == 1)
    if not ok.all():
        bad = np.unique(y[~ok])
        shown = ", ".join(repr(v.item()) for v in bad[:5]) + (", ..." if bad.size > 5 else "")
        raise ValueError(f"y_true must contain only 0 (benign) and 1 (malignant); found {shown}")
    return y.astype(np.int8)


def _check_binary_scores(y_true, *score_vectors, names: Sequence[str] | None = None):
    """Validate labels and one or more score vectors; return ``(y, [s, ...])``."""
    if names is None:
        names = ["scores"] if len(score_vectors) == 1 else [f"scores_{i}" for i in range(len(score_vectors))]
    y = _check_labels(y_true)
    out = []
    for name, s in zip(names, score_vectors):
        s = _check_scores(s, name)
        if s.shape[0] != y.shape[0]:
            raise ValueError(
                f"y_true and {name} have different lengths ({y.shape[0]} vs {s.shape[0]})"
            )
        out.append(s)
    return y, out


def _require_both_classes(y: np.ndarray, what: str) -> None:
    present = np.unique(y)
    if present.size < 2:
        only = _CLASS_NAMES[int(present[0])]
        missing = _CLASS_NAMES[1 - int(present[0])]
        raise ValueError(
            f"{what} needs both classes in y_true; only class {only} is present "
            f"(no class {missing} cases among {y.size})"
        )


def _check_n_bootstrap(n_bootstrap) -> int:
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)):
        raise ValueError(f"n_bootstrap must be a non-negative integer, got {n_bootstrap!r}")
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be a non-negative integer, got {n_bootstrap}")
    return int(n_bootstrap)


# ------------------------------------------------------------------ count-matrix kernels
def _score_groups(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct score values (ascending) and, per case, the index of its value."""
    values, inverse = np.unique(scores, return_inverse=True)
    return values, inverse.reshape(-1)


def _group_counts(group_of_case: np.ndarray, idx: np.ndarray, n_groups: int) -> np.ndarray:
    """Count matrix ``C[b, g]`` = how often resample ``b`` (row of ``idx``) draws value ``g``."""
    b = idx.shape[0]
    flat = group_of_case[idx] + (np.arange(b)[:, None] * n_groups)
    return np.bincount(flat.ravel(), minlength=b * n_groups).reshape(b, n_groups)


def _auc_from_counts(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of each row; ``pos``/``neg`` are per-value counts, values ascending."""
    n_pos = pos.sum(axis=1)
    n_neg = neg.sum(axis=1)
    neg_below = np.cumsum(neg, axis=1) - neg  # benign cases scoring strictly lower
    wins = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
    return wins / (n_pos * n_neg)


def _corner_from_counts(pos: np.ndarray, neg: np.ndarray, values: np.ndarray) -> dict:
    """ROC point closest to (0, 1) in each row of the count matrices.

    Candidate thresholds are the score values present in the row; threshold ``t`` calls
    ``score >= t`` malignant. Among equally close points the highest threshold (the most
    specific one) wins. Distances are compared exactly, in integer arithmetic, as
    ``(FP * n_pos)^2 + (FN * n_neg)^2``, i.e. ``n_pos^2 n_neg^2 (FPR^2 + (1-TPR)^2)``, while
    ``n_pos n_neg < 2e9`` (about 45,000 cases of each class); above, where that would overflow
    int64, as floats, where rounding may decide a tie.
    """
    # Work with values in descending order so that argmin's first hit is the highest threshold.
    pos = pos[:, ::-1]
    neg = neg[:, ::-1]
    vals = values[::-1]
    n_pos = pos.sum(axis=1, keepdims=True)
    n_neg = neg.sum(axis=1, keepdims=True)
    tp = np.cumsum(pos, axis=1)  # malignant cases with score >= value
    fp = np.cumsum(neg, axis=1)  # benign cases with score >= value
    fn = n_pos - tp
    if float(n_pos.max()) * float(n_neg.max()) < 2.0e9:  # (n_pos n_neg)^2 * 2 fits in int64
        d2 = (fp.astype(np.int64) * n_pos) ** 2 + (fn.astype(np.int64) * n_neg) ** 2
        d2 = np.where((pos + neg) > 0, d2, np.iinfo(np.int64).max)
    else:  # huge test sets: float comparison, ties may be resolved by rounding
        d2 = (fp / n_neg) ** 2 + (fn / n_pos) ** 2
        d2 = np.where((pos + neg) > 0, d2, np.inf)
    best = np.argmin(d2, axis=1)
    rows = np.arange(pos.shape[0])
    tp_b = tp[rows, best].astype(np.float64)
    fp_b = fp[rows, best].astype(np.float64)
    n_pos = n_pos[:, 0].astype(np.float64)
    n_neg = n_neg[:, 0].astype(np.float64)
    tn_b = n_neg - fp_b
    return {
        "threshold": vals[best],
        "accuracy": (tp_b + tn_b) / (n_pos + n_neg),
        "sensitivity": tp_b / n_pos,
        "specificity": tn_b / n_neg,
    }


def _identity_counts(y: np.ndarray, group: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    pos = np.bincount(group[y == 1], minlength=n_groups)[None, :]
    neg = np.bincount(group[y == 0], minlength=n_groups)[None, :]
    return pos, neg


def _stratified_resamples(
    y: np.ndarray, n_bootstrap: int, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield chunks ``(pos_idx, neg_idx)`` of stratified bootstrap resamples.

    ``pos_idx`` has shape ``(b, n_pos)`` and holds indices (into ``y``) of malignant
    cases drawn with replacement; ``neg_idx`` likewise for benign cases. The chunks
    together hold ``n_bootstrap`` resamples. For a given ``rng`` state the draws depend
    only on ``y`` and ``n_bootstrap``, so callers that pass the same seed see the same
    resamples.
    """
    pos_cases = np.flatnonzero(y == 1)
    neg_cases = np.flatnonzero(y == 0)
    chunk = max(1, _CHUNK_CELLS // max(1, y.size))
    done = 0
    while done < n_bootstrap:
        b = min(chunk, n_bootstrap - done)
        pos_idx = pos_cases[rng.integers(0, pos_cases.size, size=(b, pos_cases.size))]
        neg_idx = neg_cases[rng.integers(0, neg_cases.size, size=(b, neg_cases.size))]
        yield pos_idx, neg_idx
        done += b


def _bootstrap_auc_matrix(y: np.ndarray, score_list: Sequence[np.ndarray], n_bootstrap: int, seed) -> np.ndarray:
    """AUCs of several scorers on the *same* stratified resamples: shape ``(n_bootstrap, k)``."""
    rng = np.random.default_rng(seed)
    groups = [_score_groups(s) for s in score_list]
    out = np.empty((n_bootstrap, len(score_list)))
    row = 0
    for pos_idx, neg_idx in _stratified_resamples(y, n_bootstrap, rng):
        b = pos_idx.shape[0]
        for k, (values, group) in enumerate(groups):
            pos = _group_counts(group, pos_idx, values.size)
            neg = _group_counts(group, neg_idx, values.size)
            out[row : row + b, k] = _auc_from_counts(pos, neg)
        row += b
    return out


def _std(x: np.ndarray) -> float:
    """Sample standard deviation (ddof=1); NaN for fewer than two values."""
    return float(np.std(x, ddof=1)) if x.size >= 2 else float("nan")


# ------------------------------------------------------------------------- public API
def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve, computed as the Mann-Whitney statistic.

    ``AUC = P(score_malignant > score_benign) + 0.5 * P(score_malignant == score_benign)``
    (Bamber 1975; Hanley & McNeil 1982). Equals ``sklearn.metrics.roc_auc_score``.

    Raises ``ValueError`` for invalid input or when ``y_true`` holds only one class
    (the message names the class that is present).
    """
    y, (s,) = _check_binary_scores(y_true, scores)
    _require_both_classes(y, "roc_auc")
    values, group = _score_groups(s)
    pos, neg = _identity_counts(y, group, values.size)
    return float(_auc_from_counts(pos, neg)[0])


def stratified_auc(y_true, scores, strata) -> float:
    """AUC over the malignant-benign pairs within one stratum only (e.g. one fold model's test images).

    ``sum_f U_f / sum_f (n_pos_f n_neg_f)``, with ``U_f`` the Mann-Whitney count (ties 1/2) of
    stratum ``f``: the per-stratum AUCs averaged with weights ``n_pos_f * n_neg_f``. Scores of
    images in different strata (scored by different fold models, each on its own scale) are
    never compared, so unlike the AUC of the pooled scores it does not depend on whether the
    models agree in scale. A stratum with one class has no pairs and weighs nothing. Raises
    ``ValueError`` when no stratum holds both classes.
    """
    y, (s,) = _check_binary_scores(y_true, scores)
    f = np.asarray(strata)
    if f.shape != y.shape:
        raise ValueError(f"y_true and strata have different shapes ({y.shape} vs {f.shape})")
    wins = pairs = 0.0
    for key in np.unique(f):
        in_f = f == key
        n_pos, n_neg = int(y[in_f].sum()), int((y[in_f] == 0).sum())
        if n_pos and n_neg:
            wins += roc_auc(y[in_f], s[in_f]) * n_pos * n_neg
            pairs += n_pos * n_neg
    if not pairs:
        raise ValueError("stratified_auc needs a stratum holding both classes; none does")
    return float(wins / pairs)


def auc_standard_error(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUC estimated from ``n_pos`` malignant and ``n_neg`` benign cases,
    by Hanley & McNeil's (1982) approximation (exponential score distributions):
    ``Q1 = A / (2 - A)``, ``Q2 = 2 A^2 / (1 + A)``,
    ``SE^2 = (A (1 - A) + (n_pos - 1)(Q1 - A^2) + (n_neg - 1)(Q2 - A^2)) / (n_pos n_neg)``."""
    if n_pos < 1 or n_neg < 1:
        raise ValueError(f"auc_standard_error needs both classes, got n_pos={n_pos}, n_neg={n_neg}")
    if not 0.0 <= auc <= 1.0:
        raise ValueError(f"auc_standard_error: AUC must lie in [0, 1], got {auc}")
    q1, q2 = auc / (2.0 - auc), 2.0 * auc * auc / (1.0 + auc)
    var = (auc * (1.0 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return float(np.sqrt(max(var, 0.0)))


def corner_operating_point(y_true, scores) -> dict:
    """The ROC operating point closest (Euclidean) to the upper-left corner (0, 1).

    Byra (2021), section 3.3: accuracy, sensitivity and specificity are reported at the
    point of the ROC curve nearest to (FPR, TPR) = (0, 1), i.e. the threshold minimising
    ``FPR^2 + (1 - TPR)^2``.

    Candidate thresholds are the distinct observed scores; a case is called malignant
    (label 1) when ``score >= threshold``. The "call everything benign" point (0, 0) is
    therefore not a candidate (the lowest threshold gives (1, 1) instead). Ties in
    distance are broken towards the highest threshold (most specific). Distances are
    compared exactly (integer arithmetic) up to about 45,000 cases of each class, so there the
    choice does not depend on rounding (see :func:`_corner_from_counts`).

    Returns ``{"threshold", "accuracy", "sensitivity", "specificity"}`` as floats.
    """
    y, (s,) = _check_binary_scores(y_true, scores)
    _require_both_classes(y, "corner_operating_point")
    values, group = _score_groups(s)
    pos, neg = _identity_counts(y, group, values.size)
    point = _corner_from_counts(pos, neg, values)
    return {k: float(v[0]) for k, v in point.items()}


def bootstrap_aucs(y_true, scores, n_bootstrap, seed) -> np.ndarray:
    """AUCs of ``n_bootstrap`` stratified bootstrap resamples of the test set.

    Each resample draws, with replacement, as many malignant cases from the malignant
    cases and as many benign cases from the benign cases as the test set holds
    (stratified bootstrap; Efron & Tibshirani 1993). ``seed`` is anything
    ``numpy.random.default_rng`` accepts; the same seed gives the same resamples as
    :func:`evaluate_scores` with that seed. Returns a float array of length ``n_bootstrap``.
    """
    y, (s,) = _check_binary_scores(y_true, scores)
    _require_both_classes(y, "bootstrap_aucs")
    n_bootstrap = _check_n_bootstrap(n_bootstrap)
    return _bootstrap_auc_matrix(y, [s], n_bootstrap, seed)[:, 0]


def evaluate_scores(y_true, scores, n_bootstrap: int = 1000, seed=0) -> dict:
    """All test-set metrics of Byra (2021), section 3.3, with bootstrap standard deviations.

    Point estimates on the full test set: ``auc`` (:func:`roc_auc`) and ``accuracy``,
    ``sensitivity``, ``specificity``, ``threshold`` at the ROC point closest to (0, 1)
    (:func:`corner_operating_point`).

    ``*_std``: sample standard deviation (ddof=1) over ``n_bootstrap`` stratified bootstrap
    resamples of the test set (class counts kept fixed, see :func:`bootstrap_aucs`); the
    corner point, and so its threshold, is re-chosen in every resample. ``n_bootstrap`` of
    0 or 1 gives NaN standard deviations. ``auc_std`` equals
    ``np.std(bootstrap_aucs(y_true, scores, n_bootstrap, seed), ddof=1)``.

    Also returns ``n`` (cases), ``n_positive`` (malignant cases) and ``n_bootstrap``.
    """
    y, (s,) = _check_binary_scores(y_true, scores)
    _require_both_classes(y, "evaluate_scores")
    n_bootstrap = _check_n_bootstrap(n_bootstrap)
    values, group = _score_groups(s)
    pos, neg = _identity_counts(y, group, values.size)
    point = _corner_from_counts(pos, neg, values)
    result = {
        "auc": float(_auc_from_counts(pos, neg)[0]),
        "accuracy": float(point["accuracy"][0]),
        "sensitivity": float(point["sensitivity"][0]),
        "specificity": float(point["specificity"][0]),
        "threshold": float(point["threshold"][0]),
    }

    boot = {k: np.empty(n_bootstrap) for k in ("auc", "accuracy", "sensitivity", "specificity")}
    rng = np.random.default_rng(seed)
    row = 0
    for pos_idx, neg_idx in _stratified_resamples(y, n_bootstrap, rng):
        b = pos_idx.shape[0]
        bpos = _group_counts(group, pos_idx, values.size)
        bneg = _group_counts(group, neg_idx, values.size)
        boot["auc"][row : row + b] = _auc_from_counts(bpos, bneg)
        corner = _corner_from_counts(bpos, bneg, values)
        for k in ("accuracy", "sensitivity", "specificity"):
            boot[k][row : row + b] = corner[k]
        row += b
    for k, v in boot.items():
        result[f"{k}_std"] = _std(v)

    result["n"] = int(y.size)
    result["n_positive"] = int((y == 1).sum())
    result["n_bootstrap"] = n_bootstrap
    return result
