"""The report's calibration section (``_calibration.html``): reliability diagrams and the calibration table.

``calibration_curve.csv`` (tidy, :data:`benchmark.evaluation.calibration.CURVE_COLUMNS`) holds the
points of every data set's reliability diagram, and ``figures/calibration_<data set>.png`` is drawn
from it alone (:func:`calibration_figure`), so the figure can be rebuilt from the CSV. Both are
written when missing or older than ``leaderboard.csv`` (:func:`ensure_calibration`). The table cells
come from the leaderboard's calibration columns (:func:`benchmark.evaluation.calibration.calibration_columns`).
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd

from benchmark.common.io import write_csv_atomic
from benchmark.evaluation import RunData
from benchmark.evaluation.calibration import (CALIBRATED_ECE, SCORES, TABLE_METRICS, calibration_curves,
                                              calibration_note)
from benchmark.reporting.render import embedded_figure
from benchmark.reporting.report_inputs import is_stale, read_csv
from benchmark.runfolder import REFERENCE_METHOD

__all__ = ["CURVE_FILE", "calibration_figure_name", "calibration_figure", "ensure_calibration", "ece_floor_sentence",
           "calibration_section"]

CURVE_FILE = "calibration_curve.csv"
METRIC_LABELS = {"brier": "Brier", "calibration_intercept": "intercept", "calibration_slope": "slope",
                 "ece_adaptive": "adaptive ECE", "ece_adaptive_calibrated": "ECE if calibrated"}
PANEL_TITLES = {"raw": "the models' own scores", "platt": "Platt-scaled (fitted on validation images)"}


def calibration_figure_name(dataset: str) -> str:
    """``calibration_<data set>.png`` in ``figures/``."""
    return f"calibration_{re.sub(r'[^A-Za-z0-9_.-]', '_', str(dataset))}.png"


def calibration_figure(curves: pd.DataFrame, dataset: str, path, methods, synthetic: bool = False) -> Path:
    """The reliability diagram of ``dataset`` from ``calibration_curve.csv``'s rows: fraction malignant against
    the mean score per equal-mass bin, one line per method (in ``methods``' order), one panel per kind of scores."""
    from benchmark.reporting.figures import (_LINESTYLES, _save, _style, _synthetic_note, method_colors, panel_row,
                                             unit_square)

    part = curves[curves["dataset"] == dataset]
    kinds = [k for k in SCORES if (part["scores"] == k).any()]
    if not kinds:
        raise ValueError(f"{CURVE_FILE} has no rows of data set {dataset!r}")
    methods = [m for m in methods if (part["method"] == m).any()]
    colors = method_colors(methods)
    with _style():
        fig, axes = panel_row(len(kinds), 5.0, 3.6, 5.6)
        for ax, kind in zip(axes, kinds):
            for i, m in enumerate(methods):
                rows = part[(part["scores"] == kind) & (part["method"] == m)].sort_values("bin")
                if len(rows):
                    ax.plot(rows["mean_predicted"], rows["fraction_malignant"], color=colors[m], lw=1.5, marker="o",
                            ms=3.5, ls=_LINESTYLES[i // 10 % 4], label=m)
            unit_square(ax, "perfect calibration")
            ax.set_xlabel("Mean score in the bin (predicted probability of malignancy)")
            ax.set_ylabel("Fraction malignant in the bin")
            ax.set_title(PANEL_TITLES[kind], fontsize="medium")
        fig.suptitle(f"Reliability diagram on {dataset}{_synthetic_note(synthetic)}", fontweight="bold")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right upper", fontsize="small", title="method", frameon=True)
    return _save(fig, path)


def ensure_calibration(run_dir: Path, data: RunData, synthetic: bool) -> None:
    """Write ``calibration_curve.csv`` and draw ``figures/calibration_<data set>.png`` when missing or older than
    ``leaderboard.csv`` (a failure becomes a warning: a figure must not stop the report)."""
    if not data.order:
        return
    datasets = [data.internal] + list(data.externals)
    outputs = [run_dir / CURVE_FILE] + [run_dir / "figures" / calibration_figure_name(d) for d in datasets]
    if not any(is_stale(o, [run_dir / "leaderboard.csv"]) for o in outputs):
        return
    try:
        curves = calibration_curves(data)
        write_csv_atomic(run_dir / CURVE_FILE, curves)
        methods = list(dict.fromkeys(list(data.order) + list(curves["method"])))
        for d in curves["dataset"].unique():
            calibration_figure(curves, d, run_dir / "figures" / calibration_figure_name(d), methods, synthetic)
    except Exception as exc:
        warnings.warn(f"calibration figures of {run_dir} failed: {exc}", stacklevel=2)


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
    curves = read_csv(run_dir / CURVE_FILE)
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
        figure = run_dir / "figures" / calibration_figure_name(d)
        sets.append({"name": d, "slug": re.sub(r"[^A-Za-z0-9_-]", "-", d), "header": header, "rows": rows,
                     "floor": ece_floor_sentence(part, prefix),
                     "figure": embedded_figure(figure) if figure.is_file() and curves is not None else None})
    return {"sets": sets, "note": calibration_note(data), "curve_file": CURVE_FILE}
