"""The reliance analysis's figures: AUC against the strength of each acquisition shift
(``reliance_auc.csv``), examples of lesion-only and context-only images (``analysis/region_examples.npz``)
and the saliency gallery (``analysis/saliency_gallery.npz``: the same images under every method)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from benchmark.reporting.figures.canvas import LINESTYLES, method_colors, new_figure, save, style, synthetic_note

__all__ = ["shift_figure", "region_examples_figure", "saliency_gallery_figure"]

CLASS_WORDS = {0: "benign", 1: "malignant"}


def shift_figure(table: pd.DataFrame, dataset: str, order: list[str], path, synthetic: bool = False) -> Path:
    """One panel per shift: each method's AUC (fold-stratified, training set's test folds) against the
    shift's strength, strength 0 being the original images."""
    rows = table[(table["dataset"] == dataset)]
    original = rows[(rows["condition"] == "original") & (rows["images"] == "all")].set_index("method")["auc"]
    shifts = [c for c in dict.fromkeys(rows["condition"]) if c not in ("original", "lesion_only", "context_only")]
    if not shifts:
        raise ValueError(f"reliance_auc.csv has no shifted condition on {dataset}")
    methods = [m for m in order if m in original.index]
    colors = method_colors(methods)
    with style():
        cols = 3
        fig = new_figure(3.0 * cols + 2.6, 2.7 * int(np.ceil(len(shifts) / cols)))
        fig.set_layout_engine("constrained")
        axes = fig.subplots(int(np.ceil(len(shifts) / cols)), cols, squeeze=False).ravel()
        for ax, shift in zip(axes, shifts):
            part = rows[rows["condition"] == shift]
            for i, m in enumerate(methods):
                curve = part[part["method"] == m].sort_values("strength")
                x = np.concatenate([[0.0], curve["strength"].to_numpy(float)])
                y = np.concatenate([[original[m]], curve["auc"].to_numpy(float)])
                ax.plot(x, y, color=colors[m], ls=LINESTYLES[i // 10 % 4], lw=1.4, marker="o", ms=3)
            ax.set_title(shift)
            ax.set_xlabel("strength")
            ax.set_ylabel("AUC")
            ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
        for ax in axes[len(shifts):]:
            ax.set_visible(False)
        handles = [Line2D([], [], color=colors[m], ls=LINESTYLES[i // 10 % 4], lw=2) for i, m in enumerate(methods)]
        fig.legend(handles, methods, loc="outside right center", fontsize="small", frameon=False, title="method")
        fig.suptitle(f"AUC under acquisition shifts ({dataset}){synthetic_note(synthetic)}", fontweight="bold")
        return save(fig, path)


def _outline(region: np.ndarray) -> np.ndarray:
    edge = np.zeros_like(region)
    edge[1:, :] |= region[1:, :] != region[:-1, :]
    edge[:, 1:] |= region[:, 1:] != region[:, :-1]
    return edge


def region_examples_figure(npz_path, path, synthetic: bool = False) -> Path:
    """Rows: the example images; columns: the image with its lesion region outlined, lesion-only, context-only."""
    with np.load(npz_path) as z:
        images, region, lesion, context = z["images"], z["region"], z["lesion_only"], z["context_only"]
        labels, ids, dataset = z["labels"], z["ids"], str(z["dataset"])
    with style():
        fig = new_figure(6.6, 2.2 * len(images))
        fig.set_layout_engine("constrained")
        axes = fig.subplots(len(images), 3, squeeze=False)
        for k in range(len(images)):
            outlined = np.repeat(images[k][..., None], 3, axis=2).copy()
            outlined[_outline(region[k])] = (255, 200, 0)
            for ax, shown, title in zip(axes[k], (outlined, lesion[k], context[k]),
                                        ("region outlined", "lesion only", "context only")):
                ax.imshow(shown, cmap="gray", vmin=0, vmax=255)
                ax.set_xticks([])
                ax.set_yticks([])
                if k == 0:
                    ax.set_title(title)
            axes[k][0].set_ylabel(f"{ids[k]}\n{CLASS_WORDS.get(int(labels[k]), labels[k])}", fontsize="small")
        fig.suptitle(f"Lesion-only and context-only images ({dataset}){synthetic_note(synthetic)}", fontweight="bold")
        return save(fig, path)


def saliency_gallery_figure(npz_path, order: list[str], path, synthetic: bool = False) -> Path:
    """Rows: methods (in the leaderboard's order); columns: the gallery images, each with the method's
    class-activation map (HiResCAM) over it and the lesion region outlined."""
    with np.load(npz_path) as z:
        images, region, maps, methods = z["images"], z["region"], z["maps"], [str(m) for m in z["methods"]]
        labels, ids, dataset = z["labels"], z["ids"], str(z["dataset"])
    rows = [m for m in order if m in methods] + [m for m in methods if m not in order]
    with style():
        fig = new_figure(1.6 * len(images) + 1.6, 1.6 * len(rows) + 0.8)
        fig.set_layout_engine("constrained")
        axes = fig.subplots(len(rows), len(images), squeeze=False)
        for i, m in enumerate(rows):
            cams = maps[methods.index(m)]
            for k in range(len(images)):
                ax = axes[i][k]
                ax.imshow(images[k], cmap="gray", vmin=0, vmax=255)
                peak = cams[k].max()
                if peak > 0:
                    ax.imshow(cams[k] / peak, cmap="inferno", alpha=0.45, vmin=0, vmax=1)
                ax.contour(region[k], levels=[0.5], colors=["#00d0ff"], linewidths=0.7)
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(f"{ids[k]} ({CLASS_WORDS.get(int(labels[k]), labels[k])})", fontsize="x-small")
            axes[i][0].set_ylabel(m, fontsize="small")
        fig.suptitle(f"Class-activation maps of each method on the same images ({dataset}){synthetic_note(synthetic)}",
                     fontweight="bold")
        return save(fig, path)
