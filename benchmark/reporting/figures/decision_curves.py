"""The decision curves of a run: one figure per data set, drawn from ``decision_curve.csv`` alone."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.evaluation.decision_curves import BIOPSY_ALL, BIOPSY_NONE
from benchmark.reporting.figures.canvas import method_colors, new_figure, save, style, synthetic_note
from benchmark.runfolder import DECISION_CURVE_FILE, REFERENCE_METHOD

__all__ = ["net_benefit_figure"]

GREY = "0.72"


def net_benefit_figure(curves: pd.DataFrame, dataset: str, path, highlight, synthetic: bool = False) -> Path:
    """Net benefit against the threshold probability on ``dataset`` (``decision_curve.csv``'s rows): the methods of
    ``highlight`` (the reference and the leaderboard's top methods) in colour with their 95% band, the other methods
    grey, biopsy all and biopsy none in black; the data set's prevalence in the title."""
    part = curves[curves["dataset"] == dataset]
    if part.empty:
        raise ValueError(f"{DECISION_CURVE_FILE} has no rows of data set {dataset!r}")
    prevalence, n_images = float(part["prevalence"].iloc[0]), int(part["n_images"].iloc[0])
    methods = [m for m in dict.fromkeys(part["method"]) if m not in (BIOPSY_ALL, BIOPSY_NONE)]
    shown = [m for m in highlight if m in methods]
    colors = method_colors(shown)
    kinds = sorted({str(k) for k in part.loc[part["method"].isin(methods), "scores"].dropna()})
    with style():
        fig = new_figure(9.0, 5.6)
        fig.set_layout_engine("constrained")
        ax = fig.subplots()
        for m in methods:
            if m not in shown:
                rows = part[part["method"] == m]
                ax.plot(rows["threshold"], rows["net_benefit"], color=GREY, lw=0.9, zorder=1)
        ax.plot([], [], color=GREY, lw=0.9, label="other methods")
        for m in shown:
            rows = part[part["method"] == m]
            reference = m == REFERENCE_METHOD
            ax.fill_between(rows["threshold"], rows["ci_low"], rows["ci_high"], color=colors[m], alpha=0.12, lw=0,
                            zorder=2)
            ax.plot(rows["threshold"], rows["net_benefit"], color=colors[m], lw=2.0, ls="--" if reference else "-",
                    zorder=3, label=f"{m} (reference)" if reference else m)
        everyone = part[part["method"] == BIOPSY_ALL]
        ax.plot(everyone["threshold"], everyone["net_benefit"], color="black", lw=1.6, ls="-.", zorder=4,
                label="biopsy all")
        ax.axhline(0.0, color="black", lw=1.4, ls=":", zorder=4, label="biopsy none")
        ax.set_xlim(float(part["threshold"].min()), float(part["threshold"].max()))
        ax.set_ylim(-0.25 * prevalence, 1.08 * prevalence)  # net benefit is at most the prevalence
        ax.set_xlabel("Threshold probability pt (biopsy when the predicted risk ≥ pt)")
        ax.set_ylabel("Net benefit (true positives per lesion)")
        ax.set_title(f"Decision curve on {dataset}{synthetic_note(synthetic)}\nprevalence {prevalence:.1%} malignant "
                     f"({n_images} images)", fontweight="bold")
        if kinds:
            ax.text(0.99, 0.98, f"risk: {', '.join(kinds)} scores", transform=ax.transAxes, ha="right", va="top",
                    fontsize="small", color="0.3")
        fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize="small", frameon=True)
    return save(fig, path)
