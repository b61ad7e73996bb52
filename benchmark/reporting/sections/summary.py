"""The report's summary (``sections/summary.html``): the best method, a few short sentences (the unranked
methods, the method-level verdicts, what the run could detect) and, one click away, the secondary tests, the
reference and the analysis plan that decided the verdicts.
"""
from __future__ import annotations

import pandas as pd

from benchmark.evaluation import (CONDITIONAL, PRIMARY_TEST, TESTS, TEST_LABELS, headline, reference_sentences,
                                  summary_sentences)
from benchmark.reporting.format import fmt_int
from benchmark.runfolder import REFERENCE_METHOD

__all__ = ["summary"]

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
