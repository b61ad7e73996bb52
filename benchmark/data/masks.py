"""Lesion masks, aligned with the decoded images: the pixels of each image that show its lesion.

A data set that ships masks declares where they are when it registers (``lesion_masks=``, see
registry.py): a function ``masks(root, ids, image_size, **options) -> N x S x S bool`` giving,
for each image id, the union of its lesion masks decoded exactly as the images are (cache.py:
grayscale, resized straight to ``S x S``, bilinear), then thresholded at half the mask's value
range. An image without a mask file gets an all-False mask; so does a mask with no lesion pixel.
:func:`mask_files_union` does this for the usual layout, a list of mask files per image.

Masks are never used for training or selection: only the analysis of trained models reads them
(:mod:`benchmark.analysis.reliance`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .cache import decode_image
from .registry import get_dataset

__all__ = ["LesionMasks", "lesion_masks", "mask_files_union", "has_masks"]

#: ``mask_files(root, image_id) -> [mask paths]`` (none: the image has no mask)
MaskFiles = Callable[[Path, str], Sequence[Path]]


class LesionMasks:
    """N x S x S bool masks of the images ``ids``, and which images have one (``present``)."""

    def __init__(self, ids: Sequence[str], masks: np.ndarray):
        masks = np.asarray(masks, dtype=bool)
        if masks.ndim != 3 or len(masks) != len(ids):
            raise ValueError(f"masks must be N x S x S for the {len(ids)} ids, got shape {masks.shape}")
        self.ids = list(ids)
        self.masks = masks
        self.present = masks.reshape(len(masks), -1).any(axis=1)

    def __len__(self) -> int:
        return len(self.ids)


def mask_files_union(mask_files: MaskFiles) -> Callable[..., np.ndarray]:
    """A data set's ``lesion_masks`` function built from ``mask_files(root, image_id)``: every
    image's mask files decoded at the images' size and united."""

    def masks(root: Path, ids: Sequence[str], image_size: int) -> np.ndarray:
        out = np.zeros((len(ids), image_size, image_size), dtype=bool)
        for k, image_id in enumerate(ids):
            for path in mask_files(Path(root), image_id):
                out[k] |= decode_image(path, image_size) >= 128
        return out

    return masks


def has_masks(name: str) -> bool:
    """Whether the registered data set ``name`` declares lesion masks."""
    return get_dataset(name).lesion_masks is not None


def lesion_masks(name: str, ids: Sequence[str], image_size: int, data_root: str | os.PathLike | None = None,
                 **options) -> LesionMasks:
    """The lesion masks of data set ``name``'s images ``ids`` at ``image_size`` px.

    A ValueError names the data set when it declares no masks; its folder is found as for the
    images (registry.py). ``options`` (``seed``, ``n_images`` for generated sets) reach the
    data set's function when it takes them.
    """
    spec = get_dataset(name)
    if spec.lesion_masks is None:
        raise ValueError(f"data set {name!r} declares no lesion masks (register it with lesion_masks=...)")
    root = spec.resolve_root(data_root)
    accepted = spec.accepted_options(options, spec.lesion_masks)
    return LesionMasks(ids, spec.lesion_masks(root, list(ids), int(image_size), **accepted))
