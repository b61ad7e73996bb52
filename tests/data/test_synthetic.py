"""Tests of the synthetic ultrasound generator (benchmark/data/synthetic.py)."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmark.data.imageset import ImageSet
from benchmark.data.synthetic import _lesion_mask, _render, make_synthetic


@pytest.fixture(scope="module")
def probe_set() -> ImageSet:
    return make_synthetic(400, 64, seed=0)


@pytest.mark.parametrize("n, size, fraction",
                         [(2, 32, 210 / 647), (37, 48, 210 / 647), (50, 40, 0.5), (23, 32, 0.9)])
def test_shapes_dtypes_and_label_counts(n, size, fraction):
    s = make_synthetic(n, size, seed=3, malignant_fraction=fraction)
    assert isinstance(s, ImageSet)
    assert s.images.shape == (n, size, size) and s.images.dtype == np.uint8
    assert s.labels.dtype == np.int64 and set(np.unique(s.labels)) <= {0, 1}
    assert int(s.labels.sum()) == round(n * fraction)
    assert s.ids == [f"synthetic/{i:06d}" for i in range(n)]
    assert s.groups.dtype == np.int64 and np.array_equal(s.groups, np.arange(n))
    assert (s.name, s.synthetic, s.excluded) == ("synthetic", True, [])
    digest = hashlib.sha256()
    for image_id, image in zip(s.ids, s.images):
        digest.update(image_id.encode())
        digest.update(image.tobytes())
    assert s.checksum == digest.hexdigest()
    assert s.images.std() > 10  # not blank


def test_labels_are_interleaved_not_sorted():
    labels = make_synthetic(60, 32).labels
    first_malignant = np.flatnonzero(labels == 1)
    assert first_malignant[0] < 5 and first_malignant[-1] > 54  # spread over the whole sequence


def test_deterministic_and_seed_dependent():
    a, b = make_synthetic(12, 64, seed=5), make_synthetic(12, 64, seed=5)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert a.checksum == b.checksum
    c = make_synthetic(12, 64, seed=6)
    assert c.checksum != a.checksum
    assert all(not np.array_equal(x, y) for x, y in zip(a.images, c.images))
    assert len({im.tobytes() for im in a.images}) == len(a)  # every image distinct


def test_prefix_property():
    small, large = make_synthetic(25, 48, seed=2), make_synthetic(50, 48, seed=2)
    assert np.array_equal(small.images, large.images[:25])
    assert np.array_equal(small.labels, large.labels[:25])
    assert small.ids == large.ids[:25]


def test_lesion_is_darker_than_surrounding_tissue():
    darker = []
    for i in range(30):
        image, mask = _render(0, i, 64, malignant=bool(i % 2))
        ring = ndimage.binary_dilation(mask > 0.5, iterations=4) & (mask < 0.01)
        contrast = image[mask > 0.9].mean() - image[ring].mean()
        darker.append(contrast)
    darker = np.array(darker)
    assert (darker < 0).mean() >= 0.9
    assert np.median(darker) < -20


def test_malignant_images_shadow_more(probe_set):
    # posterior region below the image centre, relative to the sides at the same depth
    im, size = probe_set.images.astype(float), probe_set.image_size
    rows = slice(int(0.7 * size), int(0.9 * size))
    centre = im[:, rows, int(0.35 * size):int(0.65 * size)].mean((1, 2))
    sides = np.concatenate([im[:, rows, : int(0.2 * size)], im[:, rows, int(0.8 * size):]], axis=2)
    sides = sides.mean((1, 2))
    ratio = centre / sides
    benign, malignant = ratio[probe_set.labels == 0], ratio[probe_set.labels == 1]
    assert malignant.mean() < benign.mean() - 0.08
    assert (malignant > np.median(benign)).mean() > 0.15  # overlapping: not separable by this cue alone


def test_malignant_shapes_taller_and_more_irregular():
    def shape_stats(malignant: bool) -> tuple[np.ndarray, np.ndarray]:
        tall, irregular = [], []
        for i in range(60):
            mask = _lesion_mask(np.random.default_rng([9, i]), 96, malignant) > 0.5
            ys, xs = np.nonzero(mask)
            tall.append(np.ptp(ys) > np.ptp(xs))
            perimeter = (mask & ~ndimage.binary_erosion(mask)).sum()
            irregular.append(perimeter**2 / mask.sum())  # compactness: larger = less oval
        return np.array(tall), np.array(irregular)

    tall_b, irr_b = shape_stats(False)
    tall_m, irr_m = shape_stats(True)
    assert tall_m.mean() > tall_b.mean() + 0.25
    assert 0 < tall_b.mean() and tall_m.mean() < 1  # the cue overlaps between classes
    assert np.median(irr_m) > np.median(irr_b)


def test_linear_probe_beats_chance_but_is_not_perfect(probe_set):
    n = len(probe_set)
    x = probe_set.images.reshape(n, 16, 4, 16, 4).mean(axis=(2, 4)).reshape(n, -1) / 255
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    auc = cross_val_score(probe, x, probe_set.labels, cv=cv, scoring="roc_auc").mean()
    assert 0.55 < auc < 0.99


@pytest.mark.parametrize("kwargs, name", [
    ({"n_images": 1}, "n_images"),
    ({"n_images": 2.5}, "n_images"),
    ({"image_size": 31}, "image_size"),
    ({"image_size": "128"}, "image_size"),
    ({"malignant_fraction": 0.0}, "malignant_fraction"),
    ({"malignant_fraction": 1.0}, "malignant_fraction"),
    ({"malignant_fraction": float("nan")}, "malignant_fraction"),
    ({"seed": -1}, "seed"),
])
def test_bad_arguments_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_synthetic(**kwargs)
