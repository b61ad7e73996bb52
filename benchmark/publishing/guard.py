"""The evaluation guard: a published folder's derived tables are the ones this checkout computes from its
predictions.

:func:`check_published` unpacks the folder into a temporary run folder, rebuilds every derived table there
(``refresh(force=True)`` and ``leaderboard.md``: the evaluation alone, no model, no data) and compares each
with the published one. A file whose text is the same passes; a CSV file whose text differs passes when
its columns, its rows and its text cells are the same and every number is within :data:`TOLERANCE` of the
published one (a last-digit difference in how a float is printed or summed, not a moved statistic), with
that said in the result's ``notes``; anything else is a :class:`Difference` naming the file and the column.
"""
from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.common.io import write_text_atomic
from benchmark.evaluation.derived import refresh
from benchmark.publishing.folder import DERIVED_FILES, read_manifest, unpack
from benchmark.reporting.pages.leaderboard import leaderboard_markdown
from benchmark.runfolder import LEADERBOARD_PAGES

__all__ = ["Difference", "GuardResult", "check_published", "compare_file", "TOLERANCE"]

TOLERANCE = 1e-9  # absolute, on every number of a CSV table whose text differs


@dataclass(frozen=True)
class Difference:
    file: str
    column: str | None  # None: the whole file (missing, extra, another shape or text)
    detail: str

    def __str__(self) -> str:
        return f"{self.file}{f' [{self.column}]' if self.column else ''}: {self.detail}"


@dataclass
class GuardResult:
    folder: Path
    compared: list[str] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # files equal within TOLERANCE but not as text

    @property
    def ok(self) -> bool:
        return not self.differences

    def summary(self) -> str:
        if self.ok:
            head = f"{self.folder}: the {len(self.compared)} derived tables rebuilt from its predictions are the " \
                   f"published ones"
            return "\n".join([head] + [f"  {n}" for n in self.notes])
        return "\n".join([f"{self.folder}: {len(self.differences)} difference(s) between the published tables and "
                          f"the ones this checkout computes from its predictions (regenerate it, see docs/usage.md, "
                          f"\"Published results\")"] + [f"  {d}" for d in self.differences])


def _numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _compare_column(name: str, column: str, published: pd.Series, rebuilt: pd.Series,
                    tolerance: float) -> Difference | None:
    if _numeric(published) and _numeric(rebuilt):
        a, b = published.to_numpy(float), rebuilt.to_numpy(float)
        same_nan = np.isnan(a) == np.isnan(b)
        close = same_nan & (np.isnan(a) | (np.abs(np.nan_to_num(a) - np.nan_to_num(b)) <= tolerance))
        if close.all():
            return None
        rows = np.flatnonzero(~close)
        gap = np.nanmax(np.abs(a - b)[rows]) if (~np.isnan(a[rows]) & ~np.isnan(b[rows])).any() else float("nan")
        i = rows[0]
        return Difference(name, column, f"{len(rows)} of {len(a)} rows differ by more than {tolerance:g} (largest "
                                        f"{gap:.3g}); row {i}: published {a[i]!r}, rebuilt {b[i]!r}")
    a, b = (np.array([None if pd.isna(v) else str(v) for v in c], dtype=object) for c in (published, rebuilt))
    rows = np.flatnonzero(a != b)  # an empty cell is None in both (astype(str) leaves NaN a float in some pandas)
    if not len(rows):
        return None
    i = rows[0]
    return Difference(name, column, f"{len(rows)} of {len(a)} rows differ; row {i}: published {a[i]!r}, "
                                    f"rebuilt {b[i]!r}")


def _compare_json(name: str, published, rebuilt, tolerance: float, where: str = "") -> list[Difference]:
    if isinstance(published, dict) and isinstance(rebuilt, dict):
        out = [Difference(name, f"{where}{k}", "only in the published file" if k in published else "only rebuilt")
               for k in sorted(set(published) ^ set(rebuilt))]
        for k in sorted(set(published) & set(rebuilt)):
            out += _compare_json(name, published[k], rebuilt[k], tolerance, f"{where}{k}.")
        return out
    is_number = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (published, rebuilt))
    if published == rebuilt or (is_number and abs(published - rebuilt) <= tolerance):
        return []
    return [Difference(name, where.rstrip(".") or None, f"published {published!r}, rebuilt {rebuilt!r}")]


def compare_file(name: str, published: Path, rebuilt: Path, tolerance: float = TOLERANCE) -> tuple[list, str | None]:
    """The differences between a published file and its rebuilt copy, and a note when they are equal only
    within ``tolerance``."""
    text_a, text_b = published.read_text(), rebuilt.read_text()
    if text_a == text_b:
        return [], None
    if name.endswith(".json"):
        found = _compare_json(name, json.loads(text_a), json.loads(text_b), tolerance)
        return found, None if found else f"{name}: equal within {tolerance:g}, not as text"
    if not name.endswith(".csv"):
        line = next(i for i, (x, y) in enumerate(zip(text_a.splitlines() + [""], text_b.splitlines() + [""]))
                    if x != y)
        return [Difference(name, None, f"the text differs from line {line + 1}: published "
                                       f"{(text_a.splitlines() + [''])[line]!r}, rebuilt "
                                       f"{(text_b.splitlines() + [''])[line]!r}")], None
    a, b = pd.read_csv(published), pd.read_csv(rebuilt)
    found = [Difference(name, c, "only in the published table" if c in a.columns else "only in the rebuilt table")
             for c in list(dict.fromkeys([*a.columns, *b.columns])) if (c in a.columns) != (c in b.columns)]
    if len(a) != len(b):
        return found + [Difference(name, None, f"{len(a)} published rows, {len(b)} rebuilt")], None
    for c in [c for c in a.columns if c in b.columns]:
        d = _compare_column(name, c, a[c], b[c], tolerance)
        if d is not None:
            found.append(d)
    return found, None if found else (f"{name}: equal within {tolerance:g} (its numbers printed or summed "
                                      f"differently in the last digits), not as text")


def check_published(folder, tolerance: float = TOLERANCE) -> GuardResult:
    """Rebuild the derived tables of the published ``folder`` from its predictions and compare them with the
    published ones (see the module's docstring)."""
    folder = Path(folder)
    read_manifest(folder)  # a published folder, or FileNotFoundError saying it is not one
    result = GuardResult(folder)
    with tempfile.TemporaryDirectory(prefix="guard-") as tmp:
        original, run = Path(tmp) / "published", Path(tmp) / "rebuilt"
        unpack(folder, original)
        unpack(folder, run)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ctx = refresh(run, force=True)
            write_text_atomic(run / LEADERBOARD_PAGES[0], leaderboard_markdown(ctx))
        for name in DERIVED_FILES:
            was, now = (original / name).is_file(), (run / name).is_file() and (name in ctx.built or
                                                                              name == LEADERBOARD_PAGES[0])
            if not was and not now:
                continue
            if was != now:
                result.differences.append(Difference(name, None, "published but not rebuilt" if was else
                                                     "rebuilt but not published"))
                continue
            result.compared.append(name)
            found, note = compare_file(name, original / name, run / name, tolerance)
            result.differences += found
            if note:
                result.notes.append(note)
    return result
