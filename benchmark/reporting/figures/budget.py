"""The budget curves (``budget_curve.csv``): each method's rank and AUC against the search budget."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from benchmark.reporting.figures.canvas import LINESTYLES, method_colors, panel_row, save, style, synthetic_note

__all__ = ["budget_curve_figure"]


def budget_curve_figure(curve: pd.DataFrame, path, synthetic: bool = False) -> Path:
    """Two panels against the budget k (trials per study): the method's rank at k (1 at the top) and its
    fold-stratified AUC at k with the 95% duplicate-group bootstrap interval; one line per method, in the
    order of the ranking at the largest budget."""
    if curve.empty or curve["auc"].notna().sum() == 0:
        raise ValueError("budget_curve_figure needs at least one method with an AUC")
    top = curve["budget"].max()
    order = list(curve[curve["budget"] == top].sort_values(["rank", "method"])["method"])
    colors = method_colors(order)
    n = len(order)
    with style():
        fig, (rank_ax, auc_ax) = panel_row(2, 5.2, 3.2, 4.8)
        for i, m in enumerate(order):
            rows = curve[curve["method"] == m].sort_values("budget")
            k = rows["budget"].to_numpy(float)
            ls = LINESTYLES[i // 10 % 4]
            rank_ax.plot(k, rows["rank"].astype(float).to_numpy(), color=colors[m], ls=ls, lw=1.6, marker="o", ms=4)
            y = rows["auc"].to_numpy(float)
            errors = np.vstack([y - rows["auc_ci_low"].to_numpy(float), rows["auc_ci_high"].to_numpy(float) - y])
            auc_ax.errorbar(k + 0.04 * (i - (n - 1) / 2), y, yerr=np.clip(np.nan_to_num(errors), 0, None),
                            color=colors[m], ls=ls, lw=1.6, marker="o", ms=4, capsize=2, elinewidth=0.8)
        budgets = sorted(curve["budget"].unique())
        for ax in (rank_ax, auc_ax):
            ax.set_xticks(budgets)
            ax.set_xlabel("Search budget k (trials per study)")
        rank_ax.set_ylim(n + 0.5, 0.5)
        rank_ax.set_yticks(range(1, n + 1))
        rank_ax.set_ylabel("Rank at k (1 = best)")
        rank_ax.set_title("Rank")
        auc_ax.set_ylabel("Fold-stratified AUC")
        auc_ax.set_title("AUC (95% CI)")
        handles = [Line2D([], [], color=colors[m], ls=LINESTYLES[i // 10 % 4], lw=2, marker="o", ms=4)
                   for i, m in enumerate(order)]
        fig.legend(handles, order, loc="outside right center", title="method", fontsize="small",
                   title_fontsize="small", frameon=False)
        fig.suptitle(f"The ranking against the search budget{synthetic_note(synthetic)}", fontweight="bold")
        return save(fig, path)
