"""The model analysis's figures, drawn from its tables (``analysis/*.csv``, written by :mod:`benchmark.analysis`).

- ``activation_rates.png``: A_l per block for every model, with the pretrained backbone on
  natural photographs as a dashed black reference;
- ``activation_rate_change.png``: the share of block-output elements whose sign each DRS model
  changed against the pretrained backbone;
- ``drs_deviation.png``: per DRS parameter, the mean and largest deviation from the identity.

Blocks run along the x axis with their stages marked; each method keeps the colour it has in the
report's other figures (:func:`benchmark.reporting.figures.canvas.method_colors`, leaderboard order) and
gets a marker of its own. The figures are drawn on :mod:`benchmark.reporting.figures.canvas`
(style, atomic writes). :func:`draw_analysis_figures` draws the three from the tables and the
fold's run records alone (no torch).
"""
from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pandas as pd

from benchmark.runfolder import (ACTIVATION_CHANGE_FILE, ACTIVATION_RATES_FILE, ACTIVATION_WHERE, ANALYSIS_DIR,
                                 DRS_DEVIATION_FILE, DRS_PARAMETER_NAMES, FIGURES_DIR, PRETRAINED_NATURAL, RESULTS_FILE)
from benchmark.runfolder import (ACTIVATION_CHANGE_FIGURE, ACTIVATION_RATES_FIGURE, DRS_DEVIATION_FIGURE,
                                 read_record, study_folders)

__all__ = ["draw_analysis_figures", "rates_figure", "change_figure", "deviation_figure", "run_colors"]


def run_colors(run_dir: Path, methods: list[str]) -> dict:
    """The leaderboard's colours (same method -> same colour as in the other figures)."""
    from benchmark.reporting.figures.canvas import method_colors
    from benchmark.evaluation import load_run

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            order = list(load_run(run_dir).order)
    except Exception:  # noqa: BLE001 - colours only
        order = []
    order += [m for m in methods if m not in order]
    return method_colors(order)


def _stage(block_name: str) -> str:
    return block_name.rsplit(".", 1)[0]


def _mark_stages(ax, block_names: list[str], family: str, label: bool = True) -> None:
    """Dotted lines between stages, and the stage names on a top axis."""
    stages = [_stage(n) for n in block_names]
    starts = [i for i in range(len(stages)) if i == 0 or stages[i] != stages[i - 1]]
    ends = starts[1:] + [len(stages)]
    for s in starts[1:]:
        ax.axvline(s - 0.5, color="0.45", lw=0.9, ls=":", zorder=1)
    top = ax.secondary_xaxis("top")
    top.set_xticks([(a + b - 1) / 2 for a, b in zip(starts, ends)])
    top.set_xticklabels([stages[a].replace("layer", "").replace("blocks.", "") for a in starts],
                        fontsize="small")
    top.tick_params(length=0)
    if label:
        top.set_xlabel("stage (" + ("layer1-4" if family == "resnet" else "blocks.<stage>.<i>") + ")",
                       fontsize="small")
    ax.set_xlim(-0.5, len(stages) - 0.5)
    step = 1 if len(stages) <= 20 else 2 if len(stages) <= 40 else 5
    ax.set_xticks(range(0, len(stages), step))
    ax.grid(axis="x", visible=False)


def _label_block_axes(ax, ylabel: str, legend_title: str, title: str) -> None:
    """The axis labels, the legend (right of the plot) and the bold title of a plot over the blocks."""
    ax.set_xlabel("Residual block index l (0 = first)")
    ax.set_ylabel(ylabel)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small", title=legend_title,
              title_fontsize="small", frameon=False)
    ax.set_title(title, fontweight="bold")


def _caption(fig, lines: list[str], width: int = 150) -> None:
    text = "\n".join(textwrap.fill(line, width) for line in lines)
    fig.text(0.01, -0.01, text, ha="left", va="top", fontsize="small", color="0.25")


_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*", "<", ">", "h", "p")


def _marker(method: str, colors: dict) -> str:
    """One marker per method (its place in the colour order), so that similar colours stay apart."""
    order = list(colors)
    return _MARKERS[order.index(method) % len(_MARKERS)] if method in order else "o"


def _ordered(methods, colors) -> list[str]:
    rank = {m: i for i, m in enumerate(colors)}
    return sorted(set(methods), key=lambda m: (rank.get(m, len(rank)), m))


def rates_figure(rates: pd.DataFrame, colors: dict, family: str, synthetic: bool, fold_label: str, what: str,
                 path) -> Path:
    """``activation_rates.png``: A_l per block, one line per model, the natural-photograph reference dashed."""
    from benchmark.reporting.figures.canvas import new_figure, save, style, synthetic_note

    names = list(rates.drop_duplicates("block").sort_values("block")["block_name"])
    methods = _ordered([m for m in rates["model"].unique() if m != PRETRAINED_NATURAL], colors)
    with style():
        fig = new_figure(11.5, 5.6)
        ax = fig.subplots()
        for m in methods:
            part = rates[rates["model"] == m].sort_values("block")
            ax.plot(part["block"], part["rate"], color=colors.get(m, "0.4"), lw=1.6, marker=_marker(m, colors),
                    ms=4.5, mec="white", mew=0.5, label=m, zorder=3)
        nat = rates[rates["model"] == PRETRAINED_NATURAL].sort_values("block")
        if not nat.empty:
            ax.plot(nat["block"], nat["rate"], color="black", lw=2.4, ls="--", marker="s", ms=4,
                    label="pretrained backbone,\nnatural photographs", zorder=4)
        _mark_stages(ax, names, family)
        lo, hi = float(rates["rate"].min()), float(rates["rate"].max())
        pad = 0.08 * (hi - lo) + 0.01
        ax.set_ylim(max(0.0, lo - pad), min(1.0, hi + pad))
        _label_block_axes(ax, "Activation rate $A_l$ (fraction > 0)", "model",
                          f"Activation rate per block ({what}), test images of {fold_label}"
                          f"{synthetic_note(synthetic)}")
        images = nat["images"].iloc[0] if not nat.empty else ""
        test = rates.loc[rates["model"] != PRETRAINED_NATURAL, "images"].iloc[0]
        where = ("after the block's final ReLU" if family == "resnet" else
                 "(EfficientNet-Lite blocks end without an activation, unlike the paper's ResNet whose blocks end "
                 "in a ReLU)")
        _caption(fig, [f"Rate = fraction of positive elements of each block's output {where}, averaged over {test}.",
                       f"Dashed black: the pretrained backbone on natural photographs ({images}) - the paper "
                       "used ImageNet validation images. Dotted verticals: stage boundaries."])
        fig.tight_layout()
        return save(fig, path)


def change_figure(change: pd.DataFrame, colors: dict, family: str, synthetic: bool, fold_label: str, what: str,
                  path) -> Path:
    """``activation_rate_change.png``: per block, the share of elements whose sign each DRS model changed."""
    from benchmark.reporting.figures.canvas import new_figure, save, style, synthetic_note

    names = list(change.drop_duplicates("block").sort_values("block")["block_name"])
    methods = _ordered(change["method"].unique(), colors)
    with style():
        fig = new_figure(11.0, 5.4)
        ax = fig.subplots()
        for m in methods:
            part = change[change["method"] == m].sort_values("block")
            ax.plot(part["block"], 100.0 * part["changed_fraction"], color=colors.get(m, "0.4"), lw=1.8,
                    marker=_marker(m, colors), ms=5, mec="white", mew=0.5, label=m, zorder=3)
        _mark_stages(ax, names, family)
        top = 100.0 * float(change["changed_fraction"].max())
        ax.set_ylim(-0.02 * max(top, 1.0), max(top * 1.1, 1.0))
        _label_block_axes(ax, "Elements whose sign changed (%)", "DRS method",
                          f"Activation rate change against the pretrained backbone ({what}), {fold_label}"
                          f"{synthetic_note(synthetic)}")
        where = "after its final ReLU" if family == "resnet" else "(no final activation in EfficientNet-Lite)"
        _caption(fig, [f"Share of the elements of each block's output {where} that are positive in one "
                       "model and not in the other: the DRS method's trained model against the feature-extraction "
                       "model's (pretrained, unchanged) backbone, on the same test images (eqs. 6-7)."], width=140)
        fig.tight_layout()
        return save(fig, path)


def _lighter(color, amount: float = 0.5):
    import matplotlib as mpl

    return tuple(c + (1.0 - c) * amount for c in mpl.colors.to_rgb(color))


_PARAM_TITLES = {"S_m": r"$S_m$ (spatial scale): $|S_m - 1|$", "S_b": r"$S_b$ (spatial shift): $|S_b|$",
                 "D_m": r"$D_m$ (channel scale): $|D_m - 1|$", "D_b": r"$D_b$ (channel shift): $|D_b|$"}


def deviation_figure(dev: pd.DataFrame, colors: dict, family: str, synthetic: bool, block_names: list[str],
                     what: str, path) -> Path:
    """``drs_deviation.png``: one panel per DRS parameter, mean (solid) and largest (dashed) deviation."""
    from matplotlib.lines import Line2D

    from benchmark.reporting.figures.canvas import new_figure, save, style, synthetic_note

    methods = _ordered(dev["method"].unique(), colors)
    with style():
        fig = new_figure(13.0, 8.4)
        axes = fig.subplots(2, 2, sharex=True).ravel()
        for k, (ax, parameter) in enumerate(zip(axes, DRS_PARAMETER_NAMES)):
            part = dev[dev["parameter"] == parameter]
            for m in methods:
                p = part[part["method"] == m].sort_values("block")
                if p.empty:
                    continue
                c = colors.get(m, "0.4")
                mk = _marker(m, colors)
                ax.plot(p["block"], p["max_abs_deviation"], color=_lighter(c), lw=1.2, ls="--", marker=mk,
                        ms=3.5, zorder=2)
                ax.plot(p["block"], p["mean_abs_deviation"], color=c, lw=1.8, marker=mk, ms=4.5, mec="white",
                        mew=0.5, zorder=3)
            if part.empty:
                ax.text(0.5, 0.5, "no method trains this parameter", transform=ax.transAxes, ha="center",
                        va="center", color="0.4")
            _mark_stages(ax, block_names, family, label=k < 2)
            ax.set_ylim(bottom=0.0, top=max(float(part["max_abs_deviation"].max()) * 1.1, 1e-3)
                        if not part.empty else 1.0)
            ax.set_title(_PARAM_TITLES[parameter], fontsize="medium")
            ax.set_ylabel("|trained - identity|")
            ax.set_xlabel("Residual block index l")
            ax.xaxis.set_tick_params(labelbottom=True)
        handles = [Line2D([], [], color=colors.get(m, "0.4"), lw=2, marker=_marker(m, colors), ms=5)
                   for m in methods]
        labels = list(methods)
        handles += [Line2D([], [], color="0.3", lw=1.8), Line2D([], [], color=_lighter("0.3"), lw=1.2, ls="--")]
        labels += ["mean |deviation| in the block", "largest |deviation| (lighter, dashed)"]
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small",
                   title="DRS method", title_fontsize="small", frameon=False)
        fig.suptitle(f"DRS parameters ({what}): deviation from the identity (1, 0, 1, 0) per block"
                     f"{synthetic_note(synthetic)}", fontweight="bold")
        fig.tight_layout()
        return save(fig, path)


def _fold_records(run_dir: Path, repeat: int, fold: int) -> list[dict]:
    records = [read_record(folder / RESULTS_FILE, warn=False) for folder in study_folders(run_dir, repeat, fold)]
    return [r for r in records if r is not None]


def draw_analysis_figures(run_dir, repeat: int = 0, fold: int = 0) -> dict:
    """Draw ``figures/activation_rates.png``, ``figures/activation_rate_change.png`` and
    ``figures/drs_deviation.png`` from the analysis tables of ``repeat``, ``fold`` (``analysis/*.csv``)
    and the fold's run records (backbone, image size, synthetic data).

    Returns ``{relative path: Path}``; a DRS figure whose table has no row maps to a string saying
    why it was not drawn instead.
    """
    run_dir = Path(run_dir)
    tables, figs = run_dir / ANALYSIS_DIR, run_dir / FIGURES_DIR
    rates, change, dev = (pd.read_csv(tables / name)  # pandas reads back the floats it wrote, exactly
                          for name in (ACTIVATION_RATES_FILE, ACTIVATION_CHANGE_FILE, DRS_DEVIATION_FILE))
    records = _fold_records(run_dir, repeat, fold)
    if not records:
        raise FileNotFoundError(f"no {RESULTS_FILE} of repeat {repeat}, fold {fold} in {run_dir / 'runs'}")
    config = records[0]["config"]
    family = "resnet" if set(rates["where"]) == {ACTIVATION_WHERE["resnet"]} else "efficientnet_lite"
    synthetic = any(bool((r.get("dataset") or {}).get("synthetic")) for r in records)
    fold_label = f"repeat {repeat}, fold {fold}"
    colors = run_colors(run_dir, list(rates["model"].unique()))
    what = f"{config['backbone']}, {int(config['image_size'])} px"
    block_names = list(rates.drop_duplicates("block").sort_values("block")["block_name"])
    written = {f"{FIGURES_DIR}/{ACTIVATION_RATES_FIGURE}": rates_figure(rates, colors, family, synthetic, fold_label,
                                                                    what, figs / ACTIVATION_RATES_FIGURE)}
    none = f"not written: no method with DRS layers among the runs of {fold_label}"
    written[f"{FIGURES_DIR}/{ACTIVATION_CHANGE_FIGURE}"] = none if change.empty else change_figure(
        change, colors, family, synthetic, fold_label, what, figs / ACTIVATION_CHANGE_FIGURE)
    written[f"{FIGURES_DIR}/{DRS_DEVIATION_FIGURE}"] = none if dev.empty else deviation_figure(
        dev, colors, family, synthetic, block_names, what, figs / DRS_DEVIATION_FIGURE)
    return written
