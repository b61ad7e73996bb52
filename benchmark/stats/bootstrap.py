"""What bootstrap draws say: percentile intervals, paired differences with their p-value, rank intervals.

The draws are AUCs of several methods on the *same* resamples (a ``(B, k)`` array, column ``j``
holding method ``j``'s AUC in each resample), as the duplicate-aware bootstrap
(:func:`benchmark.stats.cluster_bootstrap_aucs`) and the paired image bootstrap
(:func:`benchmark.stats.paired_bootstrap_auc_differences`) give them. Because every method sees
the same resamples, one set of draws gives each method's interval, every pair's difference and
every method's rank interval (Efron & Tibshirani 1993; Davison & Hinkley 1997).
"""
from __future__ import annotations

import numpy as np
from scipy import stats as _sps

__all__ = ["percentile_interval", "paired_differences", "rank_intervals"]


def percentile_interval(draws, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap draws at level ``confidence`` (NaN draws left out).

    ``numpy.nanquantile`` with linear interpolation at ``(1 - confidence) / 2`` and
    ``(1 + confidence) / 2``; ``(nan, nan)`` when no draw is finite.
    """
    _check_confidence(confidence)
    d = np.asarray(draws, dtype=np.float64).ravel()
    if not np.isfinite(d).any():
        return float("nan"), float("nan")
    alpha = 1.0 - confidence
    lo, hi = np.nanquantile(d, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def _check_confidence(confidence: float) -> None:
    if not (0.0 < confidence < 1.0):
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")


def paired_differences(observed: dict, draws, methods, pairs, confidence: float = 0.95) -> dict:
    """Paired-bootstrap summary of ``AUC_a - AUC_b`` for each pair, from shared resamples.

    ``observed`` maps a method to its AUC on the full data; ``draws`` is ``(B, len(methods))``,
    column ``j`` holding ``methods[j]``'s AUC in each of the same ``B`` resamples (NaN: not
    defined in that resample; such resamples are left out of that pair). Returns
    ``{(a, b): {"difference", "ci_low", "ci_high", "p"}}``: the observed difference, the
    percentile interval of the bootstrap differences, and the two-sided bootstrap p-value
    ``min(1, 2 * min(#(d* <= 0) + 1, #(d* >= 0) + 1) / (B + 1))`` (Davison & Hinkley 1997,
    eq. 4.11: never exactly 0). Differences are rounded to 12 decimals before they are
    compared with 0, so that identical scorers give ``p = 1``.
    """
    _check_confidence(confidence)
    draws = np.asarray(draws, dtype=np.float64)
    column = {m: i for i, m in enumerate(methods)}
    out = {}
    for a, b in pairs:
        d = draws[:, column[a]] - draws[:, column[b]]
        d = d[np.isfinite(d)]
        if d.size == 0:
            out[(a, b)] = {"difference": float(observed[a] - observed[b]), "ci_low": float("nan"),
                           "ci_high": float("nan"), "p": float("nan")}
            continue
        d_cmp = np.round(d, 12)
        lo, hi = percentile_interval(d, confidence)
        below, above = int((d_cmp <= 0).sum()), int((d_cmp >= 0).sum())
        p = min(1.0, 2.0 * (min(below, above) + 1) / (d.size + 1))
        out[(a, b)] = {"difference": float(observed[a] - observed[b]), "ci_low": lo, "ci_high": hi, "p": float(p)}
    return out


def rank_intervals(observed_aucs: dict, draws, methods, confidence: float = 0.95):
    """Rank of each method (1 = highest AUC) with a bootstrap interval: DataFrame ``method, rank, rank_low, rank_high``.

    ``draws`` is ``(B, len(methods))`` (column ``j``: ``methods[j]``'s AUC in each resample, all
    methods on the same resamples). In every resample the methods are ranked by AUC, ties
    sharing the better (minimum) rank, as in the leaderboard; a NaN AUC ranks last. The
    interval is the percentile interval of a method's bootstrap ranks at ``confidence``,
    ``rank_low`` rounded down and ``rank_high`` up, then widened, if needed, to contain the
    observed rank (a percentile interval of a discrete statistic can miss it). Rows follow
    ``methods``.
    """
    import pandas as pd

    _check_confidence(confidence)
    methods = list(methods)
    draws = np.asarray(draws, dtype=np.float64)
    if draws.ndim != 2 or draws.shape[1] != len(methods):
        raise ValueError(f"draws must have shape (B, {len(methods)}), got {draws.shape}")
    observed = np.array([observed_aucs[m] for m in methods], dtype=np.float64)
    rank = _sps.rankdata(-np.nan_to_num(observed, nan=-np.inf), method="min").astype(int)
    ranks = _sps.rankdata(-np.nan_to_num(draws, nan=-np.inf), axis=1, method="min")
    alpha = 1.0 - confidence
    lo = np.floor(np.quantile(ranks, alpha / 2.0, axis=0)).astype(int) if len(draws) else rank
    hi = np.ceil(np.quantile(ranks, 1.0 - alpha / 2.0, axis=0)).astype(int) if len(draws) else rank
    return pd.DataFrame({"method": methods, "rank": rank, "rank_low": np.minimum(lo, rank),
                         "rank_high": np.maximum(hi, rank)})
