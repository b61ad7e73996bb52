"""The leaderboard's figures: ROC curves, AUC against trainable parameters, p-value matrices, internal
against external AUC (drawn on :mod:`benchmark.reporting.figures.canvas`).
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import ListedColormap, TwoSlopeNorm
from matplotlib.lines import Line2D

from benchmark.evaluation import ALPHA, TEST_LABELS
from benchmark.reporting.figures.canvas import (LINESTYLES, darker, method_colors, new_figure, place_labels, save, style,
                                                synthetic_note, unit_square)
from benchmark.runfolder import REFERENCE_METHOD

__all__ = ["roc_figure", "auc_vs_parameters_figure", "pvalue_matrix_figure", "external_auc_figure"]


# ------------------------------------------------------------------------------------ ROC
def _roc_points(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical ROC curve: (FPR, TPR) at every distinct threshold, from (0, 0) to (1, 1)."""
    order = np.argsort(-scores, kind="mergesort")
    s, t = scores[order], y[order].astype(float)
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last case of each distinct score
    tp = np.cumsum(t)[last]
    fp = (last + 1) - tp
    return np.r_[0.0, fp / fp[-1]], np.r_[0.0, tp / tp[-1]]


def roc_figure(data, path, max_panels: int = 3) -> Path:
    """ROC curves of every ranked method's pooled out-of-fold scores, one panel per repeat
    (the first ``max_panels``). ``data`` is a :class:`benchmark.evaluation.RunData`.

    Legend entries give each method's pooled AUC in that repeat, best first.
    """
    from benchmark.evaluation import pooled_scores
    from benchmark.stats import roc_auc

    order = list(data.order)
    if not order:
        raise ValueError("roc_figure needs at least one ranked method")
    colors = method_colors(order)
    images, columns, matrix = pooled_scores(data)
    y_all = images["label"].to_numpy()
    repeats = sorted({r for _, r in columns})
    shown = repeats[:max_panels]
    synthetic = bool(data.runs["synthetic"].any()) if len(data.runs) else data.internal == "synthetic"
    shared = len(order) > 5  # many curves: one legend beside the panels, hiding none of them
    with style():
        fig = new_figure(5.0 * len(shown) + (3.6 if shared else 0.0), 5.6)
        fig.set_layout_engine("constrained")
        axes = fig.subplots(1, len(shown), squeeze=False)[0]
        per_repeat = {m: [] for m in order}
        for ax, repeat in zip(axes, shown):
            curves = {}
            for j, (m, r) in enumerate(columns):
                if r != repeat:
                    continue
                keep = np.isfinite(matrix[:, j])
                curves[m] = (y_all[keep], matrix[keep, j])
            aucs = {m: roc_auc(*curves[m]) for m in curves}
            for m in order:
                per_repeat[m].append(aucs.get(m, float("nan")))
            for m in sorted(curves, key=lambda m: (-aucs[m], m)):
                fpr, tpr = _roc_points(*curves[m])
                ax.plot(fpr, tpr, color=colors[m], lw=1.8, ls=LINESTYLES[order.index(m) // 10 % 4],
                        label=f"{m} ({aucs[m]:.3f})")
            unit_square(ax, "chance (0.500)")
            ax.set_xlabel("False positive rate, 1 − specificity (fraction)")
            ax.set_ylabel("True positive rate, sensitivity (fraction)")
            y = next(iter(curves.values()))[0]
            ax.set_title(f"Repeat {repeat}: {y.size} images, {int(y.sum())} malignant")
            if not shared:
                ax.legend(loc="lower right", title="method (pooled AUC)", fontsize="small", title_fontsize="small",
                          frameon=True, framealpha=0.9)
        if shared:
            handles = [Line2D([], [], color=colors[m], lw=2, ls=LINESTYLES[i // 10 % 4]) for i, m in enumerate(order)]
            labels = [f"{m}: " + " / ".join("—" if math.isnan(a) else f"{a:.3f}" for a in per_repeat[m])
                      for m in order]
            handles.append(Line2D([], [], color="0.55", lw=1, ls=":"))
            labels.append("chance: 0.500")
            title = "method: pooled AUC" + (f", repeat {' / '.join(map(str, shown))}" if len(shown) > 1 else "")
            fig.legend(handles, labels, loc="outside right center", title=title, fontsize="small",
                       title_fontsize="small", frameon=False)
        more = f" (first {len(shown)} of {len(repeats)} repeats)" if len(repeats) > len(shown) else ""
        fig.suptitle(f"ROC curves of the pooled out-of-fold scores{more}{synthetic_note(synthetic)}",
                     fontweight="bold")
        return save(fig, path)


def auc_vs_parameters_figure(leaderboard_df: pd.DataFrame, path, synthetic: bool = False) -> Path:
    """Fold-stratified AUC (the leaderboard's ``auc``; error bars: its 95% cluster-bootstrap interval) against
    trainable parameters.

    The x axis is logarithmic; each point is labelled with its method's name.
    """
    lb = leaderboard_df.dropna(subset=["auc"])
    reference = lb.loc[lb["method"] == REFERENCE_METHOD, "auc"]
    lb = lb[lb["trainable_parameters"].notna()]
    if lb.empty:
        raise ValueError("auc_vs_parameters_figure needs methods with an AUC and a trainable-parameter count")
    order = list(leaderboard_df["method"])
    colors = method_colors(order)
    x = lb["trainable_parameters"].astype(float).clip(lower=1).to_numpy()
    y = lb["auc"].to_numpy(dtype=float)
    lo = lb["auc_ci_low"].to_numpy(dtype=float) if "auc_ci_low" in lb else np.full_like(y, np.nan)
    hi = lb["auc_ci_high"].to_numpy(dtype=float) if "auc_ci_high" in lb else np.full_like(y, np.nan)
    err = np.vstack([y - lo, hi - y])  # asymmetric; NaN where no interval
    names = list(lb["method"])
    with style():
        fig = new_figure(8.0, 5.6)
        ax = fig.subplots()
        for xi, yi, ei, m in zip(x, y, err.T, names):
            ax.errorbar(xi, yi, yerr=None if np.isnan(ei).any() else ei.reshape(2, 1), fmt="o", ms=8, color=colors[m],
                        ecolor=colors[m], elinewidth=1.5, capsize=4, mec="white", mew=0.8, zorder=3)
        ax.set_xscale("log")
        lo, hi = x.min(), x.max()
        ax.set_xlim(lo / 4, hi * 4)
        top = np.nanmax(y + np.nan_to_num(err[1]))
        bottom = np.nanmin(y - np.nan_to_num(err[0]))
        pad = max(0.03, 0.12 * (top - bottom))
        ax.set_ylim(max(0.0, bottom - pad), top + pad)
        ax.axhline(0.5, color="0.55", lw=1, ls=":", zorder=1)
        if len(reference):
            ax.axhline(float(reference.iloc[0]), color="0.35", lw=1.2, ls="--", zorder=1)
        ax.set_xlabel("Trainable parameters (count, log scale)")
        ax.set_ylabel("Fold-stratified test AUC")
        ax.set_title(f"Test AUC against trainable parameters{synthetic_note(synthetic)}", fontweight="bold")
        fig.tight_layout()
        handles = [Line2D([], [], color="0.3", marker="o", ls="none", ms=7)]
        labels = ["fold-stratified AUC, 95% cluster-bootstrap CI" if np.isfinite(err).any() else
                  "fold-stratified AUC (no interval)"]
        if len(reference):
            handles.append(Line2D([], [], color="0.35", lw=1.2, ls="--"))
            labels.append(f"reference: logistic regression on frozen features ({float(reference.iloc[0]):.3f})")
        if ax.get_ylim()[0] < 0.5:
            handles.append(Line2D([], [], color="0.55", lw=1, ls=":"))
            labels.append("chance (AUC 0.5)")
        ax.legend(handles, labels, loc="lower right", fontsize="small", frameon=True, framealpha=0.9)
        place_labels(fig, ax, x, y, names, colors)
        return save(fig, path)


# ------------------------------------------------------------------------ p-value matrix
def _fmt_cell(p: float) -> str:
    if math.isnan(p):
        return ""
    text = "<.001" if p < 0.001 else (f"{p:.3f}" if p < 0.1 else f"{p:.2f}").lstrip("0")
    return text + ("*" if p < ALPHA else "")


def pvalue_matrix_figure(significance_df: pd.DataFrame, path, test: str = "cluster_bootstrap",
                         synthetic: bool = False, max_panels: int = 3) -> Path:
    """Method x method heatmap of Holm-adjusted p-values of ``test``, one panel per Holm family.

    The matrix is symmetric, so only its lower triangle is drawn (row method vs column method).
    Colour is log10(p) on a diverging scale centred at p = 0.05 (red: significant, blue: not),
    cells are annotated with the adjusted p (``*`` below 0.05), and the 0.05 level is marked on
    the colour bar. A family is a data set (training set first, then external ones) and, for
    per-repeat tests, a repeat; the first ``max_panels`` families are drawn (side by side up to
    6 methods, stacked beyond).
    """
    sig = significance_df[significance_df["test"] == test]
    if sig.empty:
        raise ValueError(f"no rows of test {test!r} in the significance table")
    methods = list(dict.fromkeys(m for pair in zip(sig["method_a"], sig["method_b"]) for m in pair))
    seeds = list(dict.fromkeys(zip(sig["dataset"], sig["repeat"].astype(object).where(sig["repeat"].notna(), None))))
    shown = seeds[:max_panels]
    n = len(methods)
    floor = -4.0  # log10 p shown down to 1e-4; smaller values take the darkest colour
    norm = TwoSlopeNorm(vmin=floor, vcenter=math.log10(ALPHA), vmax=0.0)
    cmap = ListedColormap(sns.color_palette("RdBu", 256))
    cell = 0.72 if n > 6 else 0.95
    side = max(4.2, 1.9 + cell * (n - 1))
    ncols = min(len(shown), 3 if n <= 6 else 1)
    nrows = math.ceil(len(shown) / ncols)
    with style():
        fig = new_figure(side * ncols + 1.4, side * nrows + 0.7)
        fig.set_layout_engine("constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for k, (ax, seed) in enumerate(zip(axes, shown)):
            dataset, repeat = seed
            part = sig[(sig["dataset"] == dataset) & (sig["repeat"].isna() if repeat is None else
                                                      (sig["repeat"] == repeat))]
            mat = np.full((n, n), np.nan)
            for r in part.itertuples():
                i, j = methods.index(r.method_a), methods.index(r.method_b)
                mat[i, j] = mat[j, i] = r.p_holm
            mat[np.triu_indices(n)] = np.nan  # symmetric: keep the lower triangle
            mat = mat[1:, :-1]
            logp = np.log10(np.clip(mat, 10 ** floor, 1.0))
            annot = np.array([[_fmt_cell(v) for v in row] for row in mat], dtype=object)
            lower = np.tril(np.ones_like(mat, dtype=bool))
            ax.set_facecolor("white")
            sns.heatmap(logp, ax=ax, cmap=cmap, norm=norm, cbar=False, annot=annot, fmt="",
                        mask=~lower, square=True, linewidths=0.8, linecolor="white",
                        xticklabels=methods[:-1], yticklabels=methods[1:],
                        annot_kws={"fontsize": 10 if n <= 5 else (9 if n <= 8 else 8)})
            missing = lower & np.isnan(mat)  # a pair without a result in this family
            for i, j in zip(*np.nonzero(missing)):
                ax.add_patch(mpl.patches.Rectangle((j, i), 1, 1, color="0.9", lw=0))
                ax.text(j + 0.5, i + 0.5, "n/a", ha="center", va="center", fontsize=8, color="0.4")
            ax.tick_params(axis="x", rotation=40)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
            ax.tick_params(axis="y", rotation=0)
            ax.grid(False)
            ax.set_xlabel("method")
            if k % ncols == 0:
                ax.set_ylabel("method")
            else:  # same order as the first panel of the row
                ax.set_yticklabels([])
            ax.set_title(str(dataset) + ("" if repeat is None else f", repeat {int(repeat)}"), fontweight="bold",
                         pad=8)
        for ax in axes[len(shown):]:
            ax.set_visible(False)
        mappable = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
        height = side * nrows
        cbar = fig.colorbar(mappable, ax=list(axes[: len(shown)]), shrink=min(0.85, 6.0 / height), pad=0.02,
                            aspect=22)
        ticks = [-4, -3, -2, math.log10(ALPHA), -1, math.log10(0.5), 0]
        cbar.set_ticks(ticks)
        cbar.set_ticklabels(["≤0.0001", "0.001", "0.01", f"{ALPHA} (α)", "0.1", "0.5", "1"])
        cbar.ax.axhline(math.log10(ALPHA), color="black", lw=2)
        cbar.set_label("Holm-adjusted p (log scale)")  # short: a long label outgrows a short bar
        more = f" (first {len(shown)} of {len(seeds)} families)" if len(seeds) > len(shown) else ""
        fig.suptitle(f"{TEST_LABELS.get(test, test)}: Holm-adjusted p-values, * = p < {ALPHA}{more}"
                     f"{synthetic_note(synthetic)}", fontweight="bold")
        return save(fig, path)


# ------------------------------------------------------------------- internal vs external
def external_auc_figure(leaderboard_df: pd.DataFrame, path, external: str, synthetic: bool = False) -> Path:
    """Per ranked method (one row each, leaderboard order, best at the top): its fold-stratified
    AUC on the training data set (open circle) and its per-model AUC on the external data set
    ``external`` (filled diamond, error bar: the 95% cluster-bootstrap interval of the
    ``external_<name>_*`` columns), joined by a line whose length is the drop.
    """
    prefix = f"external_{external}"
    if f"{prefix}_auc" not in leaderboard_df.columns:
        raise ValueError(f"the leaderboard has no column {prefix}_auc")
    order = list(leaderboard_df["method"])
    colors = method_colors(order)
    lb = leaderboard_df[leaderboard_df["rank"].notna()] if "rank" in leaderboard_df else leaderboard_df
    lb = lb.dropna(subset=["auc", f"{prefix}_auc"])
    if lb.empty:
        raise ValueError(f"external_auc_figure needs ranked methods with an AUC on {external}")
    names = list(lb["method"])
    inner = lb["auc"].to_numpy(dtype=float)
    ext = lb[f"{prefix}_auc"].to_numpy(dtype=float)
    lo = lb[f"{prefix}_ci_low"].to_numpy(dtype=float) if f"{prefix}_ci_low" in lb else np.full_like(ext, np.nan)
    hi = lb[f"{prefix}_ci_high"].to_numpy(dtype=float) if f"{prefix}_ci_high" in lb else np.full_like(ext, np.nan)
    ys = np.arange(len(names))[::-1].astype(float)  # best (first) at the top
    with style():
        fig = new_figure(8.0, 1.8 + 0.5 * len(names))
        ax = fig.subplots()
        for y, m, a, b, l, h in zip(ys, names, inner, ext, lo, hi):
            c = colors[m]
            ax.plot([a, b], [y, y], color=c, lw=7, alpha=0.25, solid_capstyle="round", zorder=2)  # the drop
            ax.plot(a, y, "o", ms=8, mfc="white", mec=c, mew=2, zorder=3)
            err = None if np.isnan(l) or np.isnan(h) else np.array([[b - l], [h - b]])
            ax.errorbar(b, y, xerr=err, fmt="D", ms=7, color=c, ecolor=c, elinewidth=1.2, capsize=4, mec="white",
                        mew=0.8, zorder=4)
        ax.set_yticks(ys)
        ax.set_yticklabels(names)
        for label, m in zip(ax.get_yticklabels(), names):
            label.set_color(darker(colors[m]))
        ax.set_ylim(-0.7, len(names) - 0.3)
        values = np.concatenate([inner, ext, lo[np.isfinite(lo)], hi[np.isfinite(hi)]])
        left, right = float(np.nanmin(values)), float(np.nanmax(values))
        pad = max(0.02, 0.08 * (right - left))
        ax.set_xlim(max(0.0, left - pad), min(1.02, right + pad))
        if ax.get_xlim()[0] < 0.5 < ax.get_xlim()[1]:
            ax.axvline(0.5, color="0.55", lw=1, ls=":", zorder=1)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel("AUC")
        ax.set_title(f"Internal against external AUC: {external}{synthetic_note(synthetic)}", fontweight="bold")
        has_ci = bool(np.isfinite(lo).any())
        handles = [Line2D([], [], color="0.3", marker="o", mfc="white", mew=2, ls="none", ms=7),
                   Line2D([], [], color="0.3", marker="D", ls="none", ms=6)]
        handles.append(Line2D([], [], color="0.3", lw=7, alpha=0.25))
        labels = ["training set, fold-stratified AUC",
                  f"{external}" + (", 95% cluster-bootstrap CI" if has_ci else " (no interval)"), "drop"]
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16 if len(names) > 3 else -0.3),
                  ncol=3, fontsize="small", frameon=False)
        fig.tight_layout()
        return save(fig, path)
