"""The report's reliance section (``sections/reliance.html``): is a model reading the lesion?

From the derived tables of :mod:`benchmark.evaluation.reliance` (``reliance_auc.csv``,
``shift_robustness.csv``, ``saliency_summary.csv``, ``annotation_pairs.csv``), the clinical subgroups
``annotated``/``clean`` (``subgroups.csv``), ``images.csv`` (the overlay flags) and the analysis notes
(``analysis/reliance.json``). Without the analysis the section gives the command that computes it.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.common.io import read_json
from benchmark.evaluation import RunData
from benchmark.evaluation.reliance import context_readers, lesion_only_rank_agreement, shifts_against_sites
from benchmark.reporting.format import fmt_estimate, fmt_int, fmt_number
from benchmark.reporting.inputs import read_csv
from benchmark.reporting.render import embedded_figure
from benchmark.runfolder import (ANALYSIS_DIR, ANNOTATION_PAIRS_FILE, FIGURES_DIR, IMAGES_FILE, LEADERBOARD_FILE,
                                 REGION_FIGURE, RELIANCE_AUC_FILE, RELIANCE_FIGURE, RELIANCE_NOTES_FILE,
                                 SALIENCY_FIGURE, SALIENCY_SUMMARY_FILE, SHIFT_ROBUSTNESS_FILE, SUBGROUPS_FILE)

__all__ = ["reliance_section", "RELIANCE_COMMAND"]

RELIANCE_COMMAND = "petl-bench reliance {run_dir}"
ANNOTATED, CLEAN = "annotated", "clean"


def _estimate(row) -> str:
    return fmt_estimate(row["auc"], row["ci_low"], row["ci_high"])


def _change(row) -> str:
    return fmt_estimate(row["change"], row["change_low"], row["change_high"])


def _region_set(table: pd.DataFrame, dataset: str, order: list[str]) -> dict | None:
    rows = table[table["dataset"] == dataset]
    regions = rows[rows["condition"].isin(["lesion_only", "context_only"])]
    if regions.empty:
        return None
    cell = regions.set_index(["method", "condition"])
    original = rows[(rows["condition"] == "original") & (rows["images"] == regions["images"].iloc[0])]
    if original.empty:
        original = rows[rows["condition"] == "original"]
    base = original.drop_duplicates("method").set_index("method")
    methods = [m for m in order if m in base.index]
    body = []
    for m in methods:
        lesion, context = cell.loc[(m, "lesion_only")], cell.loc[(m, "context_only")]
        body.append([m, _estimate(base.loc[m]), _estimate(lesion), _change(lesion), _estimate(context), _change(context)])
    readers = context_readers(table, dataset)
    tau, _ = lesion_only_rank_agreement(table, dataset)
    statistic = regions["statistic"].iloc[0].replace("_", "-")
    return {"dataset": dataset, "n_images": int(regions["n_images"].iloc[0]), "statistic": statistic,
            "header": ["method", "original", "lesion only", "change", "context only", "change"], "rows": body,
            "readers": [f"{m} ({fmt_number(auc)}, lower bound {fmt_number(low)})" for m, auc, low in readers],
            "n_methods": len(methods), "tau": fmt_number(tau, 2)}


def _robustness(run_dir: Path, order: list[str], internal: str) -> dict | None:
    table = read_csv(run_dir / SHIFT_ROBUSTNESS_FILE)
    if table is None or table.empty:
        return None
    shifts = list(dict.fromkeys(table["shift"]))
    cell = table.set_index(["method", "shift"])
    mean = table.groupby("method")["auc_lost"].mean()
    lb = read_csv(run_dir / LEADERBOARD_FILE)
    drops = {}
    if lb is not None:
        for column in [c for c in lb.columns if c.startswith("external_") and c.endswith("_drop")]:
            drops[column.removeprefix("external_").removesuffix("_drop")] = lb.set_index("method")[column]
    methods = [m for m in order if m in mean.index]
    header = ["method"] + shifts + ["mean"] + [f"off-site drop ({name})" for name in drops]
    rows = [[m] + [fmt_estimate(cell.loc[(m, s), "auc_lost"], cell.loc[(m, s), "ci_low"], cell.loc[(m, s), "ci_high"])
                   for s in shifts] + [fmt_number(mean[m])] + [fmt_number(d.get(m)) for d in drops.values()]
            for m in methods]
    agreement = [{"dataset": name, "n": rho["n"], "rho": fmt_number(rho["rho"], 2), "p": fmt_number(rho["p"], 2),
                  "p_holm": fmt_number(rho["p_holm"], 2), "sets": len(drops),
                  "verdict": "the methods that lose most under the controlled shifts also drop most off site"
                  if rho["predicts"] else "no evidence that the controlled shifts predict the real drop"}
                 for name, rho in shifts_against_sites(table, drops).items()]
    figure = run_dir / FIGURES_DIR / RELIANCE_FIGURE
    return {"header": header, "rows": rows, "agreement": agreement, "dataset": internal,
            "figure": embedded_figure(figure) if figure.is_file() else None}


def _annotations(run_dir: Path, order: list[str], internal: str) -> dict | None:
    images = read_csv(run_dir / IMAGES_FILE)
    if images is None or "overlay" not in images.columns:
        return None
    rows = images[(images["dataset"] == internal) & images["overlay"].notna()]
    shares = [[name, fmt_int((part["overlay"] == 1).sum()), fmt_int(len(part)),
               fmt_number((part["overlay"] == 1).mean(), 2)]
              for name, part in (("benign", rows[rows["label"] == 0]), ("malignant", rows[rows["label"] == 1]))]
    out = {"shares": shares, "subgroups": None, "pairs": None}
    sub = read_csv(run_dir / SUBGROUPS_FILE)
    if sub is not None:
        sub = sub[(sub["dataset"] == internal) & sub["subgroup"].isin([ANNOTATED, CLEAN]) & sub["method"].notna()
                  & (sub["method"].astype(str) != "")]
        if not sub.empty:
            cell = sub.set_index(["method", "subgroup"])
            out["subgroups"] = [[m] + [_estimate(cell.loc[(m, s)]) if (m, s) in cell.index else "—"
                                       for s in (ANNOTATED, CLEAN)] for m in order if m in set(sub["method"])]
    pairs = read_csv(run_dir / ANNOTATION_PAIRS_FILE)
    if pairs is not None and not pairs.empty:
        p = pairs.set_index("method")
        out["pairs"] = [[m, fmt_int(p.loc[m, "n_groups"]),
                         fmt_number(p.loc[m, "change"]) if pd.isna(p.loc[m, "ci_low"]) else
                         fmt_estimate(p.loc[m, "change"], p.loc[m, "ci_low"], p.loc[m, "ci_high"])]
                        for m in order if m in p.index]
    return out


def _saliency(run_dir: Path, order: list[str]) -> dict | None:
    table = read_csv(run_dir / SALIENCY_SUMMARY_FILE)
    if table is None or table.empty:
        return None
    sets = []
    for dataset, part in table.groupby("dataset", sort=False):
        p = part.set_index("method")
        sets.append({"dataset": dataset, "rows": [
            [m, fmt_estimate(p.loc[m, "share_in_lesion"], p.loc[m, "ci_low"], p.loc[m, "ci_high"]),
             fmt_number(p.loc[m, "lesion_area"]), fmt_number(p.loc[m, "share_in_lesion"] / p.loc[m, "lesion_area"], 2)]
            for m in order if m in p.index]})
    figure = run_dir / FIGURES_DIR / SALIENCY_FIGURE
    return {"sets": sets, "figure": embedded_figure(figure) if figure.is_file() else None}


def reliance_section(run_dir: Path, data: RunData) -> dict:
    """What ``sections/reliance.html`` shows: the tables and figures, or the command that computes them."""
    run_dir = Path(run_dir)
    table = read_csv(run_dir / RELIANCE_AUC_FILE)
    if table is None or table.empty:
        return {"command": RELIANCE_COMMAND.format(run_dir=run_dir), "annotations": _annotations(
            run_dir, data.order, data.internal)}
    notes = read_json(run_dir / ANALYSIS_DIR / RELIANCE_NOTES_FILE)
    regions = [s for s in (_region_set(table, d, data.order) for d in dict.fromkeys(table["dataset"])) if s]
    examples = run_dir / FIGURES_DIR / REGION_FIGURE
    check = notes.get("original_vs_predictions") or {}
    return {"command": None, "regions": regions, "masks": notes.get("masks", {}),
            "examples": embedded_figure(examples) if examples.is_file() else None,
            "robustness": _robustness(run_dir, data.order, data.internal),
            "saliency": _saliency(run_dir, data.order),
            "annotations": _annotations(run_dir, data.order, data.internal),
            "check": f"{check['max_abs_difference']:.1e}" if check.get("rows") and check.get("max_abs_difference") is not None
            else None,
            "cost": {"studies": notes.get("studies_scored"), "seconds": notes.get("seconds_per_study_median")},
            "files": (RELIANCE_AUC_FILE, SHIFT_ROBUSTNESS_FILE, SALIENCY_SUMMARY_FILE,
                      f"{ANALYSIS_DIR}/reliance_scores.csv")}
