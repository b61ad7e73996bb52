"""The leaderboard pages, ``leaderboard.md`` and ``leaderboard.html``: the templates of the same names, fed with
the cells and sentences of the sections (:mod:`benchmark.reporting.sections`: the leaderboard, the significance,
the reproduction, the repeats, the protocol) from the run folder's tables. :func:`write_leaderboard` refreshes the
tables and figures first, for a caller that wants the leaderboard alone (the suite when it ends).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.common.io import write_text_atomic
from benchmark.evaluation import ALPHA, PRIMARY_TEST, RunData, reference_sentences, summary_sentences
from benchmark.evaluation.derived import Context, refresh
from benchmark.reporting.figures import draw_figures
from benchmark.reporting.inputs import read_csv, read_significance
from benchmark.reporting.render import embedded_figure, render
from benchmark.reporting.sections.leaderboard import (budget_section, leaderboard_notes, leaderboard_table,
                                                      method_rows, split_leaderboard)
from benchmark.reporting.sections.budget_curves import budget_curve_section
from benchmark.reporting.sections.protocol import protocol_items, run_protocol, synthetic_banner
from benchmark.reporting.sections.repeats import repeats_section
from benchmark.reporting.sections.reproduction import reproduction_section
from benchmark.reporting.sections.significance import differences_by_test, significance_table
from benchmark.runfolder import (AUC_PARAMETERS_FIGURE, CLAIMS_FILE, FIGURES_DIR, LEADERBOARD_FILE, LEADERBOARD_PAGES,
                                 ROC_FIGURE, SEARCH_BUDGET_FILE, pvalue_figure)

__all__ = ["markdown_page", "leaderboard_markdown", "html_page", "write_leaderboard_pages", "write_leaderboard",
           "LEADERBOARD_FIGURE_CAPTIONS"]



def _page_context(proto: dict, lb: pd.DataFrame, sig: pd.DataFrame, claims: pd.DataFrame,
                  budget: pd.DataFrame | None = None) -> dict:
    """What the Markdown and the HTML page both show: banner, leaderboard, notes, surviving differences."""
    header, rows = leaderboard_table(lb)
    return {"proto": proto, "banner": synthetic_banner(proto), "header": header, "rows": rows,
            "notes": leaderboard_notes(proto), "reference": reference_sentences(lb),
            "no_tests": summary_sentences(sig)[0] if sig.empty else None, "tests": differences_by_test(sig),
            "protocol": protocol_items(proto), "reproduction": reproduction_section(lb, claims, proto),
            "budget": budget_section(budget)}


def markdown_page(proto: dict, lb: pd.DataFrame, sig: pd.DataFrame, claims: pd.DataFrame,
                  repeats: dict | None = None, budget: pd.DataFrame | None = None,
                  budget_curves: dict | None = None) -> str:
    """``leaderboard.md``: banner (synthetic data), table, notes, the search budget and the ranking against it
    (``budget_curves``: :func:`benchmark.reporting.sections.budget_curves.budget_curve_section`), the spread over
    repeats (``repeats``: :func:`benchmark.reporting.sections.repeats.repeats_section`), surviving differences,
    protocol."""
    return render("leaderboard.md", **_page_context(proto, lb, sig, claims, budget), repeats=repeats,
                  budget_curves=budget_curves)


def html_page(proto: dict, lb: pd.DataFrame, sig: pd.DataFrame, claims: pd.DataFrame, figures: dict,
              data: RunData, budget: pd.DataFrame | None = None) -> str:
    """``leaderboard.html``: the Markdown page's content, the figures (``{caption: path}``) embedded, and
    every test."""
    return render("leaderboard.html", **_page_context(proto, lb, sig, claims, budget), alpha=ALPHA,
                  split=split_leaderboard(*leaderboard_table(lb)),
                  figures=[(caption, embedded_figure(path)) for caption, path in figures.items()],
                  methods=method_rows(data, lb), significance=None if sig.empty else significance_table(sig))


LEADERBOARD_FIGURE_CAPTIONS = (  # the figures of leaderboard.html, in its order
    (ROC_FIGURE, "ROC curves of the pooled out-of-fold scores of every ranked method (AUC in the legend)"),
    (AUC_PARAMETERS_FIGURE, "Fold-stratified AUC against trainable parameters (error bars: 95% cluster-bootstrap CI)"),
    (pvalue_figure(PRIMARY_TEST),
     "Holm-adjusted p-values of the method-level test (corrected t-test) for every pair of methods"),
)


def leaderboard_markdown(ctx: Context, proto: dict | None = None) -> str:
    """``leaderboard.md``'s text from a refreshed run folder's tables (``proto``: :func:`run_protocol`'s)."""
    run_dir = ctx.run_dir
    return markdown_page(proto or run_protocol(ctx.data), ctx.table(LEADERBOARD_FILE), read_significance(run_dir),
                         pd.read_csv(run_dir / CLAIMS_FILE), repeats_section(run_dir),
                         read_csv(run_dir / SEARCH_BUDGET_FILE), budget_curve_section(run_dir))


def write_leaderboard_pages(ctx: Context, proto: dict) -> dict[str, Path]:
    """``leaderboard.md`` and ``leaderboard.html`` of a refreshed run folder (its tables and figures current)."""
    run_dir = ctx.run_dir
    lb, sig = ctx.table(LEADERBOARD_FILE), read_significance(run_dir)
    claims = pd.read_csv(run_dir / CLAIMS_FILE)
    figures = {caption: run_dir / FIGURES_DIR / name for name, caption in LEADERBOARD_FIGURE_CAPTIONS
               if (run_dir / FIGURES_DIR / name).is_file()}
    md, html = LEADERBOARD_PAGES
    budget = read_csv(run_dir / SEARCH_BUDGET_FILE)
    return {md: write_text_atomic(run_dir / md, leaderboard_markdown(ctx, proto)),
            html: write_text_atomic(run_dir / html, html_page(proto, lb, sig, claims, figures, ctx.data, budget))}


def write_leaderboard(run_dir, n_bootstrap: int | None = None) -> dict[str, Path]:
    """Rebuild the leaderboard of a run folder from disk: its tables (:func:`benchmark.evaluation.derived.refresh`,
    the leaderboard's always, the others when stale), its figures (:func:`benchmark.reporting.figures.draw_figures`)
    and ``leaderboard.md|html``. If any run used synthetic data, the first line of the Markdown and the first
    element of the HTML page say so. Returns ``{name: path}`` of the files written."""
    ctx = refresh(run_dir, force=True, n_bootstrap=n_bootstrap)
    proto = run_protocol(ctx.data)
    written = {name: ctx.run_dir / name for name in ctx.built}
    written.update(draw_figures(ctx, proto["synthetic"], force=True))
    written.update(write_leaderboard_pages(ctx, proto))
    return written
