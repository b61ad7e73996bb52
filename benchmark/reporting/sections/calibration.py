"""The report's calibration section (``sections/calibration.html``): reliability diagrams and the calibration table.

``calibration_curve.csv`` (tidy, :data:`benchmark.evaluation.calibration.CURVE_COLUMNS`) holds the
points of every data set's reliability diagram, and ``figures/calibration_<data set>.png`` is drawn
from it alone (:func:`benchmark.reporting.figures.calibration.reliability_figure`), so the figure can be rebuilt from the CSV. Both are
written when missing or stale (:mod:`benchmark.evaluation.derived`, :mod:`benchmark.reporting.figures`). The table cells
come from the leaderboard's calibration columns (:func:`benchmark.evaluation.calibration.calibration_columns`).
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from benchmark.evaluation import RunData
from benchmark.evaluation.calibration import (CALIBRATED_ECE, TABLE_METRICS, calibration_note)
from benchmark.reporting.render import embedded_figure
from benchmark.reporting.inputs import read_csv
from benchmark.runfolder import CALIBRATION_CURVE_FILE, FIGURES_DIR, REFERENCE_METHOD, calibration_figure

__all__ = ["ece_floor_sentence", "calibration_section"]

METRIC_LABELS = {"brier": "Brier", "calibration_intercept": "intercept", "calibration_slope": "slope",
                 "ece_adaptive": "adaptive ECE", "ece_adaptive_calibrated": "ECE if calibrated"}


def _label(metric: str) -> str:
    """A column's header: the calibrated model's ECE has a range of draws, not a confidence interval."""
    return METRIC_LABELS[metric] + (" [95% range]" if metric == CALIBRATED_ECE else " [95% CI]")


def _cell(r, name: str) -> str:
    value, lo, hi = r.get(name), r.get(f"{name}_ci_low"), r.get(f"{name}_ci_high")
    if value is None or pd.isna(value):
        return "—"
    return f"{value:.3f}" + ("" if lo is None or pd.isna(lo) else f" [{lo:.3f}, {hi:.3f}]")


def ece_floor_sentence(part: pd.DataFrame, prefix: str) -> str | None:
    """Which methods' adaptive ECE (their own scores) lies within the range a perfectly calibrated model with the
    same scores shows (``ece_adaptive_calibrated``'s interval): those ECEs are not evidence of miscalibration.
    The reference is not counted among the methods; its place is said apart."""
    ece, high = f"{prefix}ece_adaptive", f"{prefix}ece_adaptive_calibrated_ci_high"
    if high not in part.columns:
        return None
    rows = part[part[ece].notna() & part[high].notna()]
    within = rows[ece] <= rows[high]
    is_ref = rows["method"].astype(str) == REFERENCE_METHOD
    methods, inside = rows.loc[~is_ref, "method"].astype(str), within[~is_ref]
    if methods.empty:
        return None
    text = (f"{int(inside.sum())} of {len(methods)} methods {'has' if inside.sum() == 1 else 'have'} an adaptive ECE "
            "within the range of a perfectly calibrated model with their scores (not evidence of miscalibration)"
            + (f": {', '.join(methods[inside])}" if inside.any() else "")
            + ("; the others lie above it" if inside.any() and not inside.all() else "") + ".")
    if is_ref.any():
        text += f" The reference's lies {'within' if within[is_ref].iloc[0] else 'above'} it."
    return text


def calibration_section(run_dir: Path, data: RunData, lb: pd.DataFrame) -> dict | None:
    """Per data set: the reliability diagram and one row per method (raw, then Platt-scaled statistics when any
    method has them); the note on missing validation scores. None without calibration columns."""
    if "brier" not in lb.columns:
        return None
    curves = read_csv(run_dir / CALIBRATION_CURVE_FILE)
    sets = []
    for d in [data.internal] + list(data.externals):
        prefix = "" if d == data.internal else f"external_{d}_"
        if f"{prefix}brier" not in lb.columns:
            continue
        part = lb[lb[f"{prefix}brier"].notna()]
        platt = part[f"{prefix}platt_brier"].notna().any() if f"{prefix}platt_brier" in part else False
        header = ["method"] + [_label(m) for m in TABLE_METRICS]
        header += [f"Platt-scaled {_label(m)}" for m in TABLE_METRICS] if platt else []
        rows = [[str(r["method"])] + [_cell(r, prefix + m) for m in TABLE_METRICS]
                + ([_cell(r, f"{prefix}platt_{m}") for m in TABLE_METRICS] if platt else [])
                for _, r in part.iterrows()]
        figure = run_dir / FIGURES_DIR / calibration_figure(d)
        sets.append({"name": d, "slug": re.sub(r"[^A-Za-z0-9_-]", "-", d), "header": header, "rows": rows,
                     "floor": ece_floor_sentence(part, prefix),
                     "figure": embedded_figure(figure) if figure.is_file() and curves is not None else None})
    return {"sets": sets, "note": calibration_note(data), "curve_file": CALIBRATION_CURVE_FILE}
