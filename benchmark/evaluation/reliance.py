"""What the models rely on, as derived tables: each method's AUC on lesion-only and context-only
images and under each acquisition shift, its robustness per shift, and where its saliency falls.

Read from the reliance analysis's ``analysis/reliance_scores.csv`` (:mod:`benchmark.analysis.reliance`)
and ``analysis/saliency.csv``:

- :func:`reliance_aucs`: per data set, condition and strength, every method's AUC with the interval of
  the leaderboard's own bootstrap (the training set's fold-stratified AUC, an external set's per-model
  AUC; duplicate and patient groups resampled whole), and its change from the original images (the
  same images: one set of resamples serves every condition, so the change's interval is paired).
  These are analyses of one set of trained models: they condition on the run's training seeds.
- :func:`shift_robustness`: per method and shift, the area between the AUC-against-strength curve and
  the original AUC (trapezoids over the strengths 0..1: the mean AUC lost), with its paired interval,
  and the mean over shifts beside the method's off-site drop (internal minus external AUC).
- :func:`saliency_summary`: per method and data set, the mean share of the class-activation map (HiResCAM) inside the
  lesion region and the mean share of the image that region covers (what a map spread evenly gets).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr

from benchmark.evaluation.draws import bootstrap_draws
from benchmark.evaluation.run_data import _NAN, CONFIDENCE, RunData
from benchmark.stats import holm_correction, percentile_interval

__all__ = ["RELIANCE_AUC_COLUMNS", "ROBUSTNESS_COLUMNS", "SALIENCY_SUMMARY_COLUMNS", "ANNOTATION_PAIR_COLUMNS",
           "ConditionDraws", "annotation_pairs", "context_readers", "lesion_only_rank_agreement", "reliance_aucs",
           "shifts_against_sites",
           "shift_robustness", "saliency_summary", "ORIGINAL", "REGION_CONDITIONS"]

ORIGINAL = "original"
REGION_CONDITIONS = ("lesion_only", "context_only")
RELIANCE_AUC_COLUMNS = ["dataset", "condition", "strength", "images", "method", "statistic", "n_images", "auc",
                        "ci_low", "ci_high", "change", "change_low", "change_high"]
ROBUSTNESS_COLUMNS = ["method", "shift", "auc_original", "auc_lost", "ci_low", "ci_high"]
SALIENCY_SUMMARY_COLUMNS = ["dataset", "method", "n_images", "share_in_lesion", "ci_low", "ci_high", "lesion_area"]


class ConditionDraws:
    """The bootstrap draws (:func:`benchmark.evaluation.bootstrap_draws`) of every condition of the reliance
    scores, each computed once and shared by :func:`reliance_aucs` and :func:`shift_robustness`. Every
    condition of a data set is drawn with the same resamples of the same groups, so changes are paired."""

    def __init__(self, data: RunData, scores: pd.DataFrame):
        self.data, self.scores, self._cache = data, scores, {}

    def __call__(self, dataset: str, condition: str, strength: float = 0.0, ids: frozenset | None = None):
        """Draws of ``condition`` at ``strength`` on ``dataset`` (the original images: restricted to ``ids``)."""
        key = (dataset, condition, float(strength), ids)
        if key not in self._cache:
            rows = self.scores[(self.scores["dataset"] == dataset) & (self.scores["condition"] == condition)
                               & (self.scores["strength"] == strength)]
            if ids is not None:
                rows = rows[rows["image_id"].isin(ids)]
            data = dataclasses.replace(self.data, predictions=rows.assign(threshold=_NAN), reference=None, cache={})
            self._cache[key] = bootstrap_draws(data, dataset)
        return self._cache[key]


def reliance_aucs(draws: ConditionDraws, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """One row per (data set, condition, strength, images, method): see the module docstring. The change of a
    region condition is against the original scores of the same images (those with a lesion mask), which get
    their own ``original`` rows when they are not all the images."""
    scores, out = draws.scores, []
    for dataset in dict.fromkeys(scores["dataset"]):
        rows = scores[scores["dataset"] == dataset]
        n_all = rows.loc[rows["condition"] == ORIGINAL, "image_id"].nunique()
        conditions = [(c, float(k), frozenset(f["image_id"])) for (c, k), f in
                      rows.groupby(["condition", "strength"], sort=False)]
        subsets = {ids for _, _, ids in conditions if len(ids) < n_all}  # the images with a mask: original too
        for condition, strength, ids in [(ORIGINAL, 0.0, ids) for ids in subsets] + conditions:
            whole = len(ids) == n_all
            reference = draws(dataset, ORIGINAL, 0.0, None if whole else ids)
            drawn = reference if condition == ORIGINAL else draws(dataset, condition, strength)
            for k, method in enumerate(drawn.methods):
                low, high = percentile_interval(drawn.draws[:, k], confidence)
                change = drawn.draws[:, k] - reference.draws[:, reference.methods.index(method)]
                c_low, c_high = percentile_interval(change, confidence)
                out.append({"dataset": dataset, "condition": condition, "strength": float(strength),
                            "images": "all" if whole else "with a lesion mask", "method": method,
                            "statistic": drawn.statistic, "n_images": drawn.n_images,
                            "auc": drawn.observed[method], "ci_low": low, "ci_high": high,
                            "change": drawn.observed[method] - reference.observed[method],
                            "change_low": c_low, "change_high": c_high})
    return pd.DataFrame(out, columns=RELIANCE_AUC_COLUMNS)


def shift_robustness(draws: ConditionDraws, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per method and shift of the training set's test folds: the mean AUC lost over strengths 0..1."""
    dataset = draws.data.internal
    rows = draws.scores[draws.scores["dataset"] == dataset]
    shifts = [c for c in dict.fromkeys(rows["condition"]) if c not in (ORIGINAL, *REGION_CONDITIONS)]
    out = []
    for shift in shifts:
        strengths = sorted(rows.loc[rows["condition"] == shift, "strength"].unique())
        curves = [draws(dataset, ORIGINAL)] + [draws(dataset, shift, s) for s in strengths]
        x = np.array([0.0, *strengths])
        for method in curves[0].methods:
            observed = np.array([c.observed[method] for c in curves])
            drawn = np.stack([c.draws[:, c.methods.index(method)] for c in curves], axis=1)
            lost = np.trapezoid(observed[0] - observed, x) / (x[-1] - x[0])
            lost_draws = np.trapezoid(drawn[:, :1] - drawn, x, axis=1) / (x[-1] - x[0])
            low, high = percentile_interval(lost_draws, confidence)
            out.append({"method": method, "shift": shift, "auc_original": observed[0], "auc_lost": lost,
                        "ci_low": low, "ci_high": high})
    return pd.DataFrame(out, columns=ROBUSTNESS_COLUMNS)


def context_readers(table: pd.DataFrame, dataset: str) -> list[tuple[str, float, float]]:
    """(method, context-only AUC, its lower bound) of the methods whose context-only AUC on ``dataset`` (in
    ``reliance_auc.csv``) has a 95% interval above 0.5: above chance with the lesion region filled in."""
    rows = table[(table["dataset"] == dataset) & (table["condition"] == "context_only")]
    return [(r["method"], r["auc"], r["ci_low"]) for _, r in rows.iterrows() if r["ci_low"] > 0.5]


def lesion_only_rank_agreement(table: pd.DataFrame, dataset: str) -> tuple[float, int]:
    """Kendall's tau between the methods' AUC on the original images and on lesion-only images of ``dataset``
    (the same images), and the number of methods; NaN under three methods."""
    rows = table[table["dataset"] == dataset]
    lesion = rows[rows["condition"] == "lesion_only"]
    images = lesion["images"].iloc[0] if len(lesion) else "all"  # the original AUC on the same images
    original = rows[(rows["condition"] == ORIGINAL) & (rows["images"] == images)].set_index("method")["auc"]
    lesion = lesion.set_index("method")["auc"]
    common = lesion.index.intersection(original.index)
    tau = float(kendalltau(original[common], lesion[common]).statistic) if len(common) >= 3 else _NAN
    return tau, len(common)


def shifts_against_sites(robustness: pd.DataFrame, drops: dict[str, pd.Series]) -> dict[str, dict]:
    """Per external set of ``drops`` (each method's off-site drop, the leaderboard's
    ``external_<set>_drop``): Spearman's rho (and p) across methods between the mean AUC lost over
    the shifts (``shift_robustness.csv``) and that drop, with Holm's adjustment over the sets
    (``p_holm``); ``predicts`` when rho > 0 and the adjusted p < 0.05. A set with under four
    methods is left out."""
    mean = robustness.groupby("method")["auc_lost"].mean()
    out = {}
    for name, drop in drops.items():
        common = [m for m in mean.index if m in drop.index and np.isfinite(drop[m])]
        if len(common) >= 4:
            rho = spearmanr(mean[common], drop[common])
            out[name] = {"n": len(common), "rho": float(rho.statistic), "p": float(rho.pvalue)}
    for row, adjusted in zip(out.values(), holm_correction([r["p"] for r in out.values()])):
        row.update(p_holm=float(adjusted), predicts=bool(adjusted < 0.05 and row["rho"] > 0))
    return out


def saliency_summary(saliency: pd.DataFrame, n_bootstrap: int = 1000, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per data set and method: the mean class-activation-map share inside the lesion region over its images and
    fold models (interval: images resampled, seed 0), and the region's mean share of the image."""
    out = []
    rng = np.random.default_rng(0)
    for (dataset, method), frame in saliency.groupby(["dataset", "method"], sort=False):
        per_image = frame.groupby("image_id")[["share_in_lesion", "lesion_area"]].mean().dropna()
        values = per_image["share_in_lesion"].to_numpy()
        if not len(values):
            continue
        boot = values[rng.integers(0, len(values), (n_bootstrap, len(values)))].mean(axis=1)
        low, high = percentile_interval(boot, confidence)
        out.append({"dataset": dataset, "method": method, "n_images": len(values), "share_in_lesion": values.mean(),
                    "ci_low": low, "ci_high": high, "lesion_area": per_image["lesion_area"].mean()})
    return pd.DataFrame(out, columns=SALIENCY_SUMMARY_COLUMNS)


ANNOTATION_PAIR_COLUMNS = ["dataset", "method", "n_groups", "n_annotated", "n_clean", "change", "ci_low", "ci_high"]
MIN_PAIR_GROUPS = 5  # fewer groups holding both copies: the change is shown without an interval


def annotation_pairs(data: RunData, images: pd.DataFrame, n_bootstrap: int = 1000,
                     confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per method, the score of annotated minus clean copies of the same lesion: over the duplicate
    groups of the training set that hold both (``images.csv``'s ``overlay`` column), the mean over
    groups of (mean score of the group's annotated images - mean score of its clean ones), each image
    scored by the fold model that had it in its test fold (mean over repeats); interval: groups
    resampled (seed 0), none under :data:`MIN_PAIR_GROUPS` groups. Empty when no group holds both."""
    dataset = data.internal
    flags = images[images["dataset"] == dataset].set_index("image_id")["overlay"]
    rows = data.rows(dataset).copy()
    rows["overlay"] = rows["image_id"].map(flags)
    rows = rows.dropna(subset=["overlay"])
    mixed = rows.groupby("group")["overlay"].nunique()
    rows = rows[rows["group"].isin(mixed[mixed == 2].index)]
    out = []
    rng = np.random.default_rng(0)
    for method in data.order:
        part = rows[rows["method"] == method]
        if part.empty:
            continue
        per_image = part.groupby(["group", "image_id", "overlay"], as_index=False)["score"].mean()
        per_group = per_image.groupby(["group", "overlay"])["score"].mean().unstack("overlay")
        change = (per_group[1] - per_group[0]).dropna().to_numpy()
        if not len(change):
            continue
        low = high = _NAN
        if len(change) >= MIN_PAIR_GROUPS:
            boot = change[rng.integers(0, len(change), (n_bootstrap, len(change)))].mean(axis=1)
            low, high = percentile_interval(boot, confidence)
        out.append({"dataset": dataset, "method": method, "n_groups": len(change),
                    "n_annotated": int((per_image["overlay"] == 1).sum()), "n_clean": int((per_image["overlay"] == 0).sum()),
                    "change": float(change.mean()), "ci_low": low, "ci_high": high})
    return pd.DataFrame(out, columns=ANNOTATION_PAIR_COLUMNS)
