"""Every figure of a run folder's report, declared once: its file in ``figures/``, the tables it is drawn
from, and the function that draws it; :func:`draw_figures` redraws those that are missing or older than
their tables.

The drawing modules share one canvas (:mod:`~benchmark.reporting.figures.canvas`): ``leaderboard`` (ROC
curves, AUC against trainable parameters, the p-value matrix, internal against external AUC),
``efficiency`` (Pareto front, learning curve), ``budget`` (rank and AUC against the search budget),
``calibration`` (reliability diagrams), ``decision_curves`` (net benefit against the threshold probability),
``reliance`` (shifts, lesion-only and
context-only examples, the saliency gallery), ``analysis`` (the representation analysis' tables) and ``sites`` (the train-site x test-site heatmaps, drawn with the sites
page). matplotlib is imported only when a figure is drawn.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from benchmark.evaluation import PRIMARY_TEST
from benchmark.evaluation.derived import RUNS, Context, is_stale
from benchmark.reporting.inputs import read_significance
from benchmark.runfolder import (AUC_PARAMETERS_FIGURE, CALIBRATION_CURVE_FILE, COST_FILE, FIGURES_DIR,
                                 LEADERBOARD_FILE, LEARNING_CURVE_FIGURE, LEARNING_CURVE_FILE, PARETO_FIGURE,
                                 PARETO_FILE, PREDICTIONS_FILE, ROC_FIGURE, SIGNIFICANCE_FILE, STUDIES_FILE,
                                 SUITE_FILE, CALIBRATION_SMOOTH_FILE, calibration_figure, external_figure, pvalue_figure)

from benchmark.runfolder import DECISION_CURVE_FILE, REFERENCE_METHOD, decision_curve_figure
from benchmark.runfolder import BUDGET_CURVE_FIGURE, BUDGET_CURVE_FILE
from benchmark.runfolder import (REGION_EXAMPLES_PATH, REGION_FIGURE, RELIANCE_AUC_FILE, RELIANCE_FIGURE,
                                 SALIENCY_FIGURE, SALIENCY_GALLERY_PATH)

__all__ = ["Drawn", "FIGURES", "draw_figures"]


@dataclass(frozen=True)
class Drawn:
    """Figures drawn from ``sources``: ``keys(ctx)`` lists what to draw (a data set, or None for one
    figure), ``name(key)`` its file in ``figures/``, ``draw(ctx, key, path, synthetic)`` draws it."""

    sources: tuple[str, ...]
    keys: Callable[[Context], list]
    name: Callable[[object], str]
    draw: Callable[[Context, object, Path, bool], Path]


def _ranked(ctx: Context) -> bool:
    return bool(ctx.data.order)


def _roc(ctx, key, path, synthetic):
    from benchmark.reporting.figures.leaderboard import roc_figure

    return roc_figure(ctx.data, path)


def _auc_parameters(ctx, key, path, synthetic):
    from benchmark.reporting.figures.leaderboard import auc_vs_parameters_figure

    return auc_vs_parameters_figure(ctx.table(LEADERBOARD_FILE), path, synthetic=synthetic)


def _pvalues(ctx, key, path, synthetic):
    from benchmark.reporting.figures.leaderboard import pvalue_matrix_figure

    return pvalue_matrix_figure(read_significance(ctx.run_dir), path, test=PRIMARY_TEST, synthetic=synthetic)


def _has_primary(ctx: Context) -> list:
    sig = read_significance(ctx.run_dir)
    return [None] if sig is not None and not sig.empty and (sig["test"] == PRIMARY_TEST).any() else []


def _externals(ctx: Context) -> list:
    lb = ctx.table(LEADERBOARD_FILE)
    if lb["rank"].notna().sum() == 0:
        return []
    return [n for n in ctx.data.externals if f"external_{n}_auc" in lb.columns and lb[f"external_{n}_auc"].notna().any()]


def _external(ctx, key, path, synthetic):
    from benchmark.reporting.figures.leaderboard import external_auc_figure

    return external_auc_figure(ctx.table(LEADERBOARD_FILE), path, key, synthetic=synthetic)


def _calibration_sets(ctx: Context) -> list:
    path = ctx.run_dir / CALIBRATION_SMOOTH_FILE
    if not ctx.data.order or not path.is_file() or not (ctx.run_dir / CALIBRATION_CURVE_FILE).is_file():
        return []
    return list(pd.read_csv(path)["dataset"].unique())


def _calibration(ctx, key, path, synthetic):
    from benchmark.reporting.figures.calibration import reliability_figure

    smooth, curves = (pd.read_csv(ctx.run_dir / name) for name in (CALIBRATION_SMOOTH_FILE, CALIBRATION_CURVE_FILE))
    methods = list(dict.fromkeys(list(ctx.data.order) + list(smooth["method"])))
    return reliability_figure(smooth, curves, key, path, methods, synthetic)


def _decision_sets(ctx: Context) -> list:
    path = ctx.run_dir / DECISION_CURVE_FILE
    if not ctx.data.order or not path.is_file():
        return []
    return list(pd.read_csv(path)["dataset"].unique())


def _decision_curve(ctx, key, path, synthetic):
    from benchmark.reporting.figures.decision_curves import net_benefit_figure

    lb = ctx.table(LEADERBOARD_FILE)
    top = list(lb.dropna(subset=["rank"]).sort_values("rank")["method"])[:3] if "rank" in lb else ctx.data.order[:3]
    return net_benefit_figure(pd.read_csv(ctx.run_dir / DECISION_CURVE_FILE), key, path, [REFERENCE_METHOD, *top],
                              synthetic)


def _table_exists(name: str) -> Callable[[Context], list]:
    return lambda ctx: [None] if (ctx.run_dir / name).is_file() else []


def _pareto(ctx, key, path, synthetic):
    from benchmark.reporting.figures.efficiency import pareto_figure

    return pareto_figure(pd.read_csv(ctx.run_dir / PARETO_FILE, dtype={"train_size": str}), path, synthetic=synthetic)


def _learning_curve(ctx, key, path, synthetic):
    from benchmark.reporting.figures.efficiency import learning_curve_figure

    return learning_curve_figure(pd.read_csv(ctx.run_dir / LEARNING_CURVE_FILE, dtype={"train_size": str}), path,
                                 order=list(ctx.data.order), synthetic=synthetic)


def _budget_curve(ctx, key, path, synthetic):
    from benchmark.reporting.figures.budget import budget_curve_figure
    return budget_curve_figure(pd.read_csv(ctx.run_dir / BUDGET_CURVE_FILE), path, synthetic=synthetic)


def _shifts(ctx, key, path, synthetic):
    from benchmark.reporting.figures.reliance import shift_figure

    return shift_figure(pd.read_csv(ctx.run_dir / RELIANCE_AUC_FILE), ctx.data.internal, list(ctx.data.order), path,
                        synthetic)


def _has_shifts(ctx: Context) -> list:
    path = ctx.run_dir / RELIANCE_AUC_FILE
    if not _ranked(ctx) or not path.is_file():
        return []
    table = pd.read_csv(path)
    shifted = ~table["condition"].isin(["original", "lesion_only", "context_only"])
    return [None] if (shifted & (table["dataset"] == ctx.data.internal)).any() else []


def _regions(ctx, key, path, synthetic):
    from benchmark.reporting.figures.reliance import region_examples_figure

    return region_examples_figure(ctx.run_dir / REGION_EXAMPLES_PATH, path, synthetic)


def _saliency(ctx, key, path, synthetic):
    from benchmark.reporting.figures.reliance import saliency_gallery_figure

    return saliency_gallery_figure(ctx.run_dir / SALIENCY_GALLERY_PATH, list(ctx.data.order), path, synthetic)


def _one(name: str) -> Callable[[object], str]:
    return lambda key: name


FIGURES: tuple[Drawn, ...] = (
    Drawn((COST_FILE, PREDICTIONS_FILE, STUDIES_FILE, SUITE_FILE, RUNS), lambda ctx: [None] if _ranked(ctx) else [],
          _one(ROC_FIGURE), _roc),
    Drawn((LEADERBOARD_FILE,), lambda ctx: [None] if _ranked(ctx) else [], _one(AUC_PARAMETERS_FIGURE),
          _auc_parameters),
    Drawn((SIGNIFICANCE_FILE,), _has_primary, _one(pvalue_figure(PRIMARY_TEST)), _pvalues),
    Drawn((LEADERBOARD_FILE,), _externals, external_figure, _external),
    Drawn((CALIBRATION_SMOOTH_FILE, CALIBRATION_CURVE_FILE), _calibration_sets, calibration_figure, _calibration),
    Drawn((DECISION_CURVE_FILE, LEADERBOARD_FILE), _decision_sets, decision_curve_figure, _decision_curve),
    Drawn((PARETO_FILE,), _table_exists(PARETO_FILE), _one(PARETO_FIGURE), _pareto),
    Drawn((LEARNING_CURVE_FILE,), _table_exists(LEARNING_CURVE_FILE), _one(LEARNING_CURVE_FIGURE), _learning_curve),
    Drawn((BUDGET_CURVE_FILE,), _table_exists(BUDGET_CURVE_FILE), _one(BUDGET_CURVE_FIGURE), _budget_curve),
    Drawn((RELIANCE_AUC_FILE,), _has_shifts, _one(RELIANCE_FIGURE), _shifts),
    Drawn((REGION_EXAMPLES_PATH,), _table_exists(REGION_EXAMPLES_PATH), _one(REGION_FIGURE), _regions),
    Drawn((SALIENCY_GALLERY_PATH,), _table_exists(SALIENCY_GALLERY_PATH), _one(SALIENCY_FIGURE), _saliency),
)


def draw_figures(ctx: Context, synthetic: bool, force: bool = False) -> dict[str, Path]:
    """Draw every figure of :data:`FIGURES` that is missing or older than its tables (every one with ``force``);
    returns ``{"figures/<file>": path}`` of those drawn. A figure that fails is a warning: the report goes on."""
    drawn = {}
    for item in FIGURES:
        sources = ctx.paths(item.sources)
        for key in item.keys(ctx):
            path = ctx.run_dir / FIGURES_DIR / item.name(key)
            if not (force or is_stale(path, sources)):
                continue
            try:
                drawn[f"{FIGURES_DIR}/{path.name}"] = item.draw(ctx, key, path, synthetic)
            except Exception as exc:  # a figure must not stop the report
                warnings.warn(f"{path.name} failed: {exc}", stacklevel=2)
    return drawn
