"""Leaderboard and pairwise significance of one run folder, from ``predictions.csv`` alone.

Everything here reads only what the training side wrote (:mod:`benchmark.runfolder`:
``suite.json``, ``predictions.csv``, ``studies.csv``, ``runs/*/repeat-*/fold-*/results.json``,
optionally ``cost.csv``), so a report can be rebuilt at any time, on any machine.

* :func:`load_run` - the run folder's tables, validated, with each method's status;
* :func:`leaderboard` - one row per method: pooled out-of-fold AUC with duplicate-aware and
  image-level bootstrap intervals, per-fold AUCs, operating points, rank with its interval,
  cost, status; methods without a working configuration at the bottom, unranked;
* :func:`significance` - every pair of ranked methods, every test, Holm-corrected per family;
* :func:`summary_sentences` - the differences that survive Holm correction, in words;
* :func:`reference_comparison` - every ranked method against the logistic-regression reference
  on the frozen features (:mod:`benchmark.reference`), when the run has it: a method
  significantly below it is flagged, and wins over it are not claimed as evidence;
* :func:`write_leaderboard` - ``leaderboard.csv|md|html``, ``significance.csv``, ``figures/*.png``
  (the pages are rendered by :mod:`benchmark.leaderboard_pages`, the figures by
  :mod:`benchmark.figures`).

The statistic ranked is the **pooled out-of-fold AUC**: in each repeat of k-fold
cross-validation every image is scored once, by the model that did not see it; the AUC of
those scores (one per image) is averaged over repeats. Its uncertainty comes from a stratified
bootstrap of duplicate *groups* (:func:`benchmark.stats.cluster_bootstrap_aucs`), the same
resamples for every method (paired) and every repeat, so the intervals, the paired
differences and the rank intervals all come from one set of draws. Statistics come from
:mod:`benchmark.metrics` and :mod:`benchmark.stats`; nothing is re-implemented here.
Bootstrap seeds are fixed (:data:`BOOTSTRAP_SEED`), so rebuilding gives identical numbers.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from .io import write_csv_atomic, write_text_atomic
from .metrics import corner_operating_point, roc_auc
from .runfolder import (
    COST_FILE,
    FAILED_FILE,
    OK,
    PREDICTIONS_FILE,
    REFERENCE_FILE,
    REFERENCE_METHOD,
    RESULTS_FILE,
    STUDIES_FILE,
    SUITE_FILE,
    external_datasets,
    external_scores,
    internal_dataset,
    load_predictions,
    load_reference,
    load_runs,
    load_studies,
    read_cost,
    read_suite,
    refresh_tables,
    score_table,
)
from .stats import (
    bootstrap_wilcoxon_test,
    cluster_bootstrap_aucs,
    delong_test,
    holm_correction,
    nadeau_bengio_ttest,
    paired_differences,
    percentile_interval,
    rank_intervals,
)

__all__ = [
    "ALPHA", "CONFIDENCE", "PRIMARY_TEST", "TESTS", "TEST_LABELS", "SIGNIFICANCE_COLUMNS", "RunData",
    "load_run", "load_predictions", "load_studies", "load_runs", "external_scores", "method_status",
    "fold_aucs", "bootstrap_draws", "leaderboard", "significance", "summary_sentences", "method_order",
    "reference_comparison", "reference_sentences", "REFERENCE_METHOD", "REFERENCE_FILE",
    "pooled_scores", "default_n_bootstrap", "paired_bootstrap_resamples", "nadeau_bengio_sizes", "fmt_p",
    "write_leaderboard",
    "RESULTS_FILE", "PREDICTIONS_FILE", "COST_FILE", "SUITE_FILE", "STUDIES_FILE", "FAILED_FILE",
]

ALPHA = 0.05
CONFIDENCE = 0.95
DEFAULT_N_BOOTSTRAP = 1000
BOOTSTRAP_SEED = 0
NO_WORKING = "no working configuration found"

# Test names in significance tables, in reporting order; the first is the primary test.
TESTS = ("cluster_bootstrap", "delong", "nadeau_bengio", "bootstrap_wilcoxon")
PRIMARY_TEST = TESTS[0]
TEST_LABELS = {
    "cluster_bootstrap": "paired cluster bootstrap",
    "delong": "DeLong (assumes independent images)",
    "nadeau_bengio": "corrected resampled t-test over folds (Nadeau & Bengio)",
    "bootstrap_wilcoxon": "bootstrap Wilcoxon rank-sum (Byra 2021)",
}
SIGNIFICANCE_COLUMNS = ["dataset", "method_a", "method_b", "test", "repeat", "auc_a", "auc_b", "difference",
                        "statistic", "ci_low", "ci_high", "p", "p_holm", "significant", "b_below_reference"]
_NAN = float("nan")


# ------------------------------------------------------------------------------ loading
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
    reference: pd.DataFrame | None = None     # reference_predictions.csv (benchmark.reference), if any
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


def _pooled_aucs(frame: pd.DataFrame) -> pd.Series:
    """AUC of the pooled scores of each (method, repeat) (NaN where a class is missing)."""
    def auc(g):
        return roc_auc(g["label"], g["score"]) if g["label"].nunique() == 2 else _NAN
    return frame.groupby(["method", "repeat"])[["label", "score"]].apply(auc)


def method_order(data: RunData) -> list[str]:
    """Ranked methods by pooled out-of-fold AUC (mean over repeats), best first (ties by name)."""
    return list(data.order)


def load_run(run_dir, n_bootstrap: int | None = None) -> RunData:
    """Read and validate a run folder (:mod:`benchmark.runfolder`) and rank its working methods.

    ``n_bootstrap`` defaults to the profile's (``suite.json``), else 1000; it sets the
    bootstrap of the paper's Wilcoxon test and the least number of paired resamples
    (:func:`paired_bootstrap_resamples`). A ranked method must have been scored on the same
    images with the same labels as every other in each repeat (``ValueError`` otherwise).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    predictions = load_predictions(run_dir)
    studies = load_studies(run_dir)
    internal = internal_dataset(run_dir, predictions)
    status = method_status(predictions, studies, internal)
    data = RunData(run_dir=run_dir, suite=read_suite(run_dir), predictions=predictions, studies=studies,
                   runs=load_runs(run_dir), cost=read_cost(run_dir),
                   n_bootstrap=int(n_bootstrap if n_bootstrap is not None else default_n_bootstrap(run_dir)),
                   internal=internal, externals=external_datasets(run_dir, predictions), status=status,
                   reference=load_reference(run_dir))
    ranked = list(status.loc[status["ranked"], "method"])
    _check_same_images(data, ranked)
    if data.reference is not None and ranked:
        _check_reference(data, ranked[0])
    if ranked:
        means = _pooled_aucs(data.rows()[data.rows()["method"].isin(ranked)]).groupby(level="method").mean()
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


# ---------------------------------------------------------------------------- statistics
def _methods(data: RunData, reference: bool) -> list[str]:
    return data.order + ([REFERENCE_METHOD] if reference else [])


def pooled_scores(data: RunData, dataset: str | None = None, reference: bool = False):
    """``(images, columns, matrix)`` of :func:`benchmark.runfolder.score_table` for the ranked methods
    (and, with ``reference``, the reference last).

    For the training data set: the out-of-fold scores of each (method, repeat). For an
    external data set: :func:`benchmark.runfolder.external_scores` (the mean of a repeat's
    fold models per image).
    """
    dataset = dataset or data.internal
    key = ("scores", dataset, reference)
    if key not in data.cache:
        if dataset == data.internal:
            frame = data.rows()
        else:
            frame = external_scores(data.predictions, dataset)
        if reference:
            frame = pd.concat([frame, data.reference[data.reference["dataset"] == dataset]], ignore_index=True)
        data.cache[key] = score_table(frame, _methods(data, reference))
    return data.cache[key]


@dataclass
class Draws:
    """Bootstrap AUCs of the ranked methods on one data set (see :func:`bootstrap_draws`)."""

    methods: list[str]
    observed: dict          # method -> AUC (mean over repeats of the pooled AUC)
    per_repeat: dict        # (method, repeat) -> pooled AUC
    draws: np.ndarray       # (B, len(methods)), same resamples for every method
    n_images: int
    n_groups: int


def bootstrap_draws(data: RunData, dataset: str | None = None, image_level: bool = False,
                    reference: bool = False) -> Draws:
    """Paired bootstrap of every ranked method's pooled AUC (mean over repeats) on one data set.

    Resamples duplicate groups (:func:`benchmark.stats.cluster_bootstrap_aucs`; with
    ``image_level=True`` every image is its own group, the naive image bootstrap, for
    comparison). One set of ``data.paired_resamples()`` group draws serves every method and
    every repeat: in each resample a method's statistic is the mean over its repeats of the
    AUC of its pooled scores under the resample's weights. With ``reference`` the reference
    (:data:`REFERENCE_METHOD`) is drawn too, as the last method. Cached on ``data``.
    """
    dataset = dataset or data.internal
    key = ("draws", dataset, image_level, reference)
    if key in data.cache:
        return data.cache[key]
    methods = _methods(data, reference)
    images, columns, matrix = pooled_scores(data, dataset, reference)
    y = images["label"].to_numpy()
    groups = np.arange(len(images)) if image_level else images["group"].to_numpy()
    per_repeat = {}
    for j, col in enumerate(columns):
        s = matrix[:, j]
        keep = np.isfinite(s)
        per_repeat[col] = roc_auc(y[keep], s[keep]) if len(np.unique(y[keep])) == 2 else _NAN
    scores = {col: matrix[:, j] for j, col in enumerate(columns)}
    raw = cluster_bootstrap_aucs(y, scores, groups, data.paired_resamples(), seed=BOOTSTRAP_SEED,
                                 allow_missing=bool(np.isnan(matrix).any())) if columns else np.empty((0, 0))
    draws = np.empty((raw.shape[0], len(methods)))
    observed = {}
    for k, m in enumerate(methods):
        cols = [j for j, c in enumerate(columns) if c[0] == m]
        if not cols:  # not scored on this data set: no statistic, no comparison
            observed[m], draws[:, k] = _NAN, _NAN
            continue
        observed[m] = float(np.mean([per_repeat[columns[j]] for j in cols]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN resamples stay NaN
            draws[:, k] = np.nanmean(raw[:, cols], axis=1)
    result = Draws(methods, observed, per_repeat, draws, len(images), int(images["group"].nunique()))
    data.cache[key] = result
    return result


def fold_aucs(data: RunData, reference: bool = False) -> pd.DataFrame:
    """AUC of every (method, repeat, fold) on its test fold: ``method, repeat, fold, auc, n_test``.

    NaN where a test fold holds one class only. ``reference``: those of the reference instead.
    """
    inner = data.rows() if not reference else data.reference[data.reference["dataset"] == data.internal]
    rows = []
    for (m, r, f), g in inner.groupby(["method", "repeat", "fold"], sort=True):
        auc = roc_auc(g["label"], g["score"]) if g["label"].nunique() == 2 else _NAN
        rows.append({"method": m, "repeat": int(r), "fold": int(f), "auc": auc, "n_test": len(g)})
    return pd.DataFrame(rows, columns=["method", "repeat", "fold", "auc", "n_test"])


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


def _first_int(values: pd.Series, method: str, what: str):
    v = values.dropna()
    if v.empty:
        return pd.NA
    if v.nunique() > 1:
        warnings.warn(f"{method}: {what} differs between folds ({sorted(v.unique())}); reporting the first",
                      stacklevel=3)
    return int(v.iloc[0])


REFERENCE_STATUS = "reference (not ranked): logistic regression on the frozen features"
REFERENCE_COLUMNS = ["vs_reference", "vs_reference_ci_low", "vs_reference_ci_high", "vs_reference_p_holm"]
LEADERBOARD_COLUMNS = [
    "method", "rank", "rank_low", "rank_high", "rank_interval", "status", "auc", "auc_ci_low", "auc_ci_high",
    "auc_se", "auc_ci_low_image", "auc_ci_high_image", "auc_fold_mean", "auc_fold_sd", "accuracy", "sensitivity",
    "specificity", "accuracy_corner", "sensitivity_corner", "specificity_corner", "trainable_parameters",
    "trainable_parameters_without_head", "seconds_per_epoch", "n_repeats", "n_folds", "n_images", "n_groups"]


def leaderboard(data) -> pd.DataFrame:
    """One row per method: ranked methods best first, then the others (rank empty), by name.

    ``data`` is a :class:`RunData` or a run folder. Columns (:data:`LEADERBOARD_COLUMNS`,
    then external and cost columns):

    * ``auc``: AUC of the pooled out-of-fold scores of a repeat, mean over repeats (the
      ranked statistic); ``auc_ci_low``/``auc_ci_high``: 95% percentile interval of the
      duplicate-aware (cluster) bootstrap, ``auc_se`` its standard deviation;
      ``auc_ci_low_image``/``auc_ci_high_image``: the naive image-level bootstrap interval,
      for comparison (narrower when duplicates are present);
    * ``auc_fold_mean``, ``auc_fold_sd``: mean and SD (ddof=1) of the per-fold test AUCs;
    * ``accuracy``, ``sensitivity``, ``specificity``: pooled over a repeat's folds, each image
      called at the threshold its fold chose on validation data (``threshold`` column of
      ``predictions.csv``), mean over repeats;
    * ``*_corner``: at the ROC point of the pooled scores closest to (0, 1), chosen on the test
      scores themselves - optimistic, for comparison with Byra (2021) only;
    * ``rank`` (1 = highest ``auc``, ties share the better rank), ``rank_low``/``rank_high`` and
      ``rank_interval`` (``"1-4"``): 95% bootstrap interval of the rank
      (:func:`benchmark.stats.rank_intervals`);
    * ``trainable_parameters``, ``seconds_per_epoch`` (mean over folds) from ``results.json``;
    * ``status``: ``"ok"``, or why the method is unranked (:func:`method_status`);
    * per external data set NAME: ``external_NAME_auc`` (mean over repeats of the AUC of the
      fold-averaged scores, :func:`benchmark.runfolder.external_scores`), its cluster-bootstrap
      ``external_NAME_ci_low``/``_ci_high``, and ``external_NAME_drop`` = ``auc`` minus it;
    * when the run has the reference (:mod:`benchmark.reference`): a row
      :data:`REFERENCE_METHOD` after the ranked methods (status :data:`REFERENCE_STATUS`, no
      rank), and per ranked method ``vs_reference`` (its AUC minus the reference's), its 95%
      CI ``vs_reference_ci_low``/``_ci_high``, ``vs_reference_p_holm`` and ``below_reference``
      (:func:`reference_comparison`);
    * the columns of ``cost.csv``, when present.
    """
    data = data if isinstance(data, RunData) else load_run(data)
    rows = []
    if data.order:
        boot, naive = bootstrap_draws(data), bootstrap_draws(data, image_level=True)
        ranks = rank_intervals(boot.observed, boot.draws, boot.methods, CONFIDENCE).set_index("method")
        folds = fold_aucs(data)
        rows = [_ranked_row(data, m, boot, naive, ranks.loc[m], folds) for m in data.order]
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
    for col in ("rank", "rank_low", "rank_high", "n_repeats", "n_folds", "n_images", "n_groups",
                "trainable_parameters", "trainable_parameters_without_head"):
        table[col] = table[col].astype("Int64")
    if data.cost is not None and not data.cost.empty:
        extra = data.cost.drop_duplicates("method", keep="last")
        extra = extra[["method"] + [c for c in extra.columns if c != "method" and c not in table.columns]]
        table = table.merge(extra, on="method", how="left")
    return table


def _ranked_row(data: RunData, m: str, boot: Draws, naive: Draws, rank: pd.Series, folds: pd.DataFrame) -> dict:
    low, high = int(rank["rank_low"]), int(rank["rank_high"])
    return {"rank": int(rank["rank"]), "rank_low": low, "rank_high": high, "rank_interval": f"{low}-{high}",
            **_auc_row(data.rows()[data.rows()["method"] == m], m, OK, boot, naive, folds)}


def _reference_row(data: RunData) -> dict:
    """The reference's row: its AUC like a method's, no rank."""
    frame = data.reference[data.reference["dataset"] == data.internal]
    return _auc_row(frame, REFERENCE_METHOD, REFERENCE_STATUS, bootstrap_draws(data, reference=True),
                    bootstrap_draws(data, image_level=True, reference=True), fold_aucs(data, reference=True))


def _auc_row(frame: pd.DataFrame, m: str, status: str, boot: Draws, naive: Draws, folds: pd.DataFrame) -> dict:
    k = boot.methods.index(m)
    lo, hi = percentile_interval(boot.draws[:, k], CONFIDENCE)
    lo_i, hi_i = percentile_interval(naive.draws[:, k], CONFIDENCE)
    per_fold = folds.loc[folds["method"] == m, "auc"].dropna().to_numpy()
    return {
        "method": m, "status": status, "auc": boot.observed[m], "auc_ci_low": lo, "auc_ci_high": hi,
        "auc_se": float(np.nanstd(boot.draws[:, k], ddof=1)) if len(boot.draws) > 1 else _NAN,
        "auc_ci_low_image": lo_i, "auc_ci_high_image": hi_i,
        "auc_fold_mean": float(per_fold.mean()) if per_fold.size else _NAN,
        "auc_fold_sd": float(np.std(per_fold, ddof=1)) if per_fold.size > 1 else _NAN,
        **_threshold_metrics(frame), **_corner_metrics(frame),
        "n_repeats": int(frame["repeat"].nunique()), "n_folds": len(frame[["repeat", "fold"]].drop_duplicates()),
        "n_images": int(frame["image_id"].nunique()), "n_groups": int(frame["group"].nunique()),
    }


def reference_comparison(data) -> pd.DataFrame:
    """Every ranked method against the reference (:mod:`benchmark.reference`) on the training data.

    Paired cluster bootstrap of ``AUC_method - AUC_reference`` (the leaderboard's resamples,
    with the reference drawn alongside): ``method, difference, ci_low, ci_high, p, p_holm``
    (Holm over the ranked methods) and ``below`` (the difference is negative and ``p_holm``
    below 0.05). Empty when the run has no reference.
    """
    data = data if isinstance(data, RunData) else load_run(data)
    columns = ["method", "difference", "ci_low", "ci_high", "p", "p_holm", "below"]
    if data.reference is None or not data.order:
        return pd.DataFrame(columns=columns)
    key = ("reference_comparison",)
    if key not in data.cache:
        boot = bootstrap_draws(data, reference=True)
        res = paired_differences(boot.observed, boot.draws, boot.methods,
                                 [(m, REFERENCE_METHOD) for m in data.order], CONFIDENCE)
        frame = pd.DataFrame([{"method": a, **r} for (a, _), r in res.items()])
        frame["p_holm"] = holm_correction(frame["p"].to_numpy(dtype=float))
        frame["below"] = (frame["difference"] < 0) & (frame["p_holm"] < ALPHA)
        data.cache[key] = frame[columns]
    return data.cache[key]


def _add_reference(table: pd.DataFrame, data: RunData) -> None:
    for col in REFERENCE_COLUMNS:
        table[col] = _NAN
    table["below_reference"] = pd.array([pd.NA] * len(table), dtype="boolean")
    comparison = reference_comparison(data)
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
        table.loc[i, "trainable_parameters"] = _first_int(per["trainable_parameters"], m, "trainable parameters")
        table.loc[i, "trainable_parameters_without_head"] = _first_int(
            per["trainable_parameters_without_head"], m, "trainable parameters without head")
        spe = per["seconds_per_epoch"].dropna()
        table.loc[i, "seconds_per_epoch"] = float(spe.mean()) if len(spe) else _NAN


def _add_external(table: pd.DataFrame, data: RunData, name: str) -> None:
    prefix = f"external_{name}"
    for col in ("auc", "ci_low", "ci_high", "drop"):
        table[f"{prefix}_{col}"] = _NAN
    if not data.order:
        return
    boot = bootstrap_draws(data, name)
    for i, m in enumerate(table["method"]):
        if m not in boot.observed:
            continue
        lo, hi = percentile_interval(boot.draws[:, boot.methods.index(m)], CONFIDENCE)
        table.loc[i, [f"{prefix}_auc", f"{prefix}_ci_low", f"{prefix}_ci_high", f"{prefix}_drop"]] = [
            boot.observed[m], lo, hi, table.loc[i, "auc"] - boot.observed[m]]


# --------------------------------------------------------------------------- significance
def _row(dataset, a, b, test, repeat, auc_a, auc_b, difference, statistic=_NAN, ci_low=_NAN, ci_high=_NAN, p=_NAN):
    return {"dataset": dataset, "method_a": a, "method_b": b, "test": test, "repeat": repeat, "auc_a": auc_a,
            "auc_b": auc_b, "difference": difference, "statistic": statistic, "ci_low": ci_low, "ci_high": ci_high,
            "p": p}


def nadeau_bengio_sizes(data: RunData) -> tuple[float, float, str]:
    """``(n_train, n_test, source)`` for :func:`benchmark.stats.nadeau_bengio_ttest`.

    ``n_test``: mean test images per fold (rows of ``predictions.csv``). ``n_train``: mean
    training images per fold as ``results.json`` records them (``dataset.split_sizes.train``),
    else approximated by the images outside the test fold, ``N - n_test`` (= (k-1)/k N for
    k folds; it counts the validation images as training images, which makes the correction a
    little smaller).
    """
    folds = fold_aucs(data)
    ranked = folds[folds["method"].isin(data.order)]
    n_test = float(ranked["n_test"].mean())
    recorded = data.runs.loc[data.runs["method"].isin(data.order), "n_train"].dropna()
    if len(recorded):
        return float(recorded.astype(float).mean()), n_test, "recorded training images per fold (results.json)"
    n = float(data.rows()["image_id"].nunique())
    return n - n_test, n_test, "approximated as the images outside the test fold, N - n_test = (k-1)/k N " \
                               "(validation images included)"


def significance(data, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Every unordered pair of ranked methods under every test, Holm-corrected per family.

    ``data`` is a :class:`RunData` or a run folder. ``method_a`` is the one ranked higher.
    Columns :data:`SIGNIFICANCE_COLUMNS`; ``dataset`` is the training data set, or an external
    one (paired comparisons on its images). Tests:

    * ``cluster_bootstrap`` (primary): paired bootstrap of duplicate groups of the pooled AUC
      (mean over repeats) difference (:func:`bootstrap_draws`,
      :func:`benchmark.stats.paired_differences`): ``difference``, percentile ``ci_low``/
      ``ci_high``, two-sided p; ``repeat`` empty;
    * ``delong``: DeLong's test on the pooled scores of each repeat (``repeat`` set;
      ``statistic`` = z). It assumes independent images, which duplicates violate;
    * ``nadeau_bengio`` (training data set): corrected resampled t-test on the per-fold AUC
      differences over all repeats and folds (:func:`benchmark.stats.nadeau_bengio_ttest`,
      sizes from :func:`nadeau_bengio_sizes`); ``auc_a``/``auc_b`` mean per-fold AUCs,
      ``statistic`` = t; NaN p with fewer than two folds;
    * ``bootstrap_wilcoxon`` (training data set): the paper's test on each repeat's pooled
      scores, ``n_bootstrap`` resamples per method (anti-conservative; for comparability only).

    ``p_holm``: Holm (1979) adjusted p over all pairs of one (dataset, test, repeat) family;
    ``significant``: ``p_holm < 0.05``; ``b_below_reference``: ``method_b`` is significantly
    below the logistic-regression reference (:func:`reference_comparison`), so a win over it is
    no evidence for ``method_a``. Unranked methods appear in no row.
    """
    data = data if isinstance(data, RunData) else load_run(data)
    pairs = list(combinations(data.order, 2))
    rows = []
    for dataset in ([data.internal] + data.externals) if pairs else []:
        rows += _cluster_rows(data, dataset, pairs, confidence)
        rows += _per_repeat_rows(data, dataset, pairs)
        if dataset == data.internal:
            rows += _nadeau_bengio_rows(data, pairs)
    if not rows:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in SIGNIFICANCE_COLUMNS})
        frame["repeat"] = frame["repeat"].astype("Int64")
        return frame
    frame = pd.DataFrame(rows)
    frame["repeat"] = frame["repeat"].astype("Int64")
    for col in ("auc_a", "auc_b", "difference", "statistic", "ci_low", "ci_high", "p"):
        frame[col] = frame[col].astype(float)
    frame["p_holm"] = np.nan
    for _, idx in frame.groupby(["dataset", "test", "repeat"], dropna=False, sort=False).groups.items():
        frame.loc[idx, "p_holm"] = holm_correction(frame.loc[idx, "p"].to_numpy(dtype=float))
    frame["significant"] = (frame["p_holm"] < ALPHA).fillna(False).astype(bool)
    datasets = {d: i for i, d in enumerate([data.internal] + data.externals)}
    frame["_d"] = frame["dataset"].map(datasets)
    frame["_t"] = frame["test"].map({t: i for i, t in enumerate(TESTS)})
    frame["_r"] = frame["repeat"].fillna(-1).astype(int)
    frame = frame.sort_values(["_d", "_t", "_r"], kind="stable")
    below = set(reference_comparison(data).query("below")["method"])
    frame["b_below_reference"] = frame["method_b"].isin(below)
    return frame[SIGNIFICANCE_COLUMNS].reset_index(drop=True)


def _cluster_rows(data: RunData, dataset: str, pairs, confidence: float) -> list[dict]:
    boot = bootstrap_draws(data, dataset)
    res = paired_differences(boot.observed, boot.draws, boot.methods, pairs, confidence)
    return [_row(dataset, a, b, "cluster_bootstrap", pd.NA, boot.observed[a], boot.observed[b], r["difference"],
                 ci_low=r["ci_low"], ci_high=r["ci_high"], p=r["p"]) for (a, b), r in res.items()]


def _per_repeat_rows(data: RunData, dataset: str, pairs) -> list[dict]:
    images, columns, matrix = pooled_scores(data, dataset)
    y = images["label"].to_numpy()
    col = {c: j for j, c in enumerate(columns)}
    rows = []
    for repeat in sorted({r for _, r in columns}):
        for a, b in pairs:
            if (a, repeat) not in col or (b, repeat) not in col:
                continue
            sa, sb = matrix[:, col[(a, repeat)]], matrix[:, col[(b, repeat)]]
            keep = np.isfinite(sa) & np.isfinite(sb)
            ya, sa, sb = y[keep], sa[keep], sb[keep]
            if len(np.unique(ya)) < 2:
                continue
            auc_a, auc_b = roc_auc(ya, sa), roc_auc(ya, sb)
            try:
                z, p = delong_test(ya, sa, sb)
            except ValueError:  # fewer than two images of a class
                z, p = _NAN, _NAN
            rows.append(_row(dataset, a, b, "delong", repeat, auc_a, auc_b, auc_a - auc_b, statistic=z, p=p))
            if dataset == data.internal:
                u, p = bootstrap_wilcoxon_test(ya, sa, sb, n_bootstrap=data.n_bootstrap, seed=repeat)
                rows.append(_row(dataset, a, b, "bootstrap_wilcoxon", repeat, auc_a, auc_b, auc_a - auc_b,
                                 statistic=u, p=p))
    return rows


def _nadeau_bengio_rows(data: RunData, pairs) -> list[dict]:
    folds = fold_aucs(data).set_index(["method", "repeat", "fold"])["auc"]
    n_train, n_test, _ = nadeau_bengio_sizes(data)
    rows = []
    for a, b in pairs:
        both = pd.concat([folds.loc[a], folds.loc[b]], axis=1, keys=["a", "b"], join="inner").dropna()
        res = nadeau_bengio_ttest((both["a"] - both["b"]).to_numpy(), n_train, n_test)
        rows.append(_row(data.internal, a, b, "nadeau_bengio", pd.NA, float(both["a"].mean()),
                         float(both["b"].mean()), res["mean_difference"], statistic=res["t"], p=res["p"]))
    return rows


# ----------------------------------------------------------------------------- sentences
def fmt_p(p) -> str:
    """``=0.034``, ``<0.001`` or ``=n/a``, to follow a ``p``."""
    if p is None or pd.isna(p):
        return "=n/a"
    return "<0.001" if p < 0.001 else f"={p:.3f}"


def _where(r) -> str:
    return str(r["dataset"]) + ("" if pd.isna(r["repeat"]) else f", repeat {int(r['repeat'])}")


def _sentence(r) -> str:
    text = _test_sentence(r)
    if r["significant"] and r.get("b_below_reference") in (True,) and r["difference"] > 0:
        text += (f" - but {r['method_b']} is below the logistic-regression reference, so this shows that "
                 f"{r['method_b']} trained badly in this run, not that {r['method_a']} is the better method")
    return text


def _test_sentence(r) -> str:
    verdict = "significant" if r["significant"] else "not significant"
    head = f"{r['method_a']} vs {r['method_b']} ({_where(r)}): "
    holm = f"Holm p{fmt_p(r['p_holm'])}: {verdict}"
    test = r["test"]
    if test == "cluster_bootstrap":
        return (f"{head}AUC {r['auc_a']:.3f} vs {r['auc_b']:.3f}, difference {r['difference']:+.3f} (95% CI "
                f"{r['ci_low']:+.3f} to {r['ci_high']:+.3f}), paired cluster bootstrap p{fmt_p(r['p'])}, {holm}")
    if test == "delong":
        return f"{head}AUC {r['auc_a']:.3f} vs {r['auc_b']:.3f}, DeLong p{fmt_p(r['p'])}, {holm}"
    if test == "nadeau_bengio":
        return (f"{head}mean fold AUC {r['auc_a']:.3f} vs {r['auc_b']:.3f}, corrected t-test "
                f"p{fmt_p(r['p'])}, {holm}")
    return (f"{head}AUC {r['auc_a']:.3f} vs {r['auc_b']:.3f}, bootstrap Wilcoxon rank-sum p{fmt_p(r['p'])}, "
            f"{holm}")


def summary_sentences(significance_df: pd.DataFrame, tests=(PRIMARY_TEST,), only_significant: bool = True) -> list[str]:
    """The significance table in plain statements; by default only the primary test.

    One sentence per pair whose difference survives Holm correction, e.g. ``"drs vs
    feature_extraction (busi): AUC 0.910 vs 0.880, difference +0.030 (95% CI +0.010 to
    +0.050), paired cluster bootstrap p=0.002, Holm p=0.030: significant"``; when none does,
    one sentence per test saying so. ``only_significant=False`` lists every comparison with
    its verdict. The table holds ranked methods only, so no sentence is about a method without
    a working configuration.
    """
    df = significance_df
    if df is None or df.empty:
        return ["No pairwise comparison: fewer than two methods have a working configuration."]
    out = []
    for test in [t for t in (tests or TESTS) if (df["test"] == t).any()]:
        part = df[df["test"] == test]
        label = TEST_LABELS.get(test, test)
        if part["p"].isna().all():
            out.append(f"{label}: not computed (needs at least 2 folds).")
            continue
        shown = part if not only_significant else part[part["significant"]]
        if shown.empty:
            where = ", ".join(dict.fromkeys(part["dataset"]))
            out.append(f"{label}: no difference survives Holm correction "
                       f"(0 of {int(part['p'].notna().sum())} comparisons on {where}).")
            continue
        out.extend(_sentence(r) for _, r in shown.iterrows())
    return out


def reference_sentences(lb: pd.DataFrame) -> list[str]:
    """What the reference row says, in words (empty when the leaderboard has no reference)."""
    ref = lb[lb["method"] == REFERENCE_METHOD]
    if ref.empty:
        return []
    r = ref.iloc[0]
    out = [f"Reference: scikit-learn's logistic regression on the frozen pretrained features (C chosen by grouped "
           f"inner cross-validation, same folds) reaches AUC {r['auc']:.3f} (95% CI {r['auc_ci_low']:.3f} to "
           f"{r['auc_ci_high']:.3f}). It needs no training loop of this suite, so every method should reach it."]
    below = lb[lb["below_reference"].fillna(False).astype(bool)]
    if below.empty:
        out.append("No method is significantly below the reference (paired cluster bootstrap, Holm p < 0.05).")
    else:
        listed = ", ".join(f"{b.method} ({b.auc:.3f}, {b.vs_reference:+.3f})" for b in below.itertuples())
        out.append(f"Significantly below the reference (paired cluster bootstrap, Holm p < 0.05): {listed}. These "
                   "did not learn what the frozen features already hold: a win over them says they trained badly "
                   "in this run, not that the winner is the better method.")
    return out


def write_leaderboard(run_dir, n_bootstrap: int | None = None) -> dict[str, Path]:
    """Rebuild the leaderboard of a run folder from disk.

    Writes (atomically) into ``run_dir``: ``leaderboard.csv`` (:func:`leaderboard`),
    ``significance.csv`` (:func:`significance`), ``figures/roc.png`` (pooled out-of-fold
    scores), ``figures/auc_vs_parameters.png``, ``figures/pvalues_cluster_bootstrap.png`` (with
    at least two ranked methods), ``leaderboard.md`` and ``leaderboard.html`` (self-contained).
    If any run used synthetic data, the first line of the Markdown and the first element of
    the HTML page say so. ``predictions.csv`` and ``studies.csv`` are collected again first when
    they are older than the studies' own files (:func:`benchmark.runfolder.refresh_tables`).
    Returns ``{name: path}`` of the files written.
    """
    from . import figures as fig  # matplotlib only when a report is written
    from .leaderboard_pages import html_page, markdown_page, run_protocol

    run_dir = Path(run_dir)
    refresh_tables(run_dir)
    data = load_run(run_dir, n_bootstrap)
    lb = leaderboard(data)
    sig = significance(data)
    proto = run_protocol(data)
    written = {"leaderboard.csv": write_csv_atomic(run_dir / "leaderboard.csv", lb),
               "significance.csv": write_csv_atomic(run_dir / "significance.csv", sig)}
    fig_dir = run_dir / "figures"
    figures = {}
    if data.order:
        figures["ROC curves of the pooled out-of-fold scores of every ranked method (AUC in the legend)"] = \
            fig.roc_figure(data, fig_dir / "roc.png")
        figures["Pooled out-of-fold AUC against trainable parameters (error bars: 95% cluster-bootstrap CI)"] = \
            fig.auc_vs_parameters_figure(lb, fig_dir / "auc_vs_parameters.png", synthetic=proto["synthetic"])
    if (sig["test"] == PRIMARY_TEST).any():
        figures["Holm-adjusted p-values of the paired cluster bootstrap for every pair of methods"] = \
            fig.pvalue_matrix_figure(sig, fig_dir / f"pvalues_{PRIMARY_TEST}.png", test=PRIMARY_TEST,
                                     synthetic=proto["synthetic"])
    for path in figures.values():
        written[f"figures/{Path(path).name}"] = Path(path)
    written["leaderboard.md"] = write_text_atomic(run_dir / "leaderboard.md", markdown_page(proto, lb, sig))
    written["leaderboard.html"] = write_text_atomic(run_dir / "leaderboard.html",
                                                    html_page(proto, lb, sig, figures, data))
    return written
