"""The seed paper's question on this run: Byra (2021)'s Table 1 and Table 2 beside the run's numbers,
and each of its claims tested by the primary paired comparison.

:data:`PAPER_METHODS` holds the paper's six methods with their AUC (Table 2: one 452/65/130 split
of BUSI, ResNet101 at 224 px, the test set's ROC) and the trainable parameters of ResNet101 at
224 px as this suite counts them (``petl-bench params --backbone resnet101``; the paper's Keras
model has bias terms in its convolutions, so its Table 1 differs a little). :data:`CLAIMS` holds the
paper's claims, each one paired comparison in a stated direction, decided before any run.

:func:`paper_claims` reads the primary test's rows of the significance table
(:func:`benchmark.evaluation.significance`, test :data:`PRIMARY_TEST`), so a claim's estimate,
interval and p-value are exactly those of the exploratory all-pairs table; only the Holm
correction differs: the claims of one data set are their own small, pre-specified family.
:func:`reproduction_table` sets the paper's numbers beside the leaderboard's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.common.io import csv_flags
from benchmark.evaluation.pairwise import PRIMARY_TEST
from benchmark.evaluation.reference import BELOW_REFERENCE
from benchmark.evaluation.run_data import ALPHA
from benchmark.stats import holm_correction

__all__ = ["PaperMethod", "Claim", "PAPER", "PAPER_METHODS", "CLAIMS", "MATCH_MARGIN", "VERDICTS",
           "CLAIM_COLUMNS", "REPRODUCTION_COLUMNS", "primary_rows", "paper_claims", "reproduction_table",
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


@dataclass(frozen=True)
class Claim:
    text: str       # the claim in words
    method_a: str   # the method claimed to be at least as good ...
    method_b: str   # ... as this one
    kind: str       # "beats" or "matches or beats"


CLAIMS = (
    Claim("DRS is at least as good as feature extraction", "drs", "feature_extraction", "matches or beats"),
    Claim("DRS matches or beats fine-tuning of the last block, with far fewer parameters", "drs",
          "finetune_last_block", "matches or beats"),
    Claim("DRS matches or beats full fine-tuning, with far fewer parameters", "drs", "finetune_all",
          "matches or beats"),
    Claim("DRS + fine-tuning of the last block beats DRS alone", "drs_finetune_last_block", "drs", "beats"),
    Claim("DRS + fine-tuning of the last block beats fine-tuning of the last block alone", "drs_finetune_last_block",
          "finetune_last_block", "beats"),
    Claim("DRS + full fine-tuning beats DRS alone", "drs_finetune_all", "drs", "beats"),
    Claim("DRS + full fine-tuning beats full fine-tuning alone", "drs_finetune_all", "finetune_all", "beats"),
)

# "Matches": the whole 95% interval of the difference lies above -MATCH_MARGIN. 0.02 AUC is how far
# a rerun of the quick profile's search alone moved a method (petl-bench spread, docs/statistics.md).
MATCH_MARGIN = 0.02
VERDICTS = ("supported", "contradicted", "not resolved at this size", "not tested")

CLAIM_COLUMNS = ["dataset", "claim", "method_a", "method_b", "kind", "test", "auc_a", "auc_b", "difference",
                 "ci_low", "ci_high", "p", "p_holm", "verdict", "reason", "conditional"]
REPRODUCTION_COLUMNS = ["method", "label", "paper_auc", "resnet101_parameters", "trainable_parameters", "rank",
                        "rank_interval", "auc", "auc_ci_low", "auc_ci_high"]


def _oriented(sig: pd.DataFrame, dataset: str, a: str, b: str) -> dict | None:
    """The primary test's row of (a, b) on ``dataset``, as a minus b (the table orders pairs by rank)."""
    part = sig[primary_rows(sig) & (sig["dataset"] == dataset)]
    row = part[(part["method_a"] == a) & (part["method_b"] == b)]
    if len(row):
        r = row.iloc[0]
        return {"test": r["test"], "auc_a": r["auc_a"], "auc_b": r["auc_b"], "difference": r["difference"],
                "ci_low": r["ci_low"], "ci_high": r["ci_high"], "p": r["p"], "conditional": r.get("conditional")}
    row = part[(part["method_a"] == b) & (part["method_b"] == a)]
    if len(row):
        r = row.iloc[0]
        return {"test": r["test"], "auc_a": r["auc_b"], "auc_b": r["auc_a"], "difference": -r["difference"],
                "ci_low": -r["ci_high"], "ci_high": -r["ci_low"], "p": r["p"], "conditional": r.get("conditional")}
    return None


def primary_rows(sig: pd.DataFrame) -> pd.Series:
    """Which rows of a significance table are the primary test's: its ``primary`` column where it has one
    (the primary test can depend on the data set and the number of repeats), else test :data:`PRIMARY_TEST`."""
    if "primary" in sig.columns:
        return csv_flags(sig["primary"])
    return sig["test"] == PRIMARY_TEST


def _verdict(kind: str, difference: float, ci_low: float, ci_high: float, p_holm: float) -> tuple[str, str]:
    """(verdict, reason) of one claim from its estimate, interval and family-wise adjusted p."""
    if pd.isna(p_holm):
        return "not tested", "no p-value"
    if p_holm < ALPHA:
        if difference > 0:
            return "supported", f"significantly better (Holm p < {ALPHA})"
        return "contradicted", f"significantly worse (Holm p < {ALPHA})"
    if kind == "matches or beats" and ci_low > -MATCH_MARGIN:
        return "supported", f"matches: the whole 95% interval lies above -{MATCH_MARGIN}"
    if pd.isna(ci_low):
        return "not resolved at this size", f"not significant (Holm p >= {ALPHA}; the test gives no interval)"
    if ci_low > 0 or ci_high < 0:
        return "not resolved at this size", (f"the 95% interval excludes 0, but the difference is not significant "
                                             f"after Holm's correction over the claims (Holm p >= {ALPHA})")
    return "not resolved at this size", "the 95% interval holds both a win and a loss"


def _below_reference(sig: pd.DataFrame | None) -> set[tuple[str, str]]:
    """(data set, method) pairs flagged significantly below the logistic-regression reference: the table's
    ``b_below_reference`` rows (a method below the reference is the lower side of some pair)."""
    if sig is None or sig.empty or "b_below_reference" not in sig.columns:
        return set()
    flagged = csv_flags(sig["b_below_reference"])
    return set(zip(sig.loc[flagged, "dataset"], sig.loc[flagged, "method_b"]))


def _below_reference_caveat(loser: str, dataset: str) -> str:
    return (f"; but {loser} is significantly {BELOW_REFERENCE} ({dataset}), so a significant difference "
            "against it is no evidence about the methods, only about how that model trained here")


def external_names(lb: pd.DataFrame) -> list[str]:
    """The external data sets the leaderboard has columns for (``external_<name>_auc``)."""
    return [c[len("external_"):-len("_auc")] for c in lb.columns if c.startswith("external_") and c.endswith("_auc")]


def paper_claims(sig: pd.DataFrame, datasets: list[str], ranked: list[str] | None = None) -> pd.DataFrame:
    """Each claim of :data:`CLAIMS` on each data set, tested by the primary paired comparison.

    ``sig`` is the significance table (:func:`benchmark.evaluation.significance` or
    ``significance.csv``); its primary rows give each claim's ``difference`` (``method_a`` minus
    ``method_b``), 95% interval and two-sided ``p``. ``p_holm``: Holm over the claims of one data set
    that could be tested (the pre-specified family; the all-pairs table corrects over every pair).
    ``verdict``: ``supported`` (significantly better; or, for a "matches or beats" claim, the whole
    interval above ``-MATCH_MARGIN``), ``contradicted`` (significantly worse), ``not resolved at this
    size``, or ``not tested`` (a method is missing or unranked: ``reason`` says which); ``test`` and
    ``conditional`` (its p-value leaves out the run-to-run variance) as the significance table has them. A
    significant verdict whose worse side is significantly below the logistic-regression reference on that
    data set (the table's ``b_below_reference``) keeps its verdict, and its ``reason`` says so. Columns
    :data:`CLAIM_COLUMNS`, one row per (data set, claim), in the order of ``datasets`` and :data:`CLAIMS`.
    """
    rows = []
    below = _below_reference(sig)
    for dataset in datasets:
        family = []
        for claim in CLAIMS:
            row = {"dataset": dataset, "claim": claim.text, "method_a": claim.method_a, "method_b": claim.method_b,
                   "kind": claim.kind}
            found = None if sig is None or sig.empty else _oriented(sig, dataset, claim.method_a, claim.method_b)
            if found is None:
                missing = [m for m in (claim.method_a, claim.method_b) if ranked is not None and m not in ranked]
                row.update(verdict="not tested", reason=("not in this run or unranked: " + ", ".join(missing))
                           if missing else "no paired comparison on this data set")
            else:
                row.update(found)
            family.append(row)
        p = np.array([r.get("p", np.nan) for r in family], dtype=float)
        for r, adjusted in zip(family, holm_correction(p) if len(p) else []):
            r["p_holm"] = adjusted
            if "difference" in r:
                r["verdict"], r["reason"] = _verdict(r["kind"], r["difference"], r["ci_low"], r["ci_high"], adjusted)
                loser = r["method_b"] if r["difference"] > 0 else r["method_a"]
                if adjusted < ALPHA and (dataset, loser) in below:
                    r["reason"] += _below_reference_caveat(loser, dataset)
        rows += family
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


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
