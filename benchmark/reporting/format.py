"""How a number looks in a report table: one place for every cell's format (p-values are
:func:`benchmark.evaluation.fmt_p`'s, since the evaluation's sentences quote them too)."""
from __future__ import annotations

import pandas as pd

__all__ = ["fmt_number", "fmt_int", "fmt_interval", "fmt_estimate", "is_true"]


def fmt_number(x, digits: int = 3) -> str:
    """A number for a report table: fixed ``digits``, or an em dash for missing."""
    return "—" if x is None or pd.isna(x) else f"{x:.{digits}f}"


def fmt_int(x) -> str:
    """A count for a report table, with thousands separators, or an em dash for missing."""
    return "—" if x is None or pd.isna(x) else f"{int(x):,}"


def fmt_interval(lo, hi) -> str:
    """``[lo, hi]`` to three decimals, or an em dash when the interval is missing."""
    return "—" if pd.isna(lo) else f"[{lo:.3f}, {hi:.3f}]"


def fmt_estimate(value, lo, hi) -> str:
    """``value [lo, hi]`` to three decimals, or an em dash when the value is missing."""
    return "—" if pd.isna(value) else f"{value:.3f} [{lo:.3f}, {hi:.3f}]"


def is_true(value) -> bool:
    """A boolean cell that may be missing (NA: not known) as True or False."""
    return value is not None and not pd.isna(value) and bool(value)
