"""The calibration figures of a run: one per data set, drawn from ``calibration_smooth.csv`` and
``calibration_curve.csv`` alone."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.evaluation.calibration import SCORES
from benchmark.reporting.figures.canvas import (LINESTYLES, method_colors, panel_row, save, style, synthetic_note,
                                                unit_square)
from benchmark.runfolder import CALIBRATION_SMOOTH_FILE

__all__ = ["reliability_figure"]

PANEL_TITLES = {"raw": "the models' own scores",
                "prior_corrected": "prior-corrected (class-weighting shift removed)",
                "platt": "Platt-scaled (fitted on validation images)"}
MIN_DENSITY = 0.05  # the smoothed curve is drawn where the scores' density is at least this (1: uniform on [0, 1])


def reliability_figure(smooth: pd.DataFrame, binned: pd.DataFrame, dataset: str, path, methods,
                       synthetic: bool = False) -> Path:
    """The calibration figure of ``dataset``: per method (in ``methods``' order) the smoothed calibration curve
    with its 95% band where the scores are dense enough, and the equal-mass bins of ``calibration_curve.csv``
    as dots; one panel per kind of scores."""
    part = smooth[smooth["dataset"] == dataset]
    dots = binned[binned["dataset"] == dataset]
    kinds = [k for k in SCORES if (part["scores"] == k).any()]
    if not kinds:
        raise ValueError(f"{CALIBRATION_SMOOTH_FILE} has no rows of data set {dataset!r}")
    methods = [m for m in methods if (part["method"] == m).any()]
    colors = method_colors(methods)
    with style():
        fig, axes = panel_row(len(kinds), 5.0, 3.6, 5.6)
        for ax, kind in zip(axes, kinds):
            for i, m in enumerate(methods):
                rows = part[(part["scores"] == kind) & (part["method"] == m) & (part["density"] >= MIN_DENSITY)]
                if rows.empty:
                    continue
                rows = rows.sort_values("predicted")
                ax.fill_between(rows["predicted"], rows["ci_low"], rows["ci_high"], color=colors[m], alpha=0.07, lw=0)
                ax.plot(rows["predicted"], rows["observed"], color=colors[m], lw=1.5, ls=LINESTYLES[i // 10 % 4],
                        label=m)
                bins = dots[(dots["scores"] == kind) & (dots["method"] == m)]
                ax.plot(bins["mean_predicted"], bins["fraction_malignant"], color=colors[m], ls="none", marker="o",
                        ms=2.5, alpha=0.6)
            unit_square(ax, "perfect calibration")
            ax.set_xlabel("Predicted probability of malignancy")
            ax.set_ylabel("Observed fraction malignant")
            ax.set_title(PANEL_TITLES[kind], fontsize="medium")
        fig.suptitle(f"Calibration on {dataset}: smoothed curves with 95% bands, dots the equal-mass bins"
                     f"{synthetic_note(synthetic)}", fontweight="bold")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right upper", fontsize="small", title="method", frameon=True)
    return save(fig, path)
