"""Decision curves of every ranked method (and the reference) on every data set of a run.

Net benefit (:func:`benchmark.stats.net_benefit`) of biopsying the lesions whose predicted risk is at
least the threshold probability ``pt``, over :data:`THRESHOLDS` (0.02 to 0.50 by 0.01), beside
"biopsy all" (:data:`BIOPSY_ALL`) and "biopsy none" (:data:`BIOPSY_NONE`, 0). The risks are the
prior-corrected scores (``prior_corrected`` of :func:`benchmark.evaluation.calibration.scored_rows`: the
class-weighted training's prior shift removed) of a method whose every study has them, else its own scores
(a record without the training split's class counts has no shift); the table's ``scores`` column says which
(:func:`risk_scores`). On the training data set the out-of-fold scores of a repeat are
pooled (each image once), the net benefit averaged over repeats; on an external set each fold model's
net benefit on every image, averaged over the fold models and repeats (as the per-model AUC). The
interval is the percentile interval of the duplicate-group bootstrap the calibration uses
(:func:`benchmark.stats.cluster_bootstrap_weights`, within folds on the training data set, seed
:data:`~benchmark.evaluation.draws.BOOTSTRAP_SEED`). ``prevalence`` is the data set's: the net benefit
is for a population with that fraction of cancers, which for BUSI is not a clinic's.

:func:`net_benefit_ranges` summarises the curves: per method the lowest and highest ``pt`` of the grid
at which its net benefit exceeds both biopsy all and biopsy none.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from benchmark.evaluation.calibration import scored_rows
from benchmark.evaluation.draws import _methods, image_resamples, reference_scored
from benchmark.evaluation.run_data import _NAN, CONFIDENCE, RunData
from benchmark.runfolder import score_table
from benchmark.stats import net_benefit, percentile_interval, treat_all_net_benefit

__all__ = ["THRESHOLDS", "BIOPSY_ALL", "BIOPSY_NONE", "PRIOR_CORRECTED", "CURVE_COLUMNS", "RANGE_COLUMNS",
           "risk_scores", "decision_curves", "net_benefit_ranges"]

THRESHOLDS = np.round(np.arange(0.02, 0.505, 0.01), 2)  # threshold probabilities pt: 0.02, 0.03, ..., 0.50
BIOPSY_ALL, BIOPSY_NONE = "biopsy all", "biopsy none"   # the strategies every model is compared with
PRIOR_CORRECTED = "prior_corrected"                     # scored_rows' column of prior-corrected risks
CURVE_COLUMNS = ["dataset", "method", "scores", "threshold", "net_benefit", "ci_low", "ci_high", "prevalence",
                 "n_images"]
RANGE_COLUMNS = ["dataset", "method", "scores", "pt_low", "pt_high", "n_thresholds", "n_grid", "prevalence"]


def risk_scores(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """``frame`` (scored_rows') with ``score`` replaced by the risk each method's curve is drawn on, and
    ``{method: "prior-corrected" or "raw"}``: the prior-corrected scores of a method that has them for every row,
    else its own scores (never a mix within a method); "raw" too where the correction changed nothing (a model
    trained without class weights, and the reference)."""
    if PRIOR_CORRECTED not in frame.columns:
        return frame, {m: "raw" for m in frame["method"].unique()}
    complete = frame[PRIOR_CORRECTED].notna().groupby(frame["method"]).all()
    shifted = (frame[PRIOR_CORRECTED] != frame["score"]).groupby(frame["method"]).any()  # no class weights: the same
    kinds = {m: "prior-corrected" if ok and shifted[m] else "raw" for m, ok in complete.items()}
    use = frame["method"].map(complete).fillna(False).astype(bool).to_numpy()
    return frame.assign(score=np.where(use, frame[PRIOR_CORRECTED].to_numpy(dtype=float),
                                       frame["score"].to_numpy(dtype=float))), kinds


def _per_method(frame: pd.DataFrame, methods, per_model: bool, weights: np.ndarray, y: np.ndarray) -> dict:
    """``method -> (1 + B, len(THRESHOLDS))``: the net benefit of each column (a repeat's pooled scores, or a fold
    model's), mean over a method's columns; row 0 observed, then one row per bootstrap resample."""
    if per_model:
        k = int(frame["fold"].max()) + 1
        frame = frame.assign(repeat=frame["repeat"] * k + frame["fold"])
    _, columns, matrix = score_table(frame, methods)
    collected: dict = {}
    for j, (m, _) in enumerate(columns):
        keep = np.isfinite(matrix[:, j])
        if keep.any():
            collected.setdefault(m, []).append(net_benefit(y[keep], matrix[keep, j], THRESHOLDS, weights[:, keep]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {m: np.nanmean(np.stack(v), axis=0) for m, v in collected.items()}


def decision_curves(data: RunData) -> pd.DataFrame:
    """Tidy (:data:`CURVE_COLUMNS`): the net benefit of every data set, method (then :data:`BIOPSY_ALL` and
    :data:`BIOPSY_NONE`) and threshold probability of :data:`THRESHOLDS`, with its interval. Cached on ``data``."""
    if "decision_curves" in data.cache:
        return data.cache["decision_curves"]
    out = []
    for dataset in ([data.internal] + list(data.externals)) if data.order else []:
        frame = scored_rows(data, dataset)
        if frame.empty:
            continue
        frame, kinds = risk_scores(frame)
        methods = _methods(data, reference_scored(data, dataset))
        internal = dataset == data.internal
        images = frame.drop_duplicates("image_id").sort_values("image_id", kind="stable")  # score_table's order
        y = images["label"].to_numpy()
        weights = image_resamples(data, dataset, images, data.n_bootstrap)
        curves = _per_method(frame, methods, not internal, weights, y)
        curves[BIOPSY_ALL] = treat_all_net_benefit(y, THRESHOLDS, weights)
        curves[BIOPSY_NONE] = np.zeros((1, THRESHOLDS.size))
        prevalence = float(y.mean())
        for m, values in curves.items():
            for i, pt in enumerate(THRESHOLDS):
                lo, hi = percentile_interval(values[1:, i], CONFIDENCE) if len(values) > 1 else (0.0, 0.0)
                out.append([dataset, m, kinds.get(m, ""), float(pt), float(values[0, i]), lo, hi, prevalence, len(images)])
    data.cache["decision_curves"] = pd.DataFrame(out, columns=CURVE_COLUMNS)
    return data.cache["decision_curves"]


def net_benefit_ranges(curves: pd.DataFrame) -> pd.DataFrame:
    """Per data set and method of ``curves`` (:func:`decision_curves`' table): the lowest and highest threshold
    probability of the grid at which its net benefit exceeds both biopsy all and biopsy none (``pt_low``,
    ``pt_high``; NaN at none), at how many of the grid's ``n_grid`` thresholds it does (``n_thresholds``: fewer
    than the span holds when the range has gaps), and the data set's prevalence (:data:`RANGE_COLUMNS`)."""
    out = []
    for dataset, part in curves.groupby("dataset", sort=False):
        best = (part[part["method"].isin([BIOPSY_ALL, BIOPSY_NONE])].groupby("threshold")["net_benefit"].max())
        for m, rows in part[~part["method"].isin([BIOPSY_ALL, BIOPSY_NONE])].groupby("method", sort=False):
            wins = rows.loc[rows["net_benefit"].to_numpy() > best.reindex(rows["threshold"]).to_numpy(), "threshold"]
            out.append([dataset, m, rows["scores"].iloc[0], float(wins.min()) if len(wins) else _NAN,
                        float(wins.max()) if len(wins) else _NAN, len(wins), len(rows),
                        float(rows["prevalence"].iloc[0])])
    return pd.DataFrame(out, columns=RANGE_COLUMNS)
