"""The HTML report of a run folder: one self-contained page, ``RUN_DIR/index.html``.

:func:`write_report` rebuilds everything it needs from the run folder alone (like
:func:`benchmark.reporting.pages.write_leaderboard`, which it calls when the leaderboard files are
missing or older than the runs) and renders the template ``templates/index.html``, one partial per
section, into one page that needs no network: figures and gallery thumbnails are embedded as base64
PNG data URIs, the CSS (``templates/report.css``) is inline, there is no JavaScript. Sections, in order:

1. for synthetic data, a banner (the first element of ``<body>``): the results say nothing about BUSI;
2. title and a short summary (best method, its AUC, what survives Holm correction at the method level, what the
   run could detect), the secondary tests, the reference and the analysis plan one click away;
3. the leaderboard (``<table id="leaderboard">``, one ``<tr>`` per method in ``<tbody>``);
4. significance: the primary (method-level) test's p-value matrix and the
   differences that survive Holm correction;
5. ROC curves of the pooled out-of-fold scores; 6. AUC against trainable parameters;
   then which method at which budget (AUC against parameters and training time, the Pareto front:
   ``pareto.csv``) and, for a run with ``[data] train_sizes``, the learning curve (``learning_curve.csv``)
   and whether the leader at the smallest size survives the primary test (``learning_curve_lead.csv``)
   (:mod:`benchmark.reporting.report_efficiency`);
7. external validation, when the run has external data sets: per set its licence, citation, size,
   duplicates of training images, internal against external AUC per method
   (``figures/external_<name>.png``) and the differences that survive Holm on its images;
   then clinical subgroups when a data set of the run has them (BUS-BRA: per scanner, BI-RADS 4), with
   that set's licence and required citation (:mod:`benchmark.reporting.report_subgroups`);
   then calibration on every data set: reliability diagrams (``calibration_curve.csv``) and Brier score,
   calibration intercept and slope and adaptive ECE, raw and Platt-scaled
   (:mod:`benchmark.reporting.report_calibration`);
8. cost (``cost.csv`` of ``petl-bench bench``), when present;
9. analysis figures and findings (:mod:`benchmark.reporting.analysis`), when present or computable;
10. a gallery of test images (repeat 0, every fold's test images) with every method's out-of-fold
   score, misclassified ones first;
11. protocol and provenance (profile, folds, commit, package versions, device, data checksum).

Optional inputs that are missing give a short "not computed: run ..." note instead of a section.
The data of the sections is computed by :mod:`benchmark.reporting.report_sections`,
:mod:`~benchmark.reporting.report_external`, :mod:`~benchmark.reporting.report_gallery` and
:mod:`~benchmark.reporting.report_protocol`, from the inputs :mod:`~benchmark.reporting.report_inputs`
reads (and rebuilds when stale).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from benchmark.common.io import write_text_atomic
from benchmark.evaluation import load_run
from benchmark.reporting.pages import run_protocol, synthetic_banner
from benchmark.reporting.render import embedded_figure, render
from benchmark.reporting.report_calibration import calibration_section, ensure_calibration
from benchmark.reporting.report_external import ensure_external_figures, external_section
from benchmark.reporting.report_gallery import gallery
from benchmark.reporting.report_inputs import (
    ensure_leaderboard,
    read_csv,
    read_json,
    read_records,
    read_significance,
    run_analysis,
)
from benchmark.reporting.report_efficiency import efficiency_section, ensure_efficiency
from benchmark.reporting.report_protocol import protocol_section
from benchmark.reporting.report_repeats import repeats_section
from benchmark.reporting.report_subgroups import subgroup_section
from benchmark.reporting.reproduction import reproduction_section
from benchmark.reporting.report_sections import (
    analysis_section,
    cost_section,
    leaderboard_section,
    significance_section,
    summary,
)
from benchmark.runfolder import DETECTABLE_FILE, PLAN_RECORD_FILE, REFERENCE_METHOD, refresh_tables

__all__ = ["write_report", "REPORT_FILE", "GALLERY_SIZE"]

REPORT_FILE = "index.html"
GALLERY_SIZE = 24          # images shown in the gallery at most
REPORT_COMMAND = "petl-bench report {run_dir}"
LEADERBOARD_FIGURES = {"roc": "roc.png", "auc_parameters": "auc_vs_parameters.png"}  # section -> figures/ file


def _header(lb: pd.DataFrame, proto: dict) -> dict:
    """The page's title and the facts its subtitle states."""
    repeats = proto["repeats"]
    scheme = (f"{proto['folds']}-fold cross-validation" if proto["scheme"] == "kfold" else "holdout splits") + \
        f", {len(repeats)} repeat{'s' if len(repeats) != 1 else ''}"
    return {"title": f"PETL benchmark: {proto['dataset']}, profile {proto['profile']}",
            "banner": synthetic_banner(proto), "n_methods": int((lb["method"] != REFERENCE_METHOD).sum()),
            "backbone": proto["backbone"], "scheme": scheme}


def write_report(run_dir, rebuild: bool = False) -> Path:
    """Write ``RUN_DIR/index.html``, the self-contained report of a run folder, and return its path.

    Calls :func:`benchmark.reporting.pages.write_leaderboard` first when ``leaderboard.csv``,
    ``significance.csv`` or its figures are missing or older than ``predictions.csv``,
    ``studies.csv``, the run records or ``cost.csv``
    (always, with ``rebuild=True``), and :func:`benchmark.reporting.analysis.write_analysis` when the
    analysis CSVs are missing and that module exists (a failure there becomes a note on the
    page). Includes ``cost.csv`` and the analysis figures when present, a "not computed" note
    otherwise. The page is written atomically.
    """
    run_dir = Path(run_dir)
    refresh_tables(run_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unfinished studies were already reported by write_leaderboard
        data = load_run(run_dir)
    ensure_leaderboard(run_dir, data, force=rebuild)
    lb = pd.read_csv(run_dir / "leaderboard.csv")
    sig = read_significance(run_dir)
    proto = run_protocol(data)
    ensure_external_figures(run_dir, lb, data.externals, proto["synthetic"])
    ensure_calibration(run_dir, data, proto["synthetic"])
    ensure_efficiency(run_dir, data, proto["synthetic"], force=rebuild)
    findings, analysis_notes = run_analysis(run_dir)
    backbone = (data.suite.get("profile") or {}).get("backbone") or {}
    figures = {section: run_dir / "figures" / name for section, name in LEADERBOARD_FIGURES.items()}
    page = render(
        "index.html",
        header=_header(lb, proto),
        summary=summary(lb, sig, read_csv(run_dir / DETECTABLE_FILE),
                        read_json(run_dir / PLAN_RECORD_FILE).get("label")),
        reproduction=reproduction_section(lb, pd.DataFrame() if sig is None else sig, proto),
        leaderboard=leaderboard_section(lb, proto),
        significance=significance_section(run_dir, sig),
        repeats=repeats_section(run_dir),
        figures={section: embedded_figure(path) if path.is_file() else None for section, path in figures.items()},
        figures_command=f"petl-bench report {run_dir}",
        efficiency=efficiency_section(run_dir, data),
        external=external_section(run_dir, data, lb, sig),
        subgroups=subgroup_section(run_dir, data),
        calibration=calibration_section(run_dir, data, lb),
        cost=cost_section(run_dir, list(lb["method"]),
                          (backbone.get("name", "BACKBONE"), backbone.get("image_size", "SIZE"))),
        analysis=analysis_section(run_dir, findings, analysis_notes),
        gallery=gallery(run_dir, data, GALLERY_SIZE),
        protocol=protocol_section(run_dir, data, lb, read_records(run_dir, data), proto),
        report_command=REPORT_COMMAND.format(run_dir=run_dir),
    )
    return write_text_atomic(run_dir / REPORT_FILE, page)
