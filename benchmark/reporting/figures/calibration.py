"""The reliability diagrams of a run: one figure per data set, drawn from ``calibration_curve.csv`` alone."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.evaluation.calibration import SCORES
from benchmark.reporting.figures.canvas import (LINESTYLES, method_colors, panel_row, save, style, synthetic_note,
                                                unit_square)
from benchmark.runfolder import CALIBRATION_CURVE_FILE

__all__ = ["reliability_figure"]

PANEL_TITLES = {"raw": "the models' own scores", "platt": "Platt-scaled (fitted on validation images)"}


def reliability_figure(curves: pd.DataFrame, dataset: str, path, methods, synthetic: bool = False) -> Path:
    """The reliability diagram of ``dataset`` from ``calibration_curve.csv``'s rows: fraction malignant against
    the mean score per equal-mass bin, one line per method (in ``methods``' order), one panel per kind of scores."""
    part = curves[curves["dataset"] == dataset]
    kinds = [k for k in SCORES if (part["scores"] == k).any()]
    if not kinds:
        raise ValueError(f"{CALIBRATION_CURVE_FILE} has no rows of data set {dataset!r}")
    methods = [m for m in methods if (part["method"] == m).any()]
    colors = method_colors(methods)
    with style():
        fig, axes = panel_row(len(kinds), 5.0, 3.6, 5.6)
        for ax, kind in zip(axes, kinds):
            for i, m in enumerate(methods):
                rows = part[(part["scores"] == kind) & (part["method"] == m)].sort_values("bin")
                if len(rows):
                    ax.plot(rows["mean_predicted"], rows["fraction_malignant"], color=colors[m], lw=1.5, marker="o",
                            ms=3.5, ls=LINESTYLES[i // 10 % 4], label=m)
            unit_square(ax, "perfect calibration")
            ax.set_xlabel("Mean score in the bin (predicted probability of malignancy)")
            ax.set_ylabel("Fraction malignant in the bin")
            ax.set_title(PANEL_TITLES[kind], fontsize="medium")
        fig.suptitle(f"Reliability diagram on {dataset}{synthetic_note(synthetic)}", fontweight="bold")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right upper", fontsize="small", title="method", frameon=True)
    return save(fig, path)
