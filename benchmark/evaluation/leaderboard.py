"""The leaderboard: one row per method, ranked by fold-stratified AUC.

A ranked method's row holds its fold-stratified AUC with the duplicate-aware and the image-level
bootstrap intervals, its pooled out-of-fold AUC (secondary), per-fold AUCs, operating points, its rank with the rank's interval, its difference
to the reference, run facts and cost; the reference's row (when the run has one) follows the
ranked methods, and methods without a working configuration come last, unranked. The columns
are described in :func:`leaderboard`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.evaluation.calibration import calibration_columns
from benchmark.evaluation.draws import Draws, bootstrap_draws, fold_aucs
from benchmark.evaluation.reference import reference_comparison
from benchmark.evaluation.run_data import _NAN, CONFIDENCE, RunData, load_run, pooled_aucs
from benchmark.runfolder import OK, REFERENCE_METHOD, external_scores
from benchmark.stats import corner_operating_point, percentile_interval, rank_intervals

__all__ = ["LEADERBOARD_COLUMNS", "REFERENCE_STATUS", "REFERENCE_COLUMNS", "leaderboard"]

REFERENCE_STATUS = "reference (not ranked): logistic regression on the frozen features"
REFERENCE_COLUMNS = ["vs_reference", "vs_reference_ci_low", "vs_reference_ci_high", "vs_reference_p_holm"]
LEADERBOARD_COLUMNS = [
    "method", "rank", "rank_low", "rank_high", "rank_interval", "status", "auc", "auc_ci_low", "auc_ci_high",
    "auc_se", "auc_ci_low_image", "auc_ci_high_image", "auc_pooled", "auc_fold_mean", "auc_fold_sd", "accuracy", "sensitivity",
    "specificity", "accuracy_corner", "sensitivity_corner", "specificity_corner", "trainable_parameters",
    "trainable_parameters_min", "trainable_parameters_max", "trainable_parameters_without_head", "seconds_per_epoch",
    "n_repeats", "n_folds", "n_images", "n_groups"]


def leaderboard(data) -> pd.DataFrame:
    """One row per method: ranked methods best first, then the others (rank empty), by name.

    ``data`` is a :class:`benchmark.evaluation.RunData` or a run folder. Columns (:data:`LEADERBOARD_COLUMNS`,
    then external and cost columns):

    * ``auc``: the **fold-stratified AUC** (the ranked statistic): in each repeat, the AUC over
      the malignant-benign pairs within one fold model's test images only (= the per-fold AUCs
      averaged with weights n_malignant * n_benign of each fold), mean over repeats;
      ``auc_ci_low``/``auc_ci_high``: 95% percentile interval of the duplicate-aware (cluster)
      bootstrap, resampling groups within folds, ``auc_se`` its standard deviation;
      ``auc_ci_low_image``/``auc_ci_high_image``: the naive image-level bootstrap interval,
      for comparison (narrower when duplicates are present);
    * ``auc_pooled`` (secondary): AUC of a repeat's pooled out-of-fold scores, mean over
      repeats; it also compares images scored by different fold models, so it also measures
      whether the fold models agree in scale;
    * ``auc_fold_mean``, ``auc_fold_sd``: mean and SD (ddof=1) of the per-fold test AUCs;
    * ``accuracy``, ``sensitivity``, ``specificity``: pooled over a repeat's folds, each image
      called at the threshold its fold chose on validation data (``threshold`` column of
      ``predictions.csv``), mean over repeats;
    * ``*_corner``: at the ROC point of the pooled scores closest to (0, 1), chosen on the test
      scores themselves - optimistic, for comparison with Byra (2021) only;
    * ``rank`` (1 = highest ``auc``, ties share the better rank), ``rank_low``/``rank_high`` and
      ``rank_interval`` (``"1-4"``): 95% bootstrap interval of the rank
      (:func:`benchmark.stats.rank_intervals`);
    * ``trainable_parameters`` (median over the folds' selected models, with ``_min`` and ``_max``:
      a searched hyper-parameter such as LoRA's rank changes the count),
      ``trainable_parameters_without_head``, ``seconds_per_epoch`` (mean over folds) from ``results.json``;
    * ``status``: ``"ok"``, or why the method is unranked (:func:`benchmark.evaluation.method_status`);
    * per external data set NAME: ``external_NAME_auc``, the **per-model** external AUC (each fold
      model's own AUC on NAME's images, mean over the fold models and repeats), its
      cluster-bootstrap ``external_NAME_ci_low``/``_ci_high`` (groups of NAME's images),
      ``external_NAME_drop`` = ``auc`` minus it (internal fold-stratified minus external
      per-model: positive when the models do worse on NAME), ``external_NAME_auc_ensemble``
      (AUC of the fold models' mean score, :func:`benchmark.runfolder.external_scores`, mean
      over repeats: the ensemble, another statistic), and, when the reference scored NAME,
      ``external_NAME_below_reference`` (against the reference's own predictions on NAME);
    * when the run has the reference (:mod:`benchmark.training.reference`): a row
      :data:`REFERENCE_METHOD` after the ranked methods (status :data:`REFERENCE_STATUS`, no
      rank), and per ranked method ``vs_reference`` (its AUC minus the reference's), its 95%
      CI ``vs_reference_ci_low``/``_ci_high``, ``vs_reference_p_holm`` and ``below_reference``
      (:func:`benchmark.evaluation.reference_comparison`, on the training data set);
    * calibration (:func:`benchmark.evaluation.calibration.calibration_columns`): ``brier``,
      ``calibration_intercept``, ``calibration_slope``, ``ece_adaptive`` (each fold model's, mean over
      the models), the same of the Platt-scaled scores (``platt_*``), each with ``_ci_low``/``_ci_high``
      from the duplicate-group bootstrap; ``ece_adaptive_calibrated`` (and ``platt_``): the ECE of a
      perfectly calibrated model with the same scores, its range over label sets drawn from them;
      per external data set NAME the same prefixed ``external_NAME_``;
    * the columns of ``cost.csv``, when present.
    """
    data = data if isinstance(data, RunData) else load_run(data)
    rows = []
    if data.order:
        boot, naive = bootstrap_draws(data), bootstrap_draws(data, image_level=True)
        pooled = pooled_aucs(data.rows()[data.rows()["method"].isin(data.order)]).groupby(level="method").mean()
        ranks = rank_intervals(boot.observed, boot.draws, boot.methods, CONFIDENCE).set_index("method")
        folds = fold_aucs(data)
        rows = [_ranked_row(data, m, boot, naive, ranks.loc[m], folds, pooled[m]) for m in data.order]
    rows.sort(key=lambda r: (r["rank"], r["method"]))
    if data.reference is not None and data.order:
        rows.append(_reference_row(data))
    unranked = data.status[~data.status["ranked"]].sort_values("method", kind="stable")
    rows += [{"method": r.method, "status": r.status} for r in unranked.itertuples()]
    table = pd.DataFrame(rows, columns=LEADERBOARD_COLUMNS)
    _add_reference(table, data)
    _add_run_facts(table, data)
    for name in data.externals:
        _add_external(table, data, name)
    table = pd.concat([table, calibration_columns(table, data)], axis=1)  # one frame: not column by column
    for col in ("rank", "rank_low", "rank_high", "n_repeats", "n_folds", "n_images", "n_groups",
                "trainable_parameters", "trainable_parameters_min", "trainable_parameters_max",
                "trainable_parameters_without_head"):
        table[col] = table[col].astype("Int64")
    if data.cost is not None and not data.cost.empty:
        extra = data.cost.drop_duplicates("method", keep="last")
        extra = extra[["method"] + [c for c in extra.columns if c != "method" and c not in table.columns]]
        table = table.merge(extra, on="method", how="left")
    return table


def _ranked_row(data: RunData, m: str, boot: Draws, naive: Draws, rank: pd.Series, folds: pd.DataFrame,
                pooled: float) -> dict:
    low, high = int(rank["rank_low"]), int(rank["rank_high"])
    return {"rank": int(rank["rank"]), "rank_low": low, "rank_high": high, "rank_interval": f"{low}-{high}",
            **_auc_row(data.rows()[data.rows()["method"] == m], m, OK, boot, naive, folds, pooled)}


def _reference_row(data: RunData) -> dict:
    """The reference's row: its AUC like a method's, no rank."""
    frame = data.reference[data.reference["dataset"] == data.internal]
    return _auc_row(frame, REFERENCE_METHOD, REFERENCE_STATUS, bootstrap_draws(data, reference=True),
                    bootstrap_draws(data, image_level=True, reference=True), fold_aucs(data, reference=True),
                    float(pooled_aucs(frame).mean()))


def _auc_row(frame: pd.DataFrame, m: str, status: str, boot: Draws, naive: Draws, folds: pd.DataFrame,
             pooled: float) -> dict:
    k = boot.methods.index(m)
    lo, hi = percentile_interval(boot.draws[:, k], CONFIDENCE)
    lo_i, hi_i = percentile_interval(naive.draws[:, k], CONFIDENCE)
    per_fold = folds.loc[folds["method"] == m, "auc"].dropna().to_numpy()
    return {
        "method": m, "status": status, "auc": boot.observed[m], "auc_ci_low": lo, "auc_ci_high": hi,
        "auc_se": float(np.nanstd(boot.draws[:, k], ddof=1)) if len(boot.draws) > 1 else _NAN,
        "auc_ci_low_image": lo_i, "auc_ci_high_image": hi_i, "auc_pooled": float(pooled),
        "auc_fold_mean": float(per_fold.mean()) if per_fold.size else _NAN,
        "auc_fold_sd": float(np.std(per_fold, ddof=1)) if per_fold.size > 1 else _NAN,
        **_threshold_metrics(frame), **_corner_metrics(frame),
        "n_repeats": int(frame["repeat"].nunique()), "n_folds": len(frame[["repeat", "fold"]].drop_duplicates()),
        "n_images": int(frame["image_id"].nunique()), "n_groups": int(frame["group"].nunique()),
    }


def _threshold_metrics(frame: pd.DataFrame) -> dict:
    """Pooled accuracy, sensitivity, specificity at each fold's validation threshold, mean over repeats."""
    out = {"accuracy": [], "sensitivity": [], "specificity": []}
    for _, g in frame.groupby("repeat"):
        called = g["score"].to_numpy() >= g["threshold"].to_numpy()
        y = g["label"].to_numpy() == 1
        out["accuracy"].append(float((called == y).mean()))
        out["sensitivity"].append(float(called[y].mean()) if y.any() else _NAN)
        out["specificity"].append(float((~called[~y]).mean()) if (~y).any() else _NAN)
    return {k: float(np.mean(v)) if v else _NAN for k, v in out.items()}


def _corner_metrics(frame: pd.DataFrame) -> dict:
    """The ROC point closest to (0, 1) of each repeat's pooled scores, mean over repeats."""
    points = [corner_operating_point(g["label"], g["score"]) for _, g in frame.groupby("repeat")
              if g["label"].nunique() == 2]
    return {f"{k}_corner": float(np.mean([p[k] for p in points])) if points else _NAN
            for k in ("accuracy", "sensitivity", "specificity")}


def _add_reference(table: pd.DataFrame, data: RunData) -> None:
    for col in REFERENCE_COLUMNS:
        table[col] = _NAN
    table["below_reference"] = pd.array([pd.NA] * len(table), dtype="boolean")
    comparison = reference_comparison(data, data.internal)
    for r in comparison.itertuples():
        i = table.index[table["method"] == r.method][0]
        table.loc[i, REFERENCE_COLUMNS] = [r.difference, r.ci_low, r.ci_high, r.p_holm]
        table.loc[i, "below_reference"] = bool(r.below)


def _add_run_facts(table: pd.DataFrame, data: RunData) -> None:
    runs = data.runs
    for i, m in enumerate(table["method"]):
        per = runs[runs["method"] == m]
        if per.empty:
            continue
        # a searched hyper-parameter (LoRA's rank) can give each fold's selected model its own size
        for col in ("trainable_parameters", "trainable_parameters_without_head"):
            table.loc[i, col] = _median_int(per[col])
        counts = per["trainable_parameters"].dropna()
        table.loc[i, "trainable_parameters_min"] = int(counts.min()) if len(counts) else pd.NA
        table.loc[i, "trainable_parameters_max"] = int(counts.max()) if len(counts) else pd.NA
        spe = per["seconds_per_epoch"].dropna()
        table.loc[i, "seconds_per_epoch"] = float(spe.mean()) if len(spe) else _NAN


def _add_external(table: pd.DataFrame, data: RunData, name: str) -> None:
    prefix = f"external_{name}"
    for col in ("auc", "ci_low", "ci_high", "drop", "auc_ensemble"):
        table[f"{prefix}_{col}"] = _NAN
    if not data.order:
        return
    reference = data.reference is not None and (data.reference["dataset"] == name).any()
    boot = bootstrap_draws(data, name, reference=reference)
    ensemble = pooled_aucs(external_scores(data.rows(name), name)).groupby(level="method").mean()
    for i, m in enumerate(table["method"]):
        if m not in boot.observed:
            continue
        lo, hi = percentile_interval(boot.draws[:, boot.methods.index(m)], CONFIDENCE)
        table.loc[i, [f"{prefix}_auc", f"{prefix}_ci_low", f"{prefix}_ci_high", f"{prefix}_drop",
                      f"{prefix}_auc_ensemble"]] = [boot.observed[m], lo, hi, table.loc[i, "auc"] - boot.observed[m],
                                                    ensemble.get(m, _NAN)]
    if reference:  # flagged only against the reference's own predictions on this data set
        table[f"{prefix}_below_reference"] = pd.array([pd.NA] * len(table), dtype="boolean")
        for r in reference_comparison(data, name).itertuples():
            table.loc[table.index[table["method"] == r.method][0], f"{prefix}_below_reference"] = bool(r.below)


def _median_int(values: pd.Series):
    """The median over the selected models of a method's folds (a count: rounded)."""
    v = values.dropna()
    return int(round(float(v.median()))) if len(v) else pd.NA
