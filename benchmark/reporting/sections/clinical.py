"""The report's clinical section (``sections/clinical.html``): operating points and decision curves.

Its tables come from ``operating_points.csv`` (:func:`benchmark.evaluation.operating_points.operating_points`:
sensitivity, specificity, PPV and NPV at thresholds chosen on each fold model's validation images),
``decision_curve.csv`` and ``net_benefit_range.csv`` (:mod:`benchmark.evaluation.decision_curves`); the figure
``figures/decision_curve_<data set>.png`` is drawn from ``decision_curve.csv`` alone
(:func:`benchmark.reporting.figures.decision_curves.net_benefit_figure`).
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from benchmark.evaluation import RunData
from benchmark.evaluation.operating_points import (ALL_IMAGES, VALIDATION_MALIGNANT, VALIDATION_SENSITIVITY)
from benchmark.reporting.format import fmt_estimate, fmt_number
from benchmark.reporting.inputs import read_csv
from benchmark.reporting.render import embedded_figure
from benchmark.runfolder import (DECISION_CURVE_FILE, FIGURES_DIR, NET_BENEFIT_RANGE_FILE, OPERATING_POINTS_FILE,
                                 REFERENCE_METHOD, decision_curve_figure)

__all__ = ["HEADER", "operating_point_rows", "shortfall_sentence", "clinical_section"]

# (operating point, metric) of each column after the method's
COLUMNS = [("sensitivity_0.95", "sensitivity"), ("sensitivity_0.95", "specificity"),
           ("sensitivity_0.98", "sensitivity"), ("sensitivity_0.98", "specificity"),
           ("youden", "sensitivity"), ("youden", "specificity"), ("youden", "ppv"), ("youden", "npv")]
POINT_LABELS = {"sensitivity_0.95": "target sensitivity 0.95", "sensitivity_0.98": "target sensitivity 0.98",
                "youden": "Youden"}
HEADER = ["method"] + [f"{POINT_LABELS[p]}: {m.upper() if m in ('ppv', 'npv') else m} [95% CI]" for p, m in COLUMNS]


def operating_point_rows(table: pd.DataFrame, dataset: str, subgroup: str, order) -> list[list[str]]:
    """One row of cells per method (in ``order``, the reference last) of ``operating_points.csv``'s ``table``."""
    part = table[(table["dataset"] == dataset) & (table["subgroup"] == subgroup)]
    cells = {(m, p, k): fmt_estimate(v, lo, hi) for m, p, k, v, lo, hi in
             part[["method", "operating_point", "metric", "value", "ci_low", "ci_high"]].itertuples(index=False)}
    methods = [m for m in [*order, REFERENCE_METHOD] if (part["method"] == m).any()]
    return [[m] + [cells.get((m, p, k), "—") for p, k in COLUMNS] for m in methods]


def shortfall_sentence(table: pd.DataFrame, dataset: str) -> str | None:
    """What the small validation sets do to the fixed-sensitivity points on ``dataset``: the validation cancers a
    threshold was chosen on, the sensitivity it reached there and the test sensitivity across methods."""
    part = table[(table["dataset"] == dataset) & (table["subgroup"] == ALL_IMAGES)]
    n = part.loc[part["metric"] == VALIDATION_MALIGNANT, "value"].dropna()
    if n.empty:
        return None
    n_val = float(n.mean())
    parts = []
    for point, target in (("sensitivity_0.95", 0.95), ("sensitivity_0.98", 0.98)):
        rows = part[part["operating_point"] == point]
        test = rows.loc[rows["metric"] == "sensitivity", "value"].dropna()
        reached = rows.loc[rows["metric"] == VALIDATION_SENSITIVITY, "value"].dropna()
        if test.empty:
            continue
        below = int((test < target).sum())
        parts.append(f"a target of {target:.2f} asks for {math.ceil(target * round(n_val) - 1e-9)} of them "
                     f"(validation sensitivity {reached.mean():.3f} on average) and gives a test sensitivity of "
                     f"{test.min():.3f} to {test.max():.3f} (median {test.median():.3f}; {below} of {len(test)} "
                     f"methods below the target)")
    if not parts:
        return None
    return (f"The thresholds are chosen on each fold model's validation images (of the training data set), about "
            f"{n_val:.0f} cancers each: "
            + "; ".join(parts) + ". A validation set this small cannot pin a high sensitivity down: at 0.98 the "
            "threshold is simply the lowest validation cancer's score, and test cancers below it are missed, so the "
            "test sensitivity lands below the target.")


def _ranges(ranges: pd.DataFrame | None, dataset: str, order) -> list[list[str]]:
    if ranges is None:
        return []
    part = ranges[ranges["dataset"] == dataset].set_index("method")
    rows = []
    for m in [*order, REFERENCE_METHOD]:
        if m not in part.index:
            continue
        r = part.loc[m]
        span = "nowhere" if pd.isna(r["pt_low"]) else f"{r['pt_low']:.2f} to {r['pt_high']:.2f}"
        rows.append([m, str(r["scores"]), span, f"{int(r['n_thresholds'])} of {int(r['n_grid'])}"])
    return rows


def clinical_section(run_dir: Path, data: RunData) -> dict | None:
    """Per data set: the operating-point table (and its BI-RADS 4 subgroup's), the sentence on the validation sets'
    size, the decision curve with the prevalence, and each method's net-benefit range. None without the tables."""
    points, curves = read_csv(run_dir / OPERATING_POINTS_FILE), read_csv(run_dir / DECISION_CURVE_FILE)
    if points is None and curves is None:
        return None
    ranges = read_csv(run_dir / NET_BENEFIT_RANGE_FILE)
    order, sets = list(data.order), []
    for d in [data.internal] + list(data.externals):
        subgroups = []
        if points is not None:
            for name in dict.fromkeys(points.loc[points["dataset"] == d, "subgroup"]):
                subgroups.append({"name": "every image" if name == ALL_IMAGES else f"{name} images",
                                  "slug": re.sub(r"[^A-Za-z0-9_-]", "-", f"{d}-{name}"),
                                  "rows": operating_point_rows(points, d, name, order)})
        part = curves[curves["dataset"] == d] if curves is not None else pd.DataFrame()
        figure = run_dir / FIGURES_DIR / decision_curve_figure(d)
        if not subgroups and part.empty:
            continue
        sets.append({"name": d, "slug": re.sub(r"[^A-Za-z0-9_-]", "-", d), "subgroups": subgroups,
                     "shortfall": shortfall_sentence(points, d) if points is not None else None,
                     "prevalence": fmt_number(100 * part["prevalence"].iloc[0], 1) if len(part) else None,
                     "n_images": int(part["n_images"].iloc[0]) if len(part) else None,
                     "figure": embedded_figure(figure) if figure.is_file() and len(part) else None,
                     "ranges": _ranges(ranges, d, order)})
    return {"sets": sets, "header": HEADER, "busi": any(s["name"] == "busi" for s in sets),
            "range_header": ["method", "risk scores", "net benefit above biopsy all and none for pt",
                             "grid thresholds"],
            "files": [OPERATING_POINTS_FILE, DECISION_CURVE_FILE, NET_BENEFIT_RANGE_FILE]}
