"""Tests on the real BUSI data, found as petl-bench finds it (tests/support/locations.py: $BUSI_ROOT, datasets/busi,
../shared/datasets/busi).

The duplicate counts are those of the shared copy (256 px RGB, see benchmark/data/duplicates.py);
another copy (e.g. the original Kaggle download) is only held to looser bounds.
"""
from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pytest

from benchmark.data import cache
from benchmark.data.busi import DUPLICATE_CHECK_SIZE, OVERLAY_FILE, SAME_LESION_FILE, list_busi_files, load_busi
from benchmark.data.cache import decode_images
from benchmark.data.duplicates import (ABSENT, dataset_checksum, find_duplicate_groups, group_summary,
                                       near_duplicate_pairs, read_same_lesion_pairs)
from benchmark.data.split import PAPER_SPLIT, kfold_splits, split_sizes, stratified_group_split
from locations import dataset_root

BUSI = dataset_root("busi")
# dataset_checksum over the 647 benign + malignant files of the shared copy
SHARED_COPY = "5518fc09077ba111b595591dd8ecc60c1f41dbf1367071270cc5ac8e71018688"
CROSS_LABEL = {  # groups holding both labels in the shared copy
    ("benign/benign (433).png", "malignant/malignant (145).png",  # identical bytes
     "benign/benign (435).png"),  # curated: another frame of B 433's lesion
    ("benign/benign (131).png", "benign/benign (42).png", "malignant/malignant (51).png"),
    ("benign/benign (164).png", "benign/benign (85).png", "malignant/malignant (52).png"),
    ("benign/benign (333).png", "malignant/malignant (77).png", "malignant/malignant (78).png"),  # M 78 curated
    ("benign/benign (399).png", "malignant/malignant (93).png"),
    ("benign/benign (406).png", "malignant/malignant (94).png"),
}

pytestmark = [
    pytest.mark.busi,
    pytest.mark.skipif(
        not ((BUSI / "benign").is_dir() and (BUSI / "malignant").is_dir()),
        reason=f"BUSI not found ({BUSI}): set BUSI_ROOT",
    ),
]


@pytest.fixture(scope="module")
def loads(tmp_path_factory):
    """Load at 64 px twice in a fresh cache dir; the second load must not decode anything."""
    cache_dir = tmp_path_factory.mktemp("cache")
    t0 = time.perf_counter()
    first = load_busi(BUSI, 64, cache_dir=cache_dir)
    t1 = time.perf_counter()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cache, "decode_bytes", lambda *a, **k: pytest.fail("second load decoded images"))
        second = load_busi(BUSI, 64, cache_dir=cache_dir)
    t2 = time.perf_counter()
    print(f"\nBUSI at 64 px: first load {t1 - t0:.2f} s, cached load {t2 - t1:.2f} s")
    return first, second, cache_dir


@pytest.fixture(scope="module")
def files():
    return list_busi_files(BUSI)


def is_shared_copy(files) -> bool:
    sha = [cache.file_sha256(BUSI / rel) for rel, _ in files]
    return dataset_checksum([rel for rel, _ in files], sha) == SHARED_COPY


def test_647_files(files):
    assert len(files) == 647
    assert sum(label for _, label in files) == 210


def test_second_load_comes_from_cache(loads):
    first, second, _ = loads
    assert np.array_equal(first.images, second.images)
    assert first.checksum == second.checksum and first.ids == second.ids


def test_cross_label_duplicates_excluded(loads, files):
    ims = loads[0]
    reasons = {e["id"]: e["reason"] for e in ims.excluded}
    assert "exact duplicate under both labels" in reasons["benign/benign (433).png"]
    assert "exact duplicate under both labels" in reasons["malignant/malignant (145).png"]
    assert not set(reasons) & set(ims.ids)
    assert len(ims) + len(ims.excluded) == 647
    if is_shared_copy(files):
        assert set(reasons) == {i for group in CROSS_LABEL for i in group}


def test_duplicate_group_counts(loads, files):
    paths = [BUSI / rel for rel, _ in files]
    images, sha, hit = decode_images(paths, DUPLICATE_CHECK_SIZE, loads[2])
    assert hit
    summary = group_summary(find_duplicate_groups(images, sha), sha)
    if is_shared_copy(files):
        assert summary == {"exact_groups": 1, "near_groups": 119}
    else:  # another copy of BUSI: same order of magnitude
        assert summary["exact_groups"] >= 1 and 80 <= summary["near_groups"] <= 160


def test_split_has_paper_proportions(loads):
    ims = loads[0]
    n = len(ims)
    split = stratified_group_split(ims.labels, ims.groups, seed=0)
    sizes = tuple(len(split[k]) for k in ("train", "val", "test"))
    assert sizes == split_sizes(n)
    assert all(abs(s - n * p / sum(PAPER_SPLIT)) < 1 for s, p in zip(sizes, PAPER_SPLIT))
    malignant = ims.labels.mean()
    for idx in split.values():
        assert abs(ims.labels[idx].sum() - malignant * len(idx)) <= 1
    owner = {}
    for name, idx in split.items():
        for g in ims.groups[idx]:
            assert owner.setdefault(int(g), name) == name


def test_every_curated_and_automatic_pair_sits_in_one_fold_in_every_repeat(loads, files):
    """The curated same-lesion pairs (busi_same_lesion.csv) and the rule's near duplicates: both
    images in one part (train, validation or test) of every fold, in every repeat; or both excluded."""
    ims = loads[0]
    ids = [rel for rel, _ in files]
    curated = [(ids[i], ids[j]) for i, j, _ in read_same_lesion_pairs(SAME_LESION_FILE, ids)[0]]
    assert len(curated) == 11
    where = {image_id: k for k, image_id in enumerate(ims.ids)}
    kept = [(where.get(a), where.get(b)) for a, b in curated if a in where or b in where]
    assert all(None not in pair for pair in kept), "one image of a curated pair excluded, the other kept"
    automatic = [(i, j) for i, j, _, _ in near_duplicate_pairs(ims.images)]
    assert len(kept) == 9 and len(automatic) > 100
    for seed in range(3):
        for fold, split in enumerate(kfold_splits(ims.labels, ims.groups, 5, seed)):
            part = np.full(len(ims), -1)
            for k, name in enumerate(("train", "val", "test")):
                part[split[name]] = k
            for a, b in kept + automatic:
                assert part[a] == part[b], f"seed {seed} fold {fold}: {ims.ids[a]} and {ims.ids[b]} apart"


def subset_folder(root: Path) -> Path:
    """benign (1..40) and malignant (1..20) of BUSI, linked into ``root``: a subset, as a cleaned copy would be."""
    for cls, n in (("benign", 40), ("malignant", 20)):
        (root / cls).mkdir(parents=True)
        for i in range(1, n + 1):
            (root / cls / f"{cls} ({i}).png").symlink_to(BUSI / cls / f"{cls} ({i}).png")
    return root


def test_a_subset_loads_and_lists_the_curated_pairs_it_lacks(tmp_path):
    """The built-in same-lesion list names images the subset lacks: those pairs are skipped and listed, the
    others still join their groups; a list of one's own with such an id is still an error."""
    root = subset_folder(tmp_path / "busi60")
    ims = load_busi(root, 32, cache_dir=tmp_path / "cache")
    assert len(ims) + len(ims.excluded) == 60
    with open(SAME_LESION_FILE, newline="") as fh:
        rows = list(csv.DictReader(fh))
    ids = {rel for rel, _ in list_busi_files(root)}
    absent = [{"image_a": r["image_a"], "image_b": r["image_b"], "reason": ABSENT} for r in rows
              if not {r["image_a"], r["image_b"]} <= ids]
    assert ims.skipped_pairs == absent and len(absent) == 5
    group = dict(zip(ims.ids, ims.groups))
    assert len({group[f"malignant/malignant ({i}).png"] for i in range(3, 10)}) == 1  # the kept curated pairs
    assert len(ims.metadata["overlay"]) == len(ims) and set(ims.metadata["overlay"]) == {0, 1}
    own = tmp_path / "mine.csv"
    own.write_text("image_a,image_b,reason\nbenign/benign (1).png,benign/benign (62).png,same cyst\n")
    with pytest.raises(ValueError, match=r"mine.csv, row 2: the data set has no image 'benign/benign \(62\).png'"):
        load_busi(root, 32, cache_dir=tmp_path / "cache", same_lesion=own)


def test_every_image_has_an_overlay_flag(loads):
    """busi_overlays.csv lists every image of this copy, normal/ included; the loader carries the flags."""
    with open(OVERLAY_FILE, newline="") as fh:
        flags = {row["image_id"]: int(row["overlay"]) for row in csv.DictReader(fh)}
    listed = {rel for rel, _ in list_busi_files(BUSI, include_normal=True)}
    assert listed <= set(flags) and len(listed) == 780
    ims = loads[0]
    assert ims.metadata["overlay"] == [flags[i] for i in ims.ids]
