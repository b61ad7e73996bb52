"""The report's significance section (``sections/significance.html``, with ``sections/secondary_tests.html``):
the primary test's p-value matrix, the differences that survive Holm correction per test with each test's caveat,
the correlated Bayesian t-test for the leader, and every pairwise row as the HTML page lists it.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.common.io import csv_flags
from benchmark.evaluation import ALPHA, PRIMARY_TEST, TESTS, TEST_LABELS, fmt_p, summary_sentences
from benchmark.evaluation.plan import load_plan
from benchmark.reporting.format import fmt_number
from benchmark.reporting.render import embedded_figure
from benchmark.runfolder import FIGURES_DIR, pvalue_figure

__all__ = ["significance_section", "leader_posteriors", "differences_by_test", "significance_table",
           "CONDITIONAL_SECONDARY", "TEST_CAVEATS"]

def significance_section(run_dir: Path, sig: pd.DataFrame | None) -> dict:
    """The p-value matrix of the primary test and the surviving differences per test (or why there are none)."""
    if sig is None or sig.empty:
        return {"no_tests": summary_sentences(pd.DataFrame())[0]}
    matrix = run_dir / FIGURES_DIR / pvalue_figure(PRIMARY_TEST)
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


def differences_by_test(sig: pd.DataFrame) -> list[dict]:
    """Per test present in ``sig`` (in the order of TESTS): its ``label``, whether it is the ``primary``
    one of the training data set (the first in ``sig``), and the ``sentences`` on the differences that survive
    Holm correction under it, one family per data set."""
    primary = set(sig.loc[sig["primary"].astype(bool) & (sig["dataset"] == sig["dataset"].iloc[0]), "test"]) \
        if "primary" in sig.columns and len(sig) else {PRIMARY_TEST}
    return [{"label": TEST_LABELS[t], "primary": t in primary, "sentences": summary_sentences(sig, tests=[t]),
             "n_significant": int(sig.loc[sig["test"] == t, "significant"].astype(bool).sum()),
             "counts": _counts(sig[sig["test"] == t]), "caveat": _caveat(sig, t, primary)}
            for t in TESTS if (sig["test"] == t).any()]


def _caveat(sig: pd.DataFrame, test: str, primary: set) -> str:
    """Why ``test``'s count weighs less: :data:`TEST_CAVEATS`, and, where the primary test of the training data set
    (the first in ``sig``) includes the run-to-run variance (repeats) and ``test`` does not, that it is conditional
    on the trained models."""
    parts = [TEST_CAVEATS.get(test, "")]
    if "conditional" in sig.columns and test not in primary:
        flags = csv_flags(sig["conditional"])
        if flags[sig["test"] == test].all() and not flags[sig["test"].isin(primary)].any():
            parts.insert(0, CONDITIONAL_SECONDARY.format(dataset=sig["dataset"].iloc[0]))
    return "; ".join(p for p in parts if p)


def _counts(part: pd.DataFrame) -> str:
    """How many comparisons of one test survive Holm, per data set (each its own family), training set first."""
    return "; ".join(f"{int(g['significant'].astype(bool).sum())} of {int(g['p'].notna().sum())} on {d}"
                     for d, g in part.groupby("dataset", sort=False))


# Why a secondary test's "significant" weighs less than the primary test's: the pages show these tests as a
# count with this caveat, their per-pair lines folded away (HTML) or only in significance.csv (Markdown).
CONDITIONAL_SECONDARY = ("conditional on the trained models (its p-value varies the test images only, one model per fold): "
                         "it leaves out the run-to-run variance that the primary test on {dataset} includes")


TEST_CAVEATS = {
    "delong": "it treats near-duplicate images as independent, so its p-values are too small where the data "
              "has copies",
    "nadeau_bengio": "per-fold-model AUCs: with a handful of fold models it has little power (detectable.csv)",
    "bootstrap_wilcoxon": "anti-conservative: its p-value shrinks as more bootstrap resamples are drawn, whatever "
                          "the data; shown for comparability with Byra (2021) only",
}


def significance_table(sig: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """``significance.csv`` as shown: (header, rows of text cells)."""
    header = ["data set", "test", "repeat", "method A", "method B", "AUC A", "AUC B", "difference", "statistic",
              "95% CI", "p", "Holm p", "significant"]
    rows = []
    for _, r in sig.iterrows():
        ci = "" if pd.isna(r["ci_low"]) else f"{r['ci_low']:+.3f} to {r['ci_high']:+.3f}"
        rows.append([str(r["dataset"]), r["test"], "all" if pd.isna(r["repeat"]) else str(int(r["repeat"])),
                     r["method_a"], r["method_b"], fmt_number(r["auc_a"]), fmt_number(r["auc_b"]),
                     fmt_number(r["difference"]), fmt_number(r["statistic"], 2), ci, fmt_p(r["p"]).lstrip("="),
                     fmt_p(r["p_holm"]).lstrip("="), "yes" if r["significant"] else "no"])
    return header, rows
