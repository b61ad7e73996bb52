"""Data: registered data sets (BUSI, BrEaST-Lesions_USG, an image folder, synthetic sets),
decoded once and cached. See registry.py for the plugin contract."""
from __future__ import annotations

import os

from .duplicates import cross_duplicates
from .imageset import BENIGN, CLASS_NAMES, MALIGNANT, ImageSet
from .overlays import without_overlays
from .registry import (ENTRY_POINT_GROUP, DatasetNotFoundError, DatasetSpec, RegisteredNames, add_dataset,
                       dataset_info, get_dataset, list_datasets, register_dataset)

# The registered names, read when used (so plugins count): the CLI's --dataset choices.
DATASETS = RegisteredNames()


def load_dataset(name: str, image_size: int, data_root: str | os.PathLike | None = None,
                 synthetic_images: int = 647, synthetic_seed: int = 0, include_normal: bool = False,
                 cache_dir: str | os.PathLike | None = None, exclude_overlays: bool = False) -> ImageSet:
    """Load the registered data set ``name`` at ``image_size`` px.

    Its folder is ``data_root`` if given, else found as registry.py says (environment variable,
    ``datasets/<name>``, ``../shared/datasets/<dir>``). Generated sets take ``synthetic_images``
    images from ``synthetic_seed``; real ones take ``include_normal`` and ``cache_dir``. Each
    loader gets only the options it declares. ``exclude_overlays`` (``[data] exclude_overlays``) drops the
    images whose ``overlay`` column is 1 (:func:`overlays.without_overlays`; an error for a data set
    without that column).
    """
    data = get_dataset(name).load(image_size, data_root, include_normal=include_normal, cache_dir=cache_dir,
                                  n_images=synthetic_images, seed=synthetic_seed)
    return without_overlays(data) if exclude_overlays else data


__all__ = ["BENIGN", "MALIGNANT", "CLASS_NAMES", "DATASETS", "ENTRY_POINT_GROUP", "DatasetNotFoundError",
           "DatasetSpec", "ImageSet", "add_dataset", "cross_duplicates", "dataset_info", "get_dataset",
           "list_datasets", "load_dataset", "register_dataset"]
