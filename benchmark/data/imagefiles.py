"""What every data set read from image files shares: listing, decoding, duplicate groups.

:func:`image_set_from_files` decodes the files once (cache.py, content-keyed), finds exact and
near duplicates (duplicates.py) on 64 px decodes, whatever ``image_size`` is, so groups and
splits do not depend on the image size, excludes every image of a duplicate group that holds
both labels, and returns an ImageSet whose ``groups`` keep the remaining duplicates in one split.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .cache import decode_images_multi
from .duplicates import (NEAR_DUPLICATE_RULES, dataset_checksum, find_duplicate_groups, read_same_lesion_pairs,
                         resolve_label_conflicts)
from .imageset import ImageSet

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
DUPLICATE_CHECK_SIZE = 64
log = logging.getLogger(__name__)


def natural_key(text: str) -> list:
    """Sort key that puts "x (2)" before "x (10)"."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", text)]


def is_image_file(path: Path) -> bool:
    """A visible file with an image extension whose name does not contain "_mask" (BUSI's
    segmentation masks: ``*_mask.png``, ``*_mask_1.png``)."""
    return (path.is_file() and not path.name.startswith(".") and "_mask" not in path.name.lower()
            and path.suffix.lower() in IMAGE_EXTENSIONS)


def near_duplicate_rules(near_duplicate_distance: int | None) -> tuple[tuple[int, float], ...]:
    """duplicates.py's rules with the main rule's pHash distance replaced (None: no near duplicates)."""
    if near_duplicate_distance is None:
        return ()
    return ((near_duplicate_distance, NEAR_DUPLICATE_RULES[0][1]),) + tuple(NEAR_DUPLICATE_RULES[1:])


def image_set_from_files(
    name: str,
    root: Path,
    ids: Sequence[str],
    labels: Iterable[int],
    image_size: int,
    cache_dir: str | os.PathLike | None = None,
    excluded: Sequence[dict] = (),
    near_duplicate_distance: int | None = NEAR_DUPLICATE_RULES[0][0],
    paths: Sequence[Path] | None = None,
    same_lesion: str | os.PathLike | None = None,
    skip_absent_pairs: bool = False,
) -> ImageSet:
    """Decode ``root / id`` (or ``paths``) at ``image_size``, group duplicates (and the pairs of
    the curated CSV ``same_lesion``, see duplicates.py), drop cross-label groups (appended to
    ``excluded``), and return the ImageSet ``name``. With ``skip_absent_pairs`` (a built-in list
    on a subset or cleaned copy), a curated pair with an image ``ids`` lacks is left out and listed
    in ``skipped_pairs``; without it, such a pair is a ValueError naming the file and the row."""
    ids = list(ids)
    labels = np.asarray(list(labels), dtype=np.int64)
    paths = [Path(root) / rel for rel in ids] if paths is None else [Path(p) for p in paths]
    sizes = {image_size, DUPLICATE_CHECK_SIZE}
    decoded, sha256s, cache_hit = decode_images_multi(paths, sizes, cache_dir)
    curated, skipped = read_same_lesion_pairs(same_lesion, ids, skip_absent_pairs) if same_lesion is not None \
        else ([], [])
    groups = find_duplicate_groups(decoded[DUPLICATE_CHECK_SIZE], sha256s,
                                   near_duplicate_rules(near_duplicate_distance), curated)
    keep, conflicts = resolve_label_conflicts(groups, labels, ids, sha256s)
    kept = np.flatnonzero(keep)
    kept_ids = [ids[i] for i in kept]
    kept_sha = [sha256s[i] for i in kept]
    log.info("%s %s: %d images (%s), %d excluded as cross-label duplicates, %d groups, %d curated pairs skipped "
             "(an image absent)", name, root, len(kept), "from cache" if cache_hit else "decoded", len(conflicts),
             len(set(groups[kept])), len(skipped))
    return ImageSet(
        images=decoded[image_size][kept],
        labels=labels[kept],
        ids=kept_ids,
        groups=np.unique(groups[kept], return_inverse=True)[1].astype(np.int64),
        name=name,
        synthetic=False,
        checksum=dataset_checksum(kept_ids, kept_sha),
        excluded=list(excluded) + conflicts,
        skipped_pairs=skipped,
    )
