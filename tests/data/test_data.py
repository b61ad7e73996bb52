"""Fast tests of the data layer on small fake BUSI folders (no real data needed)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from benchmark.data import busi as busi_module
from benchmark.data import cache, registry
from benchmark.data.busi import list_busi_files, load_busi, resolve_busi_root
from benchmark.data.cache import ImageDecodeError, decode_image, decode_images
from benchmark.data.duplicates import dataset_checksum, find_duplicate_groups
from benchmark.data.split import PAPER_SPLIT, split_sizes, stratified_group_split


def texture(seed: int, h: int = 140, w: int = 160) -> np.ndarray:
    """A smooth random uint8 field: unlike any other seed's, so never a near duplicate."""
    field = gaussian_filter(np.random.default_rng(seed).normal(size=(h, w)), 4)
    field = (field - field.min()) / np.ptp(field)
    return (field * 255).astype(np.uint8)


def make_busi(root: Path) -> Path:
    """benign/ malignant/ normal/ with masks, mixed modes and sizes, an exact duplicate under
    both labels (benign (4) = malignant (1)) and a shifted near duplicate (benign (5) of
    benign (1))."""
    for d in ("benign", "malignant", "normal"):
        (root / d).mkdir(parents=True)
    base = texture(1, 150, 170)
    b, m = root / "benign", root / "malignant"
    Image.fromarray(base[:140, :160]).convert("RGB").save(b / "benign (1).png")
    Image.fromarray(base[4:144, 3:163]).save(b / "benign (5).png")  # shifted 4 / 3 px
    Image.fromarray(texture(2, 100, 120)).save(b / "benign (10).png")  # L, other size
    rgba = Image.fromarray(texture(3)).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(b / "benign (2).png")
    Image.fromarray(texture(4).astype(np.uint16) * 257).save(b / "benign (3).tif")  # I;16
    Image.fromarray(texture(5)).convert("RGB").save(m / "malignant (1).png")
    (b / "benign (4).png").write_bytes((m / "malignant (1).png").read_bytes())
    Image.fromarray(texture(6, 90, 90)).convert("RGB").save(m / "malignant (2).jpg", quality=95)
    Image.fromarray(texture(7)).save(m / "malignant (3).BMP")
    for f in ("benign (1)_mask.png", "benign (2)_mask_1.png"):
        Image.new("L", (160, 140)).save(b / f)
    Image.new("L", (160, 140)).save(m / "malignant (1)_mask.png")
    Image.fromarray(texture(8)).save(root / "normal" / "normal (1).png")
    (b / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def busi(tmp_path: Path) -> Path:
    return make_busi(tmp_path / "busi")


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture(autouse=True)
def no_curated_pairs(tmp_path, monkeypatch):
    """The fake folders lack the real BUSI's ids: their curated list is empty (a header only)."""
    empty = tmp_path / "same_lesion.csv"
    empty.write_text("image_a,image_b,reason\n")
    monkeypatch.setattr(busi_module, "SAME_LESION_FILE", empty)
    return empty


BENIGN_IDS = ["benign/benign (1).png", "benign/benign (2).png", "benign/benign (3).tif",
              "benign/benign (4).png", "benign/benign (5).png", "benign/benign (10).png"]
MALIGNANT_IDS = ["malignant/malignant (1).png", "malignant/malignant (2).jpg", "malignant/malignant (3).BMP"]


# ---- listing ---------------------------------------------------------------------------------

def test_list_skips_masks_normal_and_non_images_in_natural_order(busi):
    files = list_busi_files(busi)
    assert [f for f, _ in files] == BENIGN_IDS + MALIGNANT_IDS  # (2) before (10), masks gone
    assert [label for _, label in files] == [0] * 6 + [1] * 3


def test_include_normal_labels_it_benign(busi):
    files = dict(list_busi_files(busi, include_normal=True))
    assert files["normal/normal (1).png"] == 0
    assert len(files) == 10


def test_missing_root_names_the_path(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "busi"
    with pytest.raises(FileNotFoundError, match="nowhere") as err:
        resolve_busi_root(missing)
    assert "BUSI_ROOT" in str(err.value) and "--data-root" in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="benign/ and malignant/"):
        resolve_busi_root(tmp_path / "empty")
    monkeypatch.delenv("BUSI_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    # the project is the current folder only (not this checkout, next to which BUSI may lie)
    monkeypatch.setattr(registry, "project_dirs", lambda: [Path.cwd()])
    with pytest.raises(FileNotFoundError, match=r"datasets[/\\]busi") as err:
        resolve_busi_root(None)
    assert str(tmp_path.parent / "shared" / "datasets" / "busi") in str(err.value)  # every place tried


def test_root_from_env_and_kaggle_subfolder(tmp_path, monkeypatch):
    make_busi(tmp_path / "kaggle" / "Dataset_BUSI_with_GT")
    monkeypatch.setenv("BUSI_ROOT", str(tmp_path / "kaggle"))
    assert resolve_busi_root(None) == (tmp_path / "kaggle" / "Dataset_BUSI_with_GT").resolve()


# ---- decoding --------------------------------------------------------------------------------

def test_decode_modes_sizes_and_16_bit_scaling(busi):
    for rel in BENIGN_IDS + MALIGNANT_IDS:
        img = decode_image(busi / rel, 32)
        assert img.shape == (32, 32) and img.dtype == np.uint8
    sixteen = decode_image(busi / "benign/benign (3).tif", 64)
    eight = np.asarray(Image.fromarray(texture(4)).resize((64, 64), Image.Resampling.BILINEAR))
    assert np.abs(sixteen.astype(int) - eight).max() <= 1  # not clipped to white
    twelve_bit = busi / "twelve.png"
    Image.fromarray(texture(4).astype(np.uint16) * 16).save(twelve_bit)  # 0..4080 in 16 bits
    assert 100 < decode_image(twelve_bit, 64).mean() < 160


@pytest.mark.parametrize("content", [b"", "truncated"])
def test_bad_file_stops_the_load_naming_it(busi, cache_dir, content):
    bad = busi / "malignant" / "malignant (7).png"
    if content == "truncated":
        content = (busi / "malignant" / "malignant (1).png").read_bytes()[:300]
    bad.write_bytes(content)
    with pytest.raises(ImageDecodeError, match=r"malignant \(7\)\.png") as err:
        load_busi(busi, 32, cache_dir=cache_dir)
    assert "remove" in str(err.value).lower() or "replace" in str(err.value).lower()
    if not content:
        assert "empty" in str(err.value)


# ---- cache -----------------------------------------------------------------------------------

def paths(busi):
    return [busi / rel for rel in BENIGN_IDS + MALIGNANT_IDS]


def test_second_load_skips_decoding(busi, cache_dir, monkeypatch):
    first, sha, hit = decode_images(paths(busi), 48, cache_dir)
    assert not hit and first.shape == (9, 48, 48)
    assert sha[3] == sha[6]  # benign (4) = malignant (1)

    def boom(*args, **kwargs):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(cache, "decode_bytes", boom)
    second, sha2, hit = decode_images(paths(busi), 48, cache_dir)
    assert hit and sha2 == sha and np.array_equal(first, second)


def test_load_busi_second_call_uses_cache(busi, cache_dir, monkeypatch):
    first = load_busi(busi, 40, cache_dir=cache_dir)
    monkeypatch.setattr(cache, "decode_bytes", lambda *a, **k: pytest.fail("decoded although cached"))
    second = load_busi(busi, 40, cache_dir=cache_dir)
    assert np.array_equal(first.images, second.images) and first.checksum == second.checksum
    assert not list((cache_dir / "images").glob("*.tmp"))  # atomic writes leave no temp files


def test_truncated_cache_is_ignored_and_rebuilt(busi, cache_dir):
    first, _, _ = decode_images(paths(busi), 32, cache_dir)
    (bundle,) = (cache_dir / "images").glob("*32px*.npz")
    bundle.write_bytes(bundle.read_bytes()[:1000])
    with pytest.warns(RuntimeWarning, match="ignoring"):
        again, _, hit = decode_images(paths(busi), 32, cache_dir)
    assert not hit and np.array_equal(first, again)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert decode_images(paths(busi), 32, cache_dir)[2]  # rebuilt, now a clean hit


def test_cache_with_wrong_key_is_ignored(busi, cache_dir):
    decode_images(paths(busi), 32, cache_dir)
    (bundle,) = (cache_dir / "images").glob("*32px*.npz")
    other = paths(busi)[::-1]
    _, sha_other, _ = decode_images(other, 32, cache_dir)
    (other_bundle,) = set((cache_dir / "images").glob("*32px*.npz")) - {bundle}
    bundle.write_bytes(other_bundle.read_bytes())  # a bundle stored under the wrong name
    with pytest.warns(RuntimeWarning, match="do not match"):
        assert not decode_images(paths(busi), 32, cache_dir)[2]


def test_changed_file_content_invalidates(busi, cache_dir):
    before, sha, _ = decode_images(paths(busi), 32, cache_dir)
    Image.fromarray(texture(99)).save(busi / "benign" / "benign (10).png")
    after, sha2, hit = decode_images(paths(busi), 32, cache_dir)
    assert not hit and sha2[5] != sha[5] and not np.array_equal(before[5], after[5])
    assert np.array_equal(before[:5], after[:5])


def test_env_cache_dir(busi, tmp_path, monkeypatch):
    monkeypatch.setenv("PETL_BENCH_CACHE", str(tmp_path / "envcache"))
    decode_images(paths(busi), 16)
    assert list((tmp_path / "envcache" / "images").glob("*16px*.npz"))


# ---- duplicates ------------------------------------------------------------------------------

def test_cross_label_duplicate_excluded_and_near_duplicate_grouped(busi, cache_dir):
    ims = load_busi(busi, 32, cache_dir=cache_dir)
    assert ims.images.shape == (7, 32, 32) and ims.name == "busi" and not ims.synthetic
    excluded = {e["id"]: e["reason"] for e in ims.excluded}
    assert set(excluded) == {"benign/benign (4).png", "malignant/malignant (1).png"}
    assert all("exact duplicate under both labels" in r for r in excluded.values())
    g = dict(zip(ims.ids, ims.groups))
    assert g["benign/benign (1).png"] == g["benign/benign (5).png"]
    assert len(set(g.values())) == 6 and set(g.values()) == set(range(6))
    assert list(ims.labels) == [0, 0, 0, 0, 0, 1, 1]


def test_near_duplicate_under_both_labels_excluded(busi, cache_dir):
    (busi / "benign" / "benign (5).png").rename(busi / "malignant" / "malignant (9).png")
    ims = load_busi(busi, 32, cache_dir=cache_dir)
    reasons = {e["id"]: e["reason"] for e in ims.excluded}
    assert "near duplicate" in reasons["benign/benign (1).png"]
    assert "malignant/malignant (9).png" in reasons


def test_exact_same_label_duplicates_stay_in_one_group(busi, cache_dir):
    (busi / "benign" / "benign (11).png").write_bytes((busi / "benign" / "benign (10).png").read_bytes())
    ims = load_busi(busi, 32, cache_dir=cache_dir)
    g = dict(zip(ims.ids, ims.groups))
    assert g["benign/benign (10).png"] == g["benign/benign (11).png"]
    assert len(ims) == 8 and len(ims.excluded) == 2


def test_curated_same_lesion_pairs_join_the_groups(busi, cache_dir, no_curated_pairs):
    no_curated_pairs.write_text("image_a,image_b,reason\n"
                                "benign/benign (2).png,benign/benign (10).png,\"same cyst, another frame\"\n")
    ims = load_busi(busi, 32, cache_dir=cache_dir)
    g = dict(zip(ims.ids, ims.groups))
    assert g["benign/benign (2).png"] == g["benign/benign (10).png"]
    assert len(set(g.values())) == 5
    # a curated pair under both labels: its group is excluded like any cross-label duplicate
    no_curated_pairs.write_text("image_a,image_b,reason\n"
                                "benign/benign (2).png,malignant/malignant (3).BMP,same lesion\n")
    reasons = {e["id"]: e["reason"] for e in load_busi(busi, 32, cache_dir=cache_dir).excluded}
    assert "same lesion under both labels" in reasons["malignant/malignant (3).BMP"]


def test_curated_pair_with_an_unknown_id_names_the_file(busi, cache_dir, no_curated_pairs):
    """A list you pass is written for the images at hand: an id they lack is a typo, an error."""
    no_curated_pairs.write_text("image_a,image_b,reason\nbenign/benign (2).png,benign/benign (99).png,x\n")
    with pytest.raises(ValueError, match=r"same_lesion.csv, row 2: the data set has no image 'benign/benign \(99\)"):
        load_busi(busi, 32, cache_dir=cache_dir, same_lesion=no_curated_pairs)


def test_builtin_pair_with_an_absent_image_is_skipped_and_listed(busi, cache_dir, no_curated_pairs):
    """The built-in list was curated on the whole data set: on a subset its pairs with an absent image are
    left out, listed on the ImageSet, and the others still join their groups."""
    no_curated_pairs.write_text("image_a,image_b,reason\nbenign/benign (2).png,benign/benign (99).png,x\n"
                                "benign/benign (2).png,benign/benign (10).png,y\n")
    ims = load_busi(busi, 32, cache_dir=cache_dir)
    assert ims.skipped_pairs == [{"image_a": "benign/benign (2).png", "image_b": "benign/benign (99).png",
                                  "reason": "image absent from this copy"}]
    g = dict(zip(ims.ids, ims.groups))
    assert g["benign/benign (2).png"] == g["benign/benign (10).png"]
    assert ims.subset(np.arange(3)).skipped_pairs == ims.skipped_pairs


def test_every_curated_and_automatic_pair_sits_in_one_fold_in_every_repeat():
    """Synthetic images with shifted copies (found by the rule) and a fake curated list of
    unrelated images: each pair in one test fold, and in one part of each fold, in every repeat."""
    from benchmark.data.split import kfold_splits

    n = 120
    images = np.stack([texture(s, 64, 64) for s in range(n)])
    labels = np.r_[np.zeros(80, np.int64), np.ones(40, np.int64)]
    copies = [(0, 1), (30, 31), (90, 91)]
    for a, b in copies:
        images[b] = np.roll(images[a], 2, axis=1)
    curated = [(2, 3), (3, 50), (60, 70), (100, 119)]
    groups = find_duplicate_groups(images, [str(k) for k in range(n)], same_lesion=curated)
    assert all(groups[a] == groups[b] for a, b in copies), "the rule misses a shifted copy"
    for seed in range(4):
        for split in kfold_splits(labels, groups, 5, seed):
            part = np.full(n, -1)
            for k, name in enumerate(("train", "val", "test")):
                part[split[name]] = k
            for a, b in copies + curated:
                assert part[a] == part[b], f"seed {seed}: images {a} and {b} of one lesion in two parts"


def test_unrelated_images_are_not_grouped():
    images = np.stack([texture(s, 64, 64) for s in range(30)])
    groups = find_duplicate_groups(images, [str(s) for s in range(30)])
    assert len(set(groups)) == 30


def test_checksum_is_order_free_and_content_bound():
    a = dataset_checksum(["x", "y"], ["1", "2"])
    assert a == dataset_checksum(["y", "x"], ["2", "1"])
    assert a != dataset_checksum(["x", "y"], ["1", "3"])


# ---- split -----------------------------------------------------------------------------------

def fake_busi_labels(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """647 labels (437 benign, 210 malignant) with duplicate groups of 2-7 same-label images."""
    labels = np.array([0] * 437 + [1] * 210)
    groups = np.arange(647)
    rng = np.random.default_rng(seed)
    start = 0
    for size in rng.integers(2, 8, size=60):
        if labels[start] != labels[min(start + size, 646)]:
            start = 437
        groups[start:start + size] = start
        start += size + int(rng.integers(1, 5))
    return labels, np.unique(groups, return_inverse=True)[1]


def test_split_sizes():
    assert split_sizes(647) == PAPER_SPLIT
    for n in (3, 10, 100, 633, 1000):
        sizes = split_sizes(n)
        assert sum(sizes) == n and all(abs(s - n * p / 647) < 1 for s, p in zip(sizes, PAPER_SPLIT))


def test_split_is_stratified_grouped_and_complete():
    labels, groups = fake_busi_labels()
    split = stratified_group_split(labels, groups, seed=0)
    assert [len(split[k]) for k in ("train", "val", "test")] == list(PAPER_SPLIT)
    everything = np.concatenate(list(split.values()))
    assert sorted(everything) == list(range(647))
    for name, size in zip(("train", "val", "test"), PAPER_SPLIT):
        idx = split[name]
        assert np.all(np.diff(idx) > 0)
        assert abs(labels[idx].sum() - 210 * size / 647) <= 1
        assert abs((1 - labels[idx]).sum() - 437 * size / 647) <= 1
    owner = {}
    for name, idx in split.items():
        for g in groups[idx]:
            assert owner.setdefault(g, name) == name, "a group straddles two splits"


def test_split_deterministic_per_seed():
    labels, groups = fake_busi_labels()
    a, b = (stratified_group_split(labels, groups, seed=3) for _ in range(2))
    c = stratified_group_split(labels, groups, seed=4)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], c["test"])


def test_split_errors_when_a_class_is_too_small():
    labels = np.array([0] * 50 + [1] * 2)
    with pytest.raises(ValueError, match="no example of class 1"):
        stratified_group_split(labels, np.arange(52), seed=0)
    with pytest.raises(ValueError, match="no example"):  # the two malignant images are one group
        stratified_group_split(np.array([0] * 40 + [1] * 6), np.r_[np.arange(40), [40] * 6], seed=0,
                               sizes=(30, 8, 8))
