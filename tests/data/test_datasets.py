"""Data sets as plugins (benchmark/data/registry.py), the folder and shifted synthetic data sets,
cross-set duplicates and ``petl-bench datasets``; no real data needed."""
from __future__ import annotations

import types
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

from benchmark.cli import main
from benchmark.data import (DATASETS, DatasetNotFoundError, DatasetSpec, ImageSet, cross_duplicates, dataset_info,
                            get_dataset, list_datasets, load_dataset, register_dataset, registry)
from benchmark.data.cache import ImageDecodeError, decode_image
from benchmark.data.synthetic import make_synthetic
from fake_datasets import write_folder

BUILT_IN = {"busi", "breast_lesions_usg", "folder", "synthetic", "synthetic_shifted"}


@pytest.fixture
def clean_datasets(monkeypatch):
    """Undo every registration a test makes; discovery runs again (with patched entry points)."""
    registry.discover()
    before, failed = dict(registry._REGISTRY), dict(registry._FAILED)
    monkeypatch.setattr(registry, "_discovered", False)
    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(before)
    registry._FAILED.clear()
    registry._FAILED.update(failed)


def tiny_set(name: str, images: np.ndarray, labels=None) -> ImageSet:
    n = len(images)
    return ImageSet(images=images, labels=np.zeros(n, np.int64) if labels is None else np.asarray(labels),
                    ids=[f"{name}/{i}" for i in range(n)], groups=np.arange(n), name=name, synthetic=True,
                    checksum="-")


# ---- registry --------------------------------------------------------------------------------

def test_built_ins_are_registered_with_licence_and_citation():
    names = {s.name for s in list_datasets()}
    assert BUILT_IN <= names
    assert set(DATASETS) == names and "busi" in DATASETS and "nope" not in DATASETS
    for name in BUILT_IN:
        info = dataset_info(name)
        assert info["description"] and info["citation"] and info["licence"]
        assert info["synthetic"] == name.startswith("synthetic")
    assert dataset_info("breast_lesions_usg")["licence"] == "CC BY 4.0"
    assert "Scientific Data 11, 148 (2024)" in dataset_info("breast_lesions_usg")["citation"]
    assert get_dataset("busi").root_env == "BUSI_ROOT"
    assert get_dataset("breast_lesions_usg").root_env == "BREAST_LESIONS_USG_ROOT"


def test_register_load_and_options(clean_datasets):
    seen = {}

    @register_dataset("toy", description="a toy", citation="me", licence="CC0", synthetic=True)
    def load(root, image_size, n_images=3, seed=0):
        seen.update(root=root, n=n_images, seed=seed)
        return tiny_set("toy", np.zeros((n_images, image_size, image_size), np.uint8))

    data = load_dataset("toy", 16, synthetic_images=5, synthetic_seed=7, include_normal=True)
    assert len(data) == 5 and data.image_size == 16
    assert seen == {"root": None, "n": 5, "seed": 7}  # include_normal / cache_dir not passed: not declared
    assert "toy" in DATASETS and get_dataset("toy").synthetic


def test_duplicate_name_and_missing_fields_are_errors(clean_datasets):
    with pytest.raises(ValueError, match="'busi' is already registered"):
        register_dataset("busi", description="x", citation="y", licence="z")(lambda root, size: None)
    with pytest.raises(ValueError, match="licence"):
        register_dataset("nolicence", description="x", citation="y", licence="")(lambda root, size: None)
    with pytest.raises(ValueError, match="identifier"):
        register_dataset("has space", description="x", citation="y", licence="z")(lambda root, size: None)


def test_unknown_name_lists_registered_names():
    with pytest.raises(KeyError, match="no data set named 'nope'") as err:
        get_dataset("nope")
    for name in BUILT_IN:
        assert name in str(err.value)
    with pytest.raises(KeyError, match="busi, folder"):
        load_dataset("nope", 32)


def test_loader_must_return_an_image_set(clean_datasets):
    register_dataset("bad", description="x", citation="y", licence="z", synthetic=True)(lambda root, size: "x")
    with pytest.raises(TypeError, match="'bad'.*not an ImageSet"):
        load_dataset("bad", 32)


class FakeEntryPoint:
    def __init__(self, name, load):
        self.name, self.value, self._load = name, f"fake_plugin:{name}", load

    def load(self):
        return self._load()


def test_entry_points_register_data_sets(clean_datasets, monkeypatch):
    def module_plugin():  # a module that registers on import
        register_dataset("from_module", description="m", citation="c", licence="l", synthetic=True)(
            lambda root, size: tiny_set("from_module", np.zeros((2, size, size), np.uint8)))
        return types.ModuleType("fake_plugin")

    spec = DatasetSpec(name="from_spec", loader=lambda root, size: None, description="s", citation="c",
                       licence="l", synthetic=True, needs_root=False)

    def register_later():
        register_dataset("from_callable", description="f", citation="c", licence="l", synthetic=True)(
            lambda root, size: None)

    def broken():
        raise ImportError("no module named fake_dependency")

    eps = [FakeEntryPoint("a", module_plugin), FakeEntryPoint("b", lambda: spec),
           FakeEntryPoint("c", lambda: register_later), FakeEntryPoint("broken", broken)]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps if group == registry.ENTRY_POINT_GROUP else [])
    with pytest.warns(RuntimeWarning, match="'broken'.*fake_dependency"):
        names = {s.name for s in list_datasets()}
    assert {"from_module", "from_spec", "from_callable"} | BUILT_IN <= names
    assert len(load_dataset("from_module", 8)) == 2
    with pytest.raises(KeyError, match="plugin 'broken' failed to load"):
        get_dataset("missing_one")


# ---- finding a data set's folder --------------------------------------------------------------

@pytest.fixture
def fake_spec(clean_datasets, tmp_path, monkeypatch):
    """A data set 'fake' (env FAKE_ROOT, shared folder fake-dir) in a project at tmp_path/proj."""
    project = tmp_path / "proj"
    project.mkdir()
    monkeypatch.setattr(registry, "project_dirs", lambda: [project])
    monkeypatch.delenv("FAKE_ROOT", raising=False)

    def check(path: Path):
        return (path / "marker").is_file() or "has no marker file"

    @register_dataset("fake", description="d", citation="c", licence="l", root_env="FAKE_ROOT",
                      shared_dir="fake-dir", check_root=check, how_to_get="Ask the fake lab for it.")
    def load(root, image_size):
        return tiny_set("fake", np.full((1, image_size, image_size), len(str(root)) % 256, np.uint8))

    return get_dataset("fake"), project


def make_root(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "marker").touch()
    return path


def test_root_not_found_names_every_place_and_what_to_do(fake_spec, tmp_path):
    spec, project = fake_spec
    (project / "datasets" / "fake").mkdir(parents=True)  # exists, but without the marker
    with pytest.raises(DatasetNotFoundError) as err:
        spec.resolve_root()
    text = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    for place in (project / "datasets" / "fake", project / "datasets" / "fake-dir",
                  tmp_path / "shared" / "datasets" / "fake-dir"):
        assert str(place) in text
    assert "has no marker file" in text and "does not exist" in text
    assert "Ask the fake lab" in text and "--data-root" in text and "FAKE_ROOT" in text
    # the order: datasets/<name>, datasets/<shared_dir>, then ../shared/datasets/<shared_dir>
    assert text.index("proj/datasets/fake ") < text.index("proj/datasets/fake-dir") < text.index("shared/datasets")


def test_root_resolution_order(fake_spec, tmp_path, monkeypatch):
    spec, project = fake_spec
    shared = make_root(tmp_path / "shared" / "datasets" / "fake-dir")
    assert spec.resolve_root() == shared.resolve()
    assert spec.locate().source.startswith("../shared")
    in_project = make_root(project / "datasets" / "fake")
    assert spec.resolve_root() == in_project.resolve()
    from_env = make_root(tmp_path / "env")
    monkeypatch.setenv("FAKE_ROOT", str(from_env))
    assert spec.resolve_root() == from_env.resolve() and spec.locate().source == "$FAKE_ROOT"
    explicit = make_root(tmp_path / "explicit")
    assert spec.resolve_root(explicit) == explicit.resolve()
    assert spec.load(4, explicit).images[0, 0, 0] == len(str(explicit.resolve())) % 256


def test_explicit_or_env_root_is_the_only_place_tried(fake_spec, tmp_path, monkeypatch):
    spec, project = fake_spec
    make_root(project / "datasets" / "fake")  # would be found, but is not looked at
    with pytest.raises(DatasetNotFoundError, match="wrong.*--data-root.*does not exist") as err:
        spec.resolve_root(tmp_path / "wrong")
    assert str(project) not in str(err.value)
    monkeypatch.setenv("FAKE_ROOT", str(tmp_path / "env-wrong"))
    with pytest.raises(DatasetNotFoundError, match=r"env-wrong \(\$FAKE_ROOT\): does not exist"):
        spec.resolve_root()


def test_generated_sets_need_no_root():
    assert get_dataset("synthetic").resolve_root() is None
    assert get_dataset("synthetic_shifted").locate().tried == ()


# ---- the folder data set -----------------------------------------------------------------------


def test_folder_loads_benign_and_malignant_recursively(tmp_path):
    data = write_folder(tmp_path / "mine")
    ims = load_dataset("folder", 32, data_root=tmp_path / "mine")
    assert len(ims) == len(data) and ims.name == "folder" and not ims.synthetic
    assert ims.images.shape == (len(data), 32, 32)
    assert not any("_mask" in i or ".hidden" in i or i.endswith(".txt") for i in ims.ids)
    expected = {}
    for i, label in enumerate(data.labels):
        cls = "malignant" if label else "benign"
        expected[f"{cls}/site2/img {i}.png" if i % 2 else f"{cls}/img {i}.png"] = int(label)
    assert dict(zip(ims.ids, ims.labels.tolist())) == expected
    assert len(set(ims.groups.tolist())) == len(ims)  # the synthetic images are all distinct
    assert len(load_dataset("folder", 32, data_root=tmp_path / "mine", include_normal=True)) == len(data)
    (tmp_path / "mine" / "normal").mkdir()
    Image.fromarray(make_synthetic(2, 48, seed=99).images[1]).save(tmp_path / "mine" / "normal" / "n.png")
    with_normal = load_dataset("folder", 32, data_root=tmp_path / "mine", include_normal=True)
    assert dict(zip(with_normal.ids, with_normal.labels.tolist()))["normal/n.png"] == 0
    assert "normal/n.png" not in load_dataset("folder", 32, data_root=tmp_path / "mine").ids
    # a copy of an image under the same label joins its group; under the other label both go
    src = tmp_path / "mine" / "benign" / "img 0.png"
    (tmp_path / "mine" / "benign" / "copy of 0.png").write_bytes(src.read_bytes())
    ims = load_dataset("folder", 32, data_root=tmp_path / "mine")
    g = dict(zip(ims.ids, ims.groups.tolist()))
    assert g["benign/copy of 0.png"] == g["benign/img 0.png"]
    (tmp_path / "mine" / "malignant" / "also 0.png").write_bytes(src.read_bytes())
    ims = load_dataset("folder", 32, data_root=tmp_path / "mine")
    assert {e["id"] for e in ims.excluded} == {"benign/copy of 0.png", "benign/img 0.png", "malignant/also 0.png"}


def test_folder_errors_are_clear(tmp_path, monkeypatch):
    monkeypatch.delenv("PETL_BENCH_FOLDER_ROOT", raising=False)
    with pytest.raises(DatasetNotFoundError, match="--data-root"):
        load_dataset("folder", 32)
    with pytest.raises(DatasetNotFoundError, match="nowhere.*does not exist"):
        load_dataset("folder", 32, data_root=tmp_path / "nowhere")
    (tmp_path / "half" / "benign").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="has no malignant/ folder"):
        load_dataset("folder", 32, data_root=tmp_path / "half")
    write_folder(tmp_path / "empty", nested=False)
    for f in (tmp_path / "empty" / "malignant").iterdir():
        if "_mask" not in f.name:
            f.unlink()
    with pytest.raises(FileNotFoundError, match=r"no images in .*empty[/\\]malignant"):
        load_dataset("folder", 32, data_root=tmp_path / "empty")
    write_folder(tmp_path / "bad", nested=False)
    (tmp_path / "bad" / "malignant" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ImageDecodeError, match=r"malignant[/\\]broken\.png"):
        load_dataset("folder", 32, data_root=tmp_path / "bad")


# ---- decoding RGBA ---------------------------------------------------------------------------

def test_rgba_decodes_by_its_colour_channels_alone(tmp_path):
    gray = make_synthetic(2, 64, seed=1).images[0]
    rgba = np.dstack([gray, gray, gray, np.random.default_rng(0).integers(0, 256, gray.shape, dtype=np.uint8)])
    rgba[:8, :8, 3] = 0  # fully transparent corner: the colour is still what counts
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(gray).save(tmp_path / "gray.png")
    assert np.array_equal(decode_image(tmp_path / "rgba.png", 40), decode_image(tmp_path / "gray.png", 40))


# ---- the shifted synthetic site ---------------------------------------------------------------

@pytest.fixture(scope="module")
def sites():
    return make_synthetic(240, 64, seed=0), make_synthetic(240, 64, seed=0, site="shifted")


def posterior_ratio(ims: ImageSet) -> np.ndarray:
    """Mean below the image centre over the sides at the same depth (posterior shadowing)."""
    im, size = ims.images.astype(float), ims.image_size
    rows = slice(int(0.7 * size), int(0.9 * size))
    centre = im[:, rows, int(0.35 * size):int(0.65 * size)].mean((1, 2))
    sides = np.concatenate([im[:, rows, : int(0.2 * size)], im[:, rows, int(0.8 * size):]], axis=2).mean((1, 2))
    return centre / (sides + 1)


def test_shifted_site_differs_in_intensity_but_stays_learnable(sites):
    base, shifted = sites
    assert shifted.name == "synthetic_shifted" and shifted.synthetic and shifted.ids[0] == "synthetic_shifted/000000"
    assert np.array_equal(base.labels, shifted.labels) and shifted.checksum != base.checksum
    size = base.image_size

    def stats(ims):
        im = ims.images.astype(float)
        top, bottom = im[:, int(0.1 * size):int(0.3 * size)].mean(), im[:, int(0.7 * size):int(0.9 * size)].mean()
        return im.std(axis=(1, 2)).mean(), bottom / top, (ims.images == 0).mean()

    (std_b, depth_b, dark_b), (std_s, depth_s, dark_s) = stats(base), stats(shifted)
    assert std_s > std_b + 10  # narrower dynamic range: more contrast
    assert depth_s < depth_b - 0.1  # stronger attenuation with depth
    assert dark_s > dark_b  # more pixels at black
    for ims in sites:  # the same cue separates the classes at both sites
        assert roc_auc_score(ims.labels, -posterior_ratio(ims)) > 0.65


def test_shifted_images_are_not_copies_of_base_images(sites):
    base, shifted = sites
    assert cross_duplicates(base, shifted) == []
    assert load_dataset("synthetic_shifted", 48, synthetic_images=6, synthetic_seed=2).checksum == \
        make_synthetic(6, 48, seed=2, site="shifted").checksum
    with pytest.raises(ValueError, match="site"):
        make_synthetic(4, 32, site="elsewhere")


# ---- cross-set duplicates ----------------------------------------------------------------------

def test_cross_duplicates_finds_planted_copies_only():
    a = make_synthetic(40, 64, seed=4)
    others = make_synthetic(30, 64, seed=5)
    b_images = others.images.copy()
    b_images[3] = a.images[7]  # an exact copy
    shifted = np.roll(a.images[12], (1, 1), axis=(0, 1))  # a copy shifted by a pixel, with a caliper
    shifted[20:22, 10:30] = 255
    b_images[17] = shifted
    b = tiny_set("b", b_images)
    assert cross_duplicates(a, b) == [(a.ids[7], "b/3"), (a.ids[12], "b/17")]
    assert cross_duplicates(a, others) == []
    assert cross_duplicates(a, tiny_set("empty", np.zeros((0, 64, 64), np.uint8))) == []


def test_cross_duplicates_across_sizes():
    a = make_synthetic(10, 96, seed=8)
    small = np.stack([np.asarray(Image.fromarray(im).resize((64, 64), Image.Resampling.BILINEAR)) for im in a.images])
    found = cross_duplicates(a, tiny_set("small", small[[2, 5]]))
    assert found == [(a.ids[2], "small/0"), (a.ids[5], "small/1")]


# ---- petl-bench datasets -----------------------------------------------------------------------

def test_datasets_command(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("BUSI_ROOT", str(tmp_path / "no-busi-here"))
    assert main(["datasets"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    by_name = {line.split()[0]: line for line in lines}
    assert BUILT_IN <= set(by_name)
    assert "not found" in by_name["busi"] and "BUSI" in by_name["busi"]
    assert "generated" in by_name["synthetic"] and "SYNTHETIC" in by_name["synthetic_shifted"]
    data = write_folder(tmp_path / "mine", n=4, nested=False)
    assert len(data) == 4
    monkeypatch.setenv("PETL_BENCH_FOLDER_ROOT", str(tmp_path / "mine"))
    assert main(["datasets", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert f"found: {(tmp_path / 'mine').resolve()}" in out
    assert "licence: CC BY 4.0" in out and "citation: Pawłowska" in out
    assert f"tried {tmp_path / 'no-busi-here'} ($BUSI_ROOT): does not exist" in out


def test_run_accepts_every_registered_data_set():
    from benchmark.cli import build_parser

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        args = build_parser().parse_args(["run", "--method", "drs", "--dataset", "breast_lesions_usg", "--out", "x"])
    assert args.dataset == "breast_lesions_usg"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--method", "drs", "--dataset", "nope", "--out", "x"])
