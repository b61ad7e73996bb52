"""The README's results table read back, and the rows a published leaderboard gives it, computed here from
``leaderboard.csv`` alone (not by scripts/dev/readme_results.py): the check that the front page's numbers are the
published ones."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
ROW = re.compile(r"^\| (?P<method>[^|]+?) \| (?P<auc>[^|]+?) \| (?P<ranks>[^|]+?) \| (?P<params>[^|]+?) \|$")


def readme_rows(text: str) -> list[tuple[str, str, str, str]]:
    """(method, "AUC [low, high]", rank interval, trainable parameters) of each row of the results block."""
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    rows = [m.groups() for line in block.splitlines() if (m := ROW.match(line.strip()))]
    return [r for r in rows if r[0] != "method" and not set(r[0]) <= set("-:")]


def leaderboard_rows(folder: Path) -> list[tuple[str, str, str, str]]:
    """The same cells from a published folder's leaderboard (``leaderboard.csv`` or its ``.gz``): its ranked
    methods in its order, three decimals."""
    path = next(p for p in (folder / "leaderboard.csv", folder / "leaderboard.csv.gz") if p.is_file())
    lb = pd.read_csv(path)
    return [(r.method, f"{r.auc:.3f} [{r.auc_ci_low:.3f}, {r.auc_ci_high:.3f}]", str(r.rank_interval),
             f"{int(r.trainable_parameters):,}") for r in lb[lb["rank"].notna()].itertuples()]
