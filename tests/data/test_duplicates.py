"""benchmark/data/duplicates.py against independent oracles on small seeded synthetic images.

The oracles are written here from the definitions: PIL's bilinear resize called directly, a
DCT-II built by hand as a cosine matrix, Hamming distances as XOR counts, and the shifted NCC as
a loop over every shift with ``np.corrcoef`` on the overlap. The near-duplicate rule is checked
on crafted pairs whose pHash distance and NCC the oracles confirm first.
"""
from __future__ import annotations

import csv
import hashlib
import re

import numpy as np
import pytest
from PIL import Image

from benchmark.data import ImageSet
from benchmark.data import duplicates
from benchmark.data.duplicates import (ABSENT, NEAR_DUPLICATE_RULES, _confirmed, _resize, _union_find_groups,
                                       cross_duplicate_pairs, cross_duplicates, dataset_checksum,
                                       find_duplicate_groups, group_summary, hamming_matrix, near_duplicate_pairs,
                                       phash_bits, read_same_lesion_pairs, resolve_label_conflicts, shifted_ncc)


# ---- synthetic images --------------------------------------------------------------------------

def texture(seed: int, size: int = 88) -> np.ndarray:
    """A smooth float canvas (a sum of twelve Gaussian blobs) scaled to gray levels 20..220."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    im = np.zeros((size, size))
    for _ in range(12):
        cy, cx = rng.uniform(0, size, 2)
        width = rng.uniform(size / 20, size / 6)
        im += rng.uniform(-1, 1) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width ** 2))
    return 20 + 200 * (im - im.min()) / (im.max() - im.min())


def window(canvas: np.ndarray, dy: int = 0, dx: int = 0, noise: float = 0.0, size: int = 64) -> np.ndarray:
    """The uint8 size x size window of ``canvas`` at (8 + dy, 8 + dx): windows at different
    offsets are shifted copies of one scan; ``noise`` adds Gaussian noise (seed 100)."""
    im = canvas[8 + dy:8 + dy + size, 8 + dx:8 + dx + size]
    if noise:
        im = im + np.random.default_rng(100).normal(0, noise, im.shape)
    return np.clip(np.rint(im), 0, 255).astype(np.uint8)


def noise_images(n: int, size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size), dtype=np.uint8)


def pil_resize(image: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR), dtype=np.float64)


# ---- oracles -----------------------------------------------------------------------------------

def dct_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II as a matrix: row k is sqrt(2/n) c_k cos(pi (2i + 1) k / 2n), c_0 = 1/sqrt(2)."""
    k = np.arange(n)
    c = np.sqrt(2 / n) * np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n))
    c[0] /= np.sqrt(2)
    return c


def oracle_phash(image: np.ndarray) -> np.ndarray:
    """64 bits: the 8 x 8 lowest DCT frequencies of the 32 px bilinear thumbnail above their median."""
    c = dct_matrix(32)
    low = (c @ pil_resize(image, 32) @ c.T)[:8, :8].ravel()
    return low > np.median(low)


def oracle_distance(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.sum(oracle_phash(a) != oracle_phash(b)))


def overlap(a: np.ndarray, b: np.ndarray, dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
    """The parts of a and b that overlap when a is moved by (dy, dx), as flat float arrays."""
    s = a.shape[0]
    rows_a, rows_b = slice(max(dy, 0), s + min(dy, 0)), slice(max(-dy, 0), s + min(-dy, 0))
    cols_a, cols_b = slice(max(dx, 0), s + min(dx, 0)), slice(max(-dx, 0), s + min(-dx, 0))
    return a[rows_a, cols_a].ravel().astype(np.float64), b[rows_b, cols_b].ravel().astype(np.float64)


def brute_ncc(a: np.ndarray, b: np.ndarray, max_shift: int = 6) -> float:
    """The Pearson correlation of the overlap, maximised over every shift up to max_shift; 0 when flat."""
    best = -np.inf
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            x, y = overlap(a, b, dy, dx)
            best = max(best, 0.0 if x.std() == 0 or y.std() == 0 else np.corrcoef(x, y)[0, 1])
    return float(best)


# ---- _resize -----------------------------------------------------------------------------------

@pytest.mark.parametrize("size_in, size_out", [(40, 64), (96, 32), (50, 33)])
def test_resize_is_pil_bilinear_as_float32(size_in, size_out):
    images = noise_images(3, size_in, seed=1)
    out = _resize(images, size_out)
    assert out.dtype == np.float32 and out.shape == (3, size_out, size_out)
    for got, im in zip(out, images):
        assert np.array_equal(got, pil_resize(im, size_out))


def test_resize_keeps_an_image_of_the_right_size_as_float32():
    images = noise_images(2, 16, seed=2)
    out = _resize(images, 16)
    assert out.dtype == np.float32 and np.array_equal(out, images)


@pytest.mark.parametrize("size_in", [10, 4])
def test_resize_of_no_images(size_in):
    out = _resize(np.zeros((0, size_in, size_in), np.uint8), 4)
    assert out.shape == (0, 4, 4) and out.dtype == np.float32


# ---- phash_bits and hamming_matrix --------------------------------------------------------------

def phash_test_images() -> list[np.ndarray]:
    """Smooth textures and noise at 64, 96 and 32 px (32 px skips the downscale)."""
    textures = [window(texture(seed)) for seed in range(6)]
    big = [window(texture(seed, 120), size=96) for seed in (6, 7)]
    return textures + big + list(noise_images(4, 64, seed=3)) + list(noise_images(3, 32, seed=4))


def test_phash_matches_the_slow_dct_oracle():
    images = phash_test_images()
    for group in (images[:6], images[6:8], images[8:12], images[12:]):
        bits = phash_bits(np.stack(group))
        assert bits.shape == (len(group), 64) and bits.dtype == bool
        assert np.array_equal(bits, np.stack([oracle_phash(im) for im in group]))


def test_phash_sets_half_the_bits_unless_all_coefficients_tie():
    images = phash_test_images()
    for group in (images[:6], images[8:12]):
        assert (phash_bits(np.stack(group)).sum(axis=1) == 32).all()
    # a black image: every coefficient is 0, equal to the median, so none is above it
    assert not phash_bits(np.zeros((1, 64, 64), np.uint8)).any()


def test_phash_reads_integer_arrays_as_gray_levels():
    images = np.stack(phash_test_images()[:3])
    assert np.array_equal(phash_bits(images.astype(np.int64)), phash_bits(images))
    assert np.array_equal(phash_bits(images.tolist()), phash_bits(images))


def test_hamming_matrix_counts_differing_bits():
    rng = np.random.default_rng(5)
    bits, other = rng.random((6, 64)) < 0.5, rng.random((4, 64)) < 0.5
    xor = np.array([[np.count_nonzero(x != y) for y in bits] for x in bits])
    got = hamming_matrix(bits)
    assert np.array_equal(got, xor) and got.dtype.kind == "i"
    cross = hamming_matrix(bits, other)
    assert cross.shape == (6, 4) and cross.dtype.kind == "i"
    assert np.array_equal(cross, [[np.count_nonzero(x != y) for y in other] for x in bits])


# ---- shifted_ncc -------------------------------------------------------------------------------

def test_shifted_ncc_matches_brute_force():
    canvas = texture(0)
    base = window(canvas)
    copies = [window(canvas, dy, dx) for dy, dx in [(6, 6), (-6, 6), (6, -6), (-6, -6), (6, 0), (0, -6), (0, 0)]]
    others = [window(canvas, 3, -2, noise=25), window(texture(9)), noise_images(1, 64, seed=6)[0]]
    b = np.stack(copies + others)
    a = np.stack([base] * len(b))
    want = [brute_ncc(x, y) for x, y in zip(a, b)]
    assert np.allclose(want[:7], 1.0) and max(want[7:]) < 0.99
    assert np.allclose(shifted_ncc(a, b), want, rtol=0, atol=1e-9)
    assert np.allclose(shifted_ncc(a.astype(np.float32), b.astype(np.float32)), want, rtol=0, atol=1e-9)


@pytest.mark.parametrize("max_shift", [0, 1, 2, 3, 5])
def test_shifted_ncc_with_another_max_shift(max_shift):
    """16 px images, so that 16 + max_shift is odd as well as even."""
    canvas = texture(1, size=40)
    base = window(canvas, size=16)
    b = np.stack([window(canvas, max_shift, -max_shift, size=16), window(canvas, max_shift + 1, 0, size=16),
                  window(canvas, -2, 1, noise=20, size=16), noise_images(1, 16, seed=7)[0]])
    a = np.stack([base] * len(b))
    want = [brute_ncc(x, y, max_shift) for x, y in zip(a, b)]
    assert want[0] == pytest.approx(1.0) and want[1] < 0.999
    assert np.allclose(shifted_ncc(a, b, max_shift), want, rtol=0, atol=1e-9)


def test_shifted_ncc_of_faint_and_sparse_images():
    """Two gray levels (a faint image) and one bright pixel on black: still correlated."""
    rng = np.random.default_rng(8)
    faint = (rng.random((3, 64, 64)) < 0.5).astype(np.uint8)
    a = np.stack([faint[0], faint[0]])
    b = np.stack([np.roll(faint[0], (2, -3), axis=(0, 1)), faint[1]])
    assert np.allclose(shifted_ncc(a, b), [brute_ncc(x, y) for x, y in zip(a, b)], rtol=0, atol=1e-9)
    dot_a, dot_b = np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)
    dot_a[3, 4], dot_b[4, 5] = 1, 1
    assert brute_ncc(dot_a, dot_b, 2) == pytest.approx(1.0)
    assert shifted_ncc(dot_a[None], dot_b[None], 2)[0] == pytest.approx(1.0, abs=1e-9)


def test_shifted_ncc_of_a_flat_image_is_zero():
    flat = np.full((64, 64), 117, np.uint8)
    other = window(texture(2))
    got = shifted_ncc(np.stack([flat, other, flat]), np.stack([other, flat, flat]))
    assert np.array_equal(got, [0.0, 0.0, 0.0])
    # variation of a hundredth of a gray level (no uint8 image has it) is flat too
    rng = np.random.default_rng(9)
    near_flat = 117 + rng.normal(0, 0.01, (2, 64, 64))
    assert np.array_equal(shifted_ncc(near_flat[:1], near_flat[1:]), [0.0])


def test_shifted_ncc_of_no_pairs():
    got = shifted_ncc(np.zeros((0, 8, 8)), np.zeros((0, 8, 8)))
    assert got.shape == (0,)


# ---- near_duplicate_pairs and _confirmed -------------------------------------------------------

def test_near_duplicate_pairs_finds_a_shifted_copy_only():
    canvas = texture(0)
    base, unrelated, copy = window(canvas), window(texture(9)), window(canvas, 2, 1)
    d, r = oracle_distance(base, copy), brute_ncc(base, copy)
    assert d <= 12 and r > 0.999
    found = near_duplicate_pairs(np.stack([base, unrelated, copy]))
    assert [f[:3] for f in found] == [(0, 2, d)] and found[0][3] == pytest.approx(r, abs=1e-9)
    assert [f[:3] for f in near_duplicate_pairs(np.stack([base, copy]))] == [(0, 1, d)]
    assert near_duplicate_pairs(np.stack([base, unrelated])) == []


@pytest.mark.parametrize("dy, dx, noise, distance, found", [
    (1, 2, 15, 12, True),  # the first rule only: d <= 12, 0.85 <= NCC < 0.95
    (0, 3, 0, 14, True),  # the second rule only: d 13-16, NCC >= 0.95
    (6, 0, 0, 16, True),
    (4, 0, 15, 14, False),  # d 13-16 with NCC between 0.85 and 0.95
    (0, 3, 15, 16, False),
])
def test_near_duplicate_rules_on_crafted_pairs(dy, dx, noise, distance, found):
    canvas = texture(0)
    base, copy = window(canvas), window(canvas, dy, dx, noise)
    r = brute_ncc(base, copy)
    assert oracle_distance(base, copy) == distance
    assert (0.87 < r < 0.93) if noise else r > 0.999
    got = near_duplicate_pairs(np.stack([base, copy]))
    assert [g[:3] for g in got] == ([(0, 1, distance)] if found else [])
    assert all(g[3] == pytest.approx(r, abs=1e-9) for g in got)


def test_near_duplicate_pairs_of_trivial_inputs():
    canvas = texture(0)
    images = np.stack([window(canvas), window(canvas, 1, 1)])
    assert near_duplicate_pairs(images, rules=()) == []
    assert near_duplicate_pairs(images[:1]) == []
    assert near_duplicate_pairs(images[:0]) == []


def test_near_duplicate_pairs_reads_integer_arrays_as_gray_levels():
    canvas = texture(3, size=120)
    images = np.stack([window(canvas, size=96), window(canvas, 2, 2, size=96), window(texture(4, 120), size=96)])
    want = near_duplicate_pairs(images)
    assert [w[:2] for w in want] == [(0, 1)]
    assert near_duplicate_pairs(images.astype(np.int64)) == want


def test_confirmed_applies_each_rule_with_inclusive_bounds(monkeypatch):
    """The NCC is stubbed (each thumbnail of ``a`` carries its pair's NCC) to test the bounds exactly."""
    cases = [(0, 0.8499, False), (6, 0.9, True), (12, 0.85, True), (12, 0.8499, False), (14, 0.9499, False),
             (14, 0.95, True), (16, 0.95, True), (16, 0.99, True), (17, 0.99, False), (30, 1.0, False)]
    monkeypatch.setattr(duplicates, "shifted_ncc", lambda a, b, max_shift=6: a[:, 0, 0])
    thumbs = np.stack([np.full((2, 2), r) for _, r, _ in cases])
    k = np.arange(len(cases))
    d = np.array([c[0] for c in cases])
    got = _confirmed(thumbs, thumbs, k, k, d, NEAR_DUPLICATE_RULES, 6)
    assert got == [(i, i, c[0], c[1]) for i, c in enumerate(cases) if c[2]]


def test_confirmed_scores_with_the_given_max_shift():
    canvas = texture(0)
    thumbs = np.stack([window(canvas), window(canvas, 5, 0), window(canvas, 0, -2)]).astype(np.float32)
    i, j = np.array([0, 0]), np.array([1, 2])
    got = _confirmed(thumbs, thumbs, i, j, np.zeros(2, np.int64), ((64, -1.0),), 2)
    want = [brute_ncc(thumbs[0], thumbs[1], 2), brute_ncc(thumbs[0], thumbs[2], 2)]
    assert want[0] < 0.99
    assert [g[:3] for g in got] == [(0, 1, 0), (0, 2, 0)]
    assert np.allclose([g[3] for g in got], want, rtol=0, atol=1e-9)


def test_confirmed_over_more_candidates_than_one_chunk():
    """1100 candidate pairs (chunks of 512): copies pass, negated copies do not."""
    thumbs = noise_images(20, 8, seed=10).astype(np.float64)
    thumbs_b = np.concatenate([thumbs, 255 - thumbs])
    k = np.arange(1100)
    i, j = k % 20, k % 20 + 20 * (k % 2)
    got = _confirmed(thumbs, thumbs_b, i, j, np.zeros(1100, np.int64), NEAR_DUPLICATE_RULES, 1)
    assert [g[:3] for g in got] == [(int(a), int(b), 0) for a, b in zip(i[::2], j[::2])]
    assert np.allclose([g[3] for g in got], 1.0, rtol=0, atol=1e-9)


# ---- cross_duplicate_pairs and cross_duplicates ------------------------------------------------

def test_cross_exact_copies_without_rules_in_order_of_b():
    a = noise_images(4, 32, seed=11)
    a[3] = a[1]
    b = np.stack([a[3], noise_images(1, 32, seed=12)[0], a[0]])
    want = [(1, 0, 0, 1.0), (3, 0, 0, 1.0), (0, 2, 0, 1.0)]
    assert cross_duplicate_pairs(a, b, rules=()) == want
    assert cross_duplicate_pairs(a, b) == want
    assert cross_duplicate_pairs(a.astype(np.int64), b.astype(np.int64), rules=()) == want
    # the same bytes in another shape are another image
    assert cross_duplicate_pairs(a, a.reshape(4, 16, 64), rules=()) == []


def test_cross_exact_copies_of_flat_images():
    """A flat image has NCC 0 with everything; its exact copy is still found."""
    a = np.stack([np.full((64, 64), 40, np.uint8), window(texture(0))])
    b = np.stack([window(texture(5)), a[0]])
    assert cross_duplicate_pairs(a, b) == [(0, 1, 0, 1.0)]


def test_cross_sets_of_different_sizes_are_compared_by_phash_and_ncc():
    canvases = [texture(seed, 120) for seed in (3, 4, 5)]
    a = np.stack([window(c, size=96) for c in canvases])
    b = np.stack([pil_resize(a[2], 64).astype(np.uint8), window(texture(6))])
    assert cross_duplicate_pairs(a, b, rules=()) == []
    (i, j, d, r), = cross_duplicate_pairs(a, b)
    assert (i, j, d) == (2, 0, oracle_distance(a[2], b[0]))
    assert r == pytest.approx(brute_ncc(pil_resize(a[2], 64), b[0]), abs=1e-9)


def test_cross_near_copies_found_unrelated_not():
    canvas = texture(0)
    a = np.stack([window(texture(7)), window(canvas)])
    b = np.stack([window(texture(8)), window(canvas, -2, -2, noise=5), window(texture(9)), window(canvas, 6, 0)])
    d, r = oracle_distance(a[1], b[1]), brute_ncc(a[1], b[1])
    assert r < 0.99 and oracle_distance(a[1], b[3]) == 16 and brute_ncc(a[1], b[3]) > 0.999
    got = cross_duplicate_pairs(a, b)
    assert [g[:3] for g in got] == [(1, 1, d), (1, 3, 16)]
    assert got[0][3] == pytest.approx(r, abs=1e-9) and got[1][3] == pytest.approx(1.0, abs=1e-9)
    assert cross_duplicate_pairs(a, b[[0, 2]]) == []
    assert cross_duplicate_pairs(a, b[:0]) == [] and cross_duplicate_pairs(a[:0], b) == []


def test_cross_pairs_of_one_image_of_b_in_order_of_a():
    """A near copy (a[0]) and an exact copy (a[1]) of b[0]: listed by i, not by kind or distance."""
    canvas = texture(0)
    a, b = np.stack([window(canvas, 2, 1), window(canvas)]), window(canvas)[None]
    d = oracle_distance(a[0], b[0])
    got = cross_duplicate_pairs(a, b)
    assert d > 0 and [g[:3] for g in got] == [(0, 0, d), (1, 0, 0)] and got[1][3] == 1.0


def image_set(name: str, images: np.ndarray) -> ImageSet:
    n = len(images)
    return ImageSet(images=images, labels=np.zeros(n, np.int64), ids=[f"{name}/{k}" for k in range(n)],
                    groups=np.arange(n), name=name, synthetic=True, checksum="-")


def test_cross_duplicates_names_the_ids():
    canvas = texture(0)
    a = image_set("a", np.stack([window(texture(7)), window(canvas)]))
    b = image_set("b", np.stack([window(texture(8)), window(canvas, 1, 1), a.images[0]]))
    assert cross_duplicates(a, b) == [("a/1", "b/1"), ("a/0", "b/2")]
    assert cross_duplicates(a, b, rules=()) == [("a/0", "b/2")]


# ---- grouping, labels and the curated list -----------------------------------------------------

def test_group_summary_counts_exact_and_near_groups():
    groups = np.array([0, 0, 1, 1, 2, 3, 3, 4, 4, 4])
    sha256s = ["a", "a", "b", "c", "d", "e", "e", "f", "f", "g"]
    # exact: a, e, f have two files each; near: group 1 (b, c) and group 4 (f, g)
    assert group_summary(groups, sha256s) == {"exact_groups": 3, "near_groups": 2}
    assert group_summary(np.arange(3), ["x", "y", "z"]) == {"exact_groups": 0, "near_groups": 0}


def write_rows(path, rows):
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)


IDS = ["b/1.png", "b/2.png", "b/10.png", "m/3.png"]


def test_read_same_lesion_pairs(tmp_path):
    path = tmp_path / "same.csv"
    write_rows(path, [["image_a", "image_b", "reason"], ["b/2.png", "b/10.png", "  same cyst, another frame  "],
                      ["m/3.png", "b/1.png", "caliper on one copy\r\nseen side by side"]])
    assert read_same_lesion_pairs(path, IDS) == ([(1, 2, "same cyst, another frame"),
                                                  (3, 0, "caliper on one copy\r\nseen side by side")], [])
    path.write_text("")
    assert read_same_lesion_pairs(path, IDS) == ([], [])
    path.write_text("image_a,image_b,reason\n")
    assert read_same_lesion_pairs(path, IDS) == ([], [])


def test_read_same_lesion_pairs_skips_absent_ids_only_when_asked(tmp_path):
    """A built-in list on a subset: its pairs with an image the copy lacks are left out and listed;
    the reason is still required."""
    path = tmp_path / "same.csv"
    write_rows(path, [["image_a", "image_b", "reason"], ["b/1.png", "b/2.png", "x"], ["b/2.png", "b/99.png", "y"],
                      ["b/77.png", "m/3.png", "z"]])
    pairs, skipped = read_same_lesion_pairs(path, IDS, skip_absent=True)
    assert pairs == [(0, 1, "x")]
    assert skipped == [{"image_a": "b/2.png", "image_b": "b/99.png", "reason": ABSENT},
                       {"image_a": "b/77.png", "image_b": "m/3.png", "reason": "image absent from this copy"}]
    with pytest.raises(ValueError, match="row 3: the data set has no image 'b/99.png'"):
        read_same_lesion_pairs(path, IDS)
    write_rows(path, [["image_a", "image_b", "reason"], ["b/2.png", "b/99.png", ""]])
    with pytest.raises(ValueError, match="row 2: give the reason"):
        read_same_lesion_pairs(path, IDS, skip_absent=True)


def test_read_same_lesion_pairs_errors_name_the_file_and_row(tmp_path):
    path = tmp_path / "same.csv"
    write_rows(path, [["image_a", "image_b", "reason"], ["b/1.png", "b/2.png", "x"], ["b/2.png", "b/99.png", "y"]])
    with pytest.raises(ValueError) as err:
        read_same_lesion_pairs(path, IDS)
    assert str(err.value) == (f"{path}, row 3: the data set has no image 'b/99.png'; fix the id or remove the row "
                              "(ids are paths relative to the data set's folder)")
    for reason in ("", "   "):
        write_rows(path, [["image_a", "image_b", "reason"], ["b/1.png", "b/2.png", reason]])
        with pytest.raises(ValueError, match=re.escape(f"{path}, row 2: give the reason")):
            read_same_lesion_pairs(path, IDS)
    path.write_text("image_a,image_b,reason\nb/1.png,b/2.png\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}, row 2: give the reason")):
        read_same_lesion_pairs(path, IDS)
    write_rows(path, [["image_a", "image_b", "note"], ["b/1.png", "b/2.png", "x"]])
    with pytest.raises(ValueError) as err:
        read_same_lesion_pairs(path, IDS)
    assert str(err.value) == f"{path}: needs the columns image_a, image_b, reason; has image_a, image_b, note"
    path.write_text("image_a,image_b,note\n")  # a header without rows is checked too
    with pytest.raises(ValueError, match="needs the columns image_a, image_b, reason"):
        read_same_lesion_pairs(path, IDS)


def test_resolve_label_conflicts_reasons():
    ids = ["b1", "b2", "m1", "b3", "b4", "m2", "b5", "b6", "b7", "m3", "m4"]
    groups = np.array([0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3])
    labels = np.array([0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1])
    sha256s = ["x", "y", "x", "z", "z", "w", "u", "v", "t", "t", "t"]
    keep, excluded = resolve_label_conflicts(groups, labels, ids, sha256s)
    assert keep.dtype == bool and np.array(ids)[keep].tolist() == ["b5", "b6"]
    reasons = {e["id"]: e["reason"] for e in excluded}
    assert list(reasons) == ["b1", "b2", "m1", "b3", "b4", "m2", "b7", "m3", "m4"]
    exact = "exact duplicate under both labels (identical content sha256 as "
    near = "near duplicate or same lesion under both labels (same image group as "
    assert reasons["b1"] == exact + "m1; same image group as b2, m1)"
    assert reasons["b2"] == near + "b1, m1)"
    assert reasons["m1"] == exact + "b1; same image group as b1, b2)"
    assert reasons["b3"] == near + "b4, m2)"  # its exact copy b4 has the same label
    assert reasons["m2"] == near + "b3, b4)"
    assert reasons["b7"] == exact + "m3, m4; same image group as m3, m4)"
    assert reasons["m3"] == exact + "b7, m4; same image group as b7, m4)"


def test_union_find_groups_numbers_in_order_of_first_member():
    got = _union_find_groups(7, np.array([(5, 2), (2, 6), (3, 1)]))
    assert got.dtype == np.int64 and got.tolist() == [0, 1, 2, 1, 3, 2, 2]
    assert _union_find_groups(5, np.array([(4, 3), (0, 1), (2, 3), (1, 2)])).tolist() == [0, 0, 0, 0, 0]
    assert _union_find_groups(3, np.zeros((0, 2), np.int64)).tolist() == [0, 1, 2]


def test_find_duplicate_groups_near_copies_and_curated_pairs():
    canvas = texture(0)
    images = np.stack([window(texture(7)), window(canvas), window(texture(8)), window(canvas, 2, 1),
                       window(texture(9))])
    sha256s = ["a", "b", "c", "d", "e"]
    groups = find_duplicate_groups(images, sha256s)
    assert groups.dtype == np.int64 and groups.tolist() == [0, 1, 2, 1, 3]
    assert find_duplicate_groups(images, sha256s, rules=()).tolist() == [0, 1, 2, 3, 4]
    curated = [(4, 2, "same lesion"), (2, 0, "another frame")]
    assert find_duplicate_groups(images, sha256s, same_lesion=curated).tolist() == [0, 1, 0, 1, 0]
    assert find_duplicate_groups(images, sha256s, rules=(), same_lesion=curated).tolist() == [0, 1, 0, 2, 0]
    with pytest.raises(ValueError, match=r"^images and sha256s must have the same length$"):
        find_duplicate_groups(images, sha256s[:4])


def test_find_duplicate_groups_exact_duplicates_without_rules():
    """Identical content shares a group by its sha256 alone (this test found the pairing of exact
    duplicates never ran: they were grouped only when the near-duplicate rule also caught them)."""
    images = noise_images(4, 32, seed=13)
    assert find_duplicate_groups(images, ["a", "b", "a", "c"], rules=()).tolist() == [0, 1, 0, 2]
    flat = np.full((3, 32, 32), 90, np.uint8)  # identical flat images: NCC 0, so only the sha256 joins them
    assert find_duplicate_groups(flat, ["f", "f", "f"]).tolist() == [0, 0, 0]


def test_dataset_checksum_is_the_sha256_of_the_sorted_lines():
    want = hashlib.sha256(b"a/1.png 00ff\nb/2.png 11ee\n").hexdigest()
    assert dataset_checksum(["b/2.png", "a/1.png"], ["11ee", "00ff"]) == want
