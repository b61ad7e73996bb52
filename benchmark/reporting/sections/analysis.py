"""The report's analysis section (``sections/analysis.html``): the model analysis' figures and findings.

:func:`run_analysis` asks the caller's ``analyse`` (:func:`benchmark.analysis.write_analysis`, passed by
``petl-bench report``: the report itself imports no model code) for the tables when they are missing, reads the
findings the analysis wrote beside them, and draws their figures (:mod:`benchmark.reporting.figures.analysis`)
when missing or older than the tables; a failure of either becomes a note on the page. :func:`analysis_section` gives what the section shows.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

from benchmark.evaluation.derived import is_stale
from benchmark.reporting.figures.analysis import draw_analysis_figures
from benchmark.reporting.inputs import read_csv
from benchmark.reporting.render import embedded_figure
from benchmark.runfolder import (ACTIVATION_CHANGE_FIGURE, ACTIVATION_CHANGE_FILE, ACTIVATION_RATES_FIGURE,
                                 ACTIVATION_RATES_FILE, ANALYSIS_DIR, ANALYSIS_NOTES_FILE, DRS_DEVIATION_FIGURE,
                                 DRS_DEVIATION_FILE, FIGURES_DIR)

__all__ = ["ANALYSIS_ITEMS", "ANALYSIS_COMMAND", "run_analysis", "read_findings", "analysis_section"]

ANALYSIS_COMMAND = ("python -c \"from benchmark.analysis import write_analysis; write_analysis('{run_dir}')\" "
                    "&& petl-bench report {run_dir}")  # the tables, then the report draws their figures


ANALYSIS_ITEMS = (  # (csv in analysis/, png in figures/, caption)
    (ACTIVATION_RATES_FILE, ACTIVATION_RATES_FIGURE,
     "Activation rates of the backbone's units on the test images, per method and block"),
    (ACTIVATION_CHANGE_FILE, ACTIVATION_CHANGE_FIGURE,
     "Change of the activation rates against the frozen pretrained backbone, per method and block"),
    (DRS_DEVIATION_FILE, DRS_DEVIATION_FIGURE,
     "Deviation of the learned DRS parameters from the identity, per block: the scales S and D "
     "from 1, the shifts S_b and D_b from 0"),
)


def _figures_stale(run_dir: Path) -> bool:
    """Whether an analysis figure whose table has rows is missing or older than that table."""
    for csv, png, _ in ANALYSIS_ITEMS:
        table = read_csv(run_dir / ANALYSIS_DIR / csv)
        if table is not None and not table.empty and is_stale(run_dir / FIGURES_DIR / png,
                                                              [run_dir / ANALYSIS_DIR / csv]):
            return True
    return False


def read_findings(run_dir: Path) -> list[str]:
    """The findings the analysis wrote into ``analysis/notes.md`` (its "## Findings" list), or []."""
    path = Path(run_dir) / ANALYSIS_DIR / ANALYSIS_NOTES_FILE
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    if "## Findings" not in lines:
        return []
    return [line[2:] for line in lines[lines.index("## Findings") + 1:] if line.startswith("- ")]


def run_analysis(run_dir: Path, analyse: Callable[[Path], object] | None = None) -> tuple[list[str], list[str]]:
    """Compute the analysis's tables with ``analyse`` when they are missing (the caller passes
    :func:`benchmark.analysis.write_analysis`, which needs torch; without it the page says how to compute them),
    draw its figures from the tables when missing or older (:func:`draw_analysis_figures`); return (findings
    sentences, notes). A failure is a note, never an error."""
    notes: list[str] = []
    missing = [c for c, _, _ in ANALYSIS_ITEMS if not (run_dir / ANALYSIS_DIR / c).is_file()]
    if missing and analyse is not None:
        try:
            analyse(run_dir)
        except Exception as exc:  # the report must not fail because the analysis did
            warnings.warn(f"write_analysis({run_dir}) failed: {exc}", stacklevel=2)
            notes.append(f"The analysis failed while building this report ({type(exc).__name__}: {exc}).")
    if all((run_dir / ANALYSIS_DIR / c).is_file() for c, _, _ in ANALYSIS_ITEMS) and _figures_stale(run_dir):
        try:
            draw_analysis_figures(run_dir)
        except Exception as exc:
            warnings.warn(f"draw_analysis_figures({run_dir}) failed: {exc}", stacklevel=2)
            notes.append(f"The analysis figures could not be drawn ({type(exc).__name__}: {exc}).")
    return read_findings(run_dir), notes


def analysis_section(run_dir: Path, findings: list[str], notes: list[str]) -> dict:
    """The analysis figures (with their captions and CSVs), findings and notes; or the command that
    computes the analysis when no figure is present."""
    figures = run_dir / FIGURES_DIR
    if not any((figures / png).is_file() for _, png, _ in ANALYSIS_ITEMS):
        return {"notes": notes, "findings": [], "figures": [], "command": ANALYSIS_COMMAND.format(run_dir=run_dir)}
    items = [{"png": png, "caption": f"{caption} (data: {ANALYSIS_DIR}/{csv})",
              "figure": embedded_figure(figures / png) if (figures / png).is_file() else None}
             for csv, png, caption in ANALYSIS_ITEMS]
    return {"notes": notes, "findings": findings, "figures": items, "command": None}
