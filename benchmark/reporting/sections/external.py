"""The data of the report's external validation section (``sections/external.html``), and its figures.

Per external data set of the run: its facts (``external.json``, written by the suite; else the data
set registry and ``predictions.csv``), the internal against the external AUC of every ranked method
(the leaderboard's ``external_<name>_*`` columns), the differences that survive Holm correction on
its images, and ``figures/external_<name>.png`` (:mod:`benchmark.reporting.figures`).
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from benchmark.evaluation import PRIMARY_TEST, TEST_LABELS, RunData, summary_sentences
from benchmark.reporting.format import fmt_int, fmt_number
from benchmark.reporting.render import embedded_figure
from benchmark.common.io import read_json
from benchmark.reporting.inputs import registry_info
from benchmark.runfolder import EXTERNAL_FILE, FIGURES_DIR, PREDICTIONS_FILE, external_figure

__all__ = ["external_section"]

MAX_DUPLICATE_PAIRS = 10          # duplicate pairs listed at most per external data set


def _facts(run_dir: Path, name: str, data: RunData) -> dict:
    """What ``external.json`` says about ``name``; else the registry's information, and the size from
    ``predictions.csv`` (``source`` says which)."""
    facts = read_json(run_dir / EXTERNAL_FILE).get(name)
    if isinstance(facts, dict) and facts:
        return {**facts, "source": EXTERNAL_FILE}
    images = data.rows(name).drop_duplicates("image_id")
    return {**registry_info(name), "n_images": int(len(images)), "n_malignant": int(images["label"].sum()),
            "source": PREDICTIONS_FILE}


def _size(facts: dict) -> str:
    n, n_mal = facts.get("n_images"), facts.get("n_malignant")
    if n is None:
        return "unknown"
    size = f"{fmt_int(n)} images"
    if n_mal is not None:
        size += f": {fmt_int(n_mal)} malignant, {fmt_int(int(n) - int(n_mal))} benign"
    if facts.get("n_excluded"):
        size += f" ({fmt_int(facts['n_excluded'])} excluded)"
    return size


def _sentence(sig: pd.DataFrame | None, name: str) -> str:
    """Which differences between methods survive Holm correction on the images of ``name`` (primary test)."""
    part = None if sig is None or sig.empty else sig[(sig["dataset"] == name) & (sig["test"] == PRIMARY_TEST)]
    label = TEST_LABELS[PRIMARY_TEST]
    if part is None or part.empty:
        return f"No {label} on {name}: fewer than two ranked methods scored its images."
    n_sig, n_all = int(part["significant"].sum()), int(part["p"].notna().sum())
    if n_sig == 0:
        return (f"On the {name} images, no difference between methods survives Holm correction under the "
                f"{label} (0 of {n_all} comparisons).")
    listed = summary_sentences(part)
    return (f"On the {name} images, {n_sig} of {n_all} differences between methods survive Holm correction under "
            f"the {label}: " + "; ".join(listed) + ".")


def _auc_rows(ranked: pd.DataFrame, prefix: str) -> list[list[str]]:
    """Per ranked method: internal AUC [CI], external AUC [CI], drop."""
    return [[str(r["method"]),
             f"{fmt_number(r['auc'])} [{fmt_number(r['auc_ci_low'])}, {fmt_number(r['auc_ci_high'])}]",
             f"{fmt_number(r[f'{prefix}_auc'])} [{fmt_number(r[f'{prefix}_ci_low'])}, "
             f"{fmt_number(r[f'{prefix}_ci_high'])}]",
             "—" if pd.isna(r[f"{prefix}_drop"]) else f"{r[f'{prefix}_drop']:+.3f}"] for _, r in ranked.iterrows()]


def _external_set(run_dir: Path, name: str, data: RunData, lb: pd.DataFrame, sig: pd.DataFrame | None) -> dict:
    facts = _facts(run_dir, name, data)
    dups = facts.get("duplicates_of_training_images")
    pairs = [p for p in (facts.get("duplicate_pairs") or [])[:MAX_DUPLICATE_PAIRS]
             if isinstance(p, (list, tuple)) and len(p) == 2]
    ranked = lb[lb["rank"].notna()]
    prefix = f"external_{name}"
    has_auc = not ranked.empty and f"{prefix}_auc" in lb.columns
    figure = run_dir / FIGURES_DIR / external_figure(name)
    return {
        "name": name, "slug": re.sub(r"[^A-Za-z0-9_-]", "-", str(name)), "title": facts.get("title") or name,
        "synthetic": bool(facts.get("synthetic")),
        "description": facts.get("description") or "—", "licence": facts.get("licence") or "not stated",
        "citation": facts.get("citation") or "not stated", "size": _size(facts),
        "duplicates": None if dups is None else int(dups), "duplicate_pairs": pairs if dups is not None else [],
        "more_duplicates": dups is not None and int(dups) > MAX_DUPLICATE_PAIRS,
        "checksum": facts.get("checksum"), "recorded": facts.get("source") == EXTERNAL_FILE,
        "rows": _auc_rows(ranked, prefix) if has_auc else None,
        "sentence": _sentence(sig, name) if has_auc else None,
        "figure": embedded_figure(figure) if has_auc and figure.is_file() else None,
    }


def external_section(run_dir: Path, data: RunData, lb: pd.DataFrame, sig: pd.DataFrame | None) -> dict | None:
    """Per external data set of the run, what the section shows of it; None when the run has none."""
    if not data.externals:
        return None
    return {"internal": data.internal, "external_file": EXTERNAL_FILE,
            "sets": [_external_set(run_dir, name, data, lb, sig) for name in data.externals]}
