"""The report of a run folder: its tables rendered into pages, sections and figures; nothing is computed here
that is not a table of :mod:`benchmark.evaluation.derived` (or of :mod:`benchmark.analysis`).

* :mod:`~benchmark.reporting.pages` - the pages: ``index.html`` (:func:`write_report`: refresh the tables, draw
  the stale figures, render), ``leaderboard.md|html`` (:func:`write_leaderboard`), the site matrix's
  ``index.html`` (:func:`write_sites`); their templates are in ``templates/``;
* :mod:`~benchmark.reporting.sections` - one module per section of the pages, beside its template;
* :mod:`~benchmark.reporting.figures` - every figure declared once with the tables it is drawn from, on one canvas;
* :mod:`~benchmark.reporting.format` - how numbers look in a table; :mod:`~benchmark.reporting.render` - the
  templates' one Jinja2 environment; :mod:`~benchmark.reporting.inputs` - optional files read as empty when
  missing; :mod:`~benchmark.reporting.console` - what a command prints when it finishes.
"""
from benchmark.reporting.pages.index import write_report
from benchmark.reporting.pages.leaderboard import write_leaderboard
from benchmark.reporting.pages.sites import is_sites_folder, write_sites

__all__ = ["write_report", "write_leaderboard", "write_sites", "is_sites_folder"]
