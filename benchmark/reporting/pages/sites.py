"""The site matrix's files and page: every method trained at one hospital, tested at the others.

:func:`write_sites` takes the run folders of one matrix (``RUN_DIR/train-<set>/``, as
``run_all.sh --profile sites`` writes them, or one run folder per training set), brings each one's
leaderboard up to date, and writes into the output folder:

* ``site_matrix.csv``: one row per (method, training set, test set)
  (:func:`benchmark.evaluation.sites.site_matrix`: the cells read from each run's leaderboard.csv);
* ``site_ranks.csv``: each method's mean off-site AUC and its rank (:func:`~benchmark.evaluation.sites.site_ranks`);
* ``figures/site_matrix_<method>.png``: a heatmap per method (:mod:`benchmark.reporting.figures.sites`);
* ``index.html``: the ranks, the matrix, the heatmaps, the cross-set duplicate checks, each data
  set's licence and required citation, the clinical subgroups of every run that has them
  (:mod:`benchmark.reporting.sections.subgroups`), and links to each run's own report.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd

from benchmark.common.io import read_json, write_text_atomic
from benchmark.evaluation import load_run
from benchmark.evaluation.derived import refresh_sites
from benchmark.evaluation.sites import find_site_runs
from benchmark.reporting.format import fmt_int, fmt_number
from benchmark.reporting.render import embedded_figure, render
from benchmark.reporting.sections.subgroups import dataset_facts, subgroup_section
from benchmark.reporting.figures.sites import site_matrix_figure
from benchmark.runfolder import (EXTERNAL_FILE, FIGURES_DIR, REPORT_FILE, SITE_MATRIX_FILE, SITE_RANKS_FILE, SUITE_FILE,
                                 read_suite, site_figure)

__all__ = ["write_sites", "is_sites_folder", "duplicate_checks", "SITES_PAGE"]

SITES_PAGE = REPORT_FILE


def is_sites_folder(path) -> bool:
    """Whether ``path`` is a folder of site runs (``train-<set>/`` run folders) rather than a run folder."""
    path = Path(path)
    if (path / SUITE_FILE).is_file():
        return False
    try:
        return bool(find_site_runs([path]))
    except (FileNotFoundError, ValueError):
        return False


def _cell(row) -> str:
    return f"{fmt_number(row['auc'])} [{fmt_number(row['ci_low'])}, {fmt_number(row['ci_high'])}]"


def _matrix_rows(matrix: pd.DataFrame, tests: list[str]) -> list[list[str]]:
    """Per (method, training set): the cell of every test set, the on-site one marked."""
    rows = []
    for (method, train), part in matrix.groupby(["method", "train_set"], sort=False):
        cells = part.set_index("test_set")
        rows.append([method, train] + [("on site: " if t == train else "") + _cell(cells.loc[t])
                                       if t in cells.index else "—" for t in tests])
    return rows


def _rank_rows(ranks: pd.DataFrame) -> list[list[str]]:
    return [["—" if pd.isna(r["rank"]) else str(int(r["rank"])), r["method"],
             f"{fmt_number(r['mean_offsite_auc'])} [{fmt_number(r['mean_offsite_ci_low'])}, "
             f"{fmt_number(r['mean_offsite_ci_high'])}]", fmt_int(r["n_offsite"]), fmt_number(r["mean_onsite_auc"]),
             "—" if pd.isna(r["mean_drop"]) else f"{r['mean_drop']:+.3f}", r["note"] or ""]
            for _, r in ranks.iterrows()]


def duplicate_checks(runs, sets: list[str]) -> list[dict]:
    """Every unordered pair of ``sets``: how many images of one duplicate an image of the other, as each
    run's ``external.json`` recorded it (training set against each external set, and external sets among
    themselves); a pair that no run checked says so (``checked`` empty, ``duplicates`` None)."""
    found: dict[frozenset, list[tuple[str, int | None]]] = {}
    for run in runs:
        for name, facts in read_json(run.run_dir / EXTERNAL_FILE).items():
            if not isinstance(facts, dict):
                continue
            checks = {run.train_set: facts.get("duplicates_of_training_images"),
                      **(facts.get("duplicates_of_other_external_sets") or {})}
            for other, n in checks.items():
                found.setdefault(frozenset((name, other)), []).append((f"trained on {run.train_set}", n))
    rows = []
    for i, a in enumerate(sets):
        for b in sets[i + 1:]:
            seen = [(where, n) for where, n in found.get(frozenset((a, b)), []) if n is not None]
            rows.append({"a": a, "b": b, "duplicates": max((n for _, n in seen), default=None),
                         "checked": sorted({where for where, _ in seen})})
    return rows


def _duplicate_rows(checks: list[dict]) -> list[list[str]]:
    return [[c["a"], c["b"], "not checked" if c["duplicates"] is None else fmt_int(c["duplicates"]),
             ", ".join(c["checked"]) or "no run scored both"] for c in checks]


def _run_links(runs, out_dir: Path) -> list[dict]:
    links = []
    for run in runs:
        profile = (read_suite(run.run_dir).get("profile") or {}).get("name", "unknown")
        report = run.run_dir / REPORT_FILE
        links.append({"train_set": run.train_set, "profile": profile, "run_dir": str(run.run_dir),
                      "href": os.path.relpath(report, out_dir) if report.is_file() else None})
    return links


def _subgroups(runs) -> list[dict]:
    out = []
    for run in runs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            section = subgroup_section(run.run_dir, load_run(run.run_dir))
        if section:
            out.append({"train_set": run.train_set, "prefix": f"train-{run.train_set}-", "section": section})
    return out


def write_sites(paths, out_dir=None) -> dict[str, Path]:
    """Write the site matrix of the run folders ``paths`` (see the module) into ``out_dir`` (default:
    the one path given, when it is a folder of ``train-<set>/`` run folders); returns the files written."""
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    if out_dir is None:
        if len(paths) != 1 or not is_sites_folder(paths[0]):
            raise ValueError("give --out: the site matrix goes into the folder of the train-<set>/ run folders, and "
                             f"{', '.join(map(str, paths))} is not one such folder")
        out_dir = paths[0]
    out_dir = Path(out_dir)
    runs, matrix, ranks = refresh_sites(paths, out_dir)
    run_dirs = [run.run_dir for run in runs]
    written = {SITE_MATRIX_FILE: out_dir / SITE_MATRIX_FILE, SITE_RANKS_FILE: out_dir / SITE_RANKS_FILE}
    trains = [run.train_set for run in runs]
    tests = trains + [t for t in dict.fromkeys(matrix["test_set"]) if t not in trains]
    figures = []
    for method in ranks["method"]:
        path = site_matrix_figure(matrix, method, out_dir / FIGURES_DIR / site_figure(method), trains, tests)
        written[path.name] = path
        figures.append({"method": method, "figure": embedded_figure(path)})
    facts = [dataset_facts(next((r.run_dir for r in runs if r.train_set != t), run_dirs[0]), t) for t in tests]
    page = render("sites.html", title=f"PETL benchmark: trained at {', '.join(trains)}, tested at every site",
                  synthetic=any(f["synthetic"] for f in facts),
                  ranks=_rank_rows(ranks), tests=tests, matrix=_matrix_rows(matrix, tests), figures=figures,
                  blank=[t for t in trains if t not in set(matrix["train_set"])],
                  duplicates=_duplicate_rows(duplicate_checks(runs, tests)), datasets=facts,
                  subgroups=_subgroups(runs), runs=_run_links(runs, out_dir), files=[SITE_MATRIX_FILE, SITE_RANKS_FILE],
                  command=f"petl-bench report {out_dir}")
    written[SITES_PAGE] = write_text_atomic(out_dir / SITES_PAGE, page)
    return written
