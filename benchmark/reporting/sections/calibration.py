"""The report's calibration section (``sections/calibration.html``): calibration figures and tables.

``calibration_smooth.csv`` (:data:`benchmark.evaluation.calibration.SMOOTH_COLUMNS`) holds every data set's
smoothed calibration curves with their bands and ``calibration_curve.csv`` the equal-mass bins;
``figures/calibration_<data set>.png`` is drawn from them alone
(:func:`benchmark.reporting.figures.calibration.reliability_figure`). The table cells come from the
leaderboard's calibration columns (:func:`benchmark.evaluation.calibration.calibration_columns`): one row per
method and kind of scores.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.evaluation import RunData
from benchmark.evaluation.calibration import PREFIX, SCORES, calibration_note, prior_shifts
from benchmark.reporting.render import embedded_figure
from benchmark.runfolder import (CALIBRATION_CURVE_FILE, CALIBRATION_SMOOTH_FILE, FIGURES_DIR, REFERENCE_METHOD,
                                 calibration_figure)

__all__ = ["shift_sentence", "calibration_section"]

HEADER = ["method", "scores", "intercept [95% CI]", "slope [95% CI]", "observed / expected [95% CI]",
          "mean predicted risk", "Brier [95% CI]", "adaptive ECE", "ECE if calibrated [95% range]"]
KIND_LABELS = {"raw": "own", "prior_corrected": "prior-corrected", "platt": "Platt-scaled"}


def _cell(r, name: str, interval: bool = True) -> str:
    value, lo, hi = r.get(name), r.get(f"{name}_ci_low"), r.get(f"{name}_ci_high")
    if value is None or pd.isna(value):
        return "—"
    return f"{value:.3f}" + ("" if not interval or lo is None or pd.isna(lo) else f" [{lo:.3f}, {hi:.3f}]")


def _weighted(data: RunData) -> bool:
    """Whether some study trained with class weights (a prior shift other than 0)."""
    return any(np.isfinite(v) and v != 0 for v in prior_shifts(data).values())


def _kinds(part: pd.DataFrame, prefix: str, weighted: bool) -> list[str]:
    """The kinds of scores with values; the prior-corrected ones only when some study trained with class weights."""
    return [k for k in SCORES if f"{prefix}{PREFIX[k]}brier" in part and part[f"{prefix}{PREFIX[k]}brier"].notna().any()
            and (k != "prior_corrected" or weighted)]


def _names(methods: pd.Series) -> str:
    return ", ".join(methods.astype(str)) or "none"


def shift_sentence(part: pd.DataFrame, prefix: str) -> str | None:
    """What the class weighting did to the calibration intercept, from the 95% intervals of the own and the
    prior-corrected intercepts: which methods' own scores are too high, and for which the correction overshoots
    (their models did not absorb the whole shift). The reference (never weighted) is not counted."""
    own, corrected = f"{prefix}calibration_intercept", f"{prefix}corrected_calibration_intercept"
    if f"{corrected}_ci_low" not in part.columns or f"{own}_ci_high" not in part.columns:
        return None
    rows = part[(part["method"].astype(str) != REFERENCE_METHOD) & part[own].notna() & part[corrected].notna()]
    if rows.empty:
        return None
    high = rows[rows[f"{own}_ci_high"] < 0]["method"]
    over = rows[rows[f"{corrected}_ci_low"] > 0]["method"]
    fine = rows[(rows[f"{corrected}_ci_low"] <= 0) & (rows[f"{corrected}_ci_high"] >= 0)]["method"]
    return (f"Own scores too high (intercept's interval below 0): {len(high)} of {len(rows)} methods ({_names(high)}). "
            f"After the correction the intercept's interval covers 0 for {len(fine)} ({_names(fine)}) and lies above 0 "
            f"for {len(over)} ({_names(over)}): the correction assumes a model that took up the whole shift, and "
            "a model stopped early on its validation AUC may not have.")


def calibration_section(run_dir: Path, data: RunData, lb: pd.DataFrame) -> dict | None:
    """Per data set: the calibration figure, the prevalence, a sentence on the class-weighting shift and one
    row per method and kind of scores; the note on missing validation scores. None without calibration columns."""
    if "brier" not in lb.columns:
        return None
    sets, weighted = [], _weighted(data)
    for d in [data.internal] + list(data.externals):
        prefix = "" if d == data.internal else f"external_{d}_"
        if f"{prefix}brier" not in lb.columns:
            continue
        part = lb[lb[f"{prefix}brier"].notna()]
        rows = []
        for _, r in part.iterrows():
            for kind in _kinds(part, prefix, weighted):
                p = prefix + PREFIX[kind]
                if pd.isna(r.get(p + "brier")):  # e.g. the reference, which keeps no validation scores to Platt-scale
                    continue
                rows.append([str(r["method"]), KIND_LABELS[kind], _cell(r, p + "calibration_intercept"),
                             _cell(r, p + "calibration_slope"), _cell(r, p + "observed_expected"),
                             _cell(r, p + "mean_predicted", interval=False), _cell(r, p + "brier"),
                             _cell(r, p + "ece_adaptive", interval=False), _cell(r, p + "ece_adaptive_calibrated")])
        images = data.rows(d).drop_duplicates("image_id")
        figure = run_dir / FIGURES_DIR / calibration_figure(d)
        sets.append({"name": d, "slug": re.sub(r"[^A-Za-z0-9_-]", "-", d), "header": HEADER, "rows": rows,
                     "prevalence": float(images["label"].mean()), "n_images": len(images),
                     "shift": shift_sentence(part, prefix),
                     "figure": embedded_figure(figure) if figure.is_file() else None})
    return {"sets": sets, "note": calibration_note(data), "weighted": weighted, "curve_file": CALIBRATION_CURVE_FILE,
            "smooth_file": CALIBRATION_SMOOTH_FILE}
