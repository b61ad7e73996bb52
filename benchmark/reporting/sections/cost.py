"""The report's cost section (``sections/cost.html``): ``cost.csv`` of ``petl-bench bench`` as a table in the
leaderboard's order, the columns equal in every row said once above it, or the command that measures it.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.reporting.format import fmt_int
from benchmark.runfolder import read_cost

__all__ = ["cost_section", "COST_COMMAND", "COST_COLUMNS"]

COST_COMMAND = "petl-bench bench --backbone {backbone} --image-size {image_size} --methods {methods} --out {run_dir}"


# cost.csv column -> (header, decimals, scale); in this order, those present are shown
COST_COLUMNS = {
    "train_images_per_s": ("train img/s", 1, 1),
    "cached_train_images_per_s": ("train img/s (cached prefix)", 1, 1),
    "infer_images_per_s": ("infer img/s", 1, 1),
    "latency_ms": ("latency (ms)", 2, 1),
    "peak_memory_mb": ("peak memory (MB)", 0, 1),
    "forward_gflops_per_image": ("forward GFLOPs/img", 3, 1),
    "train_gflops_per_image": ("train GFLOPs/img", 3, 1),
    "achieved_train_gflops_per_s": ("achieved train GFLOP/s", 1, 1),
    "fraction_of_peak": ("% of machine peak", 2, 100),
    "total_parameters": ("total params", None, 1),
}


COST_CONTEXT = {  # cost.csv column -> label; shown once above the table when equal in every row
    "backbone": "backbone", "image_size": "input size", "device": "device", "batch_size": "training batch",
    "threads": "threads",
    "machine_peak_gflops_per_s": "machine peak", "peak_dtype": "peak measured in",
    "machine_peak_float32_gflops_per_s": "float32 peak", "memory_measure": "peak memory"}


def _cost_cell(value, digits: int | None, scale: float) -> str:
    v = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return "—" if pd.isna(v) else fmt_int(v) if digits is None else f"{v * scale:,.{digits}f}"


def cost_section(run_dir: Path, order: list[str], backbone: tuple[str, str]) -> dict:
    """``cost.csv`` as a table in leaderboard order: values equal in every row once above it (``context``),
    the methods not measured (``failed``); or the command that measures it (``command``)."""
    cost = read_cost(run_dir)
    if cost is None or cost.empty:
        return {"command": COST_COMMAND.format(backbone=backbone[0], image_size=backbone[1],
                                               methods=",".join(order), run_dir=run_dir)}
    failed = {}
    if "error" in cost.columns:
        errors = cost["error"].fillna("").astype(str).str.strip()
        failed = dict(zip(cost.loc[errors != "", "method"], errors[errors != ""]))
    rank = {m: i for i, m in enumerate(order)}
    cost = cost.assign(_r=cost["method"].map(rank).fillna(len(rank))).sort_values(["_r", "method"], kind="stable")
    context, varying = [], []
    for col in COST_CONTEXT:
        if col not in cost.columns:
            continue
        values = cost[col].dropna().unique()
        if len(values) == 1:
            v = values[0]
            shown = (f"{float(v):,.1f} GFLOP/s" if col.endswith("gflops_per_s") else
                     f"{v} px" if col == "image_size" else str(v))
            context.append(f"{COST_CONTEXT[col]}: {shown}")
        elif len(values) > 1:
            varying.append(col)
    cols = [c for c in COST_COLUMNS if c in cost.columns]
    header = ["method"] + [COST_CONTEXT[c] for c in varying] + [COST_COLUMNS[c][0] for c in cols]
    rows = [[str(r["method"])] + ["—" if pd.isna(r[c]) else str(r[c]) for c in varying]
            + [_cost_cell(r[c], *COST_COLUMNS[c][1:]) for c in cols] for _, r in cost.iterrows()]
    return {"command": None, "context": "; ".join(context), "failed": list(failed.items()), "header": header,
            "rows": rows}
