"""A run folder's tables, read and validated, and which of its methods are ranked.

:func:`load_run` reads what the training side wrote (:mod:`benchmark.runfolder`) into a
:class:`RunData`: predictions, studies, per-fold results, cost, the reference's scores, each
method's status (:func:`method_status`: only a method with a working configuration and
predictions for every fold is ranked) and the ranked methods, best first by fold-stratified AUC
(:func:`fold_stratified_aucs`). Every comparison
downstream is paired, so a run whose ranked methods (or reference) were scored on different
images is refused here, with the reason. :class:`RunData` also caches the bootstrap draws that
the tables share (:mod:`benchmark.evaluation.draws`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.runfolder import (
    OK,
    PREDICTIONS_FILE,
    REFERENCE_FILE,
    external_datasets,
    internal_dataset,
    load_predictions,
    load_reference,
    load_runs,
    load_studies,
    read_cost,
    read_suite,
)
from benchmark.stats import roc_auc, stratified_auc

__all__ = [
    "ALPHA", "CONFIDENCE", "NO_WORKING", "RunData", "load_run", "method_status", "method_order",
    "default_n_bootstrap", "paired_bootstrap_resamples", "pooled_aucs", "fold_stratified_aucs", "with_predictions",
]

ALPHA = 0.05
CONFIDENCE = 0.95
DEFAULT_N_BOOTSTRAP = 1000
NO_WORKING = "no working configuration found"
_NAN = float("nan")


@dataclass
class RunData:
    """A run folder's tables, validated (see :func:`load_run`)."""

    run_dir: Path
    suite: dict
    predictions: pd.DataFrame
    studies: pd.DataFrame
    runs: pd.DataFrame
    cost: pd.DataFrame | None
    n_bootstrap: int
    internal: str
    externals: list[str]
    status: pd.DataFrame                      # method, status, ranked
    order: list[str] = field(default_factory=list)  # ranked methods, best first
    reference: pd.DataFrame | None = None     # reference_predictions.csv (benchmark.training.reference), if any
    train_size: str | None = None             # [data] train_sizes: the training-set size read; None: the run has none
    cache: dict = field(default_factory=dict, repr=False)

    def rows(self, dataset: str | None = None) -> pd.DataFrame:
        """Prediction rows of one data set (default: the training one)."""
        return self.predictions[self.predictions["dataset"] == (dataset or self.internal)]

    def paired_resamples(self) -> int:
        return paired_bootstrap_resamples(math.comb(len(self.order), 2), self.n_bootstrap)


def default_n_bootstrap(run_dir) -> int:
    """The profile's ``evaluation.n_bootstrap`` (``suite.json``), else 1000."""
    n = ((read_suite(run_dir).get("profile") or {}).get("evaluation") or {}).get("n_bootstrap")
    return int(n) if n is not None else DEFAULT_N_BOOTSTRAP


def paired_bootstrap_resamples(n_pairs: int, n_bootstrap: int) -> int:
    """Resamples B of the paired bootstrap over ``n_pairs`` pairs.

    Its p-value cannot fall below 2 / (B + 1), so with Holm's correction over m pairs no
    difference could pass unless 2m / (B + 1) < alpha. B is chosen so that this smallest
    attainable adjusted p is a tenth of alpha (B >= 20 m / alpha), and is at least 10,000 and
    at least ``n_bootstrap``.
    """
    return max(int(n_bootstrap), 10_000, math.ceil(20 * max(n_pairs, 1) / ALPHA))


def method_status(predictions: pd.DataFrame, studies: pd.DataFrame, internal: str) -> pd.DataFrame:
    """Each method's status: ``method, status, ranked``, in order of first appearance.

    ``"ok"`` (ranked) when every study of the method in ``studies.csv`` is ok and it has
    out-of-fold predictions for every (repeat, fold) any method has; ``"no working
    configuration found: <reason>"`` when a study's status is not ok (the reasons of its
    failed studies) or it has no predictions; ``"incomplete: ..."`` when folds are missing
    (a suite still running). Only ranked methods enter the leaderboard's ranks and the
    significance tests.
    """
    inner = predictions[predictions["dataset"] == internal]
    methods = list(dict.fromkeys(list(studies["method"]) + list(inner["method"])))
    expected = set(map(tuple, inner[["repeat", "fold"]].drop_duplicates().to_numpy().tolist()))
    rows = []
    for m in methods:
        failed = studies[(studies["method"] == m) & (studies["status"] != OK)]
        have = set(map(tuple, inner.loc[inner["method"] == m, ["repeat", "fold"]].drop_duplicates()
                       .to_numpy().tolist()))
        if not failed.empty:
            reasons = [str(r).strip() or str(s) for r, s in zip(failed["reason"].fillna(""), failed["status"])]
            n_studies = int((studies["method"] == m).sum())
            status = f"{NO_WORKING}: {'; '.join(dict.fromkeys(reasons))} ({len(failed)} of {n_studies} studies)"
        elif not have:
            status = f"{NO_WORKING}: no predictions in {PREDICTIONS_FILE}"
        elif have != expected:
            status = f"incomplete: predictions for {len(have)} of {len(expected)} folds"
        else:
            status = OK
        rows.append({"method": m, "status": status, "ranked": status == OK})
    return pd.DataFrame(rows, columns=["method", "status", "ranked"])


def pooled_aucs(frame: pd.DataFrame) -> pd.Series:
    """AUC of the pooled scores of each (method, repeat) (NaN where a class is missing)."""
    def auc(g):
        return roc_auc(g["label"], g["score"]) if g["label"].nunique() == 2 else _NAN
    return frame.groupby(["method", "repeat"])[["label", "score"]].apply(auc)


def fold_stratified_aucs(frame: pd.DataFrame) -> pd.Series:
    """Fold-stratified AUC of each (method, repeat): pairs within one fold model's test images only
    (:func:`benchmark.stats.stratified_auc`; NaN where no fold holds both classes)."""
    def auc(g):
        has_pairs = (g.groupby("fold")["label"].nunique() == 2).any()
        return stratified_auc(g["label"], g["score"], g["fold"]) if has_pairs else _NAN
    return frame.groupby(["method", "repeat"])[["label", "score", "fold"]].apply(auc)


def method_order(data: RunData) -> list[str]:
    """Ranked methods by fold-stratified AUC (mean over repeats), best first (ties by name)."""
    return list(data.order)


def load_run(run_dir, n_bootstrap: int | None = None, train_size: str | None = None) -> RunData:
    """Read and validate a run folder (:mod:`benchmark.runfolder`) and rank its working methods.

    ``n_bootstrap`` defaults to the profile's (``suite.json``), else 1000; it sets the
    bootstrap of the paper's Wilcoxon test and the least number of paired resamples
    (:func:`paired_bootstrap_resamples`). A ranked method must have been scored on the same
    images with the same labels as every other in each repeat (``ValueError`` otherwise).

    A data-efficiency run (``[data] train_sizes``) is read at one training-set size: ``train_size``,
    by default the leaderboard's (``"all"`` when it has it, else the largest;
    :mod:`benchmark.runfolder.sizes`).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    predictions = load_predictions(run_dir, train_size=train_size)
    studies = load_studies(run_dir, train_size=train_size)
    internal = internal_dataset(run_dir, predictions)
    status = method_status(predictions, studies, internal)
    data = RunData(run_dir=run_dir, suite=read_suite(run_dir), predictions=predictions, studies=studies,
                   runs=load_runs(run_dir, train_size=train_size), cost=read_cost(run_dir),
                   n_bootstrap=int(n_bootstrap if n_bootstrap is not None else default_n_bootstrap(run_dir)),
                   internal=internal, externals=external_datasets(run_dir, predictions), status=status,
                   reference=load_reference(run_dir, train_size),
                   train_size=predictions["train_size"].iloc[0] if "train_size" in predictions and len(predictions)
                   else None)
    return _ranked(data)


def with_predictions(data: RunData, predictions: pd.DataFrame) -> RunData:
    """``data`` with other predictions (the same columns; e.g. the trials a smaller search budget would have
    selected): statuses, ranking and checks redone, no cached draws; the external sets are those the new
    predictions score."""
    scored = set(predictions["dataset"])
    return _ranked(replace(data, predictions=predictions, status=method_status(predictions, data.studies,
                                                                               data.internal),
                           externals=[d for d in data.externals if d in scored], order=[], cache={}))


def _ranked(data: RunData) -> RunData:
    """Check that the ranked methods (and the reference) scored the same images, and rank them."""
    ranked = list(data.status.loc[data.status["ranked"], "method"])
    _check_same_images(data, ranked)
    if data.reference is not None and ranked:
        _check_reference(data, ranked[0])
    if ranked:
        means = fold_stratified_aucs(data.rows()[data.rows()["method"].isin(ranked)]).groupby(level="method").mean()
        data.order = sorted(ranked, key=lambda m: (-np.nan_to_num(means[m], nan=-1.0), m))
    return data


def _check_same_images(data: RunData, methods: list[str]) -> None:
    inner = data.rows()
    for repeat, part in inner[inner["method"].isin(methods)].groupby("repeat"):
        ref = None
        for m in methods:
            ids = set(part.loc[part["method"] == m, "image_id"])
            if ref is None:
                ref, first = ids, m
            elif ids != ref:
                only_here, only_ref = sorted(ids - ref), sorted(ref - ids)
                raise ValueError(
                    f"{data.run_dir / PREDICTIONS_FILE}: repeat {repeat}: {m!r} and {first!r} were scored on different "
                    f"images ({len(only_here)} only in {m!r}, {len(only_ref)} only in {first!r}, e.g. "
                    f"{(only_here + only_ref)[:3]}); paired comparisons need the same images - were the methods run "
                    "with different data or partitions?")


def _check_reference(data: RunData, method: str) -> None:
    """The reference must have scored the same images as the ranked methods, in every repeat."""
    inner = data.rows()
    for repeat, part in inner[inner["method"] == method].groupby("repeat"):
        ref = data.reference[(data.reference["dataset"] == data.internal) & (data.reference["repeat"] == repeat)]
        if set(ref["image_id"]) != set(part["image_id"]):
            raise ValueError(f"{data.run_dir / REFERENCE_FILE}: repeat {repeat} does not score the images the methods "
                             f"scored ({ref['image_id'].nunique()} vs {part['image_id'].nunique()}); compute it again "
                             f"with `petl-bench reference {data.run_dir}`")
