"""Training-set sizes in a run folder's tables (a profile's ``[data] train_sizes``).

A data-efficiency run trains every study once per size; its ``predictions.csv``, ``studies.csv``,
``trials.csv`` (and :func:`benchmark.runfolder.load_runs`) then carry a ``train_size`` column (the
size's label, ``"25"`` or ``"all"``) and ``predictions.csv`` also ``n_train`` (the images the model
was trained on). A run without sizes has no such columns. The leaderboard and everything built on
it read one size, :func:`benchmark.common.train_sizes.leaderboard_size` (``"all"`` when present);
the learning curve reads every size. ``train_subsets.csv`` lists each fold's training images at
each size (:func:`load_train_subsets`).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.common.train_sizes import ALL, OPTION, leaderboard_size, size_order
from benchmark.runfolder.layout import TRAIN_SUBSETS_FILE

__all__ = ["record_size", "is_sized", "sizes_of", "select_size", "size_sort_key", "load_train_subsets"]


def record_size(record: dict) -> str:
    """A study record's size label (``results.json``/``failed.json``): ``"all"`` when it has none."""
    return str((record.get("config") or {}).get("train_size") or ALL)


def is_sized(records) -> bool:
    """Whether any of the study records trained on a subset (the run used ``[data] train_sizes``)."""
    return any("train_size" in (r.get("config") or {}) for r in records)


def sizes_of(frame: pd.DataFrame) -> list[str]:
    """The size labels of a table, smallest first ([] when it has no ``train_size`` column)."""
    return size_order(frame["train_size"].astype(str).unique()) if "train_size" in frame.columns else []


def size_sort_key(column: pd.Series) -> pd.Series:
    """A sort key for a ``train_size`` column: numbers by value, ``"all"`` last."""
    text = column.astype(str)
    return text.map(lambda s: float("inf") if s == ALL else float(s))


def select_size(frame: pd.DataFrame, train_size: str | None = None, every_size: bool = False,
                where: str = "the run folder") -> pd.DataFrame:
    """The rows of one size: ``train_size``, or by default the leaderboard's (``"all"`` when present,
    else the largest); every row with ``every_size``. A table without a ``train_size`` column is
    returned as it is (asking it for a size other than ``"all"`` is a ValueError)."""
    if "train_size" not in frame.columns:
        if train_size not in (None, ALL) and not every_size:
            raise ValueError(f"{where} has no training-set sizes ({OPTION}); it has no size {train_size!r}")
        return frame
    frame = frame.assign(train_size=frame["train_size"].astype(str))
    if every_size or frame.empty:
        return frame
    present = sizes_of(frame)
    size = leaderboard_size(present) if train_size is None else str(train_size)
    if size not in present:
        raise ValueError(f"{where} has no training-set size {size!r}; it has {', '.join(present)}")
    return frame[frame["train_size"] == size].reset_index(drop=True)


def load_train_subsets(run_dir) -> pd.DataFrame | None:
    """``train_subsets.csv`` of a data-efficiency run (``repeat, fold, train_size, image_id``: each fold's
    training images at each size), or None when the run has none."""
    path = Path(run_dir) / TRAIN_SUBSETS_FILE
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype={"train_size": str, "image_id": str}, keep_default_na=False)
