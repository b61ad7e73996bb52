"""Rendering of the leaderboard: table cells, protocol text, and the Markdown and HTML pages.

Everything here turns the tables of :mod:`benchmark.leaderboard` (``leaderboard.csv``,
``significance.csv``) into text; nothing is computed but formatting. :mod:`benchmark.report`
reuses the table and protocol helpers for ``index.html``.
"""
from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from .leaderboard import (
    ALPHA,
    PRIMARY_TEST,
    TEST_LABELS,
    TESTS,
    RunData,
    fmt_p,
    REFERENCE_METHOD,
    nadeau_bengio_sizes,
    reference_sentences,
    summary_sentences,
)

__all__ = ["fmt_number", "fmt_int", "leaderboard_table", "run_protocol", "synthetic_banner", "leaderboard_notes",
           "protocol_items", "significance_table", "method_rows", "markdown_page", "html_page"]

_NAN = float("nan")


def fmt_number(x, digits: int = 3) -> str:
    """A number for a report table: fixed ``digits``, or an em dash for missing."""
    return "—" if x is None or pd.isna(x) else f"{x:.{digits}f}"


def fmt_int(x) -> str:
    """A count for a report table, with thousands separators, or an em dash for missing."""
    return "—" if x is None or pd.isna(x) else f"{int(x):,}"


def _ci(lo, hi) -> str:
    return "—" if pd.isna(lo) else f"[{lo:.3f}, {hi:.3f}]"


def _flag(value) -> bool:
    """A boolean cell that may be missing (NA: not known) as True or False."""
    return value is not None and not pd.isna(value) and bool(value)


_COST_COLUMNS = {"train_images_per_s": "train img/s", "infer_images_per_s": "infer img/s"}


def leaderboard_table(lb: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The leaderboard as shown (header, rows of text cells): the Markdown, the HTML and the report."""
    externals = [c[len("external_"):-len("_auc")] for c in lb.columns
                 if c.startswith("external_") and c.endswith("_auc")]
    cost = [c for c in _COST_COLUMNS if c in lb.columns]
    reference = "vs_reference" in lb.columns and (lb["method"] == REFERENCE_METHOD).any()
    header = (["rank", "method", "AUC [95% CI]", "rank interval", "fold AUC (mean ± SD)"]
              + (["vs reference (Δ AUC [95% CI])"] if reference else []) + [
               "accuracy / sensitivity / specificity (validation thresholds)",
               "corner acc / sens / spec (optimistic)"]
              + [f"{e} AUC (drop)" for e in externals]
              + ["trainable params", "s/epoch"] + [_COST_COLUMNS[c] for c in cost] + ["status"])
    rows = []
    for _, r in lb.iterrows():
        is_reference = r["method"] == REFERENCE_METHOD
        ranked = not pd.isna(r["rank"]) or is_reference  # the reference has numbers, not a rank
        row = [str(int(r["rank"])) if not pd.isna(r["rank"]) else ("ref" if is_reference else "—"), str(r["method"]),
               f"{fmt_number(r['auc'])} {_ci(r['auc_ci_low'], r['auc_ci_high'])}" if ranked else "—",
               str(r["rank_interval"]) if not pd.isna(r["rank"]) else "—",
               f"{fmt_number(r['auc_fold_mean'])} ± {fmt_number(r['auc_fold_sd'])}" if ranked else "—"]
        if reference:
            row.append("—" if pd.isna(r["vs_reference"]) else
                       f"{r['vs_reference']:+.3f} {_ci(r['vs_reference_ci_low'], r['vs_reference_ci_high'])}"
                       + (" below" if _flag(r["below_reference"]) else ""))
        row += [" / ".join(fmt_number(r[k]) for k in ("accuracy", "sensitivity", "specificity")) if ranked else "—",
               " / ".join(fmt_number(r[f"{k}_corner"]) for k in ("accuracy", "sensitivity", "specificity"))
               if ranked else "—"]
        row += [f"{fmt_number(r[f'external_{e}_auc'])} ({fmt_number(r[f'external_{e}_drop'])})" if ranked else "—"
                for e in externals]
        row += [fmt_int(r["trainable_parameters"]), fmt_number(r["seconds_per_epoch"])]
        row += [fmt_number(r[c], 1) for c in cost]
        row.append(str(r["status"]) + ("; significantly below the reference"
                                       if _flag(r.get("below_reference")) else ""))
        rows.append(row)
    return header, rows


def run_protocol(data: RunData) -> dict:
    """What the pages say about the run: profile, backbone, data, folds, bootstrap, synthetic or not."""
    profile = data.suite.get("profile") or {}
    backbone = profile.get("backbone") or {}
    evaluation = profile.get("evaluation") or {}
    runs = data.runs
    inner = data.rows()
    synthetic = bool(runs["synthetic"].any()) if len(runs) else data.internal == "synthetic"
    n_train, _, n_train_source = nadeau_bengio_sizes(data) if data.order else (_NAN, _NAN, "")
    return {
        "profile": profile.get("name", "unknown"),
        "profile_description": profile.get("description"),
        "backbone": f"{backbone.get('name', 'unknown')}, {backbone.get('image_size', '?')} px"
        if backbone else "unknown",
        "dataset": data.internal,
        "externals": list(data.externals),
        "checksums": sorted({c for c in runs["dataset_checksum"].dropna()}),
        "n_images": int(inner["image_id"].nunique()),
        "n_groups": int(inner["group"].nunique()),
        "scheme": evaluation.get("scheme", "kfold" if inner["fold"].nunique() > 1 else "holdout"),
        "folds": int(evaluation.get("folds") or inner["fold"].nunique()),
        "repeats": sorted(int(r) for r in inner["repeat"].unique()),
        "split_seeds": list(evaluation.get("split_seeds") or []),
        "n_bootstrap": data.n_bootstrap,
        "paired_resamples": data.paired_resamples(),
        "n_train_source": n_train_source,
        "concurrent_studies": int(runs["concurrent_studies"].max()) if len(runs) else 1,
        "synthetic": synthetic,
        "mixed": bool(len(runs) and runs["synthetic"].any() and not runs["synthetic"].all()),
    }


def synthetic_banner(proto: dict) -> str | None:
    """The warning every page opens with when any run used synthetic data; None otherwise."""
    if not proto["synthetic"]:
        return None
    mixed = " (some runs)" if proto["mixed"] else ""
    return (f"SYNTHETIC DATA{mixed}: these results are on generated synthetic images, not on real "
            "ultrasound; they are a wiring check and say nothing about BUSI.")


def leaderboard_notes(proto: dict) -> list[str]:
    """What the leaderboard's columns mean, for the pages."""
    repeats = len(proto["repeats"])
    scheme = (f"{proto['folds']}-fold cross-validation" + (f", {repeats} repeats" if repeats > 1 else "")
              if proto["scheme"] == "kfold" else f"holdout splits ({repeats})")
    notes = [
        f"AUC: of the pooled out-of-fold test scores ({scheme}; every image scored once per repeat by the model "
        f"that did not see it){', mean over repeats' if repeats > 1 else ''}. 95% CI: bootstrap of duplicate groups "
        f"({proto['n_groups']} groups of {proto['n_images']} images, B = {proto['paired_resamples']:,}); "
        "leaderboard.csv also has the naive image-level interval (auc_ci_low_image, auc_ci_high_image). "
        "Rank interval: 95% bootstrap interval of the rank. Fold AUC: mean ± SD of the per-fold test AUCs.",
        "Accuracy, sensitivity and specificity: each image called malignant when its score reaches the threshold "
        "its fold chose on validation data (Youden's J), pooled. Corner: at the ROC point closest to (0, 1) of the "
        "test scores themselves - optimistic, for comparison with Byra 2021 only.",
    ]
    if proto["concurrent_studies"] > 1:
        notes.append(f"s/epoch is the wall time per epoch each study recorded; up to {proto['concurrent_studies']} "
                     "studies ran at once (petl-bench suite --workers), each on its share of the machine. The cost "
                     "columns (petl-bench bench) measure every method alone.")
    return notes


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def _test_heading(test: str) -> str:
    return TEST_LABELS[test] + (" (primary)" if test == PRIMARY_TEST else "")


def markdown_page(proto: dict, lb: pd.DataFrame, sig: pd.DataFrame) -> str:
    """``leaderboard.md``: banner (synthetic data), table, notes, surviving differences, protocol."""
    lines = []
    banner = synthetic_banner(proto)
    if banner:
        lines += [f"**{banner}**", ""]
    lines += [f"# Leaderboard: {proto['dataset']}, profile {proto['profile']}", ""]
    header, rows = leaderboard_table(lb)
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---:", "---"] + ["---:"] * (len(header) - 3) + ["---"]) + "|")
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    lines.append("")
    lines += leaderboard_notes(proto)
    lines += [""] + reference_sentences(lb) if reference_sentences(lb) else []
    lines += ["", "## Which differences survive Holm correction", ""]
    if sig.empty:
        lines.append(summary_sentences(sig)[0])
    for test in [t for t in TESTS if (sig["test"] == t).any()]:
        lines += [f"### {_test_heading(test)}", ""]
        lines += [f"- {s}" for s in summary_sentences(sig, tests=[test])]
        lines.append("")
    lines += ["", "## Protocol", ""]
    lines += [f"- {k}: {v}" for k, v in protocol_items(proto)]
    lines.append("")
    return "\n".join(lines)


def protocol_items(proto: dict) -> list[tuple[str, str]]:
    """The protocol as (label, text) pairs, for the pages."""
    repeats = ", ".join(map(str, proto["repeats"]))
    scheme = (f"{proto['folds']}-fold cross-validation, duplicate groups kept whole, repeats {repeats}"
              if proto["scheme"] == "kfold" else f"holdout splits, repeats {repeats}")
    if proto["split_seeds"]:
        scheme += f" (partition seeds {', '.join(map(str, proto['split_seeds']))})"
    items = [("profile", proto["profile"] + (f" ({proto['profile_description']})"
                                             if proto["profile_description"] else "")),
             ("backbone", proto["backbone"]),
             ("dataset", proto["dataset"] + (" (synthetic)" if proto["synthetic"] and "synthetic" not in
                                             proto["dataset"] else "")),
             ("external data sets", ", ".join(proto["externals"]) or "none"),
             ("data checksum", ", ".join(proto["checksums"]) or "unknown"),
             ("images", f"{proto['n_images']} in {proto['n_groups']} duplicate groups"),
             ("evaluation", scheme),
             ("bootstrap resamples", f"{proto['paired_resamples']:,} (duplicate groups, stratified by class, paired "
                                     f"across methods and repeats); the paper's Wilcoxon test uses "
                                     f"{proto['n_bootstrap']:,}"),
             ("tests", "paired cluster bootstrap of the pooled AUC (primary); DeLong on each repeat's pooled scores "
                       "(assumes independent images, which duplicates violate); corrected resampled t-test on "
                       "per-fold AUCs (Nadeau & Bengio 2003, training size: " + proto["n_train_source"] + "); the "
                       "bootstrap Wilcoxon rank-sum test of Byra (2021), anti-conservative, for comparability. Holm "
                       f"correction over all pairs per data set, test and repeat, alpha {ALPHA}"),
             ("resolution", f"the paired bootstrap's p-value cannot fall below 2/(B+1) = "
                            f"{2 / (proto['paired_resamples'] + 1):.5f}")]
    if len(proto["checksums"]) > 1:
        items.append(("WARNING", "the runs used different data (several checksums)"))
    return items


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
color:#222;line-height:1.45;padding:0 1em}
.banner{background:#b00020;color:#fff;font-weight:bold;font-size:1.3em;padding:.8em 1em;border-radius:4px}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
.note{color:#555;font-size:.9em}li{margin:.2em 0}table.text td,table.text th{text-align:left;vertical-align:top}
"""


def _html_table(header: list[str], rows: list[list[str]], css_class: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    cls = f' class="{css_class}"' if css_class else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def significance_table(sig: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """``significance.csv`` as shown: (header, rows of text cells)."""
    header = ["data set", "test", "repeat", "method A", "method B", "AUC A", "AUC B", "difference", "statistic",
              "95% CI", "p", "Holm p", "significant"]
    rows = []
    for _, r in sig.iterrows():
        ci = "" if pd.isna(r["ci_low"]) else f"{r['ci_low']:+.3f} to {r['ci_high']:+.3f}"
        rows.append([str(r["dataset"]), r["test"], "all" if pd.isna(r["repeat"]) else str(int(r["repeat"])),
                     r["method_a"], r["method_b"], fmt_number(r["auc_a"]), fmt_number(r["auc_b"]),
                     fmt_number(r["difference"]), fmt_number(r["statistic"], 2), ci, fmt_p(r["p"]).lstrip("="),
                     fmt_p(r["p_holm"]).lstrip("="), "yes" if r["significant"] else "no"])
    return header, rows


def html_page(proto: dict, lb: pd.DataFrame, sig: pd.DataFrame, figures: dict, data: RunData) -> str:
    """``leaderboard.html``: the Markdown page's content, the figures embedded, and every test."""
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>Leaderboard: {esc(proto['dataset'])}, profile {esc(proto['profile'])}</title>",
             f"<style>{_CSS}</style></head><body>"]
    banner = synthetic_banner(proto)
    if banner:
        parts.append(f'<div class="banner" role="alert">{esc(banner)}</div>')
    parts.append(f"<h1>Leaderboard: {esc(proto['dataset'])}, profile {esc(proto['profile'])}</h1>")
    parts.append(_html_table(*leaderboard_table(lb)))
    parts += [f'<p class="note">{esc(n)}</p>' for n in leaderboard_notes(proto)]
    parts += [f"<p>{esc(n)}</p>" for n in reference_sentences(lb)]
    parts.append("<h2>Which differences survive Holm correction</h2>")
    if sig.empty:
        parts.append(f"<p>{esc(summary_sentences(sig)[0])}</p>")
    else:
        parts.append(
            "<p>Every pair of ranked methods is compared on the same images. Within each data set, test and repeat "
            f"the p-values of all pairs are adjusted with Holm's method; a difference is called significant when "
            f"the adjusted p is below {ALPHA}. The paired cluster bootstrap is the primary test. DeLong's test "
            "treats duplicated images as independent; the bootstrap Wilcoxon test of Byra (2021) is shown for "
            "comparability only: its p-value shrinks as more bootstrap resamples are drawn, whatever the data.</p>")
        for test in [t for t in TESTS if (sig["test"] == t).any()]:
            parts.append(f"<h3>{esc(_test_heading(test))}</h3>")
            parts.append("<ul>" + "".join(f"<li>{esc(s)}</li>" for s in summary_sentences(sig, tests=[test]))
                         + "</ul>")
    parts.append("<h2>Figures</h2>")
    for caption, path in figures.items():
        png = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        parts.append(f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{png}">'
                     f"<figcaption class=\"note\">{esc(caption)}</figcaption></figure>")
    parts.append("<h2>Protocol</h2><ul>")
    parts += [f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in protocol_items(proto)]
    parts.append("</ul><h3>Methods</h3>")
    parts.append(_html_table(["method", "description", "citation", "selected hyper-parameters"],
                             method_rows(data, lb), "text"))
    if not sig.empty:
        parts.append("<details><summary>All pairwise tests (significance.csv)</summary>")
        parts.append(_html_table(*significance_table(sig)))
        parts.append("</details>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def method_rows(data: RunData, lb: pd.DataFrame) -> list[list[str]]:
    """Per method: name, description, citation and the hyper-parameters each fold selected."""
    rows = []
    for m in lb["method"]:
        per = data.runs[data.runs["method"] == m]
        desc, cite = per["description"].dropna(), per["citation"].dropna()
        hp = "; ".join(f"r{int(r.repeat)}f{int(r.fold)}: lr {r.lr:g}, β1 {r.beta1:g}"
                       + ("" if r.method_params in ("{}", None) else f", {r.method_params}")
                       for r in per.itertuples())
        rows.append([m, desc.iloc[0] if len(desc) else "", cite.iloc[0] if len(cite) else "", hp])
    return rows
