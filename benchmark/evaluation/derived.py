"""Every table the evaluation derives from a run folder, declared once: its files, its inputs and its builder.

:data:`DERIVED` lists them in the order they are built (a table may read one built before it);
:func:`refresh` rebuilds those that are missing, older than any of their inputs, or (for tables whose
verdicts follow the analysis plan) decided under another plan than the current one. The run folder is
read once per refresh (:class:`Context`). Reporting only renders these tables; it computes nothing
that is not here. Every file name is in :mod:`benchmark.runfolder.layout`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

import pandas as pd

from benchmark.common.io import read_json, write_csv_atomic, write_json_atomic
from benchmark.common.train_sizes import ALL
from benchmark.evaluation.budget import search_budget
from benchmark.evaluation.budget_curves import budget_conclusions, budget_curves
from benchmark.evaluation.calibration import calibration_curves, smooth_calibration_curves
from benchmark.evaluation.decision_curves import decision_curves, net_benefit_ranges
from benchmark.evaluation.detectable import detectable_differences
from benchmark.evaluation.families import with_families
from benchmark.evaluation.leaderboard import leaderboard
from benchmark.evaluation.learning_curve import learning_curve, size_lead
from benchmark.evaluation.pairwise import significance
from benchmark.evaluation.pareto import pareto_table
from benchmark.evaluation.plan import load_plan
from benchmark.evaluation.repeat_stability import rank_stability, repeat_spread
from benchmark.evaluation.reproduction import claims_table
from benchmark.evaluation.run_data import RunData, load_run
from benchmark.evaluation.sites import SiteRun, find_site_runs, read_site_run, site_matrix, site_ranks
from benchmark.evaluation.operating_points import operating_points
from benchmark.evaluation.subgroups import clinical_subgroups, subgroup_aucs
from benchmark.runfolder import (CALIBRATION_CURVE_FILE, CALIBRATION_SMOOTH_FILE, CLAIMS_FILE, COST_FILE, DETECTABLE_FILE, IMAGES_FILE,
                                 LEADERBOARD_FILE, LEARNING_CURVE_FILE, LEARNING_CURVE_LEAD_FILE, PARETO_FILE,
                                 PLAN_RECORD_FILE, PREDICTIONS_FILE, RANK_STABILITY_FILE, REFERENCE_FILE,
                                 REPEAT_SPREAD_FILE, RESULTS_FILE, SEARCH_BUDGET_FILE, SIGNIFICANCE_FILE,
                                 SITE_MATRIX_FILE, SITE_RANKS_FILE, STUDIES_FILE, SUBGROUPS_FILE, SUITE_FILE,
                                 TRIALS_FILE, load_image_table, refresh_tables)

from benchmark.runfolder import DECISION_CURVE_FILE, NET_BENEFIT_RANGE_FILE, OPERATING_POINTS_FILE
from benchmark.runfolder import BUDGET_CONCLUSIONS_FILE, BUDGET_CURVE_FILE, TRIAL_PREDICTIONS_FILE, TUNING_GAIN_FILE
from benchmark.runfolder import (ANNOTATION_PAIRS_FILE, RELIANCE_AUC_FILE, RELIANCE_SCORES_PATH, SALIENCY_PATH,
                                 SALIENCY_SUMMARY_FILE, SHIFT_ROBUSTNESS_FILE)

__all__ = ["Derived", "DERIVED", "Context", "refresh", "refresh_sites", "is_stale", "RUNS"]

RUNS = "runs/*/results.json"  # an input: every study's own results.json


def is_stale(target: Path, sources: list[Path]) -> bool:
    """Whether ``target`` is missing or older than any of ``sources`` that exist."""
    if not target.is_file():
        return True
    t = target.stat().st_mtime
    return any(s.is_file() and s.stat().st_mtime > t for s in sources)


class Context:
    """A run folder read once: its data (:func:`load_run`), and the tables built or read so far."""

    def __init__(self, run_dir: Path, n_bootstrap: int | None = None):
        self.run_dir = Path(run_dir)
        self.n_bootstrap = n_bootstrap
        self.built: dict[str, object] = {}  # file -> what this refresh wrote

    @cached_property
    def data(self) -> RunData:
        return load_run(self.run_dir, self.n_bootstrap)

    @cached_property
    def plan(self):
        return load_plan()

    def table(self, name: str) -> pd.DataFrame:
        """A table this refresh built, else the run folder's file."""
        return self.built[name] if name in self.built else pd.read_csv(self.run_dir / name)

    def paths(self, inputs: tuple[str, ...]) -> list[Path]:
        out = []
        for name in inputs:
            if name == RUNS:
                out += [self.run_dir / rel / RESULTS_FILE for rel in self.data.runs["run_path"]]
            else:
                out.append(self.run_dir / name)
        return out


@dataclass(frozen=True)
class Derived:
    """Files written together from ``inputs`` by ``build(context) -> {file: table or None}``.

    ``when(context)``: whether the run has what the files need (else they are left alone).
    ``follows_plan``: rebuilt when ``analysis_plan.json`` records another plan than the current one.
    ``current(context)``: an extra check of a file that is present and newer than its inputs (for example
    its columns). A builder's None for a file removes it (nothing to show)."""

    files: tuple[str, ...]
    inputs: tuple[str, ...]
    build: Callable[[Context], dict]
    when: Callable[[Context], bool] = lambda ctx: True
    follows_plan: bool = False
    current: Callable[[Context], bool] = lambda ctx: True

    def stale(self, ctx: Context) -> bool:
        if self.follows_plan and read_json(ctx.run_dir / PLAN_RECORD_FILE).get("sha256") != ctx.plan.sha256:
            return True
        sources = ctx.paths(self.inputs)
        return any(is_stale(ctx.run_dir / f, sources) for f in self.files) or not self.current(ctx)


# ---------------------------------------------------------------------------------------------- builders
def _leaderboard(ctx: Context) -> dict:
    data, plan = ctx.data, ctx.plan
    return {LEADERBOARD_FILE: with_families(leaderboard(data)), SIGNIFICANCE_FILE: significance(data),
            DETECTABLE_FILE: detectable_differences(data, plan),
            PLAN_RECORD_FILE: {"version": plan.version, "sha256": plan.sha256, "margin": plan.margin,
                               "label": plan.label}}


def _claims(ctx: Context) -> dict:
    return {CLAIMS_FILE: claims_table(ctx.table(LEADERBOARD_FILE), ctx.table(SIGNIFICANCE_FILE), ctx.data.internal)}


def _repeats(ctx: Context) -> dict:
    return {REPEAT_SPREAD_FILE: repeat_spread(ctx.data), RANK_STABILITY_FILE: rank_stability(ctx.data)}


def _has_repeats(ctx: Context) -> bool:
    return len(ctx.data.order) >= 2 and ctx.data.rows()["repeat"].nunique() >= 2


def _pareto(ctx: Context) -> dict:
    return {PARETO_FILE: pareto_table(pd.read_csv(ctx.run_dir / LEADERBOARD_FILE), ctx.data.runs)}


def _learning_curve(ctx: Context) -> dict:
    table = learning_curve(ctx.run_dir, ctx.data.n_bootstrap)
    return {} if table is None else {LEARNING_CURVE_FILE: table}


def _lead(ctx: Context) -> dict:  # None: fewer than two methods ranked at the smallest size, no lead to test
    return {LEARNING_CURVE_LEAD_FILE: size_lead(ctx.run_dir, n_bootstrap=ctx.data.n_bootstrap)}


def _sized(ctx: Context) -> bool:
    return ctx.data.train_size is not None


def _budget(ctx: Context) -> dict:
    trials = pd.read_csv(ctx.run_dir / TRIALS_FILE, dtype={"train_size": str})
    if "train_size" in trials.columns and ctx.data.train_size is not None:  # the leaderboard's size
        trials = trials[trials["train_size"].fillna(ALL) == ctx.data.train_size]
    return {SEARCH_BUDGET_FILE: search_budget(trials, ctx.data.runs)}


def _budget_curves(ctx: Context) -> dict:  # None: no method's trials scored the test folds
    tables = budget_curves(ctx.data)
    return dict(zip((BUDGET_CURVE_FILE, TUNING_GAIN_FILE), tables or (None, None)))


def _has_trial_predictions(ctx: Context) -> bool:
    return all((ctx.run_dir / f).is_file() for f in (TRIALS_FILE, TRIAL_PREDICTIONS_FILE)) and bool(ctx.data.order)


def _decision_curves(ctx: Context) -> dict:
    curves = decision_curves(ctx.data)
    return {DECISION_CURVE_FILE: curves, NET_BENEFIT_RANGE_FILE: net_benefit_ranges(curves)}


def _subgroup_sets(ctx: Context) -> list[str]:
    images = load_image_table(ctx.run_dir)
    if images is None or not ctx.data.order:
        return []
    return [name for name in [ctx.data.internal, *ctx.data.externals] if clinical_subgroups(images, name)]


def _subgroups(ctx: Context) -> dict:
    images = load_image_table(ctx.run_dir)
    return {SUBGROUPS_FILE: pd.concat([subgroup_aucs(ctx.data, name, clinical_subgroups(images, name))
                                       for name in _subgroup_sets(ctx)], ignore_index=True)}


def _leaderboard_current(ctx: Context) -> bool:
    """A leaderboard written by code without some of today's calibration columns (a kind of scores or a
    statistic added since) is rebuilt."""
    from benchmark.evaluation.calibration import PREFIX, TABLE_METRICS

    try:
        header = set(pd.read_csv(ctx.run_dir / LEADERBOARD_FILE, nrows=0).columns)
    except Exception:
        return False
    return "brier" not in header or all(PREFIX[k] + m in header for k in PREFIX for m in TABLE_METRICS)


def _subgroups_current(ctx: Context) -> bool:
    from benchmark.evaluation.subgroups import SUBGROUP_COLUMNS

    try:
        table = pd.read_csv(ctx.run_dir / SUBGROUPS_FILE)
    except Exception:
        return False
    return list(table.columns) == SUBGROUP_COLUMNS and set(table["dataset"]) == set(_subgroup_sets(ctx))


def _reliance(ctx: Context) -> dict:
    from benchmark.evaluation.reliance import ConditionDraws, reliance_aucs, saliency_summary, shift_robustness

    scores = pd.read_csv(ctx.run_dir / RELIANCE_SCORES_PATH, dtype={"image_id": str})
    scores = scores[scores["method"].isin(ctx.data.order)]
    saliency_path = ctx.run_dir / SALIENCY_PATH
    saliency = pd.read_csv(saliency_path, dtype={"image_id": str}) if saliency_path.is_file() else None
    draws = ConditionDraws(ctx.data, scores)
    return {RELIANCE_AUC_FILE: reliance_aucs(draws), SHIFT_ROBUSTNESS_FILE: shift_robustness(draws),
            SALIENCY_SUMMARY_FILE: None if saliency is None or saliency.empty else saliency_summary(saliency)}


def _annotations(ctx: Context) -> dict:
    from benchmark.evaluation.reliance import annotation_pairs

    table = annotation_pairs(ctx.data, load_image_table(ctx.run_dir))
    return {ANNOTATION_PAIRS_FILE: table if len(table) else None}


def _has_overlay_flags(ctx: Context) -> bool:
    images = load_image_table(ctx.run_dir)
    return images is not None and "overlay" in images.columns and bool(ctx.data.order)


_SCORES = (PREDICTIONS_FILE, STUDIES_FILE, SUITE_FILE, RUNS)  # what the studies scored (and their records)
_CLINICAL = (*_SCORES, REFERENCE_FILE, IMAGES_FILE)  # operating points and decision curves: also the reference, BI-RADS
_TRAINING = (COST_FILE, *_SCORES)  # the leaderboard also shows the cost
_SIZES = (PREDICTIONS_FILE, STUDIES_FILE, SUITE_FILE, REFERENCE_FILE)

DERIVED: tuple[Derived, ...] = (
    Derived((LEADERBOARD_FILE, SIGNIFICANCE_FILE, DETECTABLE_FILE, PLAN_RECORD_FILE), _TRAINING, _leaderboard,
            follows_plan=True, current=_leaderboard_current),
    Derived((CLAIMS_FILE,), (LEADERBOARD_FILE, SIGNIFICANCE_FILE), _claims, follows_plan=True),
    Derived((REPEAT_SPREAD_FILE, RANK_STABILITY_FILE), _SCORES, _repeats, when=_has_repeats),
    Derived((PARETO_FILE,), (LEADERBOARD_FILE, RUNS), _pareto,
            when=lambda ctx: (ctx.run_dir / LEADERBOARD_FILE).is_file()),
    Derived((LEARNING_CURVE_FILE,), _SIZES, _learning_curve, when=_sized),
    Derived((LEARNING_CURVE_LEAD_FILE,), _SIZES, _lead, when=_sized),
    Derived((CALIBRATION_CURVE_FILE,), _SCORES, lambda ctx: {CALIBRATION_CURVE_FILE: calibration_curves(ctx.data)},
            when=lambda ctx: bool(ctx.data.order)),
    Derived((CALIBRATION_SMOOTH_FILE,), _SCORES,
            lambda ctx: {CALIBRATION_SMOOTH_FILE: smooth_calibration_curves(ctx.data)}, when=lambda ctx: bool(ctx.data.order)),
    Derived((OPERATING_POINTS_FILE,), _CLINICAL, lambda ctx: {OPERATING_POINTS_FILE: operating_points(ctx.data)},
            when=lambda ctx: bool(ctx.data.order)),
    Derived((DECISION_CURVE_FILE, NET_BENEFIT_RANGE_FILE), _CLINICAL, _decision_curves,
            when=lambda ctx: bool(ctx.data.order)),
    Derived((SEARCH_BUDGET_FILE,), (TRIALS_FILE, RUNS), _budget,
            when=lambda ctx: (ctx.run_dir / TRIALS_FILE).is_file()),
    Derived((BUDGET_CURVE_FILE, TUNING_GAIN_FILE), (TRIALS_FILE, TRIAL_PREDICTIONS_FILE, RUNS), _budget_curves,
            when=_has_trial_predictions),
    Derived((BUDGET_CONCLUSIONS_FILE,), (TRIALS_FILE, TRIAL_PREDICTIONS_FILE, RUNS, *_SCORES),
            lambda ctx: {BUDGET_CONCLUSIONS_FILE: budget_conclusions(ctx.data)}, when=_has_trial_predictions,
            follows_plan=True),
    Derived((SUBGROUPS_FILE,), (PREDICTIONS_FILE, IMAGES_FILE), _subgroups, when=lambda ctx: bool(_subgroup_sets(ctx)),
            current=_subgroups_current),
    Derived((RELIANCE_AUC_FILE, SHIFT_ROBUSTNESS_FILE, SALIENCY_SUMMARY_FILE),
            (RELIANCE_SCORES_PATH, SALIENCY_PATH, *_SCORES), _reliance,
            when=lambda ctx: (ctx.run_dir / RELIANCE_SCORES_PATH).is_file() and bool(ctx.data.order)),
    Derived((ANNOTATION_PAIRS_FILE,), (PREDICTIONS_FILE, IMAGES_FILE), _annotations, when=_has_overlay_flags),
)


def _write(path: Path, value) -> None:
    if value is None:
        path.unlink(missing_ok=True)
    elif isinstance(value, pd.DataFrame):
        write_csv_atomic(path, value)
    else:
        write_json_atomic(path, value)


def refresh(run_dir, force: bool = False, n_bootstrap: int | None = None,
            context: Context | None = None) -> Context:
    """Rebuild every table of :data:`DERIVED` that is missing or stale (every one with ``force``), after the
    run folder's own tables (:func:`benchmark.runfolder.refresh_tables`); return the context, whose
    ``built`` says what was written. A table whose builder fails is left as it was, with a warning, except
    the leaderboard's, which every other table needs (its error is raised)."""
    ctx = context or Context(Path(run_dir), n_bootstrap)
    refresh_tables(ctx.run_dir)
    for item in DERIVED:
        if not item.when(ctx) or not (force or item.stale(ctx)):
            continue
        try:
            tables = item.build(ctx)
        except Exception as exc:
            if item is DERIVED[0]:
                raise
            warnings.warn(f"{', '.join(item.files)} of {ctx.run_dir} failed: {exc}", stacklevel=2)
            continue
        for name, value in tables.items():
            _write(ctx.run_dir / name, value)
            ctx.built[name] = value
    return ctx


def refresh_sites(paths, out_dir: Path) -> tuple[list[SiteRun], pd.DataFrame, pd.DataFrame]:
    """The tables of a site matrix: each run folder of ``paths`` refreshed (:func:`refresh`; its unfinished
    studies are reported by its own report), then ``site_matrix.csv`` and ``site_ranks.csv`` written into
    ``out_dir``; returns the runs, the matrix and the ranks."""
    runs = []
    for run_dir in find_site_runs(paths):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            refresh(run_dir)
        runs.append(read_site_run(run_dir))
    matrix = site_matrix(runs)
    ranks = site_ranks(matrix)
    write_csv_atomic(Path(out_dir) / SITE_MATRIX_FILE, matrix)
    write_csv_atomic(Path(out_dir) / SITE_RANKS_FILE, ranks)
    return runs, matrix, ranks
