"""The Reproduction section of ``index.html`` and ``leaderboard.md|html``: the seed paper's tables beside
this run's numbers, its claims with their verdicts, and how the protocols differ.

The numbers come from :mod:`benchmark.evaluation.reproduction` (:func:`paper_claims`,
:func:`reproduction_table`, ``claims.csv``); this module only turns them into text cells and sentences.
"""
from __future__ import annotations


import pandas as pd

from benchmark.evaluation import PRIMARY_TEST, TEST_LABELS, fmt_p
from benchmark.evaluation.plan import load_plan
from benchmark.reporting.format import fmt_estimate, fmt_int, fmt_number
from benchmark.evaluation.reproduction import (
    CLAIMS,
    PAPER,
    PAPER_METHODS,
    external_names,
    reproduction_table,
)

__all__ = ["reproduction_section"]

_PAPER_AUC = {pm.method: pm.paper_auc for pm in PAPER_METHODS}


def _differences(proto: dict) -> list[tuple[str, str]]:
    """How this run's protocol differs from the paper's, as (aspect, text) pairs."""
    search = proto["search"]
    scheme = (f"{proto['folds']}-fold cross-validation, {len(proto['repeats'])} repeat(s): every image tested once "
              "per repeat" if proto["scheme"] == "kfold" else f"holdout splits ({len(proto['repeats'])})")
    selection = search.get("selection", "auc")
    return [
        ("backbone and resolution", f"paper: ResNet101 (Keras, ImageNet) at 224 px; this run: {proto['backbone']}."),
        ("split", f"paper: one 452/65/130 split of BUSI, near-duplicate images not grouped; this run: {scheme}, "
                  f"{proto['n_images']} images in {proto['n_groups']} duplicate groups kept whole."),
        ("selection", "paper: a grid of learning rate x beta1 for every method, chosen on validation accuracy; "
                      f"this run: profile {proto['profile']}, {search.get('sampler', '?')} search with "
                      f"{search.get('n_trials', '?')} trial(s) per fold, chosen on validation {selection}."),
        ("AUC", "paper: one AUC on 130 test images, no interval; this run: the leaderboard's AUC with its "
                "duplicate-aware 95% bootstrap interval and rank interval."),
        ("operating point", "paper: accuracy, sensitivity and specificity at the ROC point closest to (0, 1) of the "
                            "test scores themselves (optimistic); this run: thresholds chosen on validation data "
                            "(the corner-point values are in leaderboard.csv, *_corner, for comparison only)."),
    ]


def _method_rows(table: pd.DataFrame, externals: list[str]) -> list[list[str]]:
    rows = []
    for _, r in table.iterrows():
        rows.append([f"{r['label']} ({r['method']})", fmt_int(r["resnet101_parameters"]), fmt_int(r["trainable_parameters"]),
                     fmt_number(r["paper_auc"]), fmt_estimate(r["auc"], r["auc_ci_low"], r["auc_ci_high"]),
                     "—" if pd.isna(r["rank_interval"]) else str(r["rank_interval"])]
                    + [fmt_estimate(r[f"external_{e}_auc"], r[f"external_{e}_ci_low"], r[f"external_{e}_ci_high"])
                       for e in externals])
    return rows


def _claim_rows(claims: pd.DataFrame) -> list[list[str]]:
    rows = []
    for _, c in claims.iterrows():
        paper = _PAPER_AUC[c["method_a"]] - _PAPER_AUC[c["method_b"]]
        if pd.isna(c["difference"]):
            estimate = "—"
        elif pd.isna(c["ci_low"]):
            estimate = f"{c['difference']:+.3f} (no interval)"
        else:
            estimate = f"{c['difference']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]"
        bayes = "—" if pd.isna(c.get("prob_a_better")) else \
            f"{c['prob_a_better']:.2f} / {c['prob_equivalent']:.2f} / {c['prob_b_better']:.2f}"
        rows.append([c["claim"], f"{c['method_a']} − {c['method_b']}", f"{paper:+.3f}", estimate,
                     fmt_p(c["p_holm"]).lstrip("=") if not pd.isna(c["p_holm"]) else "—", bayes,
                     f"{c['verdict']}: {c['reason']}"])
    return rows


def _answer(claims: pd.DataFrame, dataset: str) -> str:
    """One sentence: how many of the paper's claims this data set supports, contradicts, leaves open."""
    counts = claims["verdict"].value_counts()
    parts = [f"{int(counts.get(v, 0))} {v}" for v in ("supported", "contradicted", "not resolved at this size")]
    untested = int(counts.get("not tested", 0))
    text = f"On {dataset}, of the paper's {len(claims)} claims: {', '.join(parts)}"
    if untested:
        text += f", {untested} not tested (a method is missing or unranked)"
    return text + "."


def reproduction_section(lb: pd.DataFrame, claims: pd.DataFrame, proto: dict) -> dict:
    """What the Reproduction section shows: the methods table (paper beside run), per data set the
    claims (``claims.csv``) with verdicts and a one-sentence answer, the protocol differences and the notes."""
    externals = external_names(lb)
    table = reproduction_table(lb)
    header = (["method", "trainable params: ResNet101, 224 px", f"trainable params: this run ({proto['backbone']})",
               "paper AUC (Table 2)", f"this run: {proto['dataset']} AUC [95% CI]", "rank interval"]
              + [f"{e} AUC [95% CI]" for e in externals])
    datasets = []
    for dataset in [proto["dataset"]] + externals:
        part = claims[claims["dataset"] == dataset]
        datasets.append({"name": dataset, "answer": _answer(part, dataset), "rows": _claim_rows(part)})
    tests = ", ".join(TEST_LABELS.get(t, t) for t in dict.fromkeys(claims["test"].dropna())) or \
        TEST_LABELS[PRIMARY_TEST]
    plan = load_plan()
    present = set(lb.loc[lb["rank"].notna(), "method"])
    missing = [pm.method for pm in PAPER_METHODS if pm.method not in present]
    notes = [
        f"Paper: {PAPER}, Tables 1 and 2. Trainable parameters (head included) are counted by this suite: ResNet101 "
        "at 224 px with petl-bench params --backbone resnet101, not copied from the paper's Table 1, whose Keras "
        "ResNet101 has bias terms in its convolutions (so its counts differ a little).",
        f"Each claim is decided under {plan.label} (docs/analysis-plan.md) by the method-level comparison "
        f"({tests}): the same estimate and interval as the all-pairs table, which include what a rerun varies "
        "(partition, training seeds, search draws) at any number of repeats. A \"matches or beats\" claim tests "
        f"non-inferiority (the difference above -{plan.margin} AUC, the plan's margin: about 5 points of "
        "sensitivity at 80% specificity) first and superiority after it; a \"beats\" claim tests superiority; "
        f"one-sided at {plan.one_sided_alpha:g}, Holm over the {len(CLAIMS)} claims of one data set. Supported: the "
        "claim's hypothesis is shown (the reason says whether it matches or beats); contradicted: a loss beyond the "
        "margin (for \"beats\", a significant loss); otherwise not resolved at this size. Bayes: the correlated "
        f"Bayesian t-test's P(A better by more than {plan.margin}) / P(within ±{plan.margin}) / P(B better by "
        "more). Paper Δ: the difference of the paper's two AUCs (one split, no test).",
    ]
    if missing:
        notes.append(f"Not in this run, or unranked: {', '.join(missing)} (petl-bench methods lists them; "
                     "their claims are not tested).")
    return {"header": header, "rows": _method_rows(table, externals), "datasets": datasets,
            "claims_header": ["claim", "comparison", "paper Δ", "this run: Δ AUC [95% CI]", "Holm p (claims)",
                              "Bayes: A / ≈ / B", "verdict"],
            "differences": _differences(proto), "notes": notes}
