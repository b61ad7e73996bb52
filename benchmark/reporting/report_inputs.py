"""What the report reads from a run folder, rebuilt first when missing or stale.

:func:`benchmark.reporting.report.write_report` needs nothing but the run folder: the leaderboard
files (:func:`benchmark.reporting.pages.write_leaderboard`) and the analysis
(:mod:`benchmark.reporting.analysis`, imported lazily: it needs torch) are computed here when
missing or older than their inputs. Optional files that are missing or unreadable read as empty, so
the page says "not computed" instead of failing.
"""
from __future__ import annotations

import importlib
import json
import warnings
from pathlib import Path

import pandas as pd

from benchmark.common.io import csv_flags
from benchmark.evaluation import PRIMARY_TEST, RunData
from benchmark.evaluation.repeat_stability import RANK_STABILITY_FILE, REPEAT_SPREAD_FILE
from benchmark.reporting.pages import write_leaderboard
from benchmark.evaluation.plan import load_plan
from benchmark.runfolder import (COST_FILE, DETECTABLE_FILE, PLAN_RECORD_FILE, PREDICTIONS_FILE, RESULTS_FILE,
                                 STUDIES_FILE, SUITE_FILE)

__all__ = ["read_json", "read_csv", "is_stale", "ensure_leaderboard", "read_significance", "read_cost",
           "read_records", "dataset_info", "run_analysis", "ANALYSIS_DIR", "ANALYSIS_ITEMS", "PVALUE_FIGURE"]

LEADERBOARD_FILES = ("leaderboard.csv", "significance.csv", DETECTABLE_FILE, PLAN_RECORD_FILE)
LEADERBOARD_FIGURES = ("roc.png", "auc_vs_parameters.png")       # need a ranked method
PVALUE_FIGURE = f"pvalues_{PRIMARY_TEST}.png"                     # needs two ranked methods
ANALYSIS_DIR = "analysis"
ANALYSIS_ITEMS = (  # (csv in analysis/, png in figures/, caption)
    ("activation_rates.csv", "activation_rates.png",
     "Activation rates of the backbone's units on the test images, per method and block"),
    ("activation_rate_change.csv", "activation_rate_change.png",
     "Change of the activation rates against the frozen pretrained backbone, per method and block"),
    ("drs_deviation.csv", "drs_deviation.png",
     "Deviation of the learned DRS parameters from the identity, per block: the scales S and D "
     "from 1, the shifts S_b and D_b from 0"),
)


def read_json(path: Path) -> dict:
    """A JSON file's content, or {} when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def read_csv(path: Path) -> pd.DataFrame | None:
    """An optional CSV file, or None when it is missing or unreadable (with a warning)."""
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except Exception as exc:  # an optional file must never stop the report
        warnings.warn(f"ignoring {path}: {exc}", stacklevel=2)
        return None


def is_stale(target: Path, sources: list[Path]) -> bool:
    """Whether ``target`` is missing or older than any of ``sources`` that exist."""
    if not target.is_file():
        return True
    t = target.stat().st_mtime
    return any(s.is_file() and s.stat().st_mtime > t for s in sources)


def ensure_leaderboard(run_dir: Path, data: RunData, force: bool) -> None:
    """Run :func:`write_leaderboard` when its outputs are missing or older than their inputs, or were decided under
    another analysis plan (``analysis_plan.json``'s hash)."""
    outputs = [run_dir / f for f in LEADERBOARD_FILES]
    if data.order:
        outputs += [run_dir / "figures" / f for f in LEADERBOARD_FIGURES]
    if len(data.order) >= 2:
        outputs.append(run_dir / "figures" / PVALUE_FIGURE)
        if data.rows()["repeat"].nunique() >= 2:  # the spread over repeats (a run folder made before it, too)
            outputs += [run_dir / REPEAT_SPREAD_FILE, run_dir / RANK_STABILITY_FILE]
    sources = [run_dir / f for f in (COST_FILE, PREDICTIONS_FILE, STUDIES_FILE, SUITE_FILE)]
    sources += [run_dir / rel / RESULTS_FILE for rel in data.runs["run_path"]]
    other_plan = read_json(run_dir / PLAN_RECORD_FILE).get("sha256") != load_plan().sha256
    if force or other_plan or any(is_stale(o, sources) for o in outputs):
        write_leaderboard(run_dir)


def read_significance(run_dir: Path) -> pd.DataFrame | None:
    """``significance.csv`` with its flags as booleans, or None."""
    sig = read_csv(run_dir / "significance.csv")
    if sig is not None and not sig.empty:
        for col in ("significant", "b_below_reference", "primary", "conditional"):
            if col in sig.columns:
                sig[col] = csv_flags(sig[col])
    return sig


def read_cost(run_dir: Path) -> pd.DataFrame | None:
    """``cost.csv`` of ``petl-bench bench``, or None when it is missing, empty or has no method column."""
    cost = read_csv(run_dir / COST_FILE)
    if cost is None or "method" not in cost.columns or cost.empty:
        return None
    return cost


def read_records(run_dir: Path, data: RunData) -> dict[tuple[str, int, int], dict]:
    """Every study's ``results.json``, by (method, repeat, fold)."""
    return {(r.method, int(r.repeat), int(r.fold)): read_json(run_dir / r.run_path / RESULTS_FILE)
            for r in data.runs.itertuples()}


def dataset_info(name: str) -> dict:
    """:func:`benchmark.data.dataset_info` (imported here: the report needs no data loaders), or {}."""
    try:
        from benchmark.data import dataset_info as registered

        return dict(registered(name))
    except Exception:  # not registered here, or the data package cannot be imported
        return {}


def run_analysis(run_dir: Path) -> tuple[list[str], list[str]]:
    """Compute the analysis if its CSVs are missing; return (findings sentences, notes)."""
    notes: list[str] = []
    try:
        module = importlib.import_module("benchmark.reporting.analysis")
    except ImportError as exc:
        if getattr(exc, "name", None) not in ("benchmark.reporting.analysis", None):
            notes.append(f"benchmark.reporting.analysis could not be imported ({exc}).")
        return [], notes
    missing = [c for c, _, _ in ANALYSIS_ITEMS if not (run_dir / ANALYSIS_DIR / c).is_file()]
    if missing and hasattr(module, "write_analysis"):
        try:
            module.write_analysis(run_dir)
        except Exception as exc:  # the report must not fail because the analysis did
            warnings.warn(f"write_analysis({run_dir}) failed: {exc}", stacklevel=2)
            notes.append(f"The analysis failed while building this report ({type(exc).__name__}: {exc}).")
    findings: list[str] = []
    if hasattr(module, "describe_findings") and any((run_dir / ANALYSIS_DIR / c).is_file()
                                                    for c, _, _ in ANALYSIS_ITEMS):
        try:
            findings = [str(s) for s in module.describe_findings(run_dir)]
        except Exception as exc:
            warnings.warn(f"describe_findings({run_dir}) failed: {exc}", stacklevel=2)
            notes.append(f"The findings could not be described ({type(exc).__name__}: {exc}).")
    return findings, notes
