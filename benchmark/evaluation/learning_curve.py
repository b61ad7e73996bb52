"""The learning curve of a data-efficiency run: each method's AUC at each training-set size.

A run with ``[data] train_sizes`` trained every method on nested subsets of each fold's training
images (:mod:`benchmark.data.subsample`), with the same validation and test images at every
size. :func:`learning_curve` reads ``predictions.csv`` one size at a time
(:func:`benchmark.evaluation.load_run` with ``train_size``) and computes, per size, method and
data set, the leaderboard's own statistic with its interval (:func:`benchmark.evaluation.draws.bootstrap_draws`,
the same draws and seed): on the training data set the fold-stratified AUC, on an external set
the per-model AUC. So the row of the leaderboard's size repeats the leaderboard's ``auc``,
``auc_ci_low`` and ``auc_ci_high`` (or ``external_<name>_*``) exactly. The logistic-regression
reference (:mod:`benchmark.training.reference`), fitted per fold on the images of that size, has
its row at each size too (``status`` ``"reference"``): the simple baseline every method is held
against, at the amount of data the method had.

:func:`size_lead` answers "which method leads at the smallest size, and does the lead survive?":
the leader at a size against every other ranked method under the method-level test
(:mod:`benchmark.evaluation.method_level`, with the partition's own size ratio at every size),
Holm-corrected over all pairs of ranked methods at that size, as ``significance.csv`` is at the
leaderboard's size; and, in its last row, the leader against the reference at that size
(:func:`benchmark.evaluation.reference.reference_comparison`, the same test, Holm over the ranked
methods against the reference, as the leaderboard's reference comparison).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.evaluation.draws import bootstrap_draws
from benchmark.evaluation.method_level import probability_best
from benchmark.evaluation.pairwise import PRIMARY_TEST, _method_level_rows
from benchmark.evaluation.reference import reference_comparison
from benchmark.evaluation.run_data import ALPHA, CONFIDENCE, _NAN, load_run
from benchmark.runfolder import REFERENCE_METHOD, load_predictions
from benchmark.runfolder.sizes import sizes_of
from benchmark.stats import holm_correction, percentile_interval

__all__ = ["LEARNING_CURVE_COLUMNS", "learning_curve", "LEAD_COLUMNS",
           "size_lead", "REFERENCE_STATUS"]

LEARNING_CURVE_COLUMNS = ["dataset", "statistic", "method", "train_size", "n_train_images", "n_train_min",
                          "n_train_max", "auc", "ci_low", "ci_high", "n_folds", "n_repeats", "status"]
REFERENCE_STATUS = "reference"  # learning_curve.csv's status of the reference's rows
LEAD_COLUMNS = ["dataset", "train_size", "test", "leader", "method", "auc_leader", "auc_method", "difference",
                "ci_low", "ci_high", "p", "p_holm", "significant", "below_reference", "prob_best_leader", "prob_best"]


def learning_curve(run_dir, n_bootstrap: int | None = None) -> pd.DataFrame | None:
    """One row per (data set, method, training-set size), sizes smallest first; None when the run has
    no sizes (no ``train_size`` column in ``predictions.csv``).

    Columns (:data:`LEARNING_CURVE_COLUMNS`): ``dataset`` (the training data set first, then each
    external set), ``statistic`` (``fold_stratified`` or ``per_model``), ``method``, ``train_size``
    (the size's label, ``"all"`` for the whole training part), ``n_train_images`` (mean over the fold
    models of the images each was trained on; ``n_train_min``/``_max`` their range: whole groups
    make a subset's size approximate, and ``"all"`` differs by fold), ``auc`` with its 95%
    cluster-bootstrap interval ``ci_low``/``ci_high``, ``n_folds`` (fold models), ``n_repeats``, and
    ``status`` (``"ok"``, or why the method is unranked at that size: its AUC is then empty; for the
    reference, :data:`REFERENCE_STATUS`, where the run folder has the reference at that size).
    """
    run_dir = Path(run_dir)
    sizes = sizes_of(load_predictions(run_dir, every_size=True))
    if not sizes:
        return None
    rows = []
    for size in sizes:
        data = load_run(run_dir, n_bootstrap, train_size=size)
        for dataset in [data.internal, *data.externals]:
            boot = bootstrap_draws(data, dataset) if data.order else None
            frame = data.rows(dataset)
            for m, status in zip(data.status["method"], data.status["status"]):
                models = frame.loc[frame["method"] == m].drop_duplicates(["repeat", "fold"])
                rows.append(_row(data, dataset, size, m, status, models, _n_train(models), boot))
            if boot is not None:
                rows += _reference_rows(data, dataset, size)
    table = pd.DataFrame(rows, columns=LEARNING_CURVE_COLUMNS)
    for col in ("n_train_min", "n_train_max"):
        table[col] = table[col].astype("Int64")
    order = {d: i for i, d in enumerate(dict.fromkeys(table["dataset"]))}
    table["_d"] = table["dataset"].map(order)
    table["_s"] = table["train_size"].map({s: i for i, s in enumerate(sizes)})
    table = table.sort_values(["_d", "method", "_s"], kind="stable").drop(columns=["_d", "_s"])
    table["auc"] = table["auc"].astype(float)
    return table.reset_index(drop=True)


def _n_train(models: pd.DataFrame) -> pd.Series:
    """The number of training images of each fold model (one row per model), where recorded."""
    if "n_train" not in models.columns:
        return pd.Series(dtype=float)
    return pd.to_numeric(models["n_train"], errors="coerce").dropna()


def _row(data, dataset: str, size: str, method: str, status: str, models: pd.DataFrame, n_train: pd.Series,
         boot) -> dict:
    """One row of :data:`LEARNING_CURVE_COLUMNS`: ``method``'s AUC and 95% interval from the draws ``boot``
    (empty where it has none), over its fold models ``models`` trained on ``n_train`` images each."""
    auc, lo, hi = _NAN, _NAN, _NAN
    if boot is not None and method in boot.observed:
        auc = boot.observed[method]
        lo, hi = percentile_interval(boot.draws[:, boot.methods.index(method)], CONFIDENCE)
    return {"dataset": dataset, "statistic": "fold_stratified" if dataset == data.internal else "per_model",
            "method": method, "train_size": size,
            "n_train_images": float(n_train.mean()) if len(n_train) else _NAN,
            "n_train_min": int(n_train.min()) if len(n_train) else pd.NA,
            "n_train_max": int(n_train.max()) if len(n_train) else pd.NA,
            "auc": auc, "ci_low": lo, "ci_high": hi, "n_folds": len(models),
            "n_repeats": int(models["repeat"].nunique()), "status": status}


def _reference_rows(data, dataset: str, size: str) -> list[dict]:
    """The reference's row of one size and data set (none where the run folder has no reference there)."""
    if data.reference is None or not (data.reference["dataset"] == dataset).any():
        return []
    models = data.reference[data.reference["dataset"] == dataset].drop_duplicates(["repeat", "fold"])
    n_train = _n_train(models)
    if n_train.empty:  # a reference written before it had sizes: fitted on the whole training part
        n_train = _n_train(data.rows().drop_duplicates(["method", "repeat", "fold"]))
    return [_row(data, dataset, size, REFERENCE_METHOD, REFERENCE_STATUS, models, n_train,
                 bootstrap_draws(data, dataset, reference=True))]


def size_lead(run_dir, train_size: str | None = None, n_bootstrap: int | None = None) -> pd.DataFrame | None:
    """The leader at ``train_size`` (default: the smallest size) against every other ranked method.

    One row per other ranked method, runner-up first (:data:`LEAD_COLUMNS`): ``leader`` (the method
    ranked first at that size), ``method``, both mean per-fold-model AUCs, ``difference`` (leader minus
    method), ``ci_low``/``ci_high`` (the method-level test's 95% interval), ``p``, ``p_holm`` (Holm over
    every pair of ranked methods at that size) and ``significant`` (``p_holm`` < 0.05), under ``test``,
    the method-level test, and ``below_reference``: the method is significantly below the reference at
    that size (empty without a reference). The leader is picked after seeing the data, so its wins are
    descriptive; what answers "which method is best with so few images" is ``prob_best_leader`` and
    ``prob_best``: each one's posterior probability of the highest mean AUC among all ranked methods
    and the reference (:func:`benchmark.evaluation.method_level.probability_best`). None when the run has
    no sizes or fewer than two methods are ranked at that size.
    """
    run_dir = Path(run_dir)
    sizes = sizes_of(load_predictions(run_dir, every_size=True))
    if not sizes:
        return None
    size = sizes[0] if train_size is None else str(train_size)
    data = load_run(run_dir, n_bootstrap, train_size=size)
    if len(data.order) < 2:
        return None
    pairs = [(a, b) for i, a in enumerate(data.order) for b in data.order[i + 1:]]
    test = PRIMARY_TEST
    rows = pd.DataFrame(_method_level_rows(data, data.internal, pairs, CONFIDENCE))
    rows["p_holm"] = holm_correction(rows["p"].to_numpy(dtype=float))
    leader = data.order[0]
    rows = rows[rows["method_a"] == leader].set_index("method_b").loc[data.order[1:]].reset_index()
    lead = pd.DataFrame({
        "dataset": data.internal, "train_size": size, "test": test, "leader": leader, "method": rows["method_b"],
        "auc_leader": rows["auc_a"].astype(float), "auc_method": rows["auc_b"].astype(float),
        "difference": rows["difference"].astype(float), "ci_low": rows["ci_low"].astype(float),
        "ci_high": rows["ci_high"].astype(float), "p": rows["p"].astype(float), "p_holm": rows["p_holm"],
        "significant": (rows["p_holm"] < ALPHA).fillna(False).astype(bool)}, columns=LEAD_COLUMNS)
    versus = reference_comparison(data)
    candidates = data.order + ([] if versus.empty else [REFERENCE_METHOD])
    best = probability_best(data, candidates)
    lead["prob_best_leader"], lead["prob_best"] = best[leader], lead["method"].map(best).to_numpy(dtype=float)
    if versus.empty:
        return lead
    lead["below_reference"] = lead["method"].map(versus.set_index("method")["below"]).fillna(False).astype(bool)
    r = versus.set_index("method").loc[leader]
    auc_leader = lead["auc_leader"].iloc[0]  # mean per-fold AUCs, as the method-level test compares them
    row = {"dataset": data.internal, "train_size": size, "test": PRIMARY_TEST, "leader": leader,
           "method": REFERENCE_METHOD, "auc_leader": auc_leader, "auc_method": auc_leader - r["difference"],
           "difference": r["difference"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "p": r["p"],
           "p_holm": r["p_holm"], "significant": bool(r["p_holm"] < ALPHA), "below_reference": pd.NA,
           "prob_best_leader": best[leader], "prob_best": best[REFERENCE_METHOD]}
    return pd.concat([lead, pd.DataFrame([row], columns=LEAD_COLUMNS)], ignore_index=True)
