"""The budget curves in the report: the rank and AUC of each method at budgets 1, 2, 4, 8 and K trials per
study (``budget_curve.csv``), each method's gain from tuning (``tuning_gain.csv``), the figure and the
sentence of :func:`benchmark.evaluation.budget_curves.budget_curve_sentence`, and which of the report's
conclusions a smaller budget draws otherwise (``budget_conclusions.csv``,
:func:`benchmark.evaluation.budget_curves.budget_conclusion_sentence`). A run without trial predictions has
no such tables, and no section."""
from __future__ import annotations

from pathlib import Path


from benchmark.evaluation.budget_curves import STABLE_WITHIN, budget_conclusion_sentence, budget_curve_sentence
from benchmark.reporting.format import fmt_estimate, fmt_int, fmt_number
from benchmark.reporting.inputs import read_csv
from benchmark.reporting.render import embedded_figure
from benchmark.runfolder import (BUDGET_CONCLUSIONS_FILE, BUDGET_CURVE_FIGURE, BUDGET_CURVE_FILE, FIGURES_DIR,
                                 TUNING_GAIN_FILE)

__all__ = ["budget_curve_section", "shown_budgets"]


def shown_budgets(budgets) -> list[int]:
    """The budgets the table shows: 1, 2, 4, 8, ... below the largest, and the largest."""
    top = int(max(budgets))
    return [k for k in (1, 2, 4, 8, 16, 32, 64) if k < top and k in set(budgets)] + [top]


def budget_curve_section(run_dir) -> dict | None:
    """The section's figure, tables and sentences, or None when the run has no budget curves (no trial
    predictions, or one trial per study)."""
    run_dir = Path(run_dir)
    curve, gain = read_csv(run_dir / BUDGET_CURVE_FILE), read_csv(run_dir / TUNING_GAIN_FILE)
    if curve is None or curve.empty or gain is None or gain.empty:
        return None
    shown = shown_budgets(curve["budget"].unique())
    top = shown[-1]
    if top < 2:  # one trial per study: no curve to show
        return None
    order = list(curve[curve["budget"] == top].sort_values(["rank", "method"])["method"])
    cell = curve.set_index(["method", "budget"])
    rows = [[m] + [f"{fmt_int(cell.loc[(m, k), 'rank'])} ({fmt_number(cell.loc[(m, k), 'auc'])})" for k in shown]
            for m in order]
    tau = curve.drop_duplicates("budget").set_index("budget")["kendall_tau"]
    rows.append(["Kendall's tau against k = " + str(top)] + [fmt_number(tau.get(k), 2) for k in shown])
    g = gain.set_index("method")
    gain_rows = [[m, fmt_number(g.loc[m, "auc_default"]), fmt_number(g.loc[m, "auc_tuned"]),
                  fmt_estimate(g.loc[m, "gain"], g.loc[m, "gain_ci_low"], g.loc[m, "gain_ci_high"]),
                  fmt_int(g.loc[m, "stable_from"])] for m in order if m in g.index]
    path = run_dir / FIGURES_DIR / BUDGET_CURVE_FIGURE
    return {"sentence": budget_curve_sentence(curve, gain), "top": top,
            "conclusions": budget_conclusion_sentence(read_csv(run_dir / BUDGET_CONCLUSIONS_FILE)),
            "header": ["method"] + [f"k = {k}" for k in shown], "rows": rows,
            "gain_header": ["method", "AUC at k = 1 (default point)", f"AUC at k = {top}",
                            "gain [95% CI, method-level]", f"stays within {STABLE_WITHIN:g} of k = {top} from k ="],
            "gain_rows": gain_rows, "figure": embedded_figure(path) if path.is_file() else None,
            "files": (BUDGET_CURVE_FILE, TUNING_GAIN_FILE)}
