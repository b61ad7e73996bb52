"""The seed paper's question on this run: Byra (2021)'s Table 1 and Table 2 beside the run's numbers,
and each of its claims tested by the primary paired comparison.

:data:`PAPER_METHODS` holds the paper's six methods with their AUC (Table 2: one 452/65/130 split
of BUSI, ResNet101 at 224 px, the test set's ROC) and the trainable parameters of ResNet101 at
224 px as this suite counts them (``petl-bench params --backbone resnet101``; the paper's Keras
model has bias terms in its convolutions, so its Table 1 differs a little). :data:`CLAIMS` holds the
paper's claims, each one paired comparison in a stated direction, from the analysis plan
(:mod:`benchmark.evaluation.plan`), fixed before any run.

:func:`paper_claims` reads the method-level rows of the significance table
(:func:`benchmark.evaluation.significance`, test :data:`PRIMARY_TEST`): a claim's estimate,
interval, standard error and degrees of freedom are exactly those of the all-pairs table; the
decision is the plan's: a "matches or beats" claim tests non-inferiority (the difference above
minus the plan's margin) first and superiority after it in fixed sequence, a "beats" claim
superiority; one-sided tests at half the two-sided level, Holm over the claims of one data set.
Beside each verdict, the posterior probabilities of the correlated Bayesian t-test with the
margin as the region of practical equivalence. :func:`reproduction_table` sets the paper's
numbers beside the leaderboard's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from benchmark.common.io import csv_flags
from benchmark.evaluation.pairwise import PRIMARY_TEST
from benchmark.evaluation.plan import Claim, load_plan
from benchmark.evaluation.reference import BELOW_REFERENCE
from benchmark.stats import holm_correction, posterior_probabilities

__all__ = ["PaperMethod", "Claim", "PAPER", "PAPER_METHODS", "CLAIMS", "VERDICTS",
           "CLAIM_COLUMNS", "REPRODUCTION_COLUMNS", "primary_rows", "paper_claims", "claims_table", "reproduction_table",
           "external_names"]

PAPER = ("Byra (2021), Breast mass classification with transfer learning based on scaling of deep "
         "representations, Biomedical Signal Processing and Control 69")


@dataclass(frozen=True)
class PaperMethod:
    method: str             # the registered method
    label: str              # the paper's name for it
    paper_auc: float        # Table 2
    resnet101_parameters: int  # trainable parameters, ResNet101 at 224 px, head included (petl-bench params)


PAPER_METHODS = (
    PaperMethod("feature_extraction", "feature extraction", 0.903, 2_049),
    PaperMethod("finetune_last_block", "fine-tuning of the last block", 0.934, 4_464_641),
    PaperMethod("finetune_all", "full fine-tuning", 0.916, 42_502_209),
    PaperMethod("drs", "DRS", 0.935, 101_471),
    PaperMethod("drs_finetune_last_block", "DRS + fine-tuning of the last block", 0.955, 4_564_063),
    PaperMethod("drs_finetune_all", "DRS + full fine-tuning", 0.954, 42_601_631),
)


CLAIMS = load_plan().claims
VERDICTS = ("supported", "contradicted", "not resolved at this size", "not tested")

CLAIM_COLUMNS = ["dataset", "claim", "method_a", "method_b", "kind", "test", "auc_a", "auc_b", "difference",
                 "ci_low", "ci_high", "se", "df", "hypothesis", "p", "p_holm", "verdict", "reason", "conditional",
                 "prob_a_better", "prob_equivalent", "prob_b_better", "plan"]
REPRODUCTION_COLUMNS = ["method", "label", "paper_auc", "resnet101_parameters", "trainable_parameters", "rank",
                        "rank_interval", "auc", "auc_ci_low", "auc_ci_high"]


def _oriented(sig: pd.DataFrame, dataset: str, a: str, b: str) -> dict | None:
    """The primary test's row of (a, b) on ``dataset``, as a minus b (the table orders pairs by rank)."""
    part = sig[primary_rows(sig) & (sig["dataset"] == dataset)]
    row = part[(part["method_a"] == a) & (part["method_b"] == b)]
    if len(row):
        r = row.iloc[0]
        return {"test": r["test"], "auc_a": r["auc_a"], "auc_b": r["auc_b"], "difference": r["difference"],
                "ci_low": r["ci_low"], "ci_high": r["ci_high"], "se": r.get("se", np.nan), "df": r.get("df", np.nan),
                "conditional": r.get("conditional")}
    row = part[(part["method_a"] == b) & (part["method_b"] == a)]
    if len(row):
        r = row.iloc[0]
        return {"test": r["test"], "auc_a": r["auc_b"], "auc_b": r["auc_a"], "difference": -r["difference"],
                "ci_low": -r["ci_high"], "ci_high": -r["ci_low"], "se": r.get("se", np.nan), "df": r.get("df", np.nan),
                "conditional": r.get("conditional")}
    return None


def primary_rows(sig: pd.DataFrame) -> pd.Series:
    """Which rows of a significance table are the primary test's: its ``primary`` column where it has one
    (the primary test can depend on the data set and the number of repeats), else test :data:`PRIMARY_TEST`."""
    if "primary" in sig.columns:
        return csv_flags(sig["primary"])
    return sig["test"] == PRIMARY_TEST


def _tail(x: float, df: float) -> float:
    """P(T > x) for Student's t with ``df`` degrees of freedom (the normal when ``df`` is infinite or NaN)."""
    return float(student_t.sf(x, df if np.isfinite(df) else np.inf))


def _one_sided_p(difference: float, se: float, df: float, bound: float, upper: bool = True) -> float:
    """One-sided p of H0: difference <= bound (``upper``; else H0: difference >= bound) under t(df)."""
    if se == 0:
        return 0.0 if (difference > bound if upper else difference < bound) else 1.0
    x = (difference - bound) / se
    return _tail(x, df) if upper else _tail(-x, df)


def _hypothesis(kind: str, margin: float) -> tuple[str, float]:
    """The claim's primary null hypothesis in words, and its bound."""
    return (f"non-inferiority: difference > -{margin}", -margin) if kind == "matches or beats" else \
        ("superiority: difference > 0", 0.0)


def _verdict(r: dict, n_claims: int, plan) -> tuple[str, str]:
    """(verdict, reason) of one claim from its row (``difference``, ``se``, ``df``, ``p_holm`` of its primary
    hypothesis), in the plan's fixed sequence; the later steps carry a Bonferroni factor ``n_claims``, so the
    whole family stays at the one-sided level."""
    level, margin = plan.one_sided_alpha, plan.margin
    d, se, df, p_holm = r["difference"], r["se"], r["df"], r["p_holm"]
    if r["kind"] == "matches or beats":
        if p_holm < level:
            p_sup = max(p_holm, min(1.0, n_claims * _one_sided_p(d, se, df, 0.0)))
            if p_sup < level:
                return "supported", f"beats: superior after non-inferiority (adjusted one-sided p{_p(p_sup)})"
            lower = r["ci_high"] < 0
            return "supported", (f"matches: non-inferior within the margin {margin} (Holm one-sided p{_p(p_holm)})"
                                 + ("; its AUC is lower, though by less than the margin" if lower else ""))
        p_inf = min(1.0, n_claims * _one_sided_p(d, se, df, -margin, upper=False))
        if p_inf < level:
            return "contradicted", f"inferior by more than the margin {margin} (adjusted one-sided p{_p(p_inf)})"
        return "not resolved at this size", (f"neither non-inferiority within {margin} nor a loss beyond it is shown "
                                             f"(Holm one-sided p{_p(p_holm)})")
    if p_holm < level:
        return "supported", f"beats: superior (Holm one-sided p{_p(p_holm)})"
    p_worse = min(1.0, n_claims * _one_sided_p(d, se, df, 0.0, upper=False))
    if p_worse < level:
        return "contradicted", f"significantly worse (adjusted one-sided p{_p(p_worse)})"
    return "not resolved at this size", f"superiority not shown (Holm one-sided p{_p(p_holm)})"


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"={p:.3f}"


def _posterior(r: dict, margin: float) -> dict:
    """The correlated Bayesian t-test's posterior probabilities (:func:`benchmark.stats.posterior_probabilities`:
    t(df) with location ``difference`` and scale ``se``, the frequentist test's corrected variance), with the
    plan's margin as the region of practical equivalence."""
    probs = posterior_probabilities(r["difference"], r["se"], r["df"] if np.isfinite(r["df"]) else np.inf, margin)
    return {"prob_a_better": probs["p_a_better"], "prob_equivalent": probs["p_equivalent"],
            "prob_b_better": probs["p_b_better"]}


def _below_reference(sig: pd.DataFrame | None) -> set[tuple[str, str]]:
    """(data set, method) pairs flagged significantly below the logistic-regression reference: the table's
    ``b_below_reference`` rows (a method below the reference is the lower side of some pair)."""
    if sig is None or sig.empty or "b_below_reference" not in sig.columns:
        return set()
    flagged = csv_flags(sig["b_below_reference"])
    return set(zip(sig.loc[flagged, "dataset"], sig.loc[flagged, "method_b"]))


def _below_reference_caveat(loser: str, dataset: str) -> str:
    return (f"; {loser} is also significantly {BELOW_REFERENCE} ({dataset}): the comparison shows that {loser} "
            "fell short here, not that the other method adds anything over the probe")


def external_names(lb: pd.DataFrame) -> list[str]:
    """The external data sets the leaderboard has columns for (``external_<name>_auc``)."""
    return [c[len("external_"):-len("_auc")] for c in lb.columns if c.startswith("external_") and c.endswith("_auc")]


def paper_claims(sig: pd.DataFrame, datasets: list[str], ranked: list[str] | None = None, plan=None) -> pd.DataFrame:
    """Each claim of the analysis plan on each data set, decided by the method-level comparison.

    ``sig`` is the significance table (:func:`benchmark.evaluation.significance` or
    ``significance.csv``); its method-level rows (:data:`PRIMARY_TEST`) give each claim's ``difference``
    (``method_a`` minus ``method_b``), 95% interval, ``se`` and ``df``. ``hypothesis``: the claim's primary
    null hypothesis (non-inferiority within the plan's margin for "matches or beats", superiority for
    "beats"); ``p``: its one-sided p; ``p_holm``: Holm over the claims of one data set that could be tested.
    ``verdict`` (:func:`_verdict`): ``supported`` (Holm p below the plan's one-sided level; the reason says
    whether it matches or beats), ``contradicted`` (a loss beyond the margin, or for "beats" a significant
    loss), ``not resolved at this size``, or ``not tested`` (a method is missing or unranked, or the table
    has no method-level row: ``reason`` says which). ``prob_a_better``/``prob_equivalent``/``prob_b_better``:
    the correlated Bayesian t-test with the margin as region of practical equivalence. ``plan``: the plan's
    label (version and hash). A significant verdict whose worse side is significantly below the
    logistic-regression reference on that data set (the table's ``b_below_reference``) keeps its verdict,
    and its ``reason`` says what the comparison then shows. Columns :data:`CLAIM_COLUMNS`, one row per
    (data set, claim), in the order of ``datasets`` and the plan's claims.
    """
    plan = plan or load_plan()
    rows = []
    below = _below_reference(sig)
    for dataset in datasets:
        family = []
        for claim in plan.claims:
            hypothesis, bound = _hypothesis(claim.kind, plan.margin)
            row = {"dataset": dataset, "claim": claim.text, "method_a": claim.method_a, "method_b": claim.method_b,
                   "kind": claim.kind, "hypothesis": hypothesis, "plan": plan.label}
            found = None if sig is None or sig.empty else _oriented(sig, dataset, claim.method_a, claim.method_b)
            if found is None or pd.isna(found["se"]):
                missing = [m for m in (claim.method_a, claim.method_b) if ranked is not None and m not in ranked]
                why = ("not in this run or unranked: " + ", ".join(missing)) if missing else \
                    "no method-level comparison on this data set" if found is None else \
                    "the significance table has no standard error (made before the analysis plan: rebuild the report)"
                row.update(verdict="not tested", reason=why)
            else:
                row.update(found)
                row["p"] = _one_sided_p(found["difference"], found["se"], found["df"], bound)
                row.update(_posterior(found, plan.margin))
            family.append(row)
        p = np.array([r.get("p", np.nan) for r in family], dtype=float)
        n_tested = int(np.isfinite(p).sum())
        for r, adjusted in zip(family, holm_correction(p) if len(p) else []):
            r["p_holm"] = adjusted
            if "difference" in r and np.isfinite(r["p"]):
                r["verdict"], r["reason"] = _verdict(r, n_tested, plan)
                loser = r["method_b"] if r["difference"] > 0 else r["method_a"]
                if r["verdict"] != "not resolved at this size" and (dataset, loser) in below:
                    r["reason"] += _below_reference_caveat(loser, dataset)
        rows += family
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def claims_table(lb: pd.DataFrame, sig: pd.DataFrame, internal: str) -> pd.DataFrame:
    """``claims.csv``: :func:`paper_claims` on the training data set and every external set of the leaderboard."""
    ranked = list(lb.loc[lb["rank"].notna(), "method"])
    return paper_claims(sig, [internal] + external_names(lb), ranked)


def reproduction_table(lb: pd.DataFrame) -> pd.DataFrame:
    """The paper's six methods: its AUC and ResNet101 parameter counts beside this run's leaderboard row
    (trainable parameters of the run's backbone, rank and its interval, AUC with its interval; and
    ``external_<name>_auc``/``_ci_low``/``_ci_high`` per external data set). NaN where the run lacks
    the method or it is unranked."""
    externals = external_names(lb)
    extra = [f"external_{e}_{s}" for e in externals for s in ("auc", "ci_low", "ci_high")]
    by_method = lb.set_index("method")
    rows = []
    for pm in PAPER_METHODS:
        row = {"method": pm.method, "label": pm.label, "paper_auc": pm.paper_auc,
               "resnet101_parameters": pm.resnet101_parameters}
        if pm.method in by_method.index and not pd.isna(by_method.loc[pm.method, "rank"]):
            r = by_method.loc[pm.method]
            row.update({c: r.get(c, np.nan) for c in REPRODUCTION_COLUMNS[4:] + extra})
        rows.append(row)
    return pd.DataFrame(rows, columns=REPRODUCTION_COLUMNS + extra)
