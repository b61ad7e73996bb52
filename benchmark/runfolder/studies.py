"""Where a run folder keeps each study, ``runs/<method>/repeat-<r>/fold-<f>/``, and reading a study's record
(``results.json`` or ``failed.json``): the one place that lists study folders and parses their JSON."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

from benchmark.runfolder.layout import RUNS_DIR

__all__ = ["study_folders", "read_record"]


def study_folders(run_dir, repeat="*", fold="*", method: str = "*") -> list[Path]:
    """The study folders of ``run_dir`` (every one, or those of one ``repeat``, ``fold`` or ``method``), sorted."""
    pattern = f"{method}/repeat-{repeat}/fold-{fold}"
    return sorted(p for p in (Path(run_dir) / RUNS_DIR).glob(pattern) if p.is_dir())


def read_record(path: Path, warn: bool = True) -> dict | None:
    """A study's JSON record, or None when it is missing or unreadable (with a warning unless ``warn`` is false)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        if warn:
            warnings.warn(f"skipping {path}: {exc}", stacklevel=3)
        return None
