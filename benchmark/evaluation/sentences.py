"""What the significance table and the reference row say, in words, for the report's summary.

A difference is stated as one only when it survives Holm correction; a win over a method
below the logistic-regression reference is said to show that the loser trained badly in this
run, not that the winner is the better method.
"""
from __future__ import annotations

import pandas as pd

from benchmark.evaluation.pairwise import PRIMARY_TEST, TEST_LABELS, TESTS
from benchmark.runfolder import REFERENCE_METHOD

__all__ = ["fmt_p", "summary_sentences", "reference_sentences"]


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
        text += (f" - but {r['method_b']} is below the logistic-regression reference, so this shows that "
                 f"{r['method_b']} trained badly in this run, not that {r['method_a']} is the better method")
    return text


def _test_sentence(r) -> str:
    verdict = "significant" if r["significant"] else "not significant"
    head = f"{r['method_a']} vs {r['method_b']} ({_where(r)}): "
    holm = f"Holm p{fmt_p(r['p_holm'])}: {verdict}"
    test = r["test"]
    if test == "cluster_bootstrap":
        return (f"{head}AUC {r['auc_a']:.3f} vs {r['auc_b']:.3f}, difference {r['difference']:+.3f} (95% CI "
                f"{r['ci_low']:+.3f} to {r['ci_high']:+.3f}), paired cluster bootstrap p{fmt_p(r['p'])}, {holm}")
    if test == "delong":
        return f"{head}AUC {r['auc_a']:.3f} vs {r['auc_b']:.3f}, DeLong p{fmt_p(r['p'])}, {holm}"
    if test == "nadeau_bengio":
        return (f"{head}mean fold AUC {r['auc_a']:.3f} vs {r['auc_b']:.3f}, corrected t-test "
                f"p{fmt_p(r['p'])}, {holm}")
    return (f"{head}AUC {r['auc_a']:.3f} vs {r['auc_b']:.3f}, bootstrap Wilcoxon rank-sum p{fmt_p(r['p'])}, "
            f"{holm}")


def summary_sentences(significance_df: pd.DataFrame, tests=(PRIMARY_TEST,), only_significant: bool = True) -> list[str]:
    """The significance table in plain statements; by default only the primary test.

    One sentence per pair whose difference survives Holm correction, e.g. ``"drs vs
    feature_extraction (busi): AUC 0.910 vs 0.880, difference +0.030 (95% CI +0.010 to
    +0.050), paired cluster bootstrap p=0.002, Holm p=0.030: significant"``; when none does,
    one sentence per test saying so. ``only_significant=False`` lists every comparison with
    its verdict. The table holds ranked methods only, so no sentence is about a method without
    a working configuration.
    """
    df = significance_df
    if df is None or df.empty:
        return ["No pairwise comparison: fewer than two methods have a working configuration."]
    out = []
    for test in [t for t in (tests or TESTS) if (df["test"] == t).any()]:
        part = df[df["test"] == test]
        label = TEST_LABELS.get(test, test)
        if part["p"].isna().all():
            out.append(f"{label}: not computed (needs at least 2 folds).")
            continue
        shown = part if not only_significant else part[part["significant"]]
        if shown.empty:
            where = ", ".join(dict.fromkeys(part["dataset"]))
            out.append(f"{label}: no difference survives Holm correction "
                       f"(0 of {int(part['p'].notna().sum())} comparisons on {where}).")
            continue
        out.extend(_sentence(r) for _, r in shown.iterrows())
    return out


def reference_sentences(lb: pd.DataFrame) -> list[str]:
    """What the reference row says, in words (empty when the leaderboard has no reference)."""
    ref = lb[lb["method"] == REFERENCE_METHOD]
    if ref.empty:
        return []
    r = ref.iloc[0]
    out = [f"Reference: scikit-learn's logistic regression on the frozen pretrained features (C chosen by grouped "
           f"inner cross-validation, same folds) reaches AUC {r['auc']:.3f} (95% CI {r['auc_ci_low']:.3f} to "
           f"{r['auc_ci_high']:.3f}). It needs no training loop of this suite, so every method should reach it."]
    below = lb[lb["below_reference"].fillna(False).astype(bool)]
    if below.empty:
        out.append("No method is significantly below the reference (paired cluster bootstrap, Holm p < 0.05).")
    else:
        listed = ", ".join(f"{b.method} ({b.auc:.3f}, {b.vs_reference:+.3f})" for b in below.itertuples())
        out.append(f"Significantly below the reference (paired cluster bootstrap, Holm p < 0.05): {listed}. These "
                   "did not learn what the frozen features already hold: a win over them says they trained badly "
                   "in this run, not that the winner is the better method.")
    return out
