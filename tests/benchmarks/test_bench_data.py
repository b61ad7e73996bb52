"""Benchmarks of the data pipeline: decoding image files, loading the decoded-image cache,
and augmenting a batch of 24 images."""
import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.training.augment import augment_batch
from benchmark.data.cache import decode_image, decode_images
from benchmark.data.synthetic import make_synthetic


@pytest.fixture(scope="module")
def png_files(tmp_path_factory):
    """8 synthetic ultrasound images as 256 px PNG files."""
    folder = tmp_path_factory.mktemp("pngs")
    data = make_synthetic(n_images=8, image_size=256, seed=1)
    paths = []
    for i, image in enumerate(data.images):
        path = folder / f"{i}.png"
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths


def test_decode_pngs(benchmark, png_files):
    images = benchmark(lambda: np.stack([decode_image(p, 112) for p in png_files]))
    assert images.shape == (8, 112, 112) and images.dtype == np.uint8
    assert images.std() > 0


def test_load_decoded_image_cache(benchmark, png_files, tmp_path):
    first, sha, hit = decode_images(png_files, 112, tmp_path)  # decodes and writes the bundle
    assert not hit and len(sha) == 8
    images, sha2, hit = benchmark(decode_images, png_files, 112, tmp_path)
    assert hit and sha2 == sha
    assert np.array_equal(images, first)


def test_augment_batch_of_24(benchmark):
    rng = np.random.default_rng(0)
    unit = torch.as_tensor(rng.integers(0, 256, (24, 1, 112, 112), dtype=np.uint8)).float() / 255
    generator = torch.Generator().manual_seed(0)
    out = benchmark(augment_batch, unit, generator)
    assert out.shape == unit.shape and out.dtype == unit.dtype
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, unit)
