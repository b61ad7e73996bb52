"""BrEaST-Lesions_USG (Pawłowska et al., Scientific Data 11, 148, 2024; CC BY 4.0).

256 breast ultrasound images, one per patient, Poland 2019-2022, other scanners than BUSI:
154 benign, 98 malignant, 4 normal; an external test set for models trained on BUSI.

Layout (as published)::

    <root>/BrEaST-Lesions-USG-clinical-data-Dec-15-2023.xlsx   the official table, one row per case
    <root>/image_labels.csv                                     Filename,Label (optional cross-check)
    <root>/images_and_masks/caseNNN.png                         the images (RGBA, 363-1024 x 289-618 px)
    <root>/images_and_masks/caseNNN_tumor.png, caseNNN_otherK.png   segmentation masks (the _tumor one: the lesion mask, read only by the analysis of trained models)

Labels come from the table's ``Classification`` column (benign / malignant / normal), the image
file from its ``Image_filename`` column (the table also holds CaseID, mask file names, pixel
size, age, BI-RADS, lesion descriptors, Verification, Diagnosis). ``image_labels.csv``, when
present, must agree case by case (a mismatch is an error naming the case). ``normal`` cases
are left out (recorded in ``excluded``), as for BUSI; with ``include_normal=True`` they are
benign (label 0). Ids are the file names (``case001.png``). Decoding, the decode-once cache
(RGBA: the alpha channel carries nothing and is ignored), duplicate groups and cross-label
exclusions are those of every image-file data set (imagefiles.py).
"""
from __future__ import annotations

import csv
import os
import re
from pathlib import Path

from .duplicates import NEAR_DUPLICATE_RULES
from .imagefiles import image_set_from_files, natural_key
from .imageset import BENIGN, MALIGNANT, ImageSet
from .masks import mask_files_union
from .registry import register_dataset

TABLE_GLOB = "BrEaST-Lesions-USG-clinical-data*.xlsx"
TABLE_NAME = "BrEaST-Lesions-USG-clinical-data-Dec-15-2023.xlsx"
LABELS_CSV = "image_labels.csv"
IMAGE_DIRS = ("images_and_masks", "BrEaST-Lesions_USG-images_and_masks")
LABELS = {"benign": BENIGN, "malignant": MALIGNANT, "normal": BENIGN}
MASK = re.compile(r"_(tumor|other\d*)$", re.IGNORECASE)
CITATION = ("Pawłowska A, Ćwierz-Pieńkowska A, Domalik A, Jaguś D, Kasprzak P, Matkowski R, Fura Ł, "
            "Nowicki A, Żołek N. Curated benchmark dataset for ultrasound based breast lesion analysis. "
            "Scientific Data 11, 148 (2024). doi:10.1038/s41597-024-02984-z")
NORMAL_REASON = "normal (no lesion): left out of benign vs malignant, as for BUSI"


def _table_path(root: Path) -> Path | None:
    tables = sorted(root.glob(TABLE_GLOB), key=lambda p: natural_key(p.name))
    return tables[-1] if tables else None  # the newest release when several are there


def _image_dir(root: Path) -> Path | None:
    for name in IMAGE_DIRS:
        if (root / name).is_dir():
            return root / name
    return None


def _check_root(folder: Path) -> bool | str:
    missing = []
    if _table_path(folder) is None:
        missing.append(f"the clinical table {TABLE_NAME}")
    if _image_dir(folder) is None:
        missing.append(f"an {IMAGE_DIRS[0]}/ folder")
    return not missing or "has no " + " and no ".join(missing)


def is_mask(filename: str) -> bool:
    """``caseNNN_tumor.png`` or ``caseNNN_otherK.png``."""
    return bool(MASK.search(Path(filename).stem))


def read_clinical_table(root: Path) -> dict[str, str]:
    """{image file name: classification (lower case)} from the official table, in table order."""
    path = _table_path(root)
    if path is None:
        raise FileNotFoundError(f"{root} has no clinical table ({TABLE_NAME}); download it with the images")
    try:
        import pandas as pd

        table = pd.read_excel(path, sheet_name=0, engine="openpyxl", dtype=str)
    except ImportError as exc:
        raise ImportError(f"reading {path.name} needs openpyxl: pip install openpyxl ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - zip / xml errors of a damaged file
        raise ValueError(f"cannot read the clinical table {path}: {type(exc).__name__}: {exc}") from exc
    columns = {str(c).strip(): c for c in table.columns}
    missing = [c for c in ("Image_filename", "Classification") if c not in columns]
    if missing:
        raise ValueError(f"the clinical table {path} has no column {' or '.join(missing)}; its columns: "
                         f"{', '.join(columns)}")
    out: dict[str, str] = {}
    for row, (name, cls) in enumerate(zip(table[columns["Image_filename"]], table[columns["Classification"]]), 2):
        if not isinstance(name, str) or not name.strip():
            continue  # an empty row
        name, cls = name.strip(), str(cls).strip().lower()
        if cls not in LABELS:
            raise ValueError(f"{path.name}, row {row} ({name}): Classification {cls!r} is not one of "
                             f"{', '.join(LABELS)}")
        if name in out:
            raise ValueError(f"{path.name}: {name} is listed twice (row {row})")
        if is_mask(name):
            raise ValueError(f"{path.name}, row {row}: Image_filename {name} names a mask, not an image")
        out[name] = cls
    if not out:
        raise ValueError(f"the clinical table {path} lists no images")
    return out


def read_labels_csv(path: Path) -> dict[str, str]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"Filename", "Label"} <= {f.strip() for f in reader.fieldnames}:
            raise ValueError(f"{path} must have the columns Filename,Label; it has {reader.fieldnames}")
        return {row["Filename"].strip(): row["Label"].strip().lower() for row in reader
                if (row.get("Filename") or "").strip()}


def cross_check(table: dict[str, str], labels_csv: dict[str, str], csv_name: str = LABELS_CSV) -> None:
    """Raise ValueError naming each case where the table and the CSV disagree."""
    problems = []
    for name in sorted(set(table) | set(labels_csv), key=natural_key):
        if name not in labels_csv:
            problems.append(f"{name} is in the clinical table ({table[name]}) but not in {csv_name}")
        elif name not in table:
            problems.append(f"{name} is in {csv_name} ({labels_csv[name]}) but not in the clinical table")
        elif table[name] != labels_csv[name]:
            problems.append(f"{name}: Classification {table[name]!r} in the clinical table but "
                            f"{labels_csv[name]!r} in {csv_name}")
    if problems:
        raise ValueError("BrEaST-Lesions_USG labels disagree: " + "; ".join(problems))


def list_cases(root: Path) -> list[tuple[str, str]]:
    """(image file name, classification) for every case, in natural order, after the checks."""
    root = Path(root)
    table = read_clinical_table(root)
    if (root / LABELS_CSV).is_file():
        cross_check(table, read_labels_csv(root / LABELS_CSV))
    image_dir = _image_dir(root)
    if image_dir is None:
        raise FileNotFoundError(f"{root} has no {IMAGE_DIRS[0]}/ folder holding the images")
    missing = [n for n in table if not (image_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} image(s) of the clinical table are missing from {image_dir}: "
                                f"{', '.join(sorted(missing, key=natural_key)[:10])}")
    strays = [p.name for p in image_dir.iterdir()
              if p.suffix.lower() == ".png" and not p.name.startswith(".") and not is_mask(p.name)
              and p.name not in table]
    if strays:
        raise ValueError(f"{image_dir} holds image(s) the clinical table does not list: "
                         f"{', '.join(sorted(strays, key=natural_key)[:10])}; is it another release?")
    return sorted(table.items(), key=lambda item: natural_key(item[0]))


def tumour_mask_files(root: Path, image_id: str) -> list[Path]:
    """The lesion mask of case ``caseNNN.png``: ``caseNNN_tumor.png`` beside it (the ``_otherK``
    masks outline other structures, not the lesion that was classified)."""
    image_dir = _image_dir(Path(root))
    path = (image_dir or Path(root)) / f"{Path(image_id).stem}_tumor.png"
    return [path] if path.is_file() else []


@register_dataset(
    "breast_lesions_usg", title="BrEaST-Lesions_USG",
    description="BrEaST-Lesions_USG, Poland 2019-2022, other scanners: 154 benign + 98 malignant (external test set)",
    citation=CITATION, licence="CC BY 4.0", root_env="BREAST_LESIONS_USG_ROOT",
    shared_dir="breast-lesions-usg", check_root=_check_root,
    lesion_masks=mask_files_union(tumour_mask_files),
    how_to_get=("Download BrEaST-Lesions_USG (Pawłowska et al. 2024; The Cancer Imaging Archive, "
                f"doi:10.7937/9WKK-Q141): the clinical table {TABLE_NAME} and the images in "
                f"{IMAGE_DIRS[0]}/ beside it."))
def load_breast_lesions_usg(
    root: Path,
    image_size: int,
    include_normal: bool = False,
    cache_dir: str | os.PathLike | None = None,
    near_duplicate_distance: int | None = NEAR_DUPLICATE_RULES[0][0],
) -> ImageSet:
    """Load the benign and malignant cases (and normal ones with ``include_normal``)."""
    root = Path(root)
    cases = list_cases(root)
    image_dir = _image_dir(root)
    kept = [(name, cls) for name, cls in cases if include_normal or cls != "normal"]
    excluded = [{"id": name, "reason": NORMAL_REASON} for name, cls in cases if cls == "normal" and not include_normal]
    ids = [name for name, _ in kept]
    return image_set_from_files("breast_lesions_usg", root, ids, [LABELS[cls] for _, cls in kept], image_size,
                                cache_dir, excluded=excluded, near_duplicate_distance=near_duplicate_distance,
                                paths=[image_dir / name for name in ids])
