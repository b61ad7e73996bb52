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

from benchmark.evaluation.draws import bootstrap_draws
from benchmark.evaluation.run_data import _NAN, CONFIDENCE, RunData
from benchmark.stats import percentile_interval

__all__ = ["RELIANCE_AUC_COLUMNS", "ROBUSTNESS_COLUMNS", "SALIENCY_SUMMARY_COLUMNS", "ANNOTATION_PAIR_COLUMNS",
           "annotation_pairs", "reliance_aucs",
           "shift_robustness", "saliency_summary", "ORIGINAL", "REGION_CONDITIONS"]

ORIGINAL = "original"
REGION_CONDITIONS = ("lesion_only", "context_only")
RELIANCE_AUC_COLUMNS = ["dataset", "condition", "strength", "images", "method", "statistic", "n_images", "auc",
                        "ci_low", "ci_high", "change", "change_low", "change_high"]
ROBUSTNESS_COLUMNS = ["method", "shift", "auc_original", "auc_lost", "ci_low", "ci_high"]
SALIENCY_SUMMARY_COLUMNS = ["dataset", "method", "n_images", "share_in_lesion", "ci_low", "ci_high", "lesion_area"]


def _draws(data: RunData, frame: pd.DataFrame, dataset: str):
    part = frame.assign(threshold=_NAN)
    replaced = dataclasses.replace(data, predictions=part, reference=None, cache={})
    return bootstrap_draws(replaced, dataset)


def _condition_frames(scores: pd.DataFrame, dataset: str):
    """(condition, strength, which images, frame) of one data set; the region conditions come with
    the original scores of the same images (those with a mask) for their change."""
    rows = scores[scores["dataset"] == dataset]
    for (condition, strength), frame in rows.groupby(["condition", "strength"], sort=False):
        yield condition, float(strength), frame


def reliance_aucs(data: RunData, scores: pd.DataFrame, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """One row per (data set, condition, strength, method): see the module docstring."""
    out = []
    for dataset in dict.fromkeys(scores["dataset"]):
        base = scores[(scores["dataset"] == dataset) & (scores["condition"] == ORIGINAL)]
        originals: dict[frozenset, object] = {}
        for condition, strength, frame in _condition_frames(scores, dataset):
            ids = frozenset(frame["image_id"])
            if ids not in originals:
                originals[ids] = _draws(data, base[base["image_id"].isin(ids)], dataset)
            reference = originals[ids]
            draws = reference if condition == ORIGINAL else _draws(data, frame, dataset)
            subset = "all" if len(ids) == base["image_id"].nunique() else "with a lesion mask"
            for k, method in enumerate(draws.methods):
                low, high = percentile_interval(draws.draws[:, k], confidence)
                j = reference.methods.index(method)
                change = draws.draws[:, k] - reference.draws[:, j]
                c_low, c_high = percentile_interval(change, confidence)
                out.append({"dataset": dataset, "condition": condition, "strength": strength, "images": subset,
                            "method": method, "statistic": draws.statistic, "n_images": draws.n_images,
                            "auc": draws.observed[method], "ci_low": low, "ci_high": high,
                            "change": draws.observed[method] - reference.observed[method],
                            "change_low": c_low, "change_high": c_high})
    return pd.DataFrame(out, columns=RELIANCE_AUC_COLUMNS)


def shift_robustness(data: RunData, scores: pd.DataFrame, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per method and shift of the training set's test folds: the mean AUC lost over strengths 0..1."""
    dataset = data.internal
    rows = scores[scores["dataset"] == dataset]
    shifts = [c for c in dict.fromkeys(rows["condition"]) if c not in (ORIGINAL, *REGION_CONDITIONS)]
    if not shifts:
        return pd.DataFrame(columns=ROBUSTNESS_COLUMNS)
    original = _draws(data, rows[rows["condition"] == ORIGINAL], dataset)
    out = []
    for shift in shifts:
        part = rows[rows["condition"] == shift]
        strengths = sorted(part["strength"].unique())
        curves = [original] + [_draws(data, part[part["strength"] == s], dataset) for s in strengths]
        x = np.array([0.0, *strengths])
        for k, method in enumerate(original.methods):
            observed = np.array([c.observed[method] for c in curves])
            drawn = np.stack([c.draws[:, c.methods.index(method)] for c in curves], axis=1)
            lost = np.trapezoid(observed[0] - observed, x) / (x[-1] - x[0])
            lost_draws = np.trapezoid(drawn[:, :1] - drawn, x, axis=1) / (x[-1] - x[0])
            low, high = percentile_interval(lost_draws, confidence)
            out.append({"method": method, "shift": shift, "auc_original": observed[0], "auc_lost": lost,
                        "ci_low": low, "ci_high": high})
    return pd.DataFrame(out, columns=ROBUSTNESS_COLUMNS)


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
