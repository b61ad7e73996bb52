"""Acquisition shifts at graded strengths: what separates one hospital's images from another's.

Each shift maps uint8 grayscale images N x S x S and a strength in [0, 1] to new images; strength 0
returns the images unchanged (the original scores, exactly), strength 1 is the strongest change
the suite tests, and :data:`STRENGTHS` are the strengths scored. What strength 1 means:

- ``gain``: the display gain raised, intensities x 1.6 (saturating at white);
- ``contrast``: the dynamic range compressed, deviations from the image's mean x 0.4;
- ``speckle``: extra multiplicative speckle, x (1 + 0.3 n) with n standard Gaussian noise
  correlated over about a pixel (drawn from the image's index, the same for every method);
- ``blur``: a coarser resolution, the image reduced to 25% of its side and enlarged back;
- ``jpeg``: JPEG compression at quality 10 (quality 90 - 80 x strength);
- ``crop``: a narrower field of view, the central 60% of the image enlarged to the full size.

Strengths in between scale linearly (a crop of 1 - 0.4 s, a gain of 1 + 0.6 s, ...); the strengths scored
are 0, 0.5 and 1.
"""
from __future__ import annotations

import io
from typing import Callable

import numpy as np
from PIL import Image
from scipy import ndimage

__all__ = ["SHIFTS", "STRENGTHS", "apply_shift"]

STRENGTHS = (0.0, 0.5, 1.0)


def _gain(img: np.ndarray, s: float, rng) -> np.ndarray:
    return img.astype(np.float64) * (1 + 0.6 * s)


def _contrast(img: np.ndarray, s: float, rng) -> np.ndarray:
    x = img.astype(np.float64)
    return x.mean() + (1 - 0.6 * s) * (x - x.mean())


def _speckle(img: np.ndarray, s: float, rng) -> np.ndarray:
    noise = ndimage.gaussian_filter(rng.standard_normal(img.shape), 1.0)
    noise /= noise.std() + 1e-12
    return img.astype(np.float64) * np.clip(1 + 0.3 * s * noise, 0, None)


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((size[1], size[0]), Image.Resampling.BILINEAR), dtype=np.float64)


def _blur(img: np.ndarray, s: float, rng) -> np.ndarray:
    h, w = img.shape
    side = max(1.0 - 0.75 * s, 1.0 / min(h, w))
    small = _resize(img, (max(1, round(h * side)), max(1, round(w * side))))
    return _resize(np.clip(np.rint(small), 0, 255).astype(np.uint8), (h, w))


def _jpeg(img: np.ndarray, s: float, rng) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, format="JPEG", quality=int(round(90 - 80 * s)))
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("L"), dtype=np.float64)


def _crop(img: np.ndarray, s: float, rng) -> np.ndarray:
    h, w = img.shape
    keep = 1.0 - 0.4 * s
    ch, cw = max(1, round(h * keep)), max(1, round(w * keep))
    top, left = (h - ch) // 2, (w - cw) // 2
    return _resize(np.ascontiguousarray(img[top:top + ch, left:left + cw]), (h, w))


SHIFTS: dict[str, Callable] = {"gain": _gain, "contrast": _contrast, "speckle": _speckle, "blur": _blur,
                               "jpeg": _jpeg, "crop": _crop}


def apply_shift(images: np.ndarray, shift: str, strength: float, seed: int = 0) -> np.ndarray:
    """``images`` (uint8 N x S x S) under ``shift`` at ``strength`` (0: the images themselves).

    The random draws (speckle) come from ``(seed, image position)``, so a set of images gets the
    same noise whichever model scores it."""
    if shift not in SHIFTS:
        raise ValueError(f"unknown shift {shift!r}; choose one of {', '.join(SHIFTS)}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"shift strength {strength!r} is outside [0, 1]")
    images = np.asarray(images, dtype=np.uint8)
    if strength == 0.0:
        return images.copy()
    out = np.empty_like(images)
    for k, img in enumerate(images):
        rng = np.random.default_rng([int(seed), k])
        out[k] = np.clip(np.rint(SHIFTS[shift](img, float(strength), rng)), 0, 255).astype(np.uint8)
    return out
