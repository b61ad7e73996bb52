"""Data: BUSI from disk (decoded once, cached), or a synthetic set the suite generates."""
from __future__ import annotations

from .imageset import BENIGN, CLASS_NAMES, MALIGNANT, ImageSet

DATASETS = ("busi", "synthetic")


def load_dataset(name: str, image_size: int, data_root=None, synthetic_images: int = 647,
                 synthetic_seed: int = 0, include_normal: bool = False, cache_dir=None) -> ImageSet:
    """Load ``busi`` (from ``data_root``, else $BUSI_ROOT, else datasets/busi) or ``synthetic``."""
    if name == "busi":
        from .busi import load_busi

        return load_busi(data_root, image_size=image_size, include_normal=include_normal,
                         cache_dir=cache_dir)
    if name == "synthetic":
        from .synthetic import make_synthetic

        return make_synthetic(n_images=synthetic_images, image_size=image_size, seed=synthetic_seed)
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


__all__ = ["BENIGN", "MALIGNANT", "CLASS_NAMES", "DATASETS", "ImageSet", "load_dataset"]
