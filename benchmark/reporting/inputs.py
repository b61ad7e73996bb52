"""What the report reads from a run folder besides the tables it renders: optional files that are missing or
unreadable read as empty, so the page says "not computed" instead of failing. The tables are rebuilt before
(:func:`benchmark.evaluation.derived.refresh`).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from benchmark.common.io import csv_flags, read_json
from benchmark.evaluation import RunData
from benchmark.runfolder import RESULTS_FILE, SIGNIFICANCE_FILE

__all__ = ["read_csv", "read_significance", "read_records", "registry_info"]


def read_csv(path: Path) -> pd.DataFrame | None:
    """An optional CSV file, or None when it is missing or unreadable (with a warning)."""
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except Exception as exc:  # an optional file must never stop the report
        warnings.warn(f"ignoring {path}: {exc}", stacklevel=2)
        return None


def read_significance(run_dir: Path) -> pd.DataFrame | None:
    """``significance.csv`` with its flags as booleans, or None."""
    sig = read_csv(Path(run_dir) / SIGNIFICANCE_FILE)
    if sig is not None and not sig.empty:
        for col in ("significant", "b_below_reference", "primary", "conditional"):
            if col in sig.columns:
                sig[col] = csv_flags(sig[col])
    return sig


def read_records(run_dir: Path, data: RunData) -> dict[tuple[str, int, int], dict]:
    """Every study's ``results.json``, by (method, repeat, fold)."""
    return {(r.method, int(r.repeat), int(r.fold)): read_json(run_dir / r.run_path / RESULTS_FILE)
            for r in data.runs.itertuples()}


def registry_info(name: str) -> dict:
    """:func:`benchmark.data.dataset_info` (imported here: the report needs no data loaders), or {}."""
    try:
        from benchmark.data import dataset_info as registered

        return dict(registered(name))
    except Exception:  # not registered here, or the data package cannot be imported
        return {}


