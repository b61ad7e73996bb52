"""The BUSI breast-ultrasound data set (Al-Dhabyani et al., Data in Brief 28, 2020, 104863).

Expected layout, as distributed on Kaggle ("Breast Ultrasound Images Dataset"):
``benign/benign (1).png ...``, ``malignant/...``, optionally ``normal/...``. Segmentation masks
(``*_mask.png``, ``*_mask_1.png``) are ignored, so the original download and mask-less,
resized copies load the same way. Images of any size and mode are accepted (see cache.py).

``load_busi`` decodes (cached), finds exact and near duplicates (duplicates.py) on 64 px
decodes, whatever ``image_size`` is, so groups and splits do not depend on the image size,
excludes every image of a duplicate group that holds both labels, and returns an ImageSet
whose ``groups`` keep the remaining duplicates in one split.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np

from .cache import decode_images_multi
from .duplicates import NEAR_DUPLICATE_RULES, dataset_checksum, find_duplicate_groups, resolve_label_conflicts
from .imageset import BENIGN, MALIGNANT, ImageSet

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
DUPLICATE_CHECK_SIZE = 64
_KAGGLE_SUBFOLDER = "Dataset_BUSI_with_GT"  # the folder inside Kaggle's zip
log = logging.getLogger(__name__)


def _has_classes(folder: Path) -> bool:
    return (folder / "benign").is_dir() and (folder / "malignant").is_dir()


def resolve_busi_root(data_root: str | os.PathLike | None) -> Path:
    """``data_root`` (--data-root), else env ``BUSI_ROOT``, else ``./datasets/busi``.

    Accepts the folder holding ``benign/`` and ``malignant/`` or the one above Kaggle's
    ``Dataset_BUSI_with_GT``. Raises FileNotFoundError naming the path tried and how to fix it.
    """
    if data_root is not None:
        source = "--data-root"
    elif os.environ.get("BUSI_ROOT"):
        data_root, source = os.environ["BUSI_ROOT"], "BUSI_ROOT"
    else:
        data_root, source = "datasets/busi", "default ./datasets/busi"
    root = Path(data_root).expanduser()
    for candidate in (root, root / _KAGGLE_SUBFOLDER):
        if _has_classes(candidate):
            return candidate.resolve()
    problem = "does not exist" if not root.exists() else "has no benign/ and malignant/ folders"
    raise FileNotFoundError(
        f"BUSI data set not found: {root.resolve()} ({source}) {problem}. Download BUSI "
        "(Al-Dhabyani et al. 2020, 'Dataset of breast ultrasound images'; Kaggle: Breast "
        "Ultrasound Images Dataset), lay it out as benign/ malignant/ [normal/] with the image "
        "files inside, then pass --data-root PATH or set BUSI_ROOT=PATH."
    )


def _natural_key(text: str) -> list:
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", text)]


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
            if (
                f.is_file()
                and not f.name.startswith(".")
                and "_mask" not in f.name.lower()
                and f.suffix.lower() in IMAGE_EXTENSIONS
            ):
                out.append((f"{folder}/{f.name}", label))
    return sorted(out, key=lambda item: _natural_key(item[0]))


def load_busi(
    data_root: str | os.PathLike | None = None,
    image_size: int = 224,
    include_normal: bool = False,
    cache_dir: str | os.PathLike | None = None,
    near_duplicate_distance: int | None = NEAR_DUPLICATE_RULES[0][0],
) -> ImageSet:
    """Load BUSI as an ImageSet of ``image_size`` grayscale squares.

    ``near_duplicate_distance`` is the pHash distance of the main near-duplicate rule
    (default 12, with NCC >= 0.85; the stricter shifted-copy rule of duplicates.py is kept);
    None turns near-duplicate detection off, leaving exact duplicates only.
    """
    root = resolve_busi_root(data_root)
    files = list_busi_files(root, include_normal)
    if not files:
        raise FileNotFoundError(f"no image files found under {root}/benign or {root}/malignant")
    ids = [rel for rel, _ in files]
    labels = np.array([label for _, label in files], dtype=np.int64)
    sizes = {image_size, DUPLICATE_CHECK_SIZE}
    decoded, sha256s, cache_hit = decode_images_multi([root / rel for rel in ids], sizes, cache_dir)

    if near_duplicate_distance is None:
        rules = ()
    else:
        rules = ((near_duplicate_distance, NEAR_DUPLICATE_RULES[0][1]),) + tuple(NEAR_DUPLICATE_RULES[1:])
    groups = find_duplicate_groups(decoded[DUPLICATE_CHECK_SIZE], sha256s, rules)
    keep, excluded = resolve_label_conflicts(groups, labels, ids, sha256s)
    kept = np.flatnonzero(keep)
    kept_ids = [ids[i] for i in kept]
    kept_sha = [sha256s[i] for i in kept]
    log.info("BUSI %s: %d images (%s), %d excluded as cross-label duplicates, %d groups",
             root, len(kept), "from cache" if cache_hit else "decoded", len(excluded), len(set(groups[kept])))
    return ImageSet(
        images=decoded[image_size][kept],
        labels=labels[kept],
        ids=kept_ids,
        groups=np.unique(groups[kept], return_inverse=True)[1].astype(np.int64),
        name="busi",
        synthetic=False,
        checksum=dataset_checksum(kept_ids, kept_sha),
        excluded=excluded,
    )
