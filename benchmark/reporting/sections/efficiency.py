"""The report's data-efficiency and cost-aware sections (``sections/efficiency.html``), with their tables
and figures.

It shows ``pareto.csv`` (:func:`benchmark.evaluation.pareto.pareto_table`) with ``figures/pareto.png``, and,
for a run with ``[data] train_sizes``, ``learning_curve.csv`` with ``figures/learning_curve.png`` and
``learning_curve_lead.csv`` (the leader at the smallest size against every other method under the primary
test); the tables are :mod:`benchmark.evaluation.derived`'s, the figures :mod:`benchmark.reporting.figures`'.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.common.io import csv_flags
from benchmark.common.train_sizes import OPTION
from benchmark.evaluation import RunData, fmt_p
from benchmark.evaluation.pareto import COSTS
from benchmark.evaluation.pairwise import TEST_LABELS
from benchmark.reporting.format import fmt_number
from benchmark.reporting.render import embedded_figure
from benchmark.runfolder import (LEARNING_CURVE_FIGURE, LEARNING_CURVE_FILE, LEARNING_CURVE_LEAD_FILE,
                                 PARETO_FIGURE, PARETO_FILE, REFERENCE_METHOD)

__all__ = ["efficiency_section"]

_FRONT = {"trainable_parameters": ("trainable parameters", "from the fewest"),
          "training_seconds": ("training time (the selected model's, mean over folds)", "from the fastest")}
LEARNING_CURVE_COMMAND = "petl-bench suite --profile data_efficiency --dataset {dataset}"


def _read(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path, dtype={"train_size": str}) if path.is_file() else None


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
    """Which method is best at the smallest size, as a probability (the leader is picked after seeing the data,
    so its pairwise wins are descriptive), and how the leader compares with the logistic-regression reference
    fitted on the same images (``learning_curve_lead.csv``)."""
    if lead is None or lead.empty:
        return None
    versus = lead[lead["method"] == REFERENCE_METHOD]
    lead = lead[lead["method"] != REFERENCE_METHOD]
    first = lead.iloc[0]
    size = str(first["train_size"])
    n = table.loc[(table["dataset"] == first["dataset"]) & (table["train_size"] == size), "n_train_images"].mean()
    text = (f"At the smallest size ({size}: {n:.0f} training images per fold on average) {first['leader']} ranks "
            f"first with a mean fold-model AUC of {fmt_number(first['auc_leader'])}, ahead of {first['method']} "
            f"({fmt_number(first['auc_method'])}; difference {fmt_number(first['difference'])}{_interval(first)}).")
    if "prob_best" in lead and pd.notna(first.get("prob_best_leader")):
        probs = pd.concat([pd.Series({first["leader"]: first["prob_best_leader"]}),
                           pd.concat([lead, versus]).set_index("method")["prob_best"]]).sort_values(ascending=False)
        likely = ", ".join(f"{m} {p:.2f}" for m, p in probs.items() if p >= 0.05)
        text += (f" The probability of being the best method at that size (the correlated t posterior over the fold "
                 f"models, the probe included) is {first['prob_best_leader']:.2f} for {first['leader']}; methods "
                 f"with at least 0.05: {likely or 'none'}.")
    wins = csv_flags(lead["significant"])
    below = lead[wins & csv_flags(lead["below_reference"])] if "below_reference" in lead else lead.iloc[:0]
    if len(below):
        text += (f" Of its {int(wins.sum())} significant wins, {len(below)} ({', '.join(below['method'])}) "
                 f"{'is' if len(below) == 1 else 'are'} over methods significantly below the logistic-regression "
                 f"probe at that size: they show that those methods fell short here, not that {first['leader']} "
                 "adds anything over the probe.")
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
                  "lead": _lead_sentence(_read(run_dir / LEARNING_CURVE_LEAD_FILE), curve), "lead_file": LEARNING_CURVE_LEAD_FILE,
                  "tables": [{"dataset": d, **dict(zip(("header", "rows"), _curve_table(curve, d, list(data.order))))}
                             for d in dict.fromkeys(curve["dataset"])]}
    return {"curves": curves, "option": OPTION,
            "curve_command": LEARNING_CURVE_COMMAND.format(dataset=data.internal),
            "pareto": None if pareto is None else {
                "figure": embedded_figure(figures / PARETO_FIGURE) if (figures / PARETO_FIGURE).is_file() else None,
                "sentences": _front_sentence(pareto), "file": PARETO_FILE}}
