"""The data of the report's subgroup section (``sections/subgroups.html``) and ``subgroups.csv``.

Per data set of the run whose images carry clinical metadata in ``images.csv`` (BUS-BRA: scanner and
BI-RADS; :func:`benchmark.evaluation.subgroups.clinical_subgroups`), each method's AUC on each
subgroup with its interval (:func:`benchmark.evaluation.subgroups.subgroup_aucs`: the training set's
fold-stratified AUC, an external set's per-model AUC); a subgroup under 30 images of either class
shows its counts only. The table is written to ``subgroups.csv`` and recomputed when older than
``predictions.csv`` or ``images.csv``. Each set's licence and the citation it requires come from its
data-set plugin (the registry), or from ``external.json``.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.evaluation import RunData
from benchmark.evaluation.subgroups import MIN_PER_CLASS, SUBGROUP_COLUMNS
from benchmark.reporting.format import fmt_int, fmt_number
from benchmark.common.io import read_json
from benchmark.reporting.inputs import read_csv, registry_info
from benchmark.runfolder import EXTERNAL_FILE, SUBGROUPS_FILE

__all__ = ["subgroup_table", "subgroup_section", "dataset_facts"]

STATISTIC_WORDS = {"fold_stratified": "fold-stratified AUC", "per_model": "per-model AUC"}


def subgroup_table(run_dir: Path) -> pd.DataFrame | None:
    """``subgroups.csv`` (:mod:`benchmark.evaluation.derived`), or None when the run has no clinical subgroups."""
    table = read_csv(Path(run_dir) / SUBGROUPS_FILE)
    if table is None or list(table.columns) != SUBGROUP_COLUMNS:
        return None
    return table.fillna({"method": "", "note": "", "statistic": ""})


def dataset_facts(run_dir: Path, name: str) -> dict:
    """Title, licence, citation and synthetic flag of data set ``name``: its plugin's (the registry), else
    what the run's ``external.json`` recorded."""
    facts = registry_info(name) or read_json(run_dir / EXTERNAL_FILE).get(name) or {}
    return {"name": name, "title": facts.get("title") or name, "licence": facts.get("licence") or "not stated",
            "citation": facts.get("citation") or "not stated", "synthetic": bool(facts.get("synthetic"))}


def _counts(row) -> list[str]:
    return [str(row["subgroup"]), fmt_int(row["n_images"]), fmt_int(row["n_benign"]), fmt_int(row["n_malignant"]),
            fmt_int(row["n_groups"])]


def _set_section(run_dir: Path, table: pd.DataFrame, name: str, internal: str, order: list[str]) -> dict:
    part = table[table["dataset"] == name]
    first = part.drop_duplicates("subgroup")
    shown = [s for s in first["subgroup"] if (part.loc[part["subgroup"] == s, "method"] != "").any()]
    auc = part[part["method"] != ""].set_index(["method", "subgroup"])
    methods = [m for m in order if m in set(auc.index.get_level_values(0))]
    cells = [[m] + [f"{fmt_number(auc.loc[(m, s), 'auc'])} [{fmt_number(auc.loc[(m, s), 'ci_low'])}, "
                    f"{fmt_number(auc.loc[(m, s), 'ci_high'])}]" if (m, s) in auc.index else "—" for s in shown]
             for m in methods]
    statistic = part.loc[part["method"] != "", "statistic"]
    return {**dataset_facts(run_dir, name), "slug": "".join(c if c.isalnum() else "-" for c in name),
            "role": "training set" if name == internal else "external set",
            "statistic": STATISTIC_WORDS.get(statistic.iloc[0], statistic.iloc[0]) if len(statistic) else "",
            "counts": [_counts(r) + ["AUC" if r["subgroup"] in shown else "counts only"]
                       for _, r in first.iterrows()],
            "header": ["method"] + shown, "rows": cells}


def subgroup_section(run_dir: Path, data: RunData) -> dict | None:
    """Per data set with clinical subgroups, what ``sections/subgroups.html`` shows; None when there is none."""
    table = subgroup_table(run_dir)
    if table is None:
        return None
    sets = [n for n in [data.internal, *data.externals] if n in set(table["dataset"])]
    return {"min_per_class": MIN_PER_CLASS, "file": SUBGROUPS_FILE,
            "sets": [_set_section(run_dir, table, name, data.internal, data.order) for name in sets]}
