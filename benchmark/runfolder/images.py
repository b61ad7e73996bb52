"""The run folder's saved test images (``test_images.npz``), read without torch.

:func:`open_test_images` is the one place that opens the file (every reader below, the partition's
:func:`benchmark.runfolder.partition.read_partition` and the reference's features go through it);
:func:`test_images` reads images by id (the report's gallery, the model analysis); :func:`fold_test_set` one
fold's images, labels and ids as the suite saved them.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np

from benchmark.runfolder.layout import TEST_IMAGES_FILE

__all__ = ["open_test_images", "test_images", "fold_test_set"]


@contextmanager
def open_test_images(run_dir, fix: str = "the suite saves the test images there"):
    """``test_images.npz`` opened (its arrays read when indexed), or a ``FileNotFoundError`` that names the file
    and ``fix``, what to do."""
    path = Path(run_dir) / TEST_IMAGES_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {fix}")
    with np.load(path) as z:
        yield z


def test_images(run_dir, ids) -> tuple[np.ndarray, list[str]]:
    """The saved images of ``ids`` (in that order, those found), from ``test_images.npz``.

    The file holds arrays ``images<suffix>`` with matching ``ids<suffix>`` (one pair per
    saved set, e.g. ``images_0``/``ids_0``, or one ``images``/``ids`` for all images); an
    image is looked up by its id in any of them. Returns ``(images, found_ids)``. A missing
    file is a ``FileNotFoundError``.
    """
    wanted = [str(i) for i in ids]
    want = set(wanted)
    found: dict[str, np.ndarray] = {}
    with open_test_images(run_dir) as z:
        for key in z.files:
            if not key.startswith("ids"):
                continue
            image_key = "images" + key[len("ids"):]
            if image_key not in z.files:
                continue
            keys = [str(i) for i in z[key]]
            hits = [k for k, i in enumerate(keys) if i in want and i not in found]
            if hits:
                images = z[image_key]
                found.update({keys[k]: images[k] for k in hits})
    order = [i for i in wanted if i in found]
    if not order:
        return np.empty((0,)), []
    return np.stack([found[i] for i in order]), order


def fold_test_set(run_dir, repeat: int = 0, fold: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(images, labels, ids) of one fold's test set, as the suite saved them."""
    fix = f"rebuild it with `petl-bench suite --run-dir {run_dir}` (finished runs are not redone)"
    with open_test_images(run_dir, fix) as z:
        key = f"test_fold_{repeat}"
        if key not in z:
            raise ValueError(f"{Path(run_dir) / TEST_IMAGES_FILE} has no repeat {repeat}")
        index = np.flatnonzero(z[key] == fold)
        return z["images"][index], z["labels"][index], [str(i) for i in z["ids"][index]]
