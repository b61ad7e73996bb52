"""Methods grouped as ``petl-bench methods`` groups them: by family and by source.

The leaderboard gets a ``family`` and a ``source`` column (from the method registry's metadata, read when
the leaderboard is built), and the report a table "best of each family": per family its methods in rank
order, the best one's fold-stratified AUC and rank interval. A method that is not registered
where the report is built (a plugin of another checkout) is shown as family ``unregistered``.
"""
from __future__ import annotations

import pandas as pd

from benchmark.plugins import registry
from benchmark.runfolder import REFERENCE_METHOD

__all__ = ["UNREGISTERED", "with_families"]

UNREGISTERED = "unregistered"


def _lookup(name: str) -> tuple[str, str]:
    if name == REFERENCE_METHOD:
        return "reference", "scikit-learn"
    try:
        method = registry.get_method(name)
    except (KeyError, ValueError):
        return UNREGISTERED, UNREGISTERED
    return method.family, method.source


def with_families(lb: pd.DataFrame) -> pd.DataFrame:
    """``lb`` with ``family`` and ``source`` columns right after ``method`` (replaced when present)."""
    lb = lb.drop(columns=[c for c in ("family", "source") if c in lb.columns])
    looked_up = [_lookup(str(m)) for m in lb["method"]]
    at = list(lb.columns).index("method") + 1
    added = pd.DataFrame({"family": [f for f, _ in looked_up], "source": [s for _, s in looked_up]}, index=lb.index)
    return pd.concat([lb.iloc[:, :at], added, lb.iloc[:, at:]], axis=1)  # one frame (no fragmented inserts)


