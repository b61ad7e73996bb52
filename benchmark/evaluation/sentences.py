"""What the significance table and the reference row say, in words, for the report's summary.

A difference is stated as one only when it survives Holm correction, and a verdict that leaves
out the run-to-run variance (every test with one repeat) says that it is conditional on the
trained models (:data:`CONDITIONAL`). A win over a method below the logistic-regression
reference is said not to be evidence that the winner is the better method. The headline
(:func:`primary_summary`) counts the training data set's primary family only; each external
data set is a family of its own.
"""
from __future__ import annotations

import pandas as pd

from benchmark.evaluation.pairwise import PRIMARY_TEST, TEST_LABELS, TESTS
from benchmark.evaluation.reference import BELOW_REFERENCE
from benchmark.runfolder import REFERENCE_METHOD

__all__ = ["CONDITIONAL", "fmt_p", "summary_sentences", "primary_summary", "reference_sentences"]

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
        text += (f" - but {r['method_b']} is {BELOW_REFERENCE} ({r['dataset']}), so this is no evidence that "
                 f"{r['method_a']} is the better method")
    return text


def _verdict(r) -> str:
    if not r["significant"]:
        return "not significant"
    return f"significant ({CONDITIONAL})" if r.get("conditional", True) in (True,) else \
        "significant (run-to-run variance included)"


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
        return (f"{head}mean fold AUC {r['auc_a']:.3f} vs {r['auc_b']:.3f}, corrected repeated k-fold t-test "
                f"p{fmt_p(r['p'])}, {holm}")
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


def primary_summary(sig: pd.DataFrame) -> str | None:
    """The headline: how many differences of the training data set's primary family survive Holm
    correction, and which (at most three named); None without primary rows.

    Only the training data set's family is counted (its rows come first in ``sig``); an external
    data set's differences are reported on their own. Wins over a method below the reference on
    the training data set are counted apart: they are no evidence that the winner is better.
    """
    if sig is None or sig.empty:
        return None
    internal = sig["dataset"].iloc[0]
    flag = sig["primary"].astype(bool) if "primary" in sig.columns else sig["test"] == PRIMARY_TEST
    primary = sig[flag & (sig["dataset"] == internal)]
    if primary.empty:
        return None
    label = TEST_LABELS[primary["test"].iloc[0]]
    n_sig, n_all = int(primary["significant"].sum()), int(primary["p"].notna().sum())
    if n_sig == 0:
        return (f"Under the primary {label}, no difference between methods on {internal} survives Holm "
                f"correction (0 of {n_all} comparisons).")
    over_below = primary["significant"] & primary["b_below_reference"].fillna(False).astype(bool)
    evidence = primary[~over_below] if over_below.any() else primary
    listed = summary_sentences(evidence, tests=[primary["test"].iloc[0]]) if evidence["significant"].any() else []
    more = f"; and {len(listed) - 3} more (below)" if len(listed) > 3 else ""
    text = f"Under the primary {label}, {n_sig} of {n_all} pairwise differences on {internal} survive Holm correction"
    if over_below.any():
        text += (f"; {int(over_below.sum())} of them are wins over methods {BELOW_REFERENCE}, which are no evidence "
                 "that the winners are better")
    return text + (f": {'; '.join(listed[:3])}{more}." if listed else ".")


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
        out.append("No method is significantly below the reference on the training data set (paired cluster "
                   "bootstrap, Holm p < 0.05).")
    else:
        listed = ", ".join(f"{b.method} ({b.auc:.3f}, {b.vs_reference:+.3f})" for b in below.itertuples())
        out.append(f"Significantly {BELOW_REFERENCE} (training data set; paired cluster bootstrap, Holm p < 0.05, "
                   f"{CONDITIONAL}): {listed}. A win over one of them is no evidence that the winner is the better "
                   "method.")
    for col in [c for c in lb.columns if c.startswith("external_") and c.endswith("_below_reference")]:
        name = col[len("external_"):-len("_below_reference")]
        flagged = lb.loc[lb[col].fillna(False).astype(bool), "method"].tolist()
        out.append(f"On {name}, against the reference's own predictions there: "
                   + (f"significantly {BELOW_REFERENCE}: {', '.join(flagged)}." if flagged else
                      "no method is significantly below the reference."))
    return out
