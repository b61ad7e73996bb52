"""The canvas every report figure is drawn on: matplotlib's Agg canvas directly (no pyplot, no global
backend or style change), seaborn's "whitegrid" style applied only while drawing (:func:`style`), 150 dpi,
written atomically (:func:`save`); one colour per method across figures (:func:`method_colors`), and
labels placed so that they do not overlap (:func:`place_labels`).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from benchmark.common.io import write_atomic

__all__ = ["DPI", "LINESTYLES", "style", "method_colors", "new_figure", "panel_row", "save", "synthetic_note",
           "unit_square", "darker", "place_labels"]

DPI = 150
LINESTYLES = ("-", "--", "-.", ":")


def style():
    rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("paper", font_scale=1.25),
          "axes.edgecolor": "0.3", "savefig.facecolor": "white", "figure.facecolor": "white"}
    return mpl.rc_context(rc)


def method_colors(methods) -> dict:
    """One colour per method (colour-blind palette up to 10 methods, evenly spaced hues beyond)."""
    methods = list(methods)
    palette = sns.color_palette("colorblind", len(methods)) if len(methods) <= 10 else \
        sns.color_palette("husl", len(methods))
    return dict(zip(methods, palette))


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def panel_row(n: int, panel_width: float, extra_width: float, height: float):
    """A figure of ``n`` panels side by side (plus ``extra_width`` inches for a legend), laid out by
    matplotlib's constrained engine: ``(figure, axes)``. Call it inside ``style()``."""
    fig = new_figure(panel_width * n + extra_width, height)
    fig.set_layout_engine("constrained")
    return fig, fig.subplots(1, n, squeeze=False)[0]


def save(fig: Figure, path) -> Path:
    path = Path(path)
    write_atomic(path, lambda p: fig.savefig(p, format="png", dpi=DPI, bbox_inches="tight"))
    return path


def synthetic_note(synthetic: bool) -> str:
    return "  [SYNTHETIC DATA - not BUSI]" if synthetic else ""


def unit_square(ax, diagonal: str) -> None:
    """Axes from 0 to 1 on both sides, equal aspect, with the dotted diagonal labelled ``diagonal``."""
    ax.plot([0, 1], [0, 1], color="0.55", lw=1, ls=":", label=diagonal)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")


def darker(color, amount: float = 0.35):
    """The colour mixed with black, for text on white."""
    return tuple((1.0 - amount) * c for c in mpl.colors.to_rgb(color))


def place_labels(fig: Figure, ax, xs, ys, names, colors) -> None:
    """Label points, trying a few offsets per label so that labels do not overlap."""
    renderer = fig.canvas.get_renderer()
    offsets = [(8, 6, "left"), (8, -14, "left"), (-8, 6, "right"), (-8, -14, "right"),
               (8, 18, "left"), (8, -26, "left"), (-8, 18, "right"), (-8, -26, "right"), (0, 30, "center"),
               (0, -38, "center")]
    legend = ax.get_legend()
    placed = [legend.get_window_extent(renderer)] if legend is not None else []
    frame = ax.get_window_extent(renderer)
    pts = ax.transData.transform(np.column_stack([xs, ys]))
    point_boxes = [mpl.transforms.Bbox.from_extents(x - 4, y - 4, x + 4, y + 4) for x, y in pts]
    for i in np.argsort(-np.asarray(ys), kind="stable"):
        best = None
        for dx, dy, ha in offsets:
            text = ax.annotate(names[i], (xs[i], ys[i]), xytext=(dx, dy), textcoords="offset points", ha=ha,
                               va="bottom", fontsize="small", color=darker(colors[names[i]]), fontweight="bold")
            box = text.get_window_extent(renderer).expanded(1.05, 1.1)
            clash = sum(box.overlaps(b) for b in placed) + sum(
                box.overlaps(b) for j, b in enumerate(point_boxes) if j != i)
            if box.x0 < frame.x0 or box.x1 > frame.x1 or box.y0 < frame.y0 or box.y1 > frame.y1:
                clash += 100  # outside the axes: only as a last resort
            if best is None or clash < best[0]:
                if best is not None:
                    best[1].remove()
                best = (clash, text, box)
            else:
                text.remove()
            if clash == 0:
                break
        placed.append(best[2])


