"""The heatmap of one method's train-site x test-site matrix (``figures/site_matrix_<method>.png``).

Rows are the training sets, columns the test sets; each cell shows the AUC and its 95% interval (on
site the fold-stratified AUC, framed; off site the per-model AUC), coloured on one scale for every
method (0.5 to 1), so that the figures of two methods compare at a glance. Drawn as
:mod:`benchmark.reporting.figures` draws (Agg canvas, 150 dpi, written atomically).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from benchmark.reporting.figures.canvas import new_figure, save, style

__all__ = ["site_matrix_figure", "AUC_RANGE"]

AUC_RANGE = (0.5, 1.0)   # the colour scale of every method's heatmap


def site_matrix_figure(matrix: pd.DataFrame, method: str, path, train_sets: list[str], test_sets: list[str]) -> Path:
    """Draw ``method``'s cells of ``matrix`` (:data:`benchmark.evaluation.sites.SITE_MATRIX_COLUMNS`)
    with ``train_sets`` as rows and ``test_sets`` as columns; a missing cell stays blank."""
    cells = matrix[matrix["method"] == method].set_index(["train_set", "test_set"])
    values = np.full((len(train_sets), len(test_sets)), np.nan)
    with style():
        fig = new_figure(1.6 + 1.9 * len(test_sets), 1.2 + 0.9 * len(train_sets))
        ax = fig.add_subplot()
        for i, train in enumerate(train_sets):
            for j, test in enumerate(test_sets):
                if (train, test) in cells.index:
                    values[i, j] = cells.loc[(train, test), "auc"]
        image = ax.imshow(values, cmap="viridis", vmin=AUC_RANGE[0], vmax=AUC_RANGE[1], aspect="auto")
        for i, train in enumerate(train_sets):
            for j, test in enumerate(test_sets):
                if (train, test) not in cells.index:
                    continue
                cell = cells.loc[(train, test)]
                dark = cell["auc"] < np.mean(AUC_RANGE) + 0.1
                ax.text(j, i, f"{cell['auc']:.3f}\n[{cell['ci_low']:.3f}, {cell['ci_high']:.3f}]", ha="center",
                        va="center", fontsize=9, color="white" if dark else "black")
                if train == test:
                    ax.add_patch(Rectangle((j - 0.48, i - 0.48), 0.96, 0.96, fill=False, lw=2.5, ec="0.1"))
        ax.set_xticks(range(len(test_sets)), test_sets, rotation=15)
        ax.set_yticks(range(len(train_sets)), train_sets)
        ax.set_xlabel("tested on")
        ax.set_ylabel("trained on")
        ax.grid(False)
        ax.set_title(f"{method}: AUC [95% CI] (framed: on site, fold-stratified; others: per model)", fontsize=9)
        fig.colorbar(image, ax=ax, label="AUC", fraction=0.05)
        return save(fig, path)
