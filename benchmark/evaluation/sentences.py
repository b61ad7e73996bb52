"""What the significance table and the reference row say, in words, for the report's summary.

A difference is stated as one only when it survives Holm correction; a verdict of a secondary,
model-level test, which leaves out the run-to-run variance, says that it is conditional on the
trained models (:data:`CONDITIONAL`). A win over a method that is itself below the
logistic-regression reference is said to show what it shows: that the loser fell short here. The
headline (:func:`headline`) is a few short sentences on the training data set's method-level family
and on what the run could detect (:mod:`benchmark.evaluation.detectable`); each external data set
is a family of its own.
"""
from __future__ import annotations

import pandas as pd

from benchmark.evaluation.pairwise import PRIMARY_TEST, TEST_LABELS, TESTS
from benchmark.evaluation.reference import BELOW_REFERENCE
from benchmark.runfolder import REFERENCE_METHOD

__all__ = ["CONDITIONAL", "fmt_p", "summary_sentences", "headline", "reference_sentences"]

CONDITIONAL = "conditional on the trained models: test images resampled, one model per fold; see petl-bench spread"


def fmt_p(p) -> str:
    """``=0.034``, ``<0.001`` or ``=n/a``, to follow a ``p``."""
    if p is None or pd.isna(p):
        return "=n/a"
    return "<0.001" if p < 0.001 else f"={p:.3f}"


def _where(r) -> str:
    return str(r["dataset"]) + ("" if pd.isna(r["repeat"]) else f", repeat {int(r['repeat'])}")


def _sentence(r) -> str:
    text = _test_sentence(r)
    if r["significant"] and r.get("b_below_reference") in (True,) and r["difference"] > 0:
        text += (f" - {r['method_b']} is also {BELOW_REFERENCE} ({r['dataset']}): this shows that {r['method_b']} "
                 f"fell short here, not that {r['method_a']} adds anything over the probe")
    return text


def _verdict(r) -> str:
    if not r["significant"]:
        return "not significant"
    return f"significant ({CONDITIONAL})" if r.get("conditional", True) in (True,) else \
        "significant (method-level: what a rerun varies included)"


def _test_sentence(r) -> str:
    verdict = _verdict(r)
    head = f"{r['method_a']} vs {r['method_b']} ({_where(r)}): "
    holm = f"Holm p{fmt_p(r['p_holm'])}: {verdict}"
    test = r["test"]
    if test == "cluster_bootstrap":
        return (f"{head}AUC {r['auc_a']:.3f} vs {r['auc_b']:.3f}, difference {r['difference']:+.3f} (95% CI "
                f"{r['ci_low']:+.3f} to {r['ci_high']:+.3f}), paired cluster bootstrap p{fmt_p(r['p'])}, {holm}")
    if test == "delong":
        return f"{head}AUC {r['auc_a']:.3f} vs {r['auc_b']:.3f}, DeLong p{fmt_p(r['p'])}, {holm}"
    if test == "nadeau_bengio":
        return (f"{head}mean fold-model AUC {r['auc_a']:.3f} vs {r['auc_b']:.3f}, difference {r['difference']:+.3f} "
                f"(95% CI {r['ci_low']:+.3f} to {r['ci_high']:+.3f}), corrected t-test p{fmt_p(r['p'])}, {holm}")
    return (f"{head}AUC {r['auc_a']:.3f} vs {r['auc_b']:.3f}, bootstrap Wilcoxon rank-sum p{fmt_p(r['p'])}, "
            f"{holm}")


def summary_sentences(significance_df: pd.DataFrame, tests=None, only_significant: bool = True) -> list[str]:
    """The significance table in plain statements; by default only each data set's primary test.

    One sentence per pair whose difference survives Holm correction, e.g. ``"drs vs
    feature_extraction (busi): AUC 0.910 vs 0.880, difference +0.030 (95% CI +0.010 to
    +0.050), paired cluster bootstrap p=0.002, Holm p=0.030: significant (conditional on the
    trained models: ...)"``; when none does, one sentence per test saying so. ``tests`` names
    the tests to state (default: the rows marked ``primary``; :data:`PRIMARY_TEST` for a table
    without that column). ``only_significant=False`` lists every comparison with its verdict.
    The table holds ranked methods only, so no sentence is about a method without a working
    configuration.
    """
    df = significance_df
    if df is None or df.empty:
        return ["No pairwise comparison: fewer than two methods have a working configuration."]
    if tests is None:
        df = df[df["primary"].astype(bool)] if "primary" in df.columns else df[df["test"] == PRIMARY_TEST]
    out = []
    for dataset in dict.fromkeys(df["dataset"]):  # one family per data set (and test), the training one first
        for test in [t for t in (tests or TESTS) if ((df["test"] == t) & (df["dataset"] == dataset)).any()]:
            part = df[(df["test"] == test) & (df["dataset"] == dataset)]
            label = TEST_LABELS.get(test, test)
            if part["p"].isna().all():
                out.append(f"{label}: not computed on {dataset} (needs at least 2 folds).")
                continue
            shown = part if not only_significant else part[part["significant"]]
            if shown.empty:
                out.append(f"{label}: no difference survives Holm correction "
                           f"(0 of {int(part['p'].notna().sum())} comparisons on {dataset}).")
                continue
            out.extend(_sentence(r) for _, r in shown.iterrows())
    return out


def headline(sig: pd.DataFrame, detectable: pd.DataFrame | None = None) -> list[str]:
    """The report's conclusions in a few short sentences: how many differences of the training data set's
    method-level family survive Holm correction (at most three named, the rest one click away), what the
    wins over methods below the reference show, and what the run could detect (``detectable``:
    :func:`benchmark.evaluation.detectable.detectable_differences`). Empty without method-level rows."""
    if sig is None or sig.empty:
        return []
    internal = sig["dataset"].iloc[0]
    flag = sig["primary"].astype(bool) if "primary" in sig.columns else sig["test"] == PRIMARY_TEST
    primary = sig[flag & (sig["dataset"] == internal)]
    if primary.empty:
        return []
    n_sig, n_all = int(primary["significant"].sum()), int(primary["p"].notna().sum())
    out = [f"Method level (the corrected t-test over every fold model, so what a rerun varies is included): "
           f"{n_sig} of {n_all} pairwise differences on {internal} survive Holm correction."]
    shown = primary[primary["significant"]]
    if len(shown):
        named = "; ".join(f"{r.method_a} above {r.method_b} ({r.difference:+.3f}, 95% CI {r.ci_low:+.3f} to "
                          f"{r.ci_high:+.3f})" for r in shown.head(3).itertuples())
        out.append(f"Significant: {named}" + (f"; and {len(shown) - 3} more (Significance section)."
                                              if len(shown) > 3 else "."))
        below = shown["b_below_reference"].fillna(False).astype(bool) if "b_below_reference" in shown else None
        if below is not None and below.any():
            out.append(f"{int(below.sum())} of them are over methods that are themselves {BELOW_REFERENCE}: they "
                       "show that those methods fell short here, not that the winners add anything over the probe.")
    if detectable is not None and len(detectable):
        d = detectable.iloc[0]
        out.append(f"This run could detect a true difference of {d['mdd_one']:.3f} AUC in one pre-chosen pair and "
                   f"{d['mdd_family']:.3f} across all {int(d['n_pairs'])} pairs ({d['power']:.0%} power); the "
                   f"median gap between neighbouring methods is {d['neighbour_gap']:.3f}.")
        out.append(_repeats_sentence(d))
    return out


def _repeats_sentence(d) -> str:
    one, family = d["repeats_for_target_one"], d["repeats_for_target_family"]
    if pd.isna(one):
        return (f"No number of repeats of this design detects the plan's margin of {d['target']} in one pair: the "
                f"corrected test's limit is {d['floor_one']:.3f}.")
    text = f"The plan's margin of {d['target']} needs {int(one)} repeat(s) for one pair"
    if pd.isna(family):
        return text + (f", and no number of repeats finds it across all {int(d['n_pairs'])} pairs (the limit is "
                       f"{d['floor_family']:.3f}).")
    return text + f" and {int(family)} across all {int(d['n_pairs'])} pairs."


def reference_sentences(lb: pd.DataFrame) -> list[str]:
    """What the reference row says, in words (empty when the leaderboard has no reference)."""
    ref = lb[lb["method"] == REFERENCE_METHOD]
    if ref.empty:
        return []
    r = ref.iloc[0]
    out = [f"Reference: scikit-learn's logistic regression on the frozen pretrained features, on the same folds, "
           f"reaches a fold-stratified AUC of {r['auc']:.3f} (95% CI {r['auc_ci_low']:.3f} to {r['auc_ci_high']:.3f}). "
           "It needs no training loop of this suite."]
    below = lb[lb["below_reference"].fillna(False).astype(bool)]
    if below.empty:
        out.append("No method is significantly below the reference on the training data set (method-level test, "
                   "Holm p < 0.05).")
    else:
        listed = ", ".join(f"{b.method} ({b.auc:.3f}, {b.vs_reference:+.3f})" for b in below.itertuples())
        out.append(f"Significantly {BELOW_REFERENCE} (training data set; method-level test, Holm p < 0.05): "
                   f"{listed}. A win over one of them shows that it fell short here, not that the winner adds "
                   "anything over the probe.")
    for col in [c for c in lb.columns if c.startswith("external_") and c.endswith("_below_reference")]:
        name = col[len("external_"):-len("_below_reference")]
        flagged = lb.loc[lb[col].fillna(False).astype(bool), "method"].tolist()
        out.append(f"On {name}, against the reference's own predictions there: "
                   + (f"significantly {BELOW_REFERENCE}: {', '.join(flagged)}." if flagged else
                      "no method is significantly below the reference."))
    return out
