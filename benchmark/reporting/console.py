"""What ``petl-bench suite`` and ``petl-bench report`` print when they finish: a few lines, not the pages.

The pages (``leaderboard.md``, ``index.html``) hold everything; the terminal gets the top of the
leaderboard, the answer to the paper's question per data set, and where the files are.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.runfolder import CLAIMS_FILE, LEADERBOARD_FILE, LEADERBOARD_PAGES


__all__ = ["console_summary", "TOP"]

TOP = 5  # leaderboard rows printed


def console_summary(run_dir, top: int = TOP) -> list[str]:
    """The lines printed at the end of a suite or report: banner, top ``top`` methods, claims per data set."""
    run_dir = Path(run_dir)
    lb = pd.read_csv(run_dir / LEADERBOARD_FILE)
    lines = []
    md = (run_dir / LEADERBOARD_PAGES[0]).read_text().splitlines() if (run_dir / LEADERBOARD_PAGES[0]).is_file() else []
    if md and md[0].startswith("**SYNTHETIC"):
        lines.append(md[0].strip("*"))
    ranked = lb[lb["rank"].notna()]
    lines.append(f"{len(ranked)} ranked method(s) of {len(lb)}; top {min(top, len(ranked))} by AUC [95% CI] "
                 "(rank interval):")
    width = max([len(str(m)) for m in ranked["method"].head(top)] + [6])
    for r in ranked.head(top).itertuples():
        lines.append(f"  {int(r.rank):>2}. {r.method:<{width}}  {r.auc:.3f} [{r.auc_ci_low:.3f}, "
                     f"{r.auc_ci_high:.3f}]  ({r.rank_interval})")
    claims = run_dir / CLAIMS_FILE
    if claims.is_file():
        frame = pd.read_csv(claims)
        for dataset, part in frame.groupby("dataset", sort=False):
            counts = part["verdict"].value_counts()
            lines.append(f"Byra (2021)'s {len(part)} claims on {dataset}: "
                         + ", ".join(f"{int(counts.get(v, 0))} {v}"
                                     for v in ("supported", "contradicted", "not resolved at this size",
                                               "not tested") if counts.get(v, 0) or v != "not tested"))
    return lines
