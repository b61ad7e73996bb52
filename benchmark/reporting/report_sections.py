"""The data of the report's result sections: summary, leaderboard, significance, cost and analysis.

Each function turns the run folder's tables into what one partial template of ``index.html`` shows
(``_summary.html``, ``_leaderboard.html``, ``_significance.html``, ``_cost.html``, ``_analysis.html``):
sentences and rows of text cells, figures as data URIs, and the command that computes a missing
input. The external validation and the protocol have modules of their own
(:mod:`benchmark.reporting.report_external`, :mod:`benchmark.reporting.report_protocol`).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.common.io import csv_flags
from benchmark.evaluation import (ALPHA, CONDITIONAL, PRIMARY_TEST, TESTS, TEST_LABELS, headline,
                                  reference_sentences, summary_sentences)
from benchmark.evaluation.plan import load_plan
from benchmark.reporting.families import family_table
from benchmark.reporting.pages import (
    differences_by_test,
    fmt_int,
    leaderboard_notes,
    leaderboard_table,
    split_leaderboard,
)
from benchmark.reporting.render import embedded_figure
from benchmark.reporting.report_inputs import ANALYSIS_DIR, ANALYSIS_ITEMS, PVALUE_FIGURE, read_cost
from benchmark.runfolder import REFERENCE_METHOD

__all__ = ["summary", "leaderboard_section", "significance_section", "cost_section", "analysis_section"]

COST_COMMAND = "petl-bench bench --backbone {backbone} --image-size {image_size} --methods {methods} --out {run_dir}"
ANALYSIS_COMMAND = "python -c \"from benchmark.reporting.analysis import write_analysis; write_analysis('{run_dir}')\""

# cost.csv column -> (header, decimals, scale); in this order, those present are shown
COST_COLUMNS = {
    "train_images_per_s": ("train img/s", 1, 1),
    "cached_train_images_per_s": ("train img/s (cached prefix)", 1, 1),
    "infer_images_per_s": ("infer img/s", 1, 1),
    "latency_ms": ("latency (ms)", 2, 1),
    "peak_memory_mb": ("peak memory (MB)", 0, 1),
    "forward_gflops_per_image": ("forward GFLOPs/img", 3, 1),
    "train_gflops_per_image": ("train GFLOPs/img", 3, 1),
    "achieved_train_gflops_per_s": ("achieved train GFLOP/s", 1, 1),
    "fraction_of_peak": ("% of machine peak", 2, 100),
    "total_parameters": ("total params", None, 1),
}
COST_CONTEXT = {  # cost.csv column -> label; shown once above the table when equal in every row
    "backbone": "backbone", "image_size": "input size", "device": "device", "batch_size": "training batch",
    "threads": "threads",
    "machine_peak_gflops_per_s": "machine peak", "peak_dtype": "peak measured in",
    "machine_peak_float32_gflops_per_s": "float32 peak", "memory_measure": "peak memory"}


def _best(ranked: pd.DataFrame) -> dict | None:
    """The first-ranked method as the summary names it, with the methods it ties with."""
    if ranked.empty:
        return None
    best = ranked.iloc[0]
    return {"method": best["method"], "auc": f"{best['auc']:.3f}", "ci_low": f"{best['auc_ci_low']:.3f}",
            "ci_high": f"{best['auc_ci_high']:.3f}", "rank_interval": best["rank_interval"],
            "parameters": fmt_int(best["trainable_parameters"]),
            "ties": list(ranked.loc[ranked["rank"] == 1, "method"])[1:]}


def summary(lb: pd.DataFrame, sig: pd.DataFrame | None, detectable: pd.DataFrame | None = None,
            plan_label: str | None = None) -> dict:
    """The summary: the best method (or None), then a few short sentences (the unranked methods, the
    method-level verdicts and what the run could detect: :func:`benchmark.evaluation.headline`), and
    ``details``, one click away: the counts of the secondary tests, the reference, and the analysis plan
    that decided the verdicts."""
    unranked = lb[lb["rank"].isna() & (lb["method"] != REFERENCE_METHOD)]
    sentences, details = [], []
    if not unranked.empty:
        sentences.append(f"Unranked ({len(unranked)}): {', '.join(unranked['method'])} (no working configuration; "
                         "see the status column).")
    if sig is None or sig.empty:
        sentences.append(summary_sentences(pd.DataFrame())[0])
        return {"best": _best(lb[lb["rank"].notna()]), "sentences": sentences, "details": details}
    sentences += headline(sig, detectable)
    internal = sig["dataset"].iloc[0]  # the training data set's rows come first; one family per data set
    inner = sig[sig["dataset"] == internal]
    others = []
    for test in [t for t in TESTS if t != PRIMARY_TEST]:
        part = inner[inner["test"] == test]
        if part.empty or part["p"].isna().all():
            continue
        label = TEST_LABELS[test] + (", anti-conservative" if test == "bootstrap_wilcoxon" else "")
        others.append(f"{label}: {int(part['significant'].sum())} of {int(part['p'].notna().sum())}")
    if others:
        details.append(f"Secondary tests ({CONDITIONAL}), significant on {internal} after Holm correction: "
                       f"{'; '.join(others)}.")
    details += reference_sentences(lb)
    if plan_label:
        details.append(f"Verdicts decided under {plan_label} (docs/analysis-plan.md).")
    return {"best": _best(lb[lb["rank"].notna()]), "sentences": sentences, "details": details}


def leaderboard_section(lb: pd.DataFrame, proto: dict) -> dict:
    """The leaderboard table (a row class marks the best, the reference and the unranked) and its notes."""
    row_classes = ["best" if r == 1 else "reference" if m == REFERENCE_METHOD else "unranked" if pd.isna(r) else ""
                   for r, m in zip(lb["rank"], lb["method"])]
    family_header, family_rows = family_table(lb)
    return {**split_leaderboard(*leaderboard_table(lb)), "row_classes": row_classes,
            "notes": leaderboard_notes(proto), "family_header": family_header, "family_rows": family_rows}


def significance_section(run_dir: Path, sig: pd.DataFrame | None) -> dict:
    """The p-value matrix of the primary test and the surviving differences per test (or why there are none)."""
    if sig is None or sig.empty:
        return {"no_tests": summary_sentences(pd.DataFrame())[0]}
    matrix = run_dir / "figures" / PVALUE_FIGURE
    plan = load_plan()
    return {"no_tests": None, "alpha": ALPHA, "primary_label": TEST_LABELS[PRIMARY_TEST],
            "matrix": embedded_figure(matrix) if matrix.is_file() else None, "tests": differences_by_test(sig),
            "bayes": leader_posteriors(sig), "rope": plan.margin}


def leader_posteriors(sig: pd.DataFrame) -> list[str]:
    """The correlated Bayesian t-test for the leader (the first method of the table) against every other method
    on the training data set, one sentence each (``significance.csv``'s ``prob_*`` columns)."""
    if "prob_a_better" not in sig.columns:
        return []
    rows = sig[csv_flags(sig["primary"]) & (sig["dataset"] == sig["dataset"].iloc[0])]
    if rows.empty:
        return []
    leader = rows["method_a"].iloc[0]
    mine = rows[rows["method_a"] == leader]
    return [f"{r.method_a} vs {r.method_b}: P({r.method_a} better) {r.prob_a_better:.2f}, P(practically equivalent) "
            f"{r.prob_equivalent:.2f}, P({r.method_b} better) {r.prob_b_better:.2f}" for r in mine.itertuples()]


def _cost_cell(value, digits: int | None, scale: float) -> str:
    v = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return "—" if pd.isna(v) else fmt_int(v) if digits is None else f"{v * scale:,.{digits}f}"


def cost_section(run_dir: Path, order: list[str], backbone: tuple[str, str]) -> dict:
    """``cost.csv`` as a table in leaderboard order: values equal in every row once above it (``context``),
    the methods not measured (``failed``); or the command that measures it (``command``)."""
    cost = read_cost(run_dir)
    if cost is None:
        return {"command": COST_COMMAND.format(backbone=backbone[0], image_size=backbone[1],
                                               methods=",".join(order), run_dir=run_dir)}
    failed = {}
    if "error" in cost.columns:
        errors = cost["error"].fillna("").astype(str).str.strip()
        failed = dict(zip(cost.loc[errors != "", "method"], errors[errors != ""]))
    rank = {m: i for i, m in enumerate(order)}
    cost = cost.assign(_r=cost["method"].map(rank).fillna(len(rank))).sort_values(["_r", "method"], kind="stable")
    context, varying = [], []
    for col in COST_CONTEXT:
        if col not in cost.columns:
            continue
        values = cost[col].dropna().unique()
        if len(values) == 1:
            v = values[0]
            shown = (f"{float(v):,.1f} GFLOP/s" if col.endswith("gflops_per_s") else
                     f"{v} px" if col == "image_size" else str(v))
            context.append(f"{COST_CONTEXT[col]}: {shown}")
        elif len(values) > 1:
            varying.append(col)
    cols = [c for c in COST_COLUMNS if c in cost.columns]
    header = ["method"] + [COST_CONTEXT[c] for c in varying] + [COST_COLUMNS[c][0] for c in cols]
    rows = [[str(r["method"])] + ["—" if pd.isna(r[c]) else str(r[c]) for c in varying]
            + [_cost_cell(r[c], *COST_COLUMNS[c][1:]) for c in cols] for _, r in cost.iterrows()]
    return {"command": None, "context": "; ".join(context), "failed": list(failed.items()), "header": header,
            "rows": rows}


def analysis_section(run_dir: Path, findings: list[str], notes: list[str]) -> dict:
    """The analysis figures (with their captions and CSVs), findings and notes; or the command that
    computes the analysis when no figure is present."""
    figures = run_dir / "figures"
    if not any((figures / png).is_file() for _, png, _ in ANALYSIS_ITEMS):
        return {"notes": notes, "findings": [], "figures": [], "command": ANALYSIS_COMMAND.format(run_dir=run_dir)}
    items = [{"png": png, "caption": f"{caption} (data: {ANALYSIS_DIR}/{csv})",
              "figure": embedded_figure(figures / png) if (figures / png).is_file() else None}
             for csv, png, caption in ANALYSIS_ITEMS]
    return {"notes": notes, "findings": findings, "figures": items, "command": None}
