"""BUS-BRA: the loader, patient groups and the official folds on a small fake of the published
layout, each bad-table error, and the real data set when it is at hand (env BUS_BRA_ROOT, else
../shared/datasets/bus-bra next to the project)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark.common.profiles import ProfileError, _parse, load_profile
from benchmark.data import DatasetNotFoundError, get_dataset, load_dataset
from benchmark.data.bus_bra import BusBraTableError, load_bus_bra, merge_groups
from benchmark.data.split import kfold_splits
from benchmark.runfolder import load_image_table
from benchmark.training.runner import evaluation_splits
from benchmark.training.suite import save_image_table
from fake_datasets import DEVICES, edit_csv, fake_busbra
from locations import dataset_root

REAL = dataset_root("bus_bra")
real = pytest.mark.skipif(not (REAL / "BUSBRA" / "bus_data.csv").is_file() and not (REAL / "bus_data.csv").is_file(),
                          reason=f"BUS-BRA not found at {REAL} (set BUS_BRA_ROOT)")


# ---- a small fake of the published layout ------------------------------------------------------


def profile(tmp_path: Path, **evaluation):
    body = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in evaluation.items())
    path = tmp_path / "p.toml"
    path.write_text(f"[evaluation]\n{body}\n")
    return load_profile(path)


@pytest.fixture
def fake(tmp_path):
    return fake_busbra(tmp_path / "busbra")


@pytest.fixture
def loaded(fake):
    return load_dataset("bus_bra", 32, data_root=fake)


def patients(data, index) -> set:
    return {data.metadata["patient"][i] for i in index}


def test_fake_layout_loads_labels_metadata_and_patient_groups(loaded, fake):
    data = loaded
    table = pd.read_csv(fake / "BUSBRA" / "bus_data.csv")
    assert data.name == "bus_bra" and not data.synthetic and len(data) == len(table) == 45
    assert data.ids[:4] == ["bus_0001-l", "bus_0001-r", "bus_0002-s", "bus_0003-l"]
    assert data.labels.tolist() == [int(p == "malignant") for p in table.set_index("ID").loc[data.ids, "Pathology"]]
    assert set(data.metadata) == {"patient", "histology", "birads", "device", "side"}
    assert data.metadata["patient"][:4] == [1, 1, 2, 3] and data.metadata["side"][:3] == ["left", "right", "single"]
    assert data.metadata["device"][2] == DEVICES[2] and data.metadata["birads"][:3] == [4, 4, 5]
    # one group per patient: images of a patient together, different patients apart
    patient = np.array(data.metadata["patient"])
    assert len(np.unique(data.groups)) == len(np.unique(patient)) == 30
    assert all((data.groups == data.groups[i]).tolist() == (patient == patient[i]).tolist() for i in range(len(data)))
    assert data.images.shape == (45, 32, 32)  # masks are never loaded


def test_suite_folds_keep_every_patient_whole(loaded):
    data = loaded
    for split in kfold_splits(data.labels, data.groups, 5, seed=3):
        test, train, val = (patients(data, split[s]) for s in ("test", "train", "val"))
        assert not test & train and not test & val and not train & val
    assert sorted(np.concatenate([s["test"] for s in kfold_splits(data.labels, data.groups, 5, 3)])) == \
        list(range(len(data)))


def test_official_partition_gives_the_files_test_folds_and_patient_disjoint_validation(loaded, fake, tmp_path):
    data = loaded
    official = pd.read_csv(fake / "BUSBRA" / "5-fold-cv.csv").set_index("ID").loc[data.ids, "kFold"].to_numpy() - 1
    assert data.official_folds[5].tolist() == official.tolist() and set(data.official_folds) == {5}
    folds = evaluation_splits(profile(tmp_path, scheme="kfold", folds=5, partition="official", split_seeds=[0, 1]),
                              data)
    assert [(f.repeat, f.fold) for f in folds] == [(r, f) for r in (0, 1) for f in range(5)]
    for f in folds:
        assert f.split["test"].tolist() == np.flatnonzero(official == f.fold).tolist()
        train, val = patients(data, f.split["train"]), patients(data, f.split["val"])
        assert train and val and not train & val and not (train | val) & patients(data, f.split["test"])
        assert set(data.labels[f.split["val"]]) == {0, 1}
    assert folds[0].split["val"].tolist() != folds[5].split["val"].tolist()  # another seed: other validation
    own = evaluation_splits(profile(tmp_path, scheme="kfold", folds=5), data)
    assert any(a.split["test"].tolist() != b.split["test"].tolist() for a, b in zip(own, folds))


def test_official_partition_errors(loaded, tiny_data, tmp_path):
    with pytest.raises(ProfileError, match=r'partition = "official".*needs scheme = "kfold"'):
        profile(tmp_path, scheme="holdout", partition="official")
    with pytest.raises(ProfileError, match=r"partition must be one of \('stratified', 'official'\)"):
        profile(tmp_path, scheme="kfold", partition="papers")
    assert _parse({}, tmp_path / "x.toml").evaluation.partition == "stratified"
    with pytest.raises(ValueError, match=r"data set 'synthetic' has no official partition.*partition = \"stratified\""):
        evaluation_splits(profile(tmp_path, scheme="kfold", folds=5, partition="official"), tiny_data)
    with pytest.raises(ValueError, match=r"official 5-fold partitions, no 7-fold one; set \[evaluation\] folds to 5"):
        evaluation_splits(profile(tmp_path, scheme="kfold", folds=7, partition="official"), loaded)
    # a group across the given folds (here: two patients' images joined as duplicates) is refused
    other = int(np.flatnonzero(loaded.official_folds[5] != loaded.official_folds[5][0])[0])
    link = np.arange(len(loaded))
    link[other] = 0
    joined = dataclasses.replace(loaded, groups=merge_groups(loaded.groups, link))
    with pytest.raises(ValueError, match=r"1 group\(s\) of images \(a patient or duplicates\) lie in two of the given"):
        evaluation_splits(profile(tmp_path, scheme="kfold", folds=5, partition="official"), joined)


def test_merge_groups_joins_any_shared_value():
    assert merge_groups([0, 1, 2, 3, 4], [7, 7, 8, 9, 9]).tolist() == [0, 0, 1, 2, 2]
    assert merge_groups([0, 1, 1, 2, 3], ["a", "b", "c", "c", "d"]).tolist() == [0, 1, 1, 1, 2]


def _drop_image(base):
    (base / "Images" / "bus_0004-s.png").unlink()


def _stray_image(base):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(base / "Images" / "bus_0999-s.png")


BAD_TABLES = {
    "missing image": (_drop_image, r"bus_data.csv: line 7 \(bus_0004-s\): no image file Images/bus_0004-s.png"),
    "unknown label": (lambda b: edit_csv(b / "bus_data.csv", lambda t: t.loc.__setitem__((3, "Pathology"), "benign?")),
                      r"line 5 \(bus_0003-l\): Pathology 'benign\?' is not benign or malignant"),
    "duplicate id": (lambda b: edit_csv(b / "bus_data.csv", lambda t: t.loc.__setitem__((4, "ID"), "bus_0003-l")),
                     r"line 6 \(bus_0003-l\): ID listed twice \(first on line 5\)"),
    "bad case": (lambda b: edit_csv(b / "bus_data.csv", lambda t: t.loc.__setitem__((0, "Case"), "one")),
                 r"line 2 \(bus_0001-l\): Case 'one' is not a patient number"),
    "stray image": (_stray_image, r"holds 1 image\(s\) that bus_data.csv does not list: bus_0999-s.png"),
    "mixed patient": (lambda b: edit_csv(b / "bus_data.csv",
                                         lambda t: t.loc.__setitem__((1, "Pathology"), "malignant")),
                      r"patient \(Case\) 1 is benign on line 2 \(bus_0001-l\) but malignant on line 3 \(bus_0001-r\)"),
    "missing column": (lambda b: edit_csv(b / "bus_data.csv", lambda t: t.drop(columns="Case")),
                       r"bus_data.csv has no column Case"),
    "fold file misses an image": (lambda b: edit_csv(b / "5-fold-cv.csv", lambda t: t.drop(index=2)),
                                  r"5-fold-cv.csv: bus_0002-s \(bus_data.csv line 4\) has no row"),
    "fold out of range": (lambda b: edit_csv(b / "5-fold-cv.csv", lambda t: t.loc.__setitem__((2, "kFold"), "6")),
                          r"5-fold-cv.csv: line 4 \(bus_0002-s\): kFold '6' is not a fold 1..5"),
    "fold splits a patient": (lambda b: edit_csv(b / "5-fold-cv.csv", lambda t: t.loc.__setitem__(
        (1, "kFold"), str(int(t.loc[0, "kFold"]) % 5 + 1))), r"5-fold-cv.csv: patient \(Case\) 1 is in folds"),
    "fold file names an unknown image": (lambda b: edit_csv(b / "5-fold-cv.csv", lambda t: t.loc.__setitem__(
        (2, "ID"), "bus_9999-s")), r"line 4 \(bus_9999-s\): bus_data.csv has no image 'bus_9999-s'"),
}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_bad_tables_are_errors_naming_the_row(fake, case):
    damage, message = BAD_TABLES[case]
    damage(fake / "BUSBRA")
    with pytest.raises((BusBraTableError, FileNotFoundError), match=message):
        load_bus_bra(fake, 32)


def test_absent_data_set_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("BUS_BRA_ROOT", str(tmp_path / "none"))
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("bus_bra", 32)
    text = str(err.value)
    assert "BUS_BRA_ROOT" in text and "zenodo.8231412" in text and "doi:10.1002/mp.16812" in text
    spec = get_dataset("bus_bra")
    assert "Medical Physics 51(4)" in spec.citation and "cite" in spec.licence
    (tmp_path / "empty").mkdir()
    assert "has no Images/ and bus_data.csv" in spec.locate(tmp_path / "empty").tried[0][2]


def test_image_table_in_the_run_folder(loaded, tiny_data, tmp_path):
    save_image_table(tmp_path, [loaded, tiny_data])
    table = load_image_table(tmp_path)
    assert len(table) == len(loaded) + len(tiny_data)
    # integers are written as integers though the synthetic rows leave them blank
    text = (tmp_path / "images.csv").read_text()
    assert "\nbus_bra,bus_0001-l,0,0,1,fibroadenoma,4,GE Logiq 5 @10-12MHz,left\n" in text
    ours = table[table.dataset == "bus_bra"].set_index("image_id")
    assert ours.loc["bus_0003-r", "patient"] == 3 and ours.loc["bus_0003-r", "device"] == DEVICES[0]
    assert ours["label"].tolist() == loaded.labels.tolist() and ours["group"].tolist() == loaded.groups.tolist()
    assert table[table.dataset == "synthetic"]["device"].isna().all()
    assert load_image_table(tmp_path / "nothing") is None
    pd.concat([table, table.head(1)]).to_csv(tmp_path / "images.csv", index=False)
    with pytest.raises(ValueError, match="image 'bus_0001-l' of bus_bra is listed twice"):
        load_image_table(tmp_path)


# ---- the real data set -----------------------------------------------------------------------

@pytest.mark.bus_bra
@pytest.mark.slow
@real
def test_real_bus_bra(tmp_path):
    data = load_dataset("bus_bra", 64, data_root=REAL)
    patient = np.array(data.metadata["patient"])
    assert (len(data), int(data.labels.sum()), len(np.unique(patient)), data.excluded) == (1875, 607, 1064, [])
    assert len(np.unique(data.groups)) == 1064  # measured: the 3 near-duplicate pairs are each within a patient
    assert [int(i.split("_")[1][:4]) for i in data.ids] == patient.tolist()  # Case = the number in the ID
    assert np.bincount(data.official_folds[5]).tolist() == [376, 385, 366, 365, 383]
    assert len(np.bincount(data.official_folds[10])) == 10
    devices = pd.Series(data.metadata["device"]).value_counts().to_dict()
    assert devices == {"GE Logiq 7 @10-14MHz": 902, "GE Logiq 5 @10-12MHz": 809,
                       "Toshiba Aplio 300 @12-14 MHz": 139, "U-Systems @10-14MHz": 25}
    assert pd.Series(data.metadata["birads"]).value_counts().to_dict() == {4: 693, 2: 562, 3: 463, 5: 157}
    for f in evaluation_splits(profile(tmp_path, scheme="kfold", folds=5, partition="official"), data):
        parts = [set(patient[f.split[s]]) for s in ("train", "val", "test")]
        assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
        assert f.split["test"].tolist() == np.flatnonzero(data.official_folds[5] == f.fold).tolist()
