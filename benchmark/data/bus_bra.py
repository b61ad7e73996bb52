"""BUS-BRA (Gómez-Flores, Gregorio-Calas, Pereira, Medical Physics 51(4):3110-3123, 2024).

1,875 breast ultrasound images of 1,064 patients, National Institute of Cancer, Rio de Janeiro,
four scanners; biopsy-proven labels (1,268 benign, 607 malignant images), BI-RADS, histology,
lesion masks, and the authors' patient-disjoint 5- and 10-fold partitions.

Layout (as distributed on Zenodo, doi:10.5281/zenodo.8231412)::

    <root>/BUSBRA/Images/bus_NNNN-{l,r,s}.png   the images (8-bit greyscale)
    <root>/BUSBRA/Masks/mask_NNNN-{l,r,s}.png   lesion masks (read only by the analysis of trained models: masks.py)
    <root>/BUSBRA/bus_data.csv                  ID, Case, Histology, Pathology, BIRADS, Device, Width,
                                                Height, Side, BBOX
    <root>/BUSBRA/5-fold-cv.csv, 10-fold-cv.csv ID, Pathology, kFold (1..k), valid_1..valid_k

``<root>`` may also be the ``BUSBRA`` folder itself. The label is ``Pathology`` (benign /
malignant); the image id is ``ID`` (``bus_0001-l``). Images of one patient (``Case``) share a
group with each other and with their near duplicates (imagefiles.py), so no patient is split
between training and test, or between training and validation. ``Case``, ``Histology``,
``BIRADS``, ``Device`` and ``Side`` become the ImageSet's ``metadata`` (patient, histology,
birads, device, side), which the suite writes to the run folder's ``images.csv``.

The fold files give each image its test fold (``kFold``): ``[evaluation] partition =
"official"`` uses them (``ImageSet.official_folds``). Their ``valid_k`` columns are not used:
they split about 200 patients per fold between training and validation (measured on the
shared copy), so the suite draws its own patient-disjoint validation part from the training folds.

Every check of the table names the file, its line and the image: an image file missing, an
image without a row, an ID listed twice, a label other than benign / malignant, a patient
whose images disagree on the label, a fold file that misses an image, gives a fold outside
1..k or splits a patient.
"""
from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .duplicates import NEAR_DUPLICATE_RULES
from .imagefiles import image_set_from_files, natural_key
from .imageset import BENIGN, MALIGNANT, ImageSet
from .masks import mask_files_union
from .registry import register_dataset

SUBFOLDER = "BUSBRA"
IMAGES_DIR = "Images"
MASKS_DIR = "Masks"
TABLE = "bus_data.csv"
FOLD_FILES = {5: "5-fold-cv.csv", 10: "10-fold-cv.csv"}
LABELS = {"benign": BENIGN, "malignant": MALIGNANT}
REQUIRED = ("ID", "Case", "Pathology")
METADATA = {"patient": "Case", "histology": "Histology", "birads": "BIRADS", "device": "Device", "side": "Side"}
ZENODO = "https://doi.org/10.5281/zenodo.8231412"
CITATION = ("Gómez-Flores W, Gregorio-Calas MJ, Coelho de Albuquerque Pereira W. BUS-BRA: A Breast Ultrasound "
            "Dataset for Assessing Computer-aided Diagnosis Systems. Medical Physics 51(4):3110-3123 (2024). "
            "doi:10.1002/mp.16812")
LICENCE = ("MIT-style notice shipped as BUSBRA/LICENSE.txt: use, copy, modify and redistribute, keeping the "
           "notice; every paper that uses the data must cite the article (the Zenodo record is reported as "
           "CC BY 4.0)")
_SHOWN = 10  # problems listed in one error


class BusBraTableError(ValueError):
    """bus_data.csv or a fold file does not match the images; the message names each row."""


def _check_root(folder: Path) -> Path | str:
    """The folder holding Images/ and bus_data.csv: ``folder`` or its BUSBRA/ subfolder."""
    for candidate in (folder, folder / SUBFOLDER):
        if (candidate / IMAGES_DIR).is_dir() and (candidate / TABLE).is_file():
            return candidate
    return f"has no {IMAGES_DIR}/ and {TABLE} (nor {SUBFOLDER}/{IMAGES_DIR}/ and {SUBFOLDER}/{TABLE})"


def _raise(path: Path, problems: list[str], fix: str) -> None:
    if problems:
        more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
        raise BusBraTableError(f"{path}: " + "; ".join(problems[:_SHOWN]) + more + f". {fix}")


def _read_csv(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row with stripped values) for every row of ``path``; the header must hold ``required``."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; it comes with the images (BUS-BRA, {ZENODO})")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in required if c not in header]
        if missing:
            raise BusBraTableError(f"{path} has no column {', '.join(missing)}; its columns: {', '.join(header)}")
        rows = []
        for row in reader:
            rows.append((reader.line_num, {(k or "").strip(): (v or "").strip() for k, v in row.items()}))
    return rows


def read_table(root: Path) -> list[dict[str, str]]:
    """The rows of bus_data.csv, in natural order of ID, after checking them against the images."""
    root = Path(root)
    path = root / TABLE
    problems, seen, out = [], {}, []
    for line, row in _read_csv(path, REQUIRED):
        image_id = row["ID"]
        where = f"line {line} ({image_id or 'no ID'})"
        if not image_id:
            problems.append(f"line {line}: the ID is empty")
            continue
        if image_id in seen:
            problems.append(f"{where}: ID listed twice (first on line {seen[image_id]})")
            continue
        seen[image_id] = line
        if row["Pathology"].lower() not in LABELS:
            problems.append(f"{where}: Pathology {row['Pathology']!r} is not benign or malignant")
        if not row["Case"].isdigit():
            problems.append(f"{where}: Case {row['Case']!r} is not a patient number")
        if not (root / IMAGES_DIR / f"{image_id}.png").is_file():
            problems.append(f"{where}: no image file {IMAGES_DIR}/{image_id}.png")
        out.append({**row, "_line": str(line)})
    _raise(path, problems, f"Fix or remove these rows, or download the data set again ({ZENODO})")
    if not out:
        raise BusBraTableError(f"{path} lists no images")
    strays = sorted((p.name for p in (root / IMAGES_DIR).glob("*.png")
                     if not p.name.startswith(".") and p.stem not in seen), key=natural_key)
    if strays:
        raise BusBraTableError(f"{root / IMAGES_DIR} holds {len(strays)} image(s) that {TABLE} does not list: "
                               f"{', '.join(strays[:_SHOWN])}; is it another release? Remove them or use the "
                               f"{TABLE} that came with them")
    _check_patients(path, out)
    return sorted(out, key=lambda r: natural_key(r["ID"]))


def _check_patients(path: Path, rows: list[dict[str, str]]) -> None:
    """Every image of a patient has the same Pathology (the -l / -r images show one lesion)."""
    labels: dict[str, dict[str, list[str]]] = {}
    for r in rows:
        labels.setdefault(r["Case"], {}).setdefault(r["Pathology"].lower(), []).append(f"line {r['_line']} ({r['ID']})")
    problems = [f"patient (Case) {case} is " + " but ".join(f"{label} on {', '.join(where)}"
                                                            for label, where in sorted(by.items()))
                for case, by in labels.items() if len(by) > 1]
    _raise(path, problems, "One patient's images show one lesion: correct the Pathology or the Case")


def read_official_folds(root: Path, rows: list[dict[str, str]], k: int) -> np.ndarray | None:
    """The test fold (0..k-1) of every row from ``<k>-fold-cv.csv``; None when the file is absent."""
    path = Path(root) / FOLD_FILES[k]
    if not path.is_file():
        return None
    index = {r["ID"]: n for n, r in enumerate(rows)}
    fold = np.full(len(rows), -1, np.int64)
    problems, seen = [], {}
    for line, row in _read_csv(path, ("ID", "kFold")):
        image_id, where = row["ID"], f"line {line} ({row['ID'] or 'no ID'})"
        if image_id in seen:
            problems.append(f"{where}: ID listed twice (first on line {seen[image_id]})")
            continue
        seen[image_id] = line
        if image_id not in index:
            problems.append(f"{where}: {TABLE} has no image {image_id!r}")
            continue
        if not row["kFold"].isdigit() or not 1 <= int(row["kFold"]) <= k:
            problems.append(f"{where}: kFold {row['kFold']!r} is not a fold 1..{k}")
            continue
        expected = rows[index[image_id]]["Pathology"].lower()
        if row.get("Pathology") and row["Pathology"].lower() != expected:
            problems.append(f"{where}: Pathology {row['Pathology']!r} but {expected!r} in {TABLE}")
        fold[index[image_id]] = int(row["kFold"]) - 1
    problems += [f"{r['ID']} ({TABLE} line {r['_line']}) has no row" for r, f in zip(rows, fold) if f < 0]
    folds_of: dict[str, set[int]] = {}
    for r, f in zip(rows, fold):
        if f >= 0:
            folds_of.setdefault(r["Case"], set()).add(int(f) + 1)
    problems += [f"patient (Case) {case} is in folds {', '.join(map(str, sorted(fs)))}"
                 for case, fs in folds_of.items() if len(fs) > 1]
    empty = sorted(set(range(1, k + 1)) - {int(f) + 1 for f in fold if f >= 0})
    if empty and not problems:
        problems.append(f"fold(s) {', '.join(map(str, empty))} hold no image")
    _raise(path, problems, f"The official partition must give every image of {TABLE} one fold, the same for all "
                           "images of a patient; fix the file or remove it (the suite then offers its own folds only)")
    return fold


def merge_groups(*labelings) -> np.ndarray:
    """Group ids 0..G-1 in order of first member: images that share a value in any of the
    ``labelings`` (equal-length sequences: duplicate groups, patient ids, ...) share a group."""
    n = len(labelings[0])
    rows, cols, offset = [], [], n
    for labeling in labelings:
        _, inverse = np.unique(np.asarray(labeling), return_inverse=True)
        rows.append(np.arange(n))
        cols.append(offset + inverse)
        offset += int(inverse.max()) + 1 if n else 0
    edges = coo_matrix((np.ones(n * len(labelings)), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(offset, offset))
    _, component = connected_components(edges, directed=False)
    return np.unique(component[:n], return_inverse=True)[1].astype(np.int64)


def _metadata_value(column: str, value: str):
    return int(value) if column in ("Case", "BIRADS") and value.isdigit() else value


def bus_bra_mask_file(root: Path, image_id: str) -> Path:
    """The lesion mask of image ``bus_NNNN-x``: ``Masks/mask_NNNN-x.png``."""
    return Path(root) / MASKS_DIR / f"mask_{image_id.removeprefix('bus_')}.png"


@register_dataset(
    "bus_bra", title="BUS-BRA",
    description="BUS-BRA, Brazil, 4 scanners: 1,268 benign + 607 malignant images of 1,064 patients, official folds",
    citation=CITATION, licence=LICENCE, root_env="BUS_BRA_ROOT", shared_dir="bus-bra", check_root=_check_root,
    lesion_masks=mask_files_union(lambda root, image_id: [p for p in [bus_bra_mask_file(root, image_id)] if p.is_file()]),
    how_to_get=(f"Download BUS-BRA from Zenodo ({ZENODO}; Gómez-Flores et al., Medical Physics 2024, "
                "doi:10.1002/mp.16812) and unpack it, so that BUSBRA/Images/ and BUSBRA/bus_data.csv "
                "(with 5-fold-cv.csv and 10-fold-cv.csv) are in the folder."))
def load_bus_bra(
    root: Path,
    image_size: int,
    cache_dir: str | os.PathLike | None = None,
    near_duplicate_distance: int | None = NEAR_DUPLICATE_RULES[0][0],
) -> ImageSet:
    """Load every image, grouped by patient and near duplicates, with its metadata and the
    official partitions that are present."""
    root = Path(root)
    checked = _check_root(root)
    if isinstance(checked, str):
        raise FileNotFoundError(f"{root} {checked}; point BUS_BRA_ROOT or --data-root at the unpacked BUS-BRA")
    root = checked
    rows = read_table(root)
    official = {k: f for k in FOLD_FILES if (f := read_official_folds(root, rows, k)) is not None}
    ids = [r["ID"] for r in rows]
    data = image_set_from_files("bus_bra", root, ids, [LABELS[r["Pathology"].lower()] for r in rows], image_size,
                                cache_dir, near_duplicate_distance=near_duplicate_distance,
                                paths=[root / IMAGES_DIR / f"{i}.png" for i in ids])
    position = {image_id: n for n, image_id in enumerate(ids)}
    kept = np.array([position[i] for i in data.ids], dtype=np.int64)
    metadata = {name: [_metadata_value(column, rows[i].get(column, "")) for i in kept]
                for name, column in METADATA.items() if column in rows[0]}
    return dataclasses.replace(
        data, groups=merge_groups(data.groups, [rows[i]["Case"] for i in kept]), metadata=metadata,
        official_folds={k: f[kept] for k, f in official.items()})
