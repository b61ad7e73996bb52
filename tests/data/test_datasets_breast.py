"""BrEaST-Lesions_USG: the loader's checks on small fakes, and the real data set when it is at hand
(env BREAST_LESIONS_USG_ROOT, else ../shared/datasets/breast-lesions-usg next to the project)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark.data import cache, cross_duplicates, load_dataset
from benchmark.data.breast_lesions_usg import TABLE_NAME, is_mask, load_breast_lesions_usg
from locations import dataset_root

REAL = dataset_root("breast_lesions_usg")
BUSI = dataset_root("busi")
real = pytest.mark.skipif(not (REAL / TABLE_NAME).is_file(),
                          reason=f"BrEaST-Lesions_USG not found at {REAL} (set BREAST_LESIONS_USG_ROOT)")


# ---- a small fake of the published layout -----------------------------------------------------

def fake_release(root: Path, labels: list[str], csv_labels: list[str] | None = None) -> Path:
    images = root / "images_and_masks"
    images.mkdir(parents=True)
    rows = []
    for k, label in enumerate(labels, 1):
        name = f"case{k:03d}.png"
        rng = np.random.default_rng(k)
        gray = (np.kron(rng.random((6, 8)), np.ones((20, 20))) * 255).astype(np.uint8)
        Image.fromarray(np.dstack([gray, gray, gray, np.full_like(gray, 255)]), "RGBA").save(images / name)
        Image.fromarray(np.zeros((120, 160), np.uint8)).save(images / f"case{k:03d}_tumor.png")
        rows.append({"CaseID": k, "Image_filename": name, "Mask_tumor_filename": f"case{k:03d}_tumor.png",
                     "BIRADS": "4a", "Classification": label})
    Image.fromarray(np.zeros((120, 160), np.uint8)).save(images / "case001_other1.png")
    pd.DataFrame(rows).to_excel(root / TABLE_NAME, index=False)
    csv_labels = labels if csv_labels is None else csv_labels
    (root / "image_labels.csv").write_text(
        "Filename,Label\n" + "".join(f"case{k:03d}.png,{lab}\n" for k, lab in enumerate(csv_labels, 1)))
    return root


LABELS = ["benign", "malignant", "normal", "benign", "malignant", "benign"]


def test_fake_release_loads_without_masks_or_normals(tmp_path):
    root = fake_release(tmp_path / "breast", LABELS)
    ims = load_dataset("breast_lesions_usg", 32, data_root=root)
    assert ims.ids == ["case001.png", "case002.png", "case004.png", "case005.png", "case006.png"]
    assert ims.labels.tolist() == [0, 1, 0, 1, 0] and ims.name == "breast_lesions_usg"
    assert ims.excluded == [{"id": "case003.png", "reason": "normal (no lesion): left out of benign vs "
                                                            "malignant, as for BUSI"}]
    with_normal = load_breast_lesions_usg(root, 32, include_normal=True)
    assert "case003.png" in with_normal.ids and with_normal.excluded == []
    assert is_mask("case001_tumor.png") and is_mask("case022_other2.png") and not is_mask("case001.png")


def test_label_mismatch_names_the_case(tmp_path):
    root = fake_release(tmp_path / "breast", LABELS, csv_labels=["benign", "benign"] + LABELS[2:])
    with pytest.raises(ValueError, match=r"case002\.png: Classification 'malignant' in the clinical table "
                                         r"but 'benign' in image_labels\.csv"):
        load_dataset("breast_lesions_usg", 32, data_root=root)


def test_missing_pieces_are_named(tmp_path):
    root = fake_release(tmp_path / "breast", LABELS)
    (root / "images_and_masks" / "case004.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"case004\.png"):
        load_dataset("breast_lesions_usg", 32, data_root=root)
    (root / TABLE_NAME).unlink()
    with pytest.raises(FileNotFoundError, match="clinical table"):
        load_dataset("breast_lesions_usg", 32, data_root=root)
    other = fake_release(tmp_path / "other", LABELS[:3])
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(other / "images_and_masks" / "case099.png")
    with pytest.raises(ValueError, match=r"case099\.png"):
        load_dataset("breast_lesions_usg", 32, data_root=other)


# ---- the real data set ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def breast(tmp_path_factory):
    return load_dataset("breast_lesions_usg", 64, data_root=REAL, cache_dir=tmp_path_factory.mktemp("cache"))


@real
def test_real_252_images_154_benign_98_malignant(breast):
    assert len(breast) == 252
    assert np.bincount(breast.labels).tolist() == [154, 98]
    assert [e["id"] for e in breast.excluded] == ["case045.png", "case061.png", "case209.png", "case213.png"]
    assert all("normal" in e["reason"] for e in breast.excluded)
    assert all(i.startswith("case") and i.endswith(".png") and len(i) == len("case001.png") for i in breast.ids)
    assert not any(is_mask(i) for i in breast.ids)
    assert len(set(breast.groups.tolist())) == 252  # one image per patient: no duplicates inside
    assert breast.images.shape == (252, 64, 64) and not breast.synthetic


@real
def test_real_rgba_images_are_not_blank(breast):
    # alpha is 0 outside the scan sector in some files; the grayscale comes from the colour channels
    means = breast.images.reshape(len(breast), -1).mean(1)
    assert means.min() > 10 and breast.images.std() > 30
    first = REAL / "images_and_masks" / "case001.png"
    with Image.open(first) as im:
        assert im.mode == "RGBA"
        rgb = np.asarray(im.convert("RGB").convert("L").resize((64, 64), Image.Resampling.BILINEAR))
    assert np.abs(cache.decode_image(first, 64).astype(int) - rgb).max() <= 1


@real
def test_real_second_load_from_cache(breast, tmp_path, monkeypatch):
    cache_dir = tmp_path / "c"
    first = load_dataset("breast_lesions_usg", 32, data_root=REAL, cache_dir=cache_dir)
    monkeypatch.setattr(cache, "decode_bytes", lambda *a, **k: pytest.fail("second load decoded images"))
    second = load_dataset("breast_lesions_usg", 32, data_root=REAL, cache_dir=cache_dir)
    assert np.array_equal(first.images, second.images) and first.checksum == second.checksum


@pytest.mark.slow
@real
@pytest.mark.busi
@pytest.mark.skipif(not (BUSI / "benign").is_dir(), reason=f"BUSI not found at {BUSI} (set BUSI_ROOT)")
def test_no_busi_image_is_in_breast_lesions_usg(tmp_path):
    busi = load_dataset("busi", 112, data_root=BUSI, cache_dir=tmp_path)
    breast = load_dataset("breast_lesions_usg", 112, data_root=REAL, cache_dir=tmp_path)
    assert cross_duplicates(busi, breast) == []  # measured: 0 at 112 px (and at 64 px)
