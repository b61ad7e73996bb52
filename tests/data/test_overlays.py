"""Burnt-in annotations (benchmark.data.overlays): the detector on synthetic images, BUSI's committed
flags, and ``[data] exclude_overlays`` (no real data needed)."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter

from benchmark.common.profiles import ProfileError, load_profile
from benchmark.data import ImageSet, load_dataset
from benchmark.data import busi as busi_module
from benchmark.data.busi import OVERLAY_FILE
from benchmark.data.overlays import FLAG_COLUMNS, detect_overlays, read_overlay_flags, without_overlays

EYE_FILE = OVERLAY_FILE.with_name("busi_overlays_eye.csv")
BUSI_IDS = {f"{cls}/{cls} ({i}).png" for cls, n in (("benign", 437), ("malignant", 210), ("normal", 133))
            for i in range(1, n + 1)}


def speckle(seed: int, size: int = 256) -> np.ndarray:
    """A B-mode-like grey image: Rayleigh speckle drawn out sideways, a few bright horizontal layers, darker
    with depth."""
    rng = np.random.default_rng(seed)
    field = gaussian_filter(rng.rayleigh(1.0, (size, size)), sigma=(0.7, 2.0))
    rows = np.arange(size)[:, None]
    for y in rng.integers(20, size - 20, 4):
        field += 1.0 * np.exp(-0.5 * ((rows - y) / 1.5) ** 2)
    field *= np.linspace(1.0, 0.4, size)[:, None]
    low, high = np.percentile(field, [1, 99.5])
    return np.clip((field - low) / (high - low) * 230, 0, 255).astype(np.uint8)


def rgb(grey: np.ndarray) -> Image.Image:
    return Image.fromarray(grey).convert("RGB")


@pytest.mark.parametrize("seed", range(6))
def test_plain_speckle_is_not_flagged(seed):
    found = detect_overlays(speckle(seed))
    assert not found.overlay and found.kinds == () and found.marks == 0


@pytest.mark.parametrize("seed", range(2))
def test_a_planted_caliper_cross_is_flagged(seed):
    im = rgb(speckle(seed))
    draw = ImageDraw.Draw(im)
    draw.line([(120, 130), (130, 130)], fill=(235, 235, 235))
    draw.line([(125, 125), (125, 135)], fill=(235, 235, 235))
    found = detect_overlays(np.asarray(im))
    assert found.overlay and "marks" in found.kinds


def test_planted_text_is_flagged_at_any_image_size():
    im = rgb(speckle(5, 512))
    ImageDraw.Draw(im).text((60, 420), "RT AXILLA", fill=(225, 225, 225), font_size=22)
    assert detect_overlays(np.asarray(im)).kinds == ("marks",)
    assert not detect_overlays(speckle(5, 512)).overlay


def test_a_faint_box_and_colour_are_flagged():
    im = rgb(speckle(6))
    ImageDraw.Draw(im).rectangle([60, 60, 180, 160], outline=(150, 150, 150))
    assert "lines" in detect_overlays(np.asarray(im)).kinds
    im = rgb(speckle(6))
    ImageDraw.Draw(im).rectangle([60, 60, 70, 64], fill=(200, 200, 40))  # a yellow mark
    found = detect_overlays(np.asarray(im))
    assert found.overlay and "colour" in found.kinds


def test_the_corner_logo_is_ignored():
    """Nearly every BUSI image has a small logo in its top-left corner: not an annotation."""
    im = rgb(speckle(7))
    draw = ImageDraw.Draw(im)
    draw.line([(4, 3), (4, 11)], fill=(240, 240, 240))
    draw.line([(8, 3), (8, 11)], fill=(240, 240, 240))
    assert not detect_overlays(np.asarray(im)).overlay


# ---- BUSI's committed flags --------------------------------------------------------------------

def read_rows(path):
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)


def test_the_flag_file_covers_every_busi_image_once():
    columns, rows = read_rows(OVERLAY_FILE)
    assert tuple(columns) == FLAG_COLUMNS
    ids = [r["image_id"] for r in rows]
    assert len(ids) == len(set(ids)) == 780 and set(ids) == BUSI_IDS
    assert {r["overlay"] for r in rows} == {"0", "1"}
    assert {r["source"] for r in rows} == {"detector", "eye"}
    assert set(";".join(r["kinds"] for r in rows).split(";")) <= {"", "marks", "lines", "colour"}


def test_eye_verdicts_override_the_detector():
    _, eye = read_rows(EYE_FILE)
    _, flags = read_rows(OVERLAY_FILE)
    by_id = {r["image_id"]: r for r in flags}
    assert {r["image_id"] for r in flags if r["source"] == "eye"} == {r["image_id"] for r in eye}
    assert all(by_id[r["image_id"]]["overlay"] == r["overlay"] for r in eye)
    assert sum(r["sample"] == "check" for r in eye) == 40


def test_read_overlay_flags(tmp_path):
    assert read_overlay_flags(OVERLAY_FILE, ["benign/benign (1).png", "benign/benign (7).png", "x.png"]) == [1, 0, None]
    bad = tmp_path / "flags.csv"
    bad.write_text("image_id,overlay,kinds,source\na.png,yes,,eye\n")
    with pytest.raises(ValueError, match=r"flags.csv: overlay must be 0 or 1, got 'yes' for 'a.png'"):
        read_overlay_flags(bad, ["a.png"])
    bad.write_text("image_id,flag\na.png,1\n")
    with pytest.raises(ValueError, match="needs the columns image_id, overlay, kinds, source"):
        read_overlay_flags(bad, ["a.png"])


# ---- [data] exclude_overlays ---------------------------------------------------------------------

def image_set(flags) -> ImageSet:
    """BUSI-like images im0, im1, ... with the given overlay flags, one image already excluded."""
    n = len(flags)
    return ImageSet(images=np.zeros((n, 8, 8), np.uint8), labels=np.array([0, 1] * (n // 2), np.int64),
                    ids=[f"im{k}" for k in range(n)], groups=np.arange(n), name="busi", synthetic=False,
                    checksum="c0ffee", excluded=[{"id": "old", "reason": "cross-label"}],
                    metadata={"overlay": list(flags)})


def test_exclude_overlays_drops_exactly_the_flagged_images():
    data = image_set([1, 0, 0, 1, 0, 1])
    clean = without_overlays(data)
    assert clean.ids == ["im1", "im2", "im4"] and clean.metadata["overlay"] == [0, 0, 0]
    assert [e["id"] for e in clean.excluded] == ["old", "im0", "im3", "im5"]
    assert all("exclude_overlays" in e["reason"] for e in clean.excluded[1:])
    assert clean.checksum != data.checksum and len(clean.checksum) == 64
    assert without_overlays(image_set([1, 0, 0, 1, 0, 1])).checksum == clean.checksum
    assert without_overlays(image_set([0, 0, 0, 1, 0, 1])).checksum != clean.checksum
    assert data.ids == [f"im{k}" for k in range(6)]  # the loaded set itself is left as it was


def test_exclude_overlays_without_flags_names_the_option():
    with pytest.raises(ValueError, match=r"\[data\] exclude_overlays = true: data set 'synthetic' has no per-image "
                                         r"overlay flags") as err:
        load_dataset("synthetic", 32, synthetic_images=20, exclude_overlays=True)
    assert "exclude_overlays" in str(err.value)
    with pytest.raises(ValueError, match=r"\[data\] exclude_overlays = true: 1 images of 'busi' have no overlay flag "
                                         r"\(first: 'im2'\)"):
        without_overlays(image_set([1, 0, None, 0]))


def test_exclude_overlays_on_a_busi_folder(tmp_path, monkeypatch):
    """load_dataset (the suite's loader, runner.load_data) with the option: the flagged ids of the folder go."""
    root = tmp_path / "busi"
    for cls in ("benign", "malignant"):
        (root / cls).mkdir(parents=True)
        for i in range(1, 5):
            Image.fromarray(speckle(i + 10 * (cls == "malignant"), 64)).save(root / cls / f"{cls} ({i}).png")
    flags = tmp_path / "flags.csv"
    flagged = {"benign/benign (2).png", "malignant/malignant (1).png", "malignant/malignant (4).png"}
    flags.write_text("image_id,overlay,kinds,source\n" + "".join(
        f"{cls}/{cls} ({i}).png,{int(f'{cls}/{cls} ({i}).png' in flagged)},,eye\n"
        for cls in ("benign", "malignant") for i in range(1, 5)))
    monkeypatch.setattr(busi_module, "OVERLAY_FILE", flags)
    full = load_dataset("busi", 32, data_root=root, cache_dir=tmp_path / "cache")
    clean = load_dataset("busi", 32, data_root=root, cache_dir=tmp_path / "cache", exclude_overlays=True)
    assert set(full.ids) - set(clean.ids) == flagged and len(clean) == 5
    assert {e["id"] for e in clean.excluded} == flagged
    assert full.checksum != clean.checksum


def test_the_profile_option(tmp_path):
    profile = load_profile("quick_clean")
    assert profile.data.exclude_overlays and profile.description
    assert profile.train == load_profile("quick").train
    assert "exclude_overlays" not in load_profile("quick").training_dict()["data"]  # the studies of before
    assert profile.training_dict()["data"]["exclude_overlays"] is True
    bad = tmp_path / "bad.toml"
    bad.write_text('[data]\nexclude_overlays = "yes"\n')
    with pytest.raises(ProfileError, match=r"bad.toml: \[data\] exclude_overlays must be true or false, got 'yes'"):
        load_profile(bad)
