"""The table of the registered methods a reviewer reads: where each comes from, what it trains,
whether it starts as the pretrained network and can be merged into its weights.

:func:`method_table` computes the rows from the registry (nothing is built or measured: counts of
trainable parameters are ``petl-bench params``); :func:`format_method_table` renders them as text
for ``petl-bench methods --verbose``.
"""
from __future__ import annotations

from benchmark.plugins.registry import SOURCES, Method, list_methods

COLUMNS = ("method", "source", "family", "identity_at_init", "merge_and_unload", "bn_stats", "lr",
           "trains", "citation")


def method_table(methods: list[Method] | None = None) -> list[dict]:
    """One row per method (default: every registered one), ordered by source, family and name.

    Keys (``COLUMNS``): ``method``, ``source`` (one of ``SOURCES``), ``family``,
    ``identity_at_init`` and ``merge_and_unload`` (bools), ``bn_stats`` (the batch-norm policy),
    ``lr`` (the learning-rate range, ``(low, high)``), ``trains`` (the method's description: what
    trains besides the head) and ``citation``."""
    chosen = list_methods() if methods is None else list(methods)
    rows = [{"method": m.name, "source": m.source, "family": m.family, "identity_at_init": m.identity_at_init,
             "merge_and_unload": m.merge is not None, "bn_stats": m.bn_stats, "lr": tuple(m.lr),
             "trains": m.description, "citation": m.citation}
            for m in chosen]
    return sorted(rows, key=lambda r: (SOURCES.index(r["source"]), r["family"], r["method"]))


def format_method_table(rows: list[dict]) -> str:
    """``rows`` of :func:`method_table` as aligned text: one line of the short columns per method,
    then what it trains and its citation, indented."""
    if not rows:
        return ""
    header = ("method", "source", "family", "identity", "merge", "bn stats", "lr range")
    cells = [(r["method"], r["source"], r["family"], _yes(r["identity_at_init"]), _yes(r["merge_and_unload"]),
              r["bn_stats"], f"{r['lr'][0]:g}..{r['lr'][1]:g}") for r in rows]
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header))]
    pad = " " * (widths[0] + 2)
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    for row, cell in zip(rows, cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(cell, widths)).rstrip())
        lines.append(f"{pad}trains: {row['trains']}")
        lines.append(f"{pad}citation: {row['citation']}")
    return "\n".join(lines)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
