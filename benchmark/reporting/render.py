"""The pages' one Jinja2 environment, and figures embedded for it.

Every page of a run folder (``index.html``, ``leaderboard.html``, ``leaderboard.md``) is a template in
``benchmark/reporting/templates/``, which includes one template per report section from
``benchmark/reporting/sections/`` (``sections/<name>.html``, beside the module that computes its data), fed
with plain data (rows of text cells, sentences, figures) that
the other modules of :mod:`benchmark.reporting` compute; nothing here knows what a page says. HTML
templates are autoescaped, and both HTML pages inline the same stylesheet (``report.css``). Figures
travel as base64 PNG data URIs, so the pages need no network and no file beside them.
"""
from __future__ import annotations

import base64
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, PackageLoader, PrefixLoader, StrictUndefined, select_autoescape

__all__ = ["render", "embedded_figure", "data_uri", "FIGURE_SCALE"]

FIGURE_SCALE = 0.72  # CSS px per figure pixel: 150-dpi figures at about their printed size

_ENVIRONMENT = Environment(
    loader=ChoiceLoader([PackageLoader("benchmark.reporting", "templates"),  # pages, stylesheet, macros
                         PrefixLoader({"sections": PackageLoader("benchmark.reporting", "sections")})]),
    autoescape=select_autoescape(["html"]),  # leaderboard.md and report.css are text
    trim_blocks=True,            # a line holding only a {% tag %} leaves nothing in the page
    lstrip_blocks=True,
    keep_trailing_newline=True,  # every page ends with a newline
    undefined=StrictUndefined,   # a missing key is an error, not an empty cell
)


def render(template: str, **context) -> str:
    """The text of ``template`` (a name in ``templates/``, or ``sections/<name>.html``) filled with ``context``."""
    return _ENVIRONMENT.get_template(template).render(**context)


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...``: a PNG inside the page."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _png_width(png: bytes) -> int | None:
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        return None
    return int.from_bytes(png[16:20], "big")


def embedded_figure(path: Path) -> dict:
    """A PNG file as a page shows it: ``src`` (a data URI) and ``width`` (CSS px at about its printed
    size, or None when the file is no PNG the width can be read from)."""
    png = Path(path).read_bytes()
    width = _png_width(png)
    return {"src": data_uri(png), "width": None if width is None else round(width * FIGURE_SCALE)}
