"""Figures of what a method costs and how it scales: the learning curve (AUC against the number of
training images, ``learning_curve.csv``) and the cost-aware summary (AUC against trainable
parameters and against training time with the Pareto front, ``pareto.csv``).

Each figure is rebuilt from its tidy CSV alone (:mod:`benchmark.evaluation.learning_curve`,
:mod:`benchmark.evaluation.pareto`), in the style, colours and atomic writing of
:mod:`benchmark.reporting.figures`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from benchmark.common.io import csv_flags
from benchmark.common.train_sizes import ALL
from benchmark.reporting.figures.canvas import LINESTYLES, new_figure, place_labels, save, style, synthetic_note, \
    method_colors, panel_row
from benchmark.runfolder import REFERENCE_METHOD

__all__ = ["learning_curve_figure", "pareto_figure"]

REFERENCE_LABEL = "logistic-regression probe\n(reference, same images)"
_STATISTIC_LABEL = {"fold_stratified": "fold-stratified test AUC", "per_model": "per-model external AUC"}
_COST_TITLE = {"trainable_parameters": "trainable parameters", "training_seconds": "training time"}
_COST_LABEL = {"trainable_parameters": "Trainable parameters (count, log scale)",
               "training_seconds": "Training time of the selected model (s, log scale)"}


def _errors(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray | None:
    err = np.vstack([y - lo, hi - y])
    return None if not np.isfinite(err).any() else np.nan_to_num(err)


def learning_curve_figure(table: pd.DataFrame, path, order=None, synthetic: bool = False) -> Path:
    """AUC against the number of training images (log x axis), one line per method with its 95%
    cluster-bootstrap interval as error bars, one panel per data set (the training one first); the
    logistic-regression reference, where the table has it, as a black dashed line.

    ``table`` is ``learning_curve.csv``; ``order`` the methods in legend order (default: by AUC at
    the largest size). The x position of a size is its mean number of training images over the
    folds; ticks are labelled with the sizes (``all`` with its mean count).
    """
    table = table[table["auc"].notna()]
    if table.empty:
        raise ValueError("learning_curve_figure needs at least one method with an AUC")
    datasets = list(dict.fromkeys(table["dataset"]))
    if order is None:
        last = table[table["dataset"] == datasets[0]].sort_values("n_train_images").groupby("method").last()
        order = list(last.sort_values("auc", ascending=False).index)
    methods = set(table["method"]) - {REFERENCE_METHOD}
    order = [m for m in order if m in methods] + sorted(methods - set(order))
    colors = method_colors(order)
    reference = table[table["method"] == REFERENCE_METHOD]
    with style():
        fig, axes = panel_row(len(datasets), 5.4, 3.4, 5.4)
        for ax, dataset in zip(axes, datasets):
            part = table[table["dataset"] == dataset]
            jitter = {m: 1 + 0.012 * (i - (len(order) - 1) / 2) for i, m in enumerate(order)}  # intervals apart
            for i, m in enumerate(order):
                rows = part[part["method"] == m].sort_values("n_train_images")
                if rows.empty:
                    continue
                x = rows["n_train_images"].to_numpy(float) * jitter[m]
                y = rows["auc"].to_numpy(float)
                ax.errorbar(x, y, yerr=_errors(y, rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float)),
                            color=colors[m], ls=LINESTYLES[i // 10 % 4], lw=1.6, marker="o", ms=5, capsize=2.5,
                            elinewidth=0.9, alpha=0.95, label=m)
            rows = reference[reference["dataset"] == dataset].sort_values("n_train_images")
            if not rows.empty:
                y = rows["auc"].to_numpy(float)
                ax.errorbar(rows["n_train_images"].to_numpy(float), y, color="black", ls="--", lw=1.8, marker="s",
                            ms=5, capsize=2.5, elinewidth=0.9, zorder=4,
                            yerr=_errors(y, rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float)))
            ticks = part.groupby("train_size")["n_train_images"].mean().sort_values()
            ax.set_xscale("log")
            ax.set_xticks(ticks.to_numpy(), [f"all\n({v:.0f})" if s == ALL else s for s, v in ticks.items()])
            ax.minorticks_off()
            ax.axhline(0.5, color="0.55", lw=1, ls=":", zorder=1)
            ax.set_xlabel("Training images per fold (log scale)")
            statistic = part["statistic"].iloc[0]
            label = _STATISTIC_LABEL.get(statistic, "AUC")
            ax.set_ylabel(label[:1].upper() + label[1:])  # not str.capitalize: it would lower "AUC"
            ax.set_title(f"{dataset}" + (" (training data set)" if dataset == datasets[0] else " (external)"))
        handles = [Line2D([], [], color=colors[m], ls=LINESTYLES[i // 10 % 4], lw=2, marker="o", ms=5)
                   for i, m in enumerate(order)]
        labels = list(order)
        if not reference.empty:
            handles.append(Line2D([], [], color="black", ls="--", lw=2, marker="s", ms=5))
            labels.append(REFERENCE_LABEL)
        fig.legend(handles, labels, loc="outside right center", title="method (95% CI bars)", fontsize="small",
                   title_fontsize="small", frameon=False)
        fig.suptitle(f"AUC against the number of training images{synthetic_note(synthetic)}", fontweight="bold")
        return save(fig, path)


def pareto_figure(table: pd.DataFrame, path, synthetic: bool = False) -> Path:
    """One panel per cost of ``pareto.csv``: each ranked method's AUC (95% interval as error bars)
    against the cost (log x axis); methods on the Pareto front filled and joined by a step line,
    the dominated ones hollow."""
    costs = [c for c in dict.fromkeys(table["cost"]) if table.loc[table["cost"] == c, "cost_value"].notna().any()]
    if not costs:
        raise ValueError("pareto_figure needs a cost with values")
    order = list(dict.fromkeys(table["method"]))
    colors = method_colors(order)
    with style():
        fig = new_figure(7.0 * len(costs), 6.4)
        axes = fig.subplots(1, len(costs), squeeze=False)[0]
        labels = []
        for ax, cost in zip(axes, costs):
            part = table[(table["cost"] == cost) & table["cost_value"].notna() & table["auc"].notna()]
            x = part["cost_value"].astype(float).clip(lower=1e-9).to_numpy()
            y = part["auc"].to_numpy(float)
            err = _errors(y, part["auc_ci_low"].to_numpy(float), part["auc_ci_high"].to_numpy(float))
            on = csv_flags(part["on_front"]).to_numpy()
            for k, m in enumerate(part["method"]):
                ax.errorbar(x[k], y[k], yerr=None if err is None else err[:, k:k + 1], fmt="o", ms=8 if on[k] else 7,
                            color=colors[m], ecolor=colors[m], elinewidth=1.2, capsize=3, zorder=3,
                            mfc=colors[m] if on[k] else "white", mec="black" if on[k] else colors[m],
                            mew=1.2 if on[k] else 1.5)
            front = np.argsort(x[on], kind="stable")
            if len(front):
                fx, fy = x[on][front], y[on][front]
                ax.step(np.r_[fx, fx[-1] * 3], np.r_[fy, fy[-1]], where="post", color="0.25", lw=1.2, ls="--",
                        zorder=2)
            ax.set_xscale("log")
            ax.set_xlim(x.min() / 3, x.max() * 3)
            if x.max() / x.min() < 1e3:  # a narrow range: ticks at 1, 2, 5 x 10^k, written plainly
                ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                ax.xaxis.set_minor_formatter(NullFormatter())
            top = np.nanmax(y + (0 if err is None else err[1]))
            bottom = np.nanmin(y - (0 if err is None else err[0]))
            pad = max(0.02, 0.1 * (top - bottom))
            ax.set_ylim(bottom - pad, top + pad)
            ax.set_xlabel(_COST_LABEL.get(cost, cost))
            ax.set_ylabel("Fold-stratified test AUC")
            ax.set_title(f"AUC against {_COST_TITLE.get(cost, cost)}")
            labels.append((ax, x, y, list(part["method"])))
        fig.legend([Line2D([], [], color="0.3", marker="o", mfc="0.3", mec="black", ls="--", ms=7),
                    Line2D([], [], color="0.3", marker="o", mfc="white", ls="none", ms=7)],
                   ["Pareto front: no other method has a higher AUC at a lower cost", "dominated"],
                   loc="lower center", ncol=2, fontsize="small", frameon=False)
        fig.suptitle(f"Which method at which budget: AUC (95% CI) against cost{synthetic_note(synthetic)}",
                     fontweight="bold")
        fig.tight_layout(rect=(0, 0.05, 1, 1))
        for ax, x, y, names in labels:  # after the layout: labels are placed in display coordinates
            place_labels(fig, ax, x, y, names, colors)
        return save(fig, path)
