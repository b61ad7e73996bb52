"""The report's data-efficiency and cost-aware sections (``_efficiency.html``), with their tables
and figures.

:func:`ensure_efficiency` writes, when missing or older than their sources, ``pareto.csv``
(:func:`benchmark.evaluation.pareto.pareto_table`, from ``leaderboard.csv`` and the runs' training
time) with ``figures/pareto.png``, and, for a run with ``[data] train_sizes``,
``learning_curve.csv`` (:func:`benchmark.evaluation.learning_curve.learning_curve`, from
``predictions.csv``) with ``figures/learning_curve.png`` and ``learning_curve_lead.csv`` (the leader at
the smallest size against every other method under the primary test,
:func:`benchmark.evaluation.learning_curve.size_lead`). Each figure is drawn from its CSV alone.
:func:`efficiency_section` gives what the section shows.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from benchmark.common.io import csv_flags, write_csv_atomic
from benchmark.common.train_sizes import OPTION
from benchmark.evaluation import RunData
from benchmark.evaluation.learning_curve import LEAD_FILE, LEARNING_CURVE_FILE, learning_curve, size_lead
from benchmark.evaluation.pareto import COSTS, PARETO_FILE, pareto_table
from benchmark.evaluation import fmt_p
from benchmark.evaluation.pairwise import TEST_LABELS
from benchmark.reporting.pages import fmt_number
from benchmark.reporting.render import embedded_figure
from benchmark.reporting.report_inputs import is_stale
from benchmark.runfolder import (PREDICTIONS_FILE, REFERENCE_FILE, REFERENCE_METHOD, RESULTS_FILE, STUDIES_FILE,
                                 SUITE_FILE)

__all__ = ["ensure_efficiency", "efficiency_section", "LEARNING_CURVE_FIGURE", "PARETO_FIGURE"]

LEARNING_CURVE_FIGURE, PARETO_FIGURE = "learning_curve.png", "pareto.png"
_FRONT = {"trainable_parameters": ("trainable parameters", "from the fewest"),
          "training_seconds": ("training time (the selected model's, mean over folds)", "from the fastest")}
LEARNING_CURVE_COMMAND = "petl-bench suite --profile data_efficiency --dataset {dataset}"


def _read(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path, dtype={"train_size": str}) if path.is_file() else None


def _draw(draw, path: Path, source: Path, force: bool, **kwargs) -> None:
    """Draw ``path`` from the CSV ``source`` when stale; a failure is a warning (the report goes on)."""
    if not source.is_file() or not (force or is_stale(path, [source])):
        return
    try:
        draw(pd.read_csv(source, dtype={"train_size": str}), path, **kwargs)
    except Exception as exc:  # a figure must not stop the report
        warnings.warn(f"{path.name} failed: {exc}", stacklevel=3)


def ensure_efficiency(run_dir: Path, data: RunData, synthetic: bool, force: bool = False) -> None:
    """Write ``pareto.csv``, ``learning_curve.csv`` (runs with training-set sizes) and their figures when
    missing or stale (always with ``force``)."""
    from benchmark.reporting.figures_efficiency import learning_curve_figure, pareto_figure

    run_dir = Path(run_dir)
    leaderboard = run_dir / "leaderboard.csv"
    runs = [run_dir / rel / RESULTS_FILE for rel in data.runs["run_path"]]
    if leaderboard.is_file() and (force or is_stale(run_dir / PARETO_FILE, [leaderboard, *runs])):
        write_csv_atomic(run_dir / PARETO_FILE, pareto_table(pd.read_csv(leaderboard), data.runs))
    curve, lead_file = run_dir / LEARNING_CURVE_FILE, run_dir / LEAD_FILE
    sources = [run_dir / f for f in (PREDICTIONS_FILE, STUDIES_FILE, SUITE_FILE, REFERENCE_FILE)]
    if data.train_size is not None and (force or is_stale(curve, sources)):
        table = learning_curve(run_dir, data.n_bootstrap)
        if table is not None:
            write_csv_atomic(curve, table)
    if data.train_size is not None and (force or is_stale(lead_file, sources)):
        lead = size_lead(run_dir, n_bootstrap=data.n_bootstrap)
        if lead is not None:
            write_csv_atomic(lead_file, lead)
        else:  # fewer than two methods ranked at the smallest size: no lead to test
            lead_file.unlink(missing_ok=True)
    figures = run_dir / "figures"
    _draw(pareto_figure, figures / PARETO_FIGURE, run_dir / PARETO_FILE, force, synthetic=synthetic)
    _draw(learning_curve_figure, figures / LEARNING_CURVE_FIGURE, curve, force, order=list(data.order),
          synthetic=synthetic)


def _curve_table(table: pd.DataFrame, dataset: str, order: list[str]) -> tuple[list[str], list[list[str]]]:
    """Methods x sizes: AUC [95% CI] on ``dataset``."""
    part = table[table["dataset"] == dataset]
    sizes = list(dict.fromkeys(part["train_size"]))
    counts = part.groupby("train_size", sort=False)["n_train_images"].mean()
    header = ["method"] + [f"{s} ({counts[s]:.0f} images)" for s in sizes]
    methods = [m for m in order if m in set(part["method"])] + sorted(set(part["method"]) - set(order))
    rows = []
    for m in methods:
        cells = [m]
        for s in sizes:
            r = part[(part["method"] == m) & (part["train_size"] == s)]
            cells.append("—" if r.empty or pd.isna(r["auc"].iloc[0]) else
                         f"{fmt_number(r['auc'].iloc[0])} [{fmt_number(r['ci_low'].iloc[0])}, "
                         f"{fmt_number(r['ci_high'].iloc[0])}]")
        rows.append(cells)
    return header, rows


def _front_sentence(table: pd.DataFrame) -> list[str]:
    out = []
    for cost in COSTS:
        part = table[(table["cost"] == cost) & table["cost_value"].notna()]
        on = part[csv_flags(part["on_front"])].sort_values("cost_value")
        if not on.empty:
            out.append(f"On the front of AUC against {_FRONT[cost][0]}, {_FRONT[cost][1]}: "
                       + ", ".join(f"{r.method} ({fmt_number(r.auc)})" for r in on.itertuples()) + ".")
    return out


def _lead_sentence(lead: pd.DataFrame | None, table: pd.DataFrame) -> str | None:
    """Who leads at the smallest size, whether the lead survives the primary test, and how the leader
    compares with the logistic-regression reference at that size (``learning_curve_lead.csv``)."""
    if lead is None or lead.empty:
        return None
    versus = lead[lead["method"] == REFERENCE_METHOD]
    lead = lead[lead["method"] != REFERENCE_METHOD]
    first = lead.iloc[0]
    size = str(first["train_size"])
    n = table.loc[(table["dataset"] == first["dataset"]) & (table["train_size"] == size), "n_train_images"].mean()
    wins = csv_flags(lead["significant"])
    verdict = "survives" if wins.iloc[0] else "does not survive"
    text = (f"At the smallest size ({size}: {n:.0f} training images per fold on average) {first['leader']} leads "
            f"with AUC {fmt_number(first['auc_leader'])}. Its lead over the runner-up, {first['method']} "
            f"({fmt_number(first['auc_method'])}; difference {fmt_number(first['difference'])}{_interval(first)}, "
            f"Holm-adjusted p{fmt_p(first['p_holm'])}), {verdict} the primary test "
            f"({TEST_LABELS.get(first['test'], first['test'])}, Holm over every pair at that size); it is "
            f"significantly above {int(wins.sum())} of the {len(lead)} other methods.")
    below = lead[wins & csv_flags(lead["below_reference"])] if "below_reference" in lead else lead.iloc[:0]
    if len(below):
        text = (f"{text[:-1]}, {len(below)} of which ({', '.join(below['method'])}) "
                f"{'is' if len(below) == 1 else 'are'} significantly below the logistic-regression probe at that "
                f"size: those wins are no evidence that {first['leader']} is the better method.")
    if versus.empty:
        return text
    r = versus.iloc[0]
    if not csv_flags(versus["significant"]).iloc[0]:
        verdict = "not significantly different from"
    else:
        verdict = "significantly above" if r["difference"] > 0 else "significantly below"
    return (f"{text} Against the logistic-regression probe on the frozen features, fitted on the same "
            f"{size} images per fold (AUC {fmt_number(r['auc_method'])}), {first['leader']} is {verdict} it "
            f"(difference {fmt_number(r['difference'])}{_interval(r)}, Holm-adjusted p{fmt_p(r['p_holm'])}, "
            f"{TEST_LABELS.get(r['test'], r['test'])}, Holm over the methods against the probe).")


def _interval(row) -> str:
    return "" if pd.isna(row["ci_low"]) else f", 95% CI {fmt_number(row['ci_low'])} to {fmt_number(row['ci_high'])}"


def efficiency_section(run_dir: Path, data: RunData) -> dict:
    """The figures, tables and sentences of the data-efficiency and cost-aware summary section."""
    run_dir = Path(run_dir)
    figures = run_dir / "figures"
    pareto, curve = _read(run_dir / PARETO_FILE), _read(run_dir / LEARNING_CURVE_FILE)
    curves = None
    if curve is not None and data.train_size is not None:
        curves = {"figure": embedded_figure(figures / LEARNING_CURVE_FIGURE)
                  if (figures / LEARNING_CURVE_FIGURE).is_file() else None,
                  "leaderboard_size": data.train_size, "file": LEARNING_CURVE_FILE,
                  "lead": _lead_sentence(_read(run_dir / LEAD_FILE), curve), "lead_file": LEAD_FILE,
                  "tables": [{"dataset": d, **dict(zip(("header", "rows"), _curve_table(curve, d, list(data.order))))}
                             for d in dict.fromkeys(curve["dataset"])]}
    return {"curves": curves, "option": OPTION,
            "curve_command": LEARNING_CURVE_COMMAND.format(dataset=data.internal),
            "pareto": None if pareto is None else {
                "figure": embedded_figure(figures / PARETO_FIGURE) if (figures / PARETO_FIGURE).is_file() else None,
                "sentences": _front_sentence(pareto), "file": PARETO_FILE}}
