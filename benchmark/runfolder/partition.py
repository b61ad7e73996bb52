"""A run's partition: the test fold of every image in every repeat, its fingerprint, and the
check that a table of out-of-fold scores was made on it.

The suite saves the partition in ``test_images.npz`` (``ids``, ``labels``, and per repeat
``test_fold_<r>``: each image's test fold, -1 when a holdout split does not test it) and its
fingerprint in ``partition.json``. A table of out-of-fold scores (``predictions.csv``,
``reference_predictions.csv``) made on another partition, for example in a resumed run folder
whose folds changed, scores images in other folds or with other labels: :func:`check_partition`
refuses it, naming the file. Nothing here imports torch.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from benchmark.runfolder.images import open_test_images
from benchmark.runfolder.layout import TEST_IMAGES_FILE



def partition_fingerprint(ids: Sequence[str], labels: Sequence[int], test_folds: dict[int, np.ndarray]) -> str:
    """sha256 over the sorted lines "<id> <label> <test fold in repeat 0>,<in repeat 1>,...": the
    same images, labels and folds give the same fingerprint whatever their order."""
    repeats = sorted(test_folds)
    lines = sorted(f"{i}\t{int(y)}\t" + ",".join(str(int(test_folds[r][k])) for r in repeats)
                   for k, (i, y) in enumerate(zip(ids, labels)))
    text = "repeats " + ",".join(map(str, repeats)) + "\n" + "\n".join(lines)
    return hashlib.sha256(text.encode()).hexdigest()


def partition_info(ids: Sequence[str], labels: Sequence[int], test_folds: dict[int, np.ndarray]) -> dict:
    """What ``partition.json`` holds."""
    return {"fingerprint": partition_fingerprint(ids, labels, test_folds), "n_images": len(ids),
            "repeats": len(test_folds),
            "folds": {str(r): int(len(np.unique(f[f >= 0]))) for r, f in sorted(test_folds.items())}}


def read_partition(run_dir) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]] | None:
    """(ids, labels, {repeat: test fold of each image}) from ``test_images.npz``; None when the
    run folder has no such file or it holds no folds (an older or hand-made run folder)."""
    if not (Path(run_dir) / TEST_IMAGES_FILE).is_file():
        return None
    with open_test_images(run_dir) as z:
        keys = [k for k in z.files if k.startswith("test_fold_")]
        if not keys or "ids" not in z.files or "labels" not in z.files:
            return None
        return (z["ids"].astype(str), z["labels"].astype(np.int64),
                {int(k.rsplit("_", 1)[1]): z[k].astype(np.int64) for k in keys})


def check_partition(run_dir, table: pd.DataFrame, path: Path, dataset: str | None, fix: str) -> None:
    """Refuse ``table`` (rows of ``dataset``: out-of-fold scores) unless every row's image, label
    and fold are those of the run's partition (:func:`read_partition`) in its repeat. A
    ValueError names ``path``, the first row that differs and ``fix`` (what to do)."""
    partition = read_partition(run_dir)
    if partition is None or dataset is None:
        return
    ids, labels, folds = partition
    rows = table[table["dataset"] == dataset]
    if rows.empty:
        return
    where = {image_id: k for k, image_id in enumerate(ids)}
    index = rows["image_id"].map(where)
    fingerprint = partition_fingerprint(ids, labels, folds)[:12]
    there = f"this run folder's partition ({TEST_IMAGES_FILE}, fingerprint {fingerprint})"
    if index.isna().any():
        row = rows[index.isna()].iloc[0]
        raise ValueError(f"{path} was made on another partition than {there}: it scores image {row.image_id!r}, "
                         f"which the partition does not hold; {fix}")
    index = index.to_numpy(dtype=np.int64)
    repeats = rows["repeat"].to_numpy(dtype=np.int64)
    unknown = sorted(set(repeats.tolist()) - set(folds))
    if unknown:
        raise ValueError(f"{path} was made on another partition than {there}: it has repeat {unknown[0]}, the "
                         f"partition repeats {sorted(folds)}; {fix}")
    expected_fold = np.array([folds[r][k] for r, k in zip(repeats, index)])
    wrong = (expected_fold != rows["fold"].to_numpy()) | (labels[index] != rows["label"].to_numpy())
    if wrong.any():
        k = int(np.flatnonzero(wrong)[0])
        row = rows.iloc[k]
        raise ValueError(f"{path} was made on another partition than {there}: image {row.image_id!r} of repeat "
                         f"{row['repeat']} is in test fold {row['fold']} with label {row['label']} there, in fold "
                         f"{expected_fold[k]} with label {labels[index[k]]} here; {fix}")
