"""Fake copies of the real data sets' folders, for the tests of the loaders and of what uses them: a BUS-BRA
folder (its table, images, masks and official folds) and a user's folder of PNG files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from benchmark.data import ImageSet
from benchmark.data.synthetic import make_synthetic

COLUMNS = ["ID", "Case", "Histology", "Pathology", "BIRADS", "Device", "Width", "Height", "Side", "BBOX"]
DEVICES = ["GE Logiq 7 @10-14MHz", "GE Logiq 5 @10-12MHz", "Toshiba Aplio 300 @12-14 MHz"]


def fake_busbra(root: Path, n_patients: int = 30) -> Path:
    """``root/BUSBRA``: patients 1..n, every third malignant; odd patients have -l and -r images,
    even ones one -s image; an official 5-fold file whose folds are NOT the patient number mod 5
    in order (so a loader that ignores it cannot match it by chance)."""
    base = root / "BUSBRA"
    (base / "Images").mkdir(parents=True)
    (base / "Masks").mkdir()
    rows, folds = [], []
    fold_of_patient = np.random.default_rng(7).permutation(np.arange(n_patients) % 5) + 1
    for case in range(1, n_patients + 1):
        label = "malignant" if case % 3 == 0 else "benign"
        for side in (("l", "r") if case % 2 else ("s",)):
            image_id = f"bus_{case:04d}-{side}"
            rng = np.random.default_rng(1000 * case + ord(side))
            gray = (np.kron(rng.random((6, 5)), np.ones((12, 12))) * 255).astype(np.uint8)
            Image.fromarray(gray).save(base / "Images" / f"{image_id}.png")
            Image.fromarray(np.zeros_like(gray)).save(base / "Masks" / f"mask_{case:04d}-{side}.png")
            rows.append({"ID": image_id, "Case": case, "Histology": "fibroadenoma" if label == "benign" else
                         "invasive ductal carcinoma", "Pathology": label, "BIRADS": 3 + case % 3,
                         "Device": DEVICES[case % 3], "Width": 60, "Height": 72,
                         "Side": {"l": "left", "r": "right", "s": "single"}[side], "BBOX": "[1,2,3,4]"})
            folds.append({"ID": image_id, "Pathology": label, "kFold": fold_of_patient[case - 1],
                          **{f"valid_{k}": "" if k == fold_of_patient[case - 1] else 1 for k in range(1, 6)}})
    pd.DataFrame(rows, columns=COLUMNS).to_csv(base / "bus_data.csv", index=False)
    pd.DataFrame(folds).to_csv(base / "5-fold-cv.csv", index=False)
    return root


def edit_csv(path: Path, change) -> None:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    changed = change(table)  # a new table, or None when ``change`` edited it in place
    (table if changed is None else changed).to_csv(path, index=False)


def write_folder(root: Path, n: int = 24, size: int = 48, nested: bool = True) -> ImageSet:
    """Synthetic images as PNG files under root/benign and root/malignant (half of them in a
    subfolder), plus masks and junk that must be skipped."""
    data = make_synthetic(n, size, seed=11)
    for i, (image, label) in enumerate(zip(data.images, data.labels)):
        folder = root / ("malignant" if label else "benign") / ("site2" if nested and i % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"img {i}.png")
        Image.fromarray(np.zeros_like(image)).save(folder / f"img {i}_mask.png")
    (root / "benign" / "notes.txt").write_text("not an image")
    (root / "benign" / ".hidden").mkdir()
    Image.fromarray(data.images[0]).save(root / "benign" / ".hidden" / "copy.png")
    return data
