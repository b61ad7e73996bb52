"""The images the representation analysis runs the models on, as normalised batches.

- the fold's **test images** (ultrasound, uint8 grayscale), read from the run folder's
  ``test_images.npz`` (:func:`fold_test_images`) and normalised as the trainer
  normalises them (gray copied to 3 channels);
- the **natural photographs** the pretrained backbone is compared on: the colour photographs
  that scikit-image ships (:data:`NATURAL_PHOTOS`; the paper used ImageNet validation images),
  each centre-cropped to a square, resized and normalised with the backbone's mean and std.

Nothing here runs a model: :mod:`benchmark.analysis.representations` feeds these batches to
:func:`benchmark.analysis.block_signs.block_sign_counts`.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.runfolder import PREDICTIONS_FILE, TEST_IMAGES_FILE, internal_dataset, load_predictions, test_images

#: scikit-image's colour photographs of natural scenes and objects, all shipped with the
#: package (no download). ``cat`` is the same picture as ``chelsea`` and is left out; the
#: two motorcycle views are the left and right images of ``stereo_motorcycle()``.
#: Microscopy, retina and synthetic images (``immunohistochemistry``, ``retina``,
#: ``colorwheel``, ``logo``) are not natural photographs and are not used.
NATURAL_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "motorcycle_left",
                  "motorcycle_right")


def natural_photographs(image_size: int, names=NATURAL_PHOTOS) -> tuple[torch.Tensor, list[str]]:
    """The photographs as float RGB in [0, 1], N x 3 x size x size, and their names.

    Each photograph is centre-cropped to a square (its shorter side) and resized with
    antialiasing to ``image_size``.
    """
    return _photographs(int(image_size), tuple(names)).clone(), list(names)


@functools.lru_cache(maxsize=4)
def _photographs(image_size: int, names: tuple[str, ...]) -> torch.Tensor:
    try:
        import skimage.data as data
    except ImportError as exc:  # pragma: no cover - scikit-image is installed with the test extras
        raise ImportError("the natural-photograph reference of the activation analysis needs scikit-image "
                          "(pip install scikit-image): its photographs ship with the package") from exc
    stereo = None
    images = []
    for name in names:
        if name in ("motorcycle_left", "motorcycle_right"):
            if stereo is None:
                stereo = data.stereo_motorcycle()
            img = stereo[0] if name == "motorcycle_left" else stereo[1]
        else:
            img = getattr(data, name)()
        img = np.asarray(img)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        img = img[..., :3]
        h, w = img.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        img = img[top:top + side, left:left + side]
        x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div(255.0)[None]
        images.append(F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True,
                                    align_corners=False).clamp_(0.0, 1.0))
    return torch.cat(images)


def _normalise(unit_rgb: torch.Tensor, mean, std) -> torch.Tensor:
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((unit_rgb - m) / s).contiguous(memory_format=torch.channels_last)


def ultrasound_batches(images: np.ndarray, mean, std, batch_size: int):
    """uint8 grayscale N x H x W, normalised as the trainer does (gray copied to 3 channels)."""
    from benchmark.training.device import Preprocess

    prep = Preprocess(mean, std)
    x = torch.as_tensor(images)
    for start in range(0, len(x), batch_size):
        yield prep(prep.to_unit(x[start:start + batch_size]))


def photo_batches(unit_rgb: torch.Tensor, mean, std, batch_size: int):
    """Float RGB photographs in [0, 1] (:func:`natural_photographs`), normalised with ``mean`` and ``std``."""
    for start in range(0, len(unit_rgb), batch_size):
        yield _normalise(unit_rgb[start:start + batch_size], mean, std)


def fold_test_images(run_dir, repeat: int, fold: int) -> np.ndarray:
    """The fold's test images: its ids in ``predictions.csv`` (training data set), in the order of
    their first rows, looked up in ``test_images.npz``; a ``FileNotFoundError`` when the fold has
    no test row or the file lacks one of its images."""
    run_dir = Path(run_dir)
    pred = load_predictions(run_dir)
    rows = pred[(pred["dataset"] == internal_dataset(run_dir, pred)) & (pred["repeat"] == repeat)
                & (pred["fold"] == fold)]
    ids = list(dict.fromkeys(rows["image_id"]))
    if not ids:
        raise FileNotFoundError(f"{run_dir / PREDICTIONS_FILE} has no test image of repeat {repeat}, fold {fold}")
    images, found = test_images(run_dir, ids)
    if len(found) < len(ids):
        raise FileNotFoundError(f"{run_dir / TEST_IMAGES_FILE} lacks {len(ids) - len(found)} of the "
                                f"{len(ids)} test images of repeat {repeat}, fold {fold}")
    return images
