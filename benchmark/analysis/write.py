"""The model analysis of a run folder written out: ``analysis/*.csv`` and ``analysis/notes.md``."""
from __future__ import annotations

import warnings
from pathlib import Path

from benchmark.analysis.findings import findings, notes
from benchmark.analysis.fold_models import FoldRun, fold_runs, pretrained_backbone
from benchmark.analysis.representations import analyse
from benchmark.common.io import write_csv_atomic, write_text_atomic
from benchmark.runfolder import (ACTIVATION_CHANGE_FILE, ACTIVATION_RATES_FILE, ANALYSIS_DIR, ANALYSIS_NOTES_FILE,
                                 DRS_DEVIATION_FILE)

__all__ = ["write_analysis"]


def _synthetic(runs: list[FoldRun]) -> bool:
    return any(bool((r.record.get("dataset") or {}).get("synthetic")) for r in runs)


def write_analysis(run_dir, repeat: int = 0, fold: int = 0) -> dict:
    """Compute the three tables of :mod:`benchmark.analysis.representations` and write them with their notes.

    Writes (atomically) ``analysis/activation_rates.csv``, ``analysis/activation_rate_change.csv``,
    ``analysis/drs_deviation.csv`` and ``analysis/notes.md`` (which images, where the outputs are
    read, skipped runs, findings). Without a DRS method the two DRS CSVs are written empty (header
    only). Returns ``{relative path: Path}`` of what was written. The figures are the report's
    (:mod:`benchmark.reporting.figures.analysis` draws them from these tables).
    """
    run_dir = Path(run_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = fold_runs(run_dir, repeat, fold)
        rates, change, dev = analyse(run_dir, repeat, fold, rates=True, change=True, deviation=True)
    fold_label = f"repeat {repeat}, fold {fold}"
    skipped = sorted({str(w.message).removeprefix("analysis: ") for w in caught
                      if str(w.message).startswith("analysis:")})
    for w in caught:  # hand them on to the caller
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    family = (runs[0].record.get("backbone") or {}).get("family")
    if not family:
        family = pretrained_backbone(runs[0]).family
    synthetic = _synthetic(runs)
    out = run_dir / ANALYSIS_DIR
    written: dict = {f"{ANALYSIS_DIR}/{name}": write_csv_atomic(out / name, table) for name, table in
                     ((ACTIVATION_RATES_FILE, rates), (ACTIVATION_CHANGE_FILE, change), (DRS_DEVIATION_FILE, dev))}
    text = notes(rates, family, fold_label, skipped, findings(rates, change, dev, family, synthetic), synthetic,
                 random_weights=runs[0].config.get("weights") == "random")
    written[f"{ANALYSIS_DIR}/{ANALYSIS_NOTES_FILE}"] = write_text_atomic(out / ANALYSIS_NOTES_FILE, text)
    return written
