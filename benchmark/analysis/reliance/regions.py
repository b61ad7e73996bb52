"""Lesion-only and context-only images: the lesion region kept and the rest neutralised, or the
reverse, the lesion region filled from its surroundings.

The **region** of an image is its lesion mask (``benchmark.data.masks``) dilated by a margin, a
fraction of the image side (:data:`MARGIN`), so that the lesion's margin (spiculation, a halo,
an echogenic rim) counts as lesion. Images without a mask are not transformed (callers skip them).

- :func:`lesion_only`: the region kept, every other pixel set to one neutral grey (the mean grey
  of the images scored together, the same for both classes, so the context carries nothing).
- :func:`context_only`: the region filled from its surroundings so that no hole or edge gives it
  away, by seamless cloning (Pérez, Gangnet and Blake, "Poisson image editing", SIGGRAPH 2003) of the
  nearest block of tissue of the region's shape that lies outside it: the fill is the harmonic
  interpolation of the region's border (Laplace's equation solved inside it) plus the block's own
  deviation from the harmonic interpolation of *its* border. That deviation is zero at the border, so
  the fill joins the surroundings without a seam, and it carries the tissue's speckle and structure
  at every scale, so the fill is neither blander nor busier than the tissue around it. Where the
  block overlaps the region (a lesion too large to find a free block), speckle is drawn from the
  region's surroundings instead.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.linalg import spsolve

__all__ = ["MARGIN", "TEXTURE_SIGMA", "regions", "lesion_only", "context_only", "fill_region"]

MARGIN = 0.05         # the lesion mask is dilated by this fraction of the image side
TEXTURE_SIGMA = 1.5   # px: the Gaussian that splits brightness (smooth part) from texture (the rest)


def _disk(radius: int) -> np.ndarray:
    r = max(int(radius), 0)
    y, x = np.ogrid[-r:r + 1, -r:r + 1]
    return x * x + y * y <= r * r


def regions(masks: np.ndarray, margin: float = MARGIN) -> np.ndarray:
    """The lesion regions: each N x S x S mask dilated by a disk of ``margin`` x S pixels."""
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3:
        raise ValueError(f"masks must be N x S x S, got shape {masks.shape}")
    radius = int(round(margin * masks.shape[-1]))
    if radius == 0:
        return masks.copy()
    disk = _disk(radius)
    return np.stack([ndimage.binary_dilation(m, structure=disk) if m.any() else m for m in masks])


def lesion_only(images: np.ndarray, region: np.ndarray, fill: float | None = None) -> np.ndarray:
    """Each image's region kept, the rest set to ``fill`` (default: the mean grey of ``images``)."""
    images = np.asarray(images, dtype=np.uint8)
    value = float(images.mean()) if fill is None else float(fill)
    return np.where(region, images, np.uint8(round(value))).astype(np.uint8)


def _harmonic(smooth: np.ndarray, region: np.ndarray) -> np.ndarray:
    """``smooth`` with its ``region`` pixels replaced by the solution of Laplace's equation whose
    boundary values are the neighbouring pixels outside the region."""
    h, w = smooth.shape
    index = -np.ones((h, w), dtype=np.int64)
    ys, xs = np.nonzero(region)
    index[ys, xs] = np.arange(len(ys))
    n = len(ys)
    rows, cols, vals = [np.arange(n)], [np.arange(n)], [np.zeros(n)]
    rhs = np.zeros(n)
    degree = np.zeros(n)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        degree += inside
        k = np.flatnonzero(inside)
        neighbour = index[ny[k], nx[k]]
        unknown = neighbour >= 0
        rows.append(k[unknown])
        cols.append(neighbour[unknown])
        vals.append(-np.ones(unknown.sum()))
        known = k[~unknown]
        np.add.at(rhs, known, smooth[ny[known], nx[known]])
    vals[0] = degree
    a = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    out = smooth.copy()
    out[ys, xs] = spsolve(a, rhs)
    return out


def _texture_source(region: np.ndarray) -> tuple[int, int]:
    """The shift (dy, dx) of the nearest copy of the region's bounding box that lies in the image and
    overlaps the region least: where the fill's texture is copied from."""
    h, w = region.shape
    ys, xs = np.nonzero(region)
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    bh, bw = bottom - top, right - left
    best, best_cost = (0, 0), np.inf
    for dy in range(-top, h - bottom + 1, max(1, bh // 4)):
        for dx in range(-left, w - right + 1, max(1, bw // 4)):
            overlap = region[top + dy:bottom + dy, left + dx:right + dx][region[top:bottom, left:right]].mean()
            cost = overlap * 1e6 + abs(dy) + abs(dx)  # least overlap first, then the nearest
            if cost < best_cost:
                best, best_cost = (dy, dx), cost
    return best


def fill_region(image: np.ndarray, region: np.ndarray, seed: int = 0) -> np.ndarray:
    """``image`` (uint8 S x S) with ``region`` filled from its surroundings (the module docstring)."""
    if not region.any():
        return np.asarray(image, dtype=np.uint8).copy()
    x = np.asarray(image, dtype=np.float64)
    ys, xs = np.nonzero(region)
    dy, dx = _texture_source(region)
    sy, sx = ys + dy, xs + dx
    source = np.zeros_like(region)
    source[sy, sx] = True
    # the source block's own structure: its pixels minus the harmonic interpolation of its border, zero at
    # the border, so that added to the region's interpolation it joins the surroundings without a seam
    detail = x[sy, sx] - _harmonic(x, source)[sy, sx]
    inside_source = region[sy, sx]  # a source pixel that is itself lesion: speckle of the context instead
    if inside_source.any():
        rng = np.random.default_rng(seed)
        texture = (x - ndimage.gaussian_filter(x, TEXTURE_SIGMA))[~region]
        detail[inside_source] = rng.choice(texture, inside_source.sum())
    out = x.copy()
    out[ys, xs] = _harmonic(x, region)[ys, xs] + detail
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def context_only(images: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Each image with its region filled from its surroundings (:func:`fill_region`)."""
    images = np.asarray(images, dtype=np.uint8)
    return np.stack([fill_region(img, reg, seed=k) for k, (img, reg) in enumerate(zip(images, region))])
