"""index.html of a real (smoke, synthetic) run, rendered in headless Chromium through Playwright.

Needs Debian's Chromium at /usr/bin/chromium and the ``playwright`` Python package (never
``playwright install``: the system browser is used). Skipped, saying how to install them,
when either is missing.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("PETL_BENCH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]

_missing = []
if not CHROMIUM.is_file():
    _missing.append(f"no Chromium at {CHROMIUM} (install it: `apt-get install -y chromium`)")
if importlib.util.find_spec("playwright") is None:
    _missing.append("the playwright package is missing (install it: `pip install playwright`; "
                    "do not run `playwright install`, the system Chromium is used)")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(bool(_missing), reason="; ".join(_missing) or "browser available")]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """`./run_all.sh --profile smoke` on synthetic data, end to end: search, bench, report."""
    reports = tmp_path_factory.mktemp("report_browser")
    env = {**os.environ, "PETL_BENCH_CACHE": str(tmp_path_factory.getbasetemp() / "cache")}
    done = subprocess.run(["./run_all.sh", "--profile", "smoke", "--dataset", "synthetic", "--reports",
                           str(reports)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir = (reports / "latest").resolve()
    assert (run_dir / "cost.csv").is_file() and (run_dir / "analysis" / "activation_rates.csv").is_file()
    return run_dir, run_dir / "index.html"


@pytest.fixture(scope="module")
def page(report):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
            pg = context.new_page()
            requests = []
            pg.on("request", lambda r: requests.append(r.url))
            pg.goto(report[1].as_uri(), wait_until="load")
            yield pg, requests
        finally:
            browser.close()


def test_every_image_loads(page):
    page, requests = page
    images = page.evaluate("""Array.from(document.images).map(i => ({
        alt: i.alt, complete: i.complete, width: i.naturalWidth}))""")
    # figures: ROC, AUC vs parameters, DeLong p-values, and at least one gallery thumbnail
    assert len(images) >= 4
    broken = [i["alt"] for i in images if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"images that did not load: {broken}"
    external = [u for u in requests if not u.startswith(("file:", "data:"))]
    assert not external, f"the page fetched {external}"


def test_leaderboard_has_one_row_per_method(page):
    page, _ = page
    header = page.evaluate("Array.from(document.querySelectorAll('#leaderboard thead th'))"
                           ".map(h => h.textContent.trim())")
    column = header.index("method")
    rows = page.evaluate("Array.from(document.querySelectorAll('#leaderboard tbody tr'))"
                         f".map(r => r.cells[{column}].textContent.trim())")
    from benchmark.plugins.registry import list_methods
    from benchmark.runfolder import REFERENCE_METHOD

    assert sorted(rows) == sorted([m.name for m in list_methods()] + [REFERENCE_METHOD])  # the suite's reference


def test_synthetic_banner_is_first_and_visible(page):
    page, _ = page
    first = page.evaluate("document.body.firstElementChild.className")
    assert "banner" in first
    assert page.locator(".banner").is_visible()
    assert "SYNTHETIC" in page.locator(".banner").inner_text()


def test_screenshot(page, report):
    page, _ = page
    out = report[0] / "report_screenshot.png"
    page.screenshot(path=str(out), full_page=True)
    assert out.stat().st_size > 10_000
    with open(out, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_page_opens_on_the_reproduction_section(page):
    """The first section is Byra (2021)'s question, and its start is on the first screen (1280 x 900)."""
    page, _ = page
    first = page.evaluate("document.querySelector('section').id")
    assert first == "reproduction"
    top = page.evaluate("document.querySelector('#reproduction').getBoundingClientRect().top")
    assert 0 <= top < 900 * 0.5
    rows = page.evaluate("Array.from(document.querySelectorAll('#reproduction-table tbody tr'))"
                         ".map(r => r.cells[0].textContent)")
    from benchmark.evaluation import PAPER_METHODS

    assert [f"{pm.label} ({pm.method})" for pm in PAPER_METHODS] == rows
    verdicts = page.evaluate("Array.from(document.querySelectorAll('#reproduction table.claims tbody tr'))"
                             ".map(r => r.cells[r.cells.length - 1].textContent)")
    from benchmark.evaluation import CLAIMS

    assert len(verdicts) >= len(CLAIMS) and all(v.split(":")[0] in (
        "supported", "contradicted", "not resolved at this size", "not tested") for v in verdicts)


def test_leaderboard_needs_no_horizontal_scroll_at_1280px(page):
    page, _ = page
    assert page.viewport_size["width"] == 1280
    widths = page.evaluate("""() => {
        const table = document.querySelector('#leaderboard');
        const box = table.parentElement;
        return {table: table.scrollWidth, box: box.clientWidth, page: document.documentElement.scrollWidth};
    }""")
    assert widths["table"] <= widths["box"], widths
    assert widths["page"] <= 1280, widths
