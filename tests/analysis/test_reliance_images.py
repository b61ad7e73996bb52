"""The reliance analysis's image transforms: the lesion region, lesion-only and context-only copies,
the acquisition shifts, and a class-activation map's share inside a region."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.metrics import roc_auc_score

from benchmark.analysis.reliance.regions import MARGIN, context_only, fill_region, lesion_only, regions
from benchmark.analysis.reliance.saliency import class_activation_maps, share_inside
from benchmark.analysis.reliance.shifts import SHIFTS, STRENGTHS, apply_shift
from benchmark.data.synthetic import make_synthetic


def _ellipse(size: int, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    y, x = np.ogrid[:size, :size]
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1


@pytest.fixture(scope="module")
def tissue():
    """Synthetic scans at 96 px; per image an elliptic region to fill and a decoy of the same shape
    elsewhere in the image (one in the upper half, one in the lower, at random)."""
    data = make_synthetic(n_images=80, image_size=96, seed=5)
    rng = np.random.default_rng(0)
    regions_, decoys = [], []
    for _ in range(len(data)):
        ry, rx = rng.uniform(8, 14), rng.uniform(10, 16)
        a, b = (rng.uniform(20, 40), rng.uniform(20, 76)), (0.0, rng.uniform(20, 76))
        b = (a[0] + 40, b[1])
        if rng.random() < 0.5:
            a, b = b, a
        regions_.append(_ellipse(96, *a, ry, rx))
        decoys.append(_ellipse(96, *b, ry, rx))
    return data.images, np.stack(regions_), np.stack(decoys)


def _local_spread(img: np.ndarray) -> np.ndarray:
    mean, square = ndimage.uniform_filter(img, 3), ndimage.uniform_filter(img * img, 3)
    return np.sqrt(np.maximum(square - mean * mean, 0))


def _border_features(img: np.ndarray, region: np.ndarray) -> list[float]:
    """What would give a filled region away: the gradient on its border against the image's, the texture
    (local spread) inside it against just outside it, and its mean grey against that of its rim."""
    img = img.astype(float)
    grad = np.hypot(ndimage.sobel(img, 0), ndimage.sobel(img, 1))
    border = ndimage.binary_dilation(region, iterations=2) & ~ndimage.binary_erosion(region, iterations=2)
    ring = ndimage.binary_dilation(region, iterations=6) & ~region
    spread = _local_spread(img)
    return [grad[border].mean() / grad.mean(), spread[region].mean() / spread[ring].mean(),
            abs(img[region].mean() - img[ring].mean()) / img.std()]


def _detectability(images: np.ndarray, regions_: np.ndarray, decoys: np.ndarray) -> float:
    """Cross-validated AUC of a logistic regression telling the filled region from the decoy region of
    the same image, on their border features (0.5: it cannot)."""
    x = np.array([_border_features(i, r) for i, r in zip(images, regions_)]
                 + [_border_features(i, d) for i, d in zip(images, decoys)])
    y = np.r_[np.ones(len(images)), np.zeros(len(images))]
    p = cross_val_predict(LogisticRegression(max_iter=1000), (x - x.mean(0)) / x.std(0), y, cv=5,
                          method="predict_proba")[:, 1]
    return roc_auc_score(y, p)


def test_the_fill_leaves_no_edge_a_classifier_can_find(tissue):
    images, regions_, decoys = tissue
    filled = context_only(images, regions_)
    assert (filled[~regions_] == images[~regions_]).all()  # only the region changes
    assert (filled[regions_] != images[regions_]).mean() > 0.5
    # nothing filled, the same classifier scores about 0.55 (the regions differ by chance); filled, not much more
    assert _detectability(images, regions_, decoys) < 0.65
    assert _detectability(filled, regions_, decoys) < 0.7


def test_a_flat_fill_is_found_by_the_same_classifier(tissue):
    """The plant: a region filled with its rim's mean grey is found at once."""
    images, regions_, decoys = tissue
    flat = images.copy()
    for img, region in zip(flat, regions_):
        ring = ndimage.binary_dilation(region, iterations=6) & ~region
        img[region] = np.uint8(round(img[ring].mean()))
    assert _detectability(flat, regions_, decoys) > 0.95


def test_regions_are_masks_dilated_by_the_margin():
    mask = np.zeros((1, 100, 100), dtype=bool)
    mask[0, 50, 50] = True
    region = regions(mask)
    radius = round(MARGIN * 100)
    assert region[0, 50, 50 + radius] and not region[0, 50, 50 + radius + 1]
    assert region.sum() == pytest.approx(np.pi * radius ** 2, rel=0.15)
    assert not regions(np.zeros((1, 20, 20), bool)).any()


def test_lesion_only_keeps_the_region_and_greys_the_rest():
    images = np.random.default_rng(1).integers(0, 256, (2, 32, 32)).astype(np.uint8)
    region = np.zeros((2, 32, 32), bool)
    region[:, 8:16, 8:16] = True
    out = lesion_only(images, region, fill=77)
    assert (out[region] == images[region]).all() and (out[~region] == 77).all()


def test_fill_of_an_empty_region_is_the_image():
    image = np.arange(64 * 64, dtype=np.uint8).reshape(64, 64)
    assert (fill_region(image, np.zeros((64, 64), bool)) == image).all()


@pytest.mark.parametrize("shift", list(SHIFTS))
def test_every_shift_at_strength_zero_is_the_image_itself(shift):
    images = make_synthetic(n_images=4, image_size=64, seed=2).images
    assert (apply_shift(images, shift, 0.0) == images).all()
    strongest = apply_shift(images, shift, STRENGTHS[-1])
    assert strongest.dtype == np.uint8 and strongest.shape == images.shape
    assert np.abs(strongest.astype(int) - images).mean() > 1.0  # strength 1 changes the images
    assert (apply_shift(images, shift, 1.0, seed=4) == apply_shift(images, shift, 1.0, seed=4)).all()


def test_stronger_shifts_change_the_images_more():
    images = make_synthetic(n_images=4, image_size=64, seed=2).images
    for shift in SHIFTS:
        changes = [np.abs(apply_shift(images, shift, s).astype(int) - images).mean() for s in STRENGTHS]
        assert changes == sorted(changes), shift


def test_shift_arguments_are_checked():
    images = np.zeros((1, 8, 8), np.uint8)
    with pytest.raises(ValueError, match="unknown shift 'fog'"):
        apply_shift(images, "fog", 0.5)
    with pytest.raises(ValueError, match="outside"):
        apply_shift(images, "gain", 1.5)


class _CornerModel(torch.nn.Module):
    """A planted model that sees only the top-left corner: its last convolution's output is masked to
    the corner before pooling."""

    def __init__(self, size: int):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                                            torch.nn.Conv2d(8, 8, 3, stride=2, padding=1))
        corner = torch.zeros(1, 1, size // 2, size // 2)
        corner[..., : size // 8, : size // 8] = 1.0
        self.register_buffer("corner", corner)
        self.head = torch.nn.Linear(8, 1)

    def forward(self, x):
        a = self.features(x) * self.corner
        return self.head(a.mean(dim=(2, 3)))


def test_class_activation_maps_of_a_model_that_sees_only_the_corner_stays_in_the_corner():
    size = 64
    torch.manual_seed(0)
    model = _CornerModel(size)
    images = make_synthetic(n_images=6, image_size=size, seed=1).images
    prepare = lambda batch: batch.float().div(255).unsqueeze(1).expand(-1, 3, -1, -1)  # noqa: E731
    maps = class_activation_maps(model, model.features, images, prepare)
    corner = np.zeros((len(images), size, size), bool)
    corner[:, : size // 4, : size // 4] = True  # the corner, with the bilinear upsampling's spill
    centre = np.zeros_like(corner)
    centre[:, 24:40, 24:40] = True
    shares = share_inside(maps, corner)
    assert np.nanmin(shares) > 0.95
    assert np.nanmax(share_inside(maps, centre)) < 0.01
    assert np.isnan(share_inside(np.zeros((1, 4, 4)), np.ones((1, 4, 4), bool))[0])
