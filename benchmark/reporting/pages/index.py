"""The HTML report of a run folder: one self-contained page, ``RUN_DIR/index.html``.

:func:`write_report` refreshes the run folder's tables (:func:`benchmark.evaluation.derived.refresh`) and
figures (:func:`benchmark.reporting.figures.draw_figures`), writes ``leaderboard.md|html``
(:mod:`benchmark.reporting.pages.leaderboard`), and renders the template ``templates/index.html``, one section
template per section (:mod:`benchmark.reporting.sections`), into one page that needs no network: figures and gallery thumbnails are embedded as base64
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
   (:mod:`benchmark.reporting.sections.efficiency`);
7. external validation, when the run has external data sets: per set its licence, citation, size,
   duplicates of training images, internal against external AUC per method
   (``figures/external_<name>.png``) and the differences that survive Holm on its images;
   then clinical subgroups when a data set of the run has them (BUS-BRA: per scanner, BI-RADS 4), with
   that set's licence and required citation (:mod:`benchmark.reporting.sections.subgroups`);
   then calibration on every data set: reliability diagrams (``calibration_curve.csv``) and Brier score,
   calibration intercept and slope and adaptive ECE, raw and Platt-scaled
   (:mod:`benchmark.reporting.sections.calibration`); then clinical operating points (specificity at a
   validation-chosen sensitivity of 0.95 and 0.98, the Youden point) and decision curves
   (:mod:`benchmark.reporting.sections.clinical`);
8. cost (``cost.csv`` of ``petl-bench bench``), when present;
9. analysis figures and findings (:mod:`benchmark.reporting.sections.analysis`), when present or computable;
10. a gallery of test images (repeat 0, every fold's test images) with every method's out-of-fold
   score, misclassified ones first;
11. protocol and provenance (profile, folds, commit, package versions, device, data checksum).

Optional inputs that are missing give a short "not computed: run ..." note instead of a section.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from benchmark.common.io import read_json, write_text_atomic
from benchmark.reporting.sections.protocol import protocol_section, run_protocol, synthetic_banner
from benchmark.reporting.render import embedded_figure, render
from benchmark.reporting.sections.calibration import calibration_section
from benchmark.reporting.sections.clinical import clinical_section
from benchmark.reporting.sections.external import external_section
from benchmark.reporting.sections.gallery import gallery
from benchmark.reporting.inputs import read_csv, read_records, read_significance
from benchmark.reporting.sections.analysis import analysis_section, run_analysis
from benchmark.reporting.sections.efficiency import efficiency_section
from benchmark.reporting.sections.repeats import repeats_section
from benchmark.reporting.sections.subgroups import subgroup_section
from benchmark.reporting.sections.reproduction import reproduction_section
from benchmark.reporting.sections.cost import cost_section
from benchmark.reporting.sections.leaderboard import leaderboard_section
from benchmark.reporting.sections.budget_curves import budget_curve_section
from benchmark.reporting.sections.reliance import reliance_section
from benchmark.reporting.sections.significance import significance_section
from benchmark.reporting.sections.summary import summary
from benchmark.evaluation.derived import refresh
from benchmark.reporting.figures import draw_figures
from benchmark.reporting.pages.leaderboard import write_leaderboard_pages
from benchmark.runfolder import (AUC_PARAMETERS_FIGURE, CLAIMS_FILE, DETECTABLE_FILE, FIGURES_DIR, LEADERBOARD_FILE,
                                 PLAN_RECORD_FILE, REFERENCE_METHOD, REPORT_FILE, ROC_FIGURE, SEARCH_BUDGET_FILE)

__all__ = ["write_report", "REPORT_FILE", "GALLERY_SIZE"]

GALLERY_SIZE = 24          # images shown in the gallery at most
REPORT_COMMAND = "petl-bench report {run_dir}"
LEADERBOARD_FIGURES = {"roc": ROC_FIGURE, "auc_parameters": AUC_PARAMETERS_FIGURE}  # section -> figures/ file


def _header(lb: pd.DataFrame, proto: dict) -> dict:
    """The page's title and the facts its subtitle states."""
    repeats = proto["repeats"]
    scheme = (f"{proto['folds']}-fold cross-validation" if proto["scheme"] == "kfold" else "holdout splits") + \
        f", {len(repeats)} repeat{'s' if len(repeats) != 1 else ''}"
    return {"title": f"PETL benchmark: {proto['dataset']}, profile {proto['profile']}",
            "banner": synthetic_banner(proto), "n_methods": int((lb["method"] != REFERENCE_METHOD).sum()),
            "backbone": proto["backbone"], "scheme": scheme}


def write_report(run_dir, rebuild: bool = False, analyse: Callable[[Path], object] | None = None) -> Path:
    """Write ``RUN_DIR/index.html``, the self-contained report of a run folder, and return its path.

    The report refreshes the run folder's tables (:func:`benchmark.evaluation.derived.refresh`: those missing,
    older than their inputs or decided under another analysis plan; every one with ``rebuild=True``), draws
    the figures that are missing or older than their tables (:func:`benchmark.reporting.figures.draw_figures`),
    asks ``analyse`` (:func:`benchmark.analysis.write_analysis`, passed by ``petl-bench report``) for the model
    analysis when its tables are missing (a failure there becomes a note on the page), writes
    ``leaderboard.md|html``, then renders the page. Includes ``cost.csv`` and the analysis figures when present,
    a "not computed" note otherwise. The page is written atomically.
    """
    ctx = refresh(run_dir, force=rebuild)
    run_dir, data = ctx.run_dir, ctx.data
    proto = run_protocol(data)
    draw_figures(ctx, proto["synthetic"], force=rebuild)
    write_leaderboard_pages(ctx, proto)
    lb = pd.read_csv(run_dir / LEADERBOARD_FILE)
    sig = read_significance(run_dir)
    findings, analysis_notes = run_analysis(run_dir, analyse)
    backbone = (data.suite.get("profile") or {}).get("backbone") or {}
    figures = {section: run_dir / FIGURES_DIR / name for section, name in LEADERBOARD_FIGURES.items()}
    page = render(
        "index.html",
        header=_header(lb, proto),
        summary=summary(lb, sig, read_csv(run_dir / DETECTABLE_FILE),
                        read_json(run_dir / PLAN_RECORD_FILE).get("label")),
        reproduction=reproduction_section(lb, pd.read_csv(run_dir / CLAIMS_FILE), proto),
        leaderboard=leaderboard_section(lb, proto, read_csv(run_dir / SEARCH_BUDGET_FILE)),
        budget_curves=budget_curve_section(run_dir),
        significance=significance_section(run_dir, sig),
        repeats=repeats_section(run_dir),
        figures={section: embedded_figure(path) if path.is_file() else None for section, path in figures.items()},
        figures_command=f"petl-bench report {run_dir}",
        efficiency=efficiency_section(run_dir, data),
        external=external_section(run_dir, data, lb, sig),
        subgroups=subgroup_section(run_dir, data),
        calibration=calibration_section(run_dir, data, lb),
        clinical=clinical_section(run_dir, data),
        cost=cost_section(run_dir, list(lb["method"]),
                          (backbone.get("name", "BACKBONE"), backbone.get("image_size", "SIZE"))),
        analysis=analysis_section(run_dir, findings, analysis_notes),
        reliance=reliance_section(run_dir, data),
        gallery=gallery(run_dir, data, GALLERY_SIZE),
        protocol=protocol_section(run_dir, data, lb, read_records(run_dir, data), proto),
        report_command=REPORT_COMMAND.format(run_dir=run_dir),
    )
    return write_text_atomic(run_dir / REPORT_FILE, page)
