"""Scoring one trained fold model under every condition: the images as they were, lesion-only,
context-only, and each acquisition shift at each strength; and its class-activation maps.

The images of a data set are prepared once (:class:`ScoredSet`: the transformed copies are shared
by every method), then each study's model scores them with the trainer's own scoring
(:func:`benchmark.training.trainer.predict_scores`, the profile's batch size, precision and
layout), so the ``original`` condition reproduces the run's ``predictions.csv`` and a shift at
strength 0 would too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from benchmark.analysis.reliance.regions import MARGIN, context_only, lesion_only, regions
from benchmark.analysis.reliance.saliency import class_activation_maps, share_inside
from benchmark.analysis.reliance.shifts import SHIFTS, STRENGTHS, apply_shift

__all__ = ["ScoredSet", "SCORE_COLUMNS", "SALIENCY_COLUMNS", "ORIGINAL", "LESION_ONLY", "CONTEXT_ONLY",
           "score_study", "saliency_rows"]

ORIGINAL, LESION_ONLY, CONTEXT_ONLY = "original", "lesion_only", "context_only"
SCORE_COLUMNS = ["dataset", "method", "repeat", "fold", "image_id", "group", "label", "condition", "strength", "score"]
SALIENCY_COLUMNS = ["dataset", "method", "repeat", "fold", "image_id", "label", "share_in_lesion", "lesion_area"]


@dataclass
class ScoredSet:
    """The images of one data set that a fold's models score, with their lesion masks (None: the
    copy has none) and whether the acquisition shifts are applied to them."""

    dataset: str
    ids: list[str]
    labels: np.ndarray
    groups: np.ndarray
    images: np.ndarray
    masks: np.ndarray | None = None
    shifts: bool = False
    seed: int = 0
    _cache: dict = field(default_factory=dict, repr=False)

    @cached_property
    def with_mask(self) -> np.ndarray:
        """Indices of the images that have a lesion mask."""
        if self.masks is None:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.masks.reshape(len(self.masks), -1).any(axis=1))

    @cached_property
    def region(self) -> np.ndarray:
        return regions(self.masks[self.with_mask], MARGIN)

    def conditions(self):
        """(condition, strength, indices of the images, the images) for every condition scored."""
        yield ORIGINAL, 0.0, np.arange(len(self.ids)), self.images
        if len(self.with_mask):
            if LESION_ONLY not in self._cache:
                self._cache[LESION_ONLY] = lesion_only(self.images[self.with_mask], self.region, self.images.mean())
                self._cache[CONTEXT_ONLY] = context_only(self.images[self.with_mask], self.region)
            yield LESION_ONLY, 0.0, self.with_mask, self._cache[LESION_ONLY]
            yield CONTEXT_ONLY, 0.0, self.with_mask, self._cache[CONTEXT_ONLY]
        if self.shifts:
            for shift in SHIFTS:
                for strength in STRENGTHS[1:]:
                    key = (shift, strength)
                    if key not in self._cache:
                        self._cache[key] = apply_shift(self.images, shift, strength, seed=self.seed)
                    yield shift, float(strength), np.arange(len(self.ids)), self._cache[key]


def score_study(score, scored: ScoredSet, method: str, repeat: int, fold: int) -> pd.DataFrame:
    """Rows of :data:`SCORE_COLUMNS`: ``score(images) -> scores`` (the study's model) on every condition."""
    frames = []
    for condition, strength, index, images in scored.conditions():
        frames.append(pd.DataFrame({
            "dataset": scored.dataset, "method": method, "repeat": int(repeat), "fold": int(fold),
            "image_id": [scored.ids[i] for i in index], "group": scored.groups[index].astype(np.int64),
            "label": scored.labels[index].astype(np.int64), "condition": condition, "strength": strength,
            "score": np.asarray(score(images), dtype=np.float64)}))
    return pd.concat(frames, ignore_index=True)[SCORE_COLUMNS]


def saliency_rows(model, layer, prepare, scored: ScoredSet, method: str, repeat: int, fold: int,
                  batch_size: int = 32) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows of :data:`SALIENCY_COLUMNS` for the images with a mask, and their maps (in that order)."""
    index = scored.with_mask
    if not len(index):
        return pd.DataFrame(columns=SALIENCY_COLUMNS), np.zeros((0, *scored.images.shape[1:]), np.float32)
    maps = class_activation_maps(model, layer, scored.images[index], prepare, batch_size)
    region = scored.region
    return pd.DataFrame({
        "dataset": scored.dataset, "method": method, "repeat": int(repeat), "fold": int(fold),
        "image_id": [scored.ids[i] for i in index], "label": scored.labels[index].astype(np.int64),
        "share_in_lesion": share_inside(maps, region),
        "lesion_area": region.reshape(len(region), -1).mean(axis=1)})[SALIENCY_COLUMNS], maps
