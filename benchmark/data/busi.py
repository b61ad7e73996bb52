"""The BUSI breast-ultrasound data set (Al-Dhabyani et al., Data in Brief 28, 2020, 104863).

Expected layout, as distributed on Kaggle ("Breast Ultrasound Images Dataset"):
``benign/benign (1).png ...``, ``malignant/...``, optionally ``normal/...``. Segmentation masks
(``*_mask.png``, ``*_mask_1.png``) are not images, so the original download and mask-less,
resized copies load the same way; the masks, where the copy has them, are the lesion masks
(masks.py) that only the analysis of trained models reads. Images of any size and mode are accepted (see cache.py).

``load_busi`` decodes (cached), finds exact and near duplicates (duplicates.py) on 64 px
decodes, whatever ``image_size`` is, so groups and splits do not depend on the image size,
excludes every image of a duplicate group that holds both labels, and returns an ImageSet
whose ``groups`` keep the remaining duplicates in one split (imagefiles.py). Each image's
``overlay`` column says whether it carries burnt-in annotations (``busi_overlays.csv``,
overlays.py; docs/data/busi-overlays.md).

Registered as ``busi``; its folder is found as registry.py says: ``--data-root``, else
``$BUSI_ROOT``, else ``datasets/busi``, else ``../shared/datasets/busi``.
"""
from __future__ import annotations

import glob
import os
import re
from dataclasses import replace
from pathlib import Path

from .duplicates import NEAR_DUPLICATE_RULES
from .imagefiles import DUPLICATE_CHECK_SIZE, IMAGE_EXTENSIONS, image_set_from_files, is_image_file, natural_key
from .imageset import BENIGN, MALIGNANT, ImageSet
from .masks import mask_files_union
from .overlays import read_overlay_flags
from .registry import get_dataset, register_dataset

_KAGGLE_SUBFOLDER = "Dataset_BUSI_with_GT"  # the folder inside Kaggle's zip
# same-lesion pairs the automatic rule misses, each inspected and with its reason (duplicates.py)
SAME_LESION_FILE = Path(__file__).with_name("busi_same_lesion.csv")
# each image's burnt-in annotation flag (overlays.py; docs/data/busi-overlays.md)
OVERLAY_FILE = Path(__file__).with_name("busi_overlays.csv")
CITATION = ("Al-Dhabyani W, Gomaa M, Khaled H, Fahmy A. Dataset of breast ultrasound images. "
            "Data in Brief 28 (2020) 104863. doi:10.1016/j.dib.2019.104863")
__all__ = ["CITATION", "DUPLICATE_CHECK_SIZE", "IMAGE_EXTENSIONS", "OVERLAY_FILE", "SAME_LESION_FILE", "list_busi_files",
           "load_busi", "resolve_busi_root"]


def _has_classes(folder: Path) -> bool:
    return (folder / "benign").is_dir() and (folder / "malignant").is_dir()


def _check_root(folder: Path) -> Path | str:
    """The folder holding benign/ and malignant/: ``folder`` or Kaggle's subfolder inside it."""
    for candidate in (folder, folder / _KAGGLE_SUBFOLDER):
        if _has_classes(candidate):
            return candidate
    return "has no benign/ and malignant/ folders"


def resolve_busi_root(data_root: str | os.PathLike | None) -> Path:
    """``data_root`` (--data-root), else env ``BUSI_ROOT``, else ``datasets/busi``, else
    ``../shared/datasets/busi`` (registry.py).

    Accepts the folder holding ``benign/`` and ``malignant/`` or the one above Kaggle's
    ``Dataset_BUSI_with_GT``. Raises DatasetNotFoundError (a FileNotFoundError) naming every
    path tried and how to fix it.
    """
    return get_dataset("busi").resolve_root(data_root)


_natural_key = natural_key  # kept for callers of the old private name


def list_busi_files(root: Path, include_normal: bool = False) -> list[tuple[str, int]]:
    """(path relative to root, posix; label) for every image, in natural order.

    benign -> 0, malignant -> 1. ``normal/`` (no lesion) is left out by default, as in
    Byra (2021); with ``include_normal=True`` its images get label 0, i.e. the task becomes
    malignant vs. rest. Files whose name contains "_mask", hidden files and non-image
    extensions are skipped.
    """
    root = Path(root)
    folders = {"benign": BENIGN, "malignant": MALIGNANT}
    if include_normal:
        folders["normal"] = BENIGN
    out = []
    for folder, label in folders.items():
        if not (root / folder).is_dir():
            continue
        for f in (root / folder).iterdir():
            if is_image_file(f):
                out.append((f"{folder}/{f.name}", label))
    return sorted(out, key=lambda item: natural_key(item[0]))


def load_busi(
    data_root: str | os.PathLike | None = None,
    image_size: int = 224,
    include_normal: bool = False,
    cache_dir: str | os.PathLike | None = None,
    near_duplicate_distance: int | None = NEAR_DUPLICATE_RULES[0][0],
    same_lesion: str | os.PathLike | None = "builtin",
    overlays: str | os.PathLike | None = "builtin",
) -> ImageSet:
    """Load BUSI as an ImageSet of ``image_size`` grayscale squares.

    ``near_duplicate_distance`` is the pHash distance of the main near-duplicate rule
    (default 12, with NCC >= 0.85; the stricter shifted-copy rule of duplicates.py is kept);
    None turns near-duplicate detection off, leaving exact duplicates only. ``same_lesion``
    is the curated CSV of same-lesion pairs the rule misses ("builtin": :data:`SAME_LESION_FILE`;
    None: none), merged into the groups. The built-in list was curated on the whole data set: a
    pair with an image that this copy lacks (a subset, a cleaned copy) is left out and listed in
    ``skipped_pairs``. In a CSV you pass, an id the folder lacks is an error naming the file and
    the row (a typo must not pass silently).

    ``overlays`` is the CSV of burnt-in annotation flags ("builtin": :data:`OVERLAY_FILE`; None:
    none): each image's flag, 1 or 0 (None for an image it does not list), is the metadata column
    ``overlay``.
    """
    builtin_pairs = same_lesion == "builtin"
    same_lesion = SAME_LESION_FILE if builtin_pairs else same_lesion
    overlays = OVERLAY_FILE if overlays == "builtin" else overlays
    root = resolve_busi_root(data_root)
    files = list_busi_files(root, include_normal)
    if not files:
        raise FileNotFoundError(f"no image files found under {root}/benign or {root}/malignant")
    data = image_set_from_files("busi", root, [rel for rel, _ in files], [label for _, label in files],
                                image_size, cache_dir, near_duplicate_distance=near_duplicate_distance,
                                same_lesion=same_lesion, skip_absent_pairs=builtin_pairs)
    if overlays is None:
        return data
    return replace(data, metadata={**data.metadata, "overlay": read_overlay_flags(overlays, data.ids)})


def busi_mask_files(root: Path, image_id: str) -> list[Path]:
    """BUSI's masks of one image: ``<name>_mask.png`` and, for a second lesion, ``<name>_mask_1.png``
    beside it (none in a mask-less copy)."""
    image = Path(root) / image_id
    return sorted(p for p in image.parent.glob(f"{glob.escape(image.stem)}_mask*{image.suffix}")
                  if re.fullmatch(r"_mask(_\d+)?", p.stem[len(image.stem):]))


@register_dataset(
    "busi", title="BUSI",
    description="BUSI breast ultrasound, Egypt 2018: 437 benign + 210 malignant (normal left out), Kaggle layout",
    citation=CITATION,
    licence=("not stated with the images; the article (Data in Brief) is CC BY 4.0: cite it, and check "
             "the terms of the copy you use"),
    root_env="BUSI_ROOT", shared_dir="busi", check_root=_check_root, lesion_masks=mask_files_union(busi_mask_files),
    how_to_get=("Download BUSI (Al-Dhabyani et al. 2020, 'Dataset of breast ultrasound images'; Kaggle: "
                "Breast Ultrasound Images Dataset) and lay it out as benign/ malignant/ [normal/] with "
                "the image files inside."))
def _load(root: Path, image_size: int, include_normal: bool = False,
          cache_dir: str | os.PathLike | None = None) -> ImageSet:
    return load_busi(root, image_size=image_size, include_normal=include_normal, cache_dir=cache_dir)
