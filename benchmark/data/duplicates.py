"""Duplicate hygiene that the BUSI papers skip.

Exact duplicates share a content sha256. Near duplicates (the same scan saved twice, shifted by
a few pixels, with or without caliper marks) are found in two steps on 64 x 64 thumbnails:

1. pHash: 32 x 32 bilinear downscale, 2-D DCT-II, the 8 x 8 lowest frequencies, each bit set
   when the coefficient is above their median (as in the ``imagehash`` package; 64 bits, and
   as the median splits them in half, distances between two hashes are even).
2. Confirmation: the normalised cross-correlation (NCC) of the two thumbnails, maximised over
   shifts of up to 6 px (~10 % of the width), each shift scored on the overlap only.

A pair is a near duplicate when (pHash distance <= 12 and NCC >= 0.85) or (pHash distance
<= 16 and NCC >= 0.95): a shift of a few pixels flips low-frequency signs and raises the pHash
distance while the shifted NCC stays near 1. Pairs are grouped with union-find.

Why these numbers (every BUSI pair by pHash distance and NCC, the groups and exclusions they give):
docs/decisions/duplicates.md.
"""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image
from scipy.fft import dctn

THUMB_SIZE = 64
MAX_SHIFT = 6
# (max pHash distance, min NCC): a pair matching any rule is a near duplicate
NEAR_DUPLICATE_RULES = ((12, 0.85), (16, 0.95))


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    if images.shape[1:] == (size, size):
        return images.astype(np.float32)
    return np.stack([
        np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)
        for im in images
    ]) if len(images) else np.zeros((0, size, size), np.float32)


def phash_bits(images: np.ndarray) -> np.ndarray:
    """64-bit DCT perceptual hashes of N x H x W uint8 images, as an N x 64 bool array."""
    small = _resize(np.asarray(images, dtype=np.uint8), 32)
    low = dctn(small, type=2, norm="ortho", axes=(1, 2))[:, :8, :8].reshape(len(small), 64)
    return low > np.median(low, axis=1, keepdims=True)


def hamming_matrix(bits: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """N x N Hamming distances between rows of an N x B bool array (N x M against ``other``)."""
    b = bits.astype(np.float32)
    o = b if other is None else other.astype(np.float32)
    return np.rint(b @ (1 - o).T + (1 - b) @ o.T).astype(np.int64)


def shifted_ncc(a: np.ndarray, b: np.ndarray, max_shift: int = MAX_SHIFT) -> np.ndarray:
    """For pairs a[k], b[k] (K x S x S), the NCC maximised over shifts up to max_shift px.

    Each shift is scored on the overlap of the two images only. The overlap sums (of x, y,
    x*x, y*y, x*y and the pixel count) for all shifts at once come from FFT
    cross-correlations of the zero-padded images and their supports.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    s = a.shape[-1]
    p = s + max_shift  # padding that keeps shifts up to max_shift from wrapping around

    def spec(x: np.ndarray) -> np.ndarray:
        return np.fft.rfft2(x, s=(p, p))

    def corr(f: np.ndarray, g: np.ndarray) -> np.ndarray:  # sum_q f[q + d] g[q] for |d| <= max_shift
        c = np.fft.irfft2(f * np.conj(g), s=(p, p))
        idx = np.r_[0:max_shift + 1, p - max_shift:p]
        return c[..., idx[:, None], idx[None, :]]

    fa, fb, ones = spec(a), spec(b), spec(np.ones((s, s)))
    n = corr(ones, ones)
    sx, sy = corr(fa, ones), corr(ones, fb)
    cov = corr(fa, fb) - sx * sy / n
    var = (corr(spec(a * a), ones) - sx * sx / n) * (corr(ones, spec(b * b)) - sy * sy / n)
    r = np.where(var > 1e-6 * n * n, cov / np.sqrt(np.maximum(var, 1e-300)), 0.0)
    return r.reshape(len(a), -1).max(axis=1) if len(a) else np.zeros(0)


def _union_find_groups(n: int, pairs: np.ndarray) -> np.ndarray:
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        ri, rj = find(int(i)), find(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    roots = np.array([find(i) for i in range(n)])
    return np.unique(roots, return_inverse=True)[1].astype(np.int64)  # 0..G-1 in order of first member


def near_duplicate_pairs(
    images: np.ndarray, rules: Sequence[tuple[int, float]] = NEAR_DUPLICATE_RULES, max_shift: int = MAX_SHIFT
) -> list[tuple[int, int, int, float]]:
    """(i, j, pHash distance, NCC) for every pair with i < j that matches one of ``rules``."""
    if not rules or len(images) < 2:
        return []
    dist = hamming_matrix(phash_bits(images))
    i, j = np.nonzero(np.triu(dist <= max(d for d, _ in rules), k=1))
    if not len(i):
        return []
    thumbs = _resize(np.asarray(images, dtype=np.uint8), THUMB_SIZE)
    return _confirmed(thumbs, thumbs, i, j, dist[i, j], rules, max_shift)


def _confirmed(thumbs_a: np.ndarray, thumbs_b: np.ndarray, i: np.ndarray, j: np.ndarray, d: np.ndarray,
               rules: Sequence[tuple[int, float]], max_shift: int) -> list[tuple[int, int, int, float]]:
    """The candidate pairs (a[i], b[j]) at pHash distance ``d`` that pass one of ``rules`` on their
    shifted NCC: (i, j, distance, NCC) each."""
    ncc = np.concatenate([
        shifted_ncc(thumbs_a[i[k:k + 512]], thumbs_b[j[k:k + 512]], max_shift) for k in range(0, len(i), 512)
    ])
    ok = np.zeros(len(i), bool)
    for max_d, min_r in rules:
        ok |= (d <= max_d) & (ncc >= min_r)
    return [(int(a), int(b), int(c), float(r)) for a, b, c, r in zip(i[ok], j[ok], d[ok], ncc[ok])]


def cross_duplicate_pairs(
    a: np.ndarray, b: np.ndarray, rules: Sequence[tuple[int, float]] = NEAR_DUPLICATE_RULES,
    max_shift: int = MAX_SHIFT,
) -> list[tuple[int, int, int, float]]:
    """(i, j, pHash distance, NCC) for every image ``b[j]`` that is an exact or near duplicate of
    ``a[i]`` (N x H x W and M x H' x W' uint8, any sizes): identical decoded arrays, or a pair
    matching one of ``rules`` as in :func:`near_duplicate_pairs`. Ordered by j, then i."""
    a, b = np.asarray(a, dtype=np.uint8), np.asarray(b, dtype=np.uint8)
    found: dict[tuple[int, int], tuple[int, float]] = {}
    if len(a) and len(b) and a.shape[1:] == b.shape[1:]:
        index: dict[bytes, list[int]] = {}
        for i, im in enumerate(a):
            index.setdefault(hashlib.sha256(im.tobytes()).digest(), []).append(i)
        for j, im in enumerate(b):
            for i in index.get(hashlib.sha256(im.tobytes()).digest(), []):
                found[(i, j)] = (0, 1.0)
    if rules and len(a) and len(b):
        dist = hamming_matrix(phash_bits(a), phash_bits(b))
        i, j = np.nonzero(dist <= max(d for d, _ in rules))
        if len(i):
            ta, tb = _resize(a, THUMB_SIZE), _resize(b, THUMB_SIZE)
            for x, y, dd, r in _confirmed(ta, tb, i, j, dist[i, j], rules, max_shift):
                found.setdefault((x, y), (dd, r))
    return [(i, j, d, r) for (i, j), (d, r) in sorted(found.items(), key=lambda kv: (kv[0][1], kv[0][0]))]


def cross_duplicates(a, b, rules: Sequence[tuple[int, float]] = NEAR_DUPLICATE_RULES) -> list[tuple[str, str]]:
    """(id in ``a``, id in ``b``) for every image of ImageSet ``b`` that is an exact or near
    duplicate of an image of ImageSet ``a`` (pHash + shifted NCC, the rules above; the images
    as decoded in the sets, thumbnails made internally). Use it before testing on an external
    set: a test image that is a copy of a training image is not external."""
    return [(a.ids[i], b.ids[j]) for i, j, _, _ in cross_duplicate_pairs(a.images, b.images, rules)]


ABSENT = "image absent from this copy"  # the reason a skipped curated pair gets


def read_same_lesion_pairs(path: str | Path, ids: Sequence[str], skip_absent: bool = False
                           ) -> tuple[list[tuple[int, int, str]], list[dict]]:
    """(pairs, skipped) from a curated list of same-lesion pairs: (i, j, reason) for every row, indices
    into ``ids``, and the rows left out.

    The file is a CSV with columns ``image_a, image_b, reason`` (ids as the data set names its
    images, e.g. ``benign/benign (62).png``; the reason says what was seen). A row without a reason
    is a ValueError naming the file and the row. So is a row with an id that ``ids`` lacks, unless
    ``skip_absent``: then the row is left out and listed in ``skipped`` as ``{"image_a", "image_b",
    "reason": ABSENT}``. Skip only for a list curated on the full data set and applied to a subset or
    a cleaned copy of it (a data set's built-in list); in a list written for the images at hand, an
    id that is not there is a typo.
    """
    path = Path(path)
    where = {image_id: k for k, image_id in enumerate(ids)}
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        rows, columns = list(reader), reader.fieldnames  # None: an empty file
    if columns is not None and not {"image_a", "image_b", "reason"} <= set(columns):
        raise ValueError(f"{path}: needs the columns image_a, image_b, reason; has {', '.join(columns)}")
    out, skipped = [], []
    for line, row in enumerate(rows, start=2):
        if not (row["reason"] or "").strip():
            raise ValueError(f"{path}, row {line}: give the reason (what shows that it is the same lesion)")
        missing = [row[c] for c in ("image_a", "image_b") if row[c] not in where]
        if missing and skip_absent:
            skipped.append({"image_a": row["image_a"], "image_b": row["image_b"], "reason": ABSENT})
        elif missing:
            raise ValueError(f"{path}, row {line}: the data set has no image {missing[0]!r}; fix the id or "
                             "remove the row (ids are paths relative to the data set's folder)")
        else:
            out.append((where[row["image_a"]], where[row["image_b"]], row["reason"].strip()))
    return out, skipped


def find_duplicate_groups(
    images: np.ndarray, sha256s: Sequence[str], rules: Sequence[tuple[int, float]] = NEAR_DUPLICATE_RULES,
    same_lesion: Sequence[tuple[int, int]] = (),
) -> np.ndarray:
    """Group ids 0..G-1 (N int64): identical content, near duplicates and the ``same_lesion``
    pairs of indices (a curated list, :func:`read_same_lesion_pairs`) share a group.

    ``images`` are N x H x W uint8 (any size; thumbnails are made internally). ``rules`` are
    (max pHash distance, min shifted NCC) pairs; an empty sequence turns near-duplicate
    detection off, leaving exact duplicates (and the curated pairs) only.
    """
    n = len(sha256s)
    if len(images) != n:
        raise ValueError("images and sha256s must have the same length")
    first: dict[str, int] = {}  # content sha256 -> the first image with it
    pairs = [(first[h], k) for k, h in enumerate(sha256s) if first.setdefault(h, k) != k]
    pairs += [(i, j) for i, j, _, _ in near_duplicate_pairs(images, rules)]
    pairs += [(int(i), int(j)) for i, j, *_ in same_lesion]
    return _union_find_groups(n, np.array(pairs, dtype=np.int64).reshape(-1, 2))


def resolve_label_conflicts(
    groups: np.ndarray, labels: np.ndarray, ids: Sequence[str], sha256s: Sequence[str]
) -> tuple[np.ndarray, list[dict]]:
    """Drop every image of a group that holds both labels.

    Returns (keep mask, excluded) where excluded lists {"id", "reason"} for each dropped
    image. Same-label duplicates are kept (they share a group, so they share a split).
    """
    groups, labels = np.asarray(groups), np.asarray(labels)
    keep = np.ones(len(ids), bool)
    excluded = []
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        if len(set(labels[members].tolist())) < 2:
            continue
        keep[members] = False
        for m in members:
            others = ", ".join(ids[o] for o in members if o != m)
            copies = [o for o in members if o != m and sha256s[o] == sha256s[m]]
            if copies and len(set(labels[copies + [m]].tolist())) == 2:
                reason = (f"exact duplicate under both labels (identical content sha256 as "
                          f"{', '.join(ids[o] for o in copies)}; same image group as {others})")
            else:
                reason = f"near duplicate or same lesion under both labels (same image group as {others})"
            excluded.append({"id": ids[m], "reason": reason})
    return keep, excluded


def group_summary(groups: np.ndarray, sha256s: Sequence[str]) -> dict[str, int]:
    """Counts: exact (sets of >= 2 files with identical content) and near (groups with >= 2
    distinct contents) duplicate groups."""
    _, counts = np.unique(np.asarray(sha256s), return_counts=True)
    near = sum(
        len({sha256s[m] for m in np.flatnonzero(groups == g)}) > 1 for g in np.unique(groups)
    )
    return {"exact_groups": int((counts > 1).sum()), "near_groups": int(near)}


def dataset_checksum(ids: Sequence[str], sha256s: Sequence[str]) -> str:
    """sha256 over the sorted lines "<id> <content sha256>"."""
    lines = sorted(f"{i} {h}\n" for i, h in zip(ids, sha256s))
    return hashlib.sha256("".join(lines).encode()).hexdigest()
