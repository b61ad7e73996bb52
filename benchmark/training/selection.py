"""Which trial a study selects, on validation data only: :class:`SelectionRule`.

The rule lives in :mod:`benchmark.stats.selection`, below both the search that applies it and the
evaluation's budget curves, which replay it on the first k trials of each study; it is named here
too because the search is where a reader looks for it.
"""
from __future__ import annotations

from benchmark.stats.selection import SelectionRule

__all__ = ["SelectionRule"]
