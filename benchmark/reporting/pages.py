"""Rendering of the leaderboard: table cells, protocol text, and the Markdown and HTML pages.

Everything here turns the tables of :mod:`benchmark.evaluation` (``leaderboard.csv``,
``significance.csv``) into text; nothing is computed but formatting. The pages are the templates
``templates/leaderboard.md`` and ``templates/leaderboard.html`` (:mod:`benchmark.reporting.render`), fed
with the cells and sentences built here. :mod:`benchmark.reporting.report` reuses the table and protocol
helpers for ``index.html``.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.common.io import csv_flags, write_csv_atomic, write_json_atomic, write_text_atomic
from benchmark.reporting.report_repeats import repeats_section, write_repeat_tables
from benchmark.evaluation import (
    ALPHA,
    BELOW_REFERENCE,
    PRIMARY_TEST,
    RunData,
    TESTS,
    TEST_LABELS,
    fmt_p,
    leaderboard,
    load_run,
    nadeau_bengio_sizes,
    reference_sentences,
    significance,
    summary_sentences,
)
from benchmark.evaluation.detectable import detectable_differences
from benchmark.evaluation.plan import load_plan
from benchmark.reporting.families import with_families
from benchmark.reporting.render import embedded_figure, render
from benchmark.reporting.reproduction import reproduction_section, write_claims
from benchmark.runfolder import DETECTABLE_FILE, PLAN_RECORD_FILE, REFERENCE_METHOD, refresh_tables

__all__ = ["fmt_number", "fmt_int", "leaderboard_table", "run_protocol", "synthetic_banner", "leaderboard_notes",
           "protocol_items", "significance_table", "method_rows", "differences_by_test", "markdown_page", "html_page",
           "write_leaderboard"]

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
    header = (["rank", "method", "family", "fold-stratified AUC [95% CI]", "rank interval", "fold AUC (mean ± SD)",
               "pooled AUC (secondary)"]
              + (["vs reference (Δ AUC [95% CI])"] if reference else []) + [
               "accuracy / sensitivity / specificity (validation thresholds)",
               "corner acc / sens / spec (optimistic)"]
              + [h for e in externals for h in (f"{e} AUC per model (drop)", f"{e} ensemble AUC")]
              + ["trainable params", "s/epoch"] + [_COST_COLUMNS[c] for c in cost] + ["status"])
    rows = []
    for _, r in lb.iterrows():
        is_reference = r["method"] == REFERENCE_METHOD
        ranked = not pd.isna(r["rank"]) or is_reference  # the reference has numbers, not a rank
        row = [str(int(r["rank"])) if not pd.isna(r["rank"]) else ("ref" if is_reference else "—"), str(r["method"]),
               str(r.get("family", "")) if not pd.isna(r.get("family")) else "",
               f"{fmt_number(r['auc'])} {_ci(r['auc_ci_low'], r['auc_ci_high'])}" if ranked else "—",
               str(r["rank_interval"]) if not pd.isna(r["rank"]) else "—",
               f"{fmt_number(r['auc_fold_mean'])} ± {fmt_number(r['auc_fold_sd'])}" if ranked else "—",
               fmt_number(r.get("auc_pooled")) if ranked else "—"]
        if reference:
            row.append("—" if pd.isna(r["vs_reference"]) else
                       f"{r['vs_reference']:+.3f} {_ci(r['vs_reference_ci_low'], r['vs_reference_ci_high'])}"
                       + (" below" if _flag(r["below_reference"]) else ""))
        row += [" / ".join(fmt_number(r[k]) for k in ("accuracy", "sensitivity", "specificity")) if ranked else "—",
               " / ".join(fmt_number(r[f"{k}_corner"]) for k in ("accuracy", "sensitivity", "specificity"))
               if ranked else "—"]
        row += [cell for e in externals for cell in (
            f"{fmt_number(r[f'external_{e}_auc'])} ({fmt_number(r[f'external_{e}_drop'])})"
            + (" below" if _flag(r.get(f"external_{e}_below_reference")) else "") if ranked else "—",
            fmt_number(r.get(f"external_{e}_auc_ensemble")) if ranked else "—")]
        row += [_parameters(r), fmt_number(r["seconds_per_epoch"])]
        row += [fmt_number(r[c], 1) for c in cost]
        row.append(str(r["status"]) + (f"; significantly {BELOW_REFERENCE}"
                                       if _flag(r.get("below_reference")) else ""))
        rows.append(row)
    return header, rows


# The columns a reader needs first (the HTML pages show the others in a second table behind a toggle):
# rank, method, family, the ranked AUC, its rank interval, the reference, parameters, status.
MAIN_COLUMNS = ("rank", "method", "family", "fold-stratified AUC [95% CI]", "rank interval", "trainable params",
                "status")


def split_leaderboard(header: list[str], rows: list[list[str]]) -> dict:
    """``leaderboard_table``'s cells as two tables that each fit a page: ``main`` (:data:`MAIN_COLUMNS`, the
    ranked AUC and the difference to the reference) and ``more`` (the method, then every other column)."""
    main = [j for j, h in enumerate(header) if h in MAIN_COLUMNS or h.startswith("vs reference")]
    more = [header.index("method")] + [j for j in range(len(header)) if j not in main]
    return {"header": [header[j] for j in main], "rows": [[r[j] for j in main] for r in rows],
            "more_header": [header[j] for j in more], "more_rows": [[r[j] for j in more] for r in rows]}


def _parameters(r) -> str:
    """The trainable parameters of a method's selected models: the median, and the range when
    the folds selected models of different sizes."""
    low, high = r.get("trainable_parameters_min"), r.get("trainable_parameters_max")
    if pd.isna(low) or pd.isna(high) or low == high:
        return fmt_int(r["trainable_parameters"])
    return f"{fmt_int(r['trainable_parameters'])} ({fmt_int(low)}–{fmt_int(high)})"


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
        "search": profile.get("search") or {},
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


POOLED_VS_STRATIFIED = (
    "The pooled AUC (secondary column) also compares images scored by two different fold models, so it also "
    "measures whether the fold models agree in the scale of their scores, which is not what is being ranked.")
EXTERNAL_NOTE = (
    "External AUC per model: each fold model's own AUC on the external images, mean over the fold models (and "
    "repeats), with a bootstrap of the external images' duplicate groups; drop: the fold-stratified AUC minus it. "
    "Ensemble AUC: of the fold models' mean score per image, another statistic (an ensemble usually scores higher "
    "than its members).")


def leaderboard_notes(proto: dict) -> list[str]:
    """What the leaderboard's columns mean, for the pages."""
    repeats = len(proto["repeats"])
    scheme = (f"{proto['folds']}-fold cross-validation" + (f", {repeats} repeats" if repeats > 1 else "")
              if proto["scheme"] == "kfold" else f"holdout splits ({repeats})")
    notes = [
        f"Fold-stratified AUC (ranked): of the out-of-fold test scores ({scheme}; every image scored once per "
        "repeat by the fold model that did not see it), comparing only malignant-benign pairs scored by the same "
        "fold model, i.e. the per-fold AUCs weighted by each fold's malignant x benign pairs"
        f"{', mean over repeats' if repeats > 1 else ''}. {POOLED_VS_STRATIFIED} 95% CI: bootstrap of duplicate "
        f"groups within folds ({proto['n_groups']} groups of {proto['n_images']} images, "
        f"B = {proto['paired_resamples']:,}); leaderboard.csv also has the naive image-level interval "
        "(auc_ci_low_image, auc_ci_high_image). Rank interval: 95% bootstrap interval of the rank. Fold AUC: "
        "mean ± SD of the per-fold test AUCs. These intervals cover the sampling of the test images, not the "
        "randomness of the partition, the search and the training; the method-level test of every pair (corrected "
        f"t-test over the {repeats * proto['folds'] if proto['scheme'] == 'kfold' else repeats} fold models) "
        "includes it, and decides every 'significant' and every claim; petl-bench spread RUN_DIR RUN_DIR ... shows "
        "how far each AUC moves between runs.",
        "Accuracy, sensitivity and specificity: each image called malignant when its score reaches the threshold "
        "its fold chose on validation data (Youden's J), pooled. Corner: at the ROC point closest to (0, 1) of the "
        "test scores themselves - optimistic, for comparison with Byra 2021 only.",
    ]
    if proto["externals"]:
        notes.append(EXTERNAL_NOTE)
    if proto["concurrent_studies"] > 1:
        notes.append(f"s/epoch is the wall time per epoch each study recorded; up to {proto['concurrent_studies']} "
                     "studies ran at once (petl-bench suite --workers), each on its share of the machine. The cost "
                     "columns (petl-bench bench) measure every method alone.")
    return notes


def differences_by_test(sig: pd.DataFrame) -> list[dict]:
    """Per test present in ``sig`` (in the order of TESTS): its ``label``, whether it is the ``primary``
    one of the training data set (the first in ``sig``), and the ``sentences`` on the differences that survive
    Holm correction under it, one family per data set."""
    primary = set(sig.loc[sig["primary"].astype(bool) & (sig["dataset"] == sig["dataset"].iloc[0]), "test"]) \
        if "primary" in sig.columns and len(sig) else {PRIMARY_TEST}
    return [{"label": TEST_LABELS[t], "primary": t in primary, "sentences": summary_sentences(sig, tests=[t]),
             "n_significant": int(sig.loc[sig["test"] == t, "significant"].astype(bool).sum()),
             "counts": _counts(sig[sig["test"] == t]), "caveat": _caveat(sig, t, primary)}
            for t in TESTS if (sig["test"] == t).any()]


def _caveat(sig: pd.DataFrame, test: str, primary: set) -> str:
    """Why ``test``'s count weighs less: :data:`TEST_CAVEATS`, and, where the primary test of the training data set
    (the first in ``sig``) includes the run-to-run variance (repeats) and ``test`` does not, that it is conditional
    on the trained models."""
    parts = [TEST_CAVEATS.get(test, "")]
    if "conditional" in sig.columns and test not in primary:
        flags = csv_flags(sig["conditional"])
        if flags[sig["test"] == test].all() and not flags[sig["test"].isin(primary)].any():
            parts.insert(0, CONDITIONAL_SECONDARY.format(dataset=sig["dataset"].iloc[0]))
    return "; ".join(p for p in parts if p)


def _counts(part: pd.DataFrame) -> str:
    """How many comparisons of one test survive Holm, per data set (each its own family), training set first."""
    return "; ".join(f"{int(g['significant'].astype(bool).sum())} of {int(g['p'].notna().sum())} on {d}"
                     for d, g in part.groupby("dataset", sort=False))


# Why a secondary test's "significant" weighs less than the primary test's: the pages show these tests as a
# count with this caveat, their per-pair lines folded away (HTML) or only in significance.csv (Markdown).
CONDITIONAL_SECONDARY = ("conditional on the trained models (its p-value varies the test images only, one model per fold): "
                         "it leaves out the run-to-run variance that the primary test on {dataset} includes")
TEST_CAVEATS = {
    "delong": "it treats near-duplicate images as independent, so its p-values are too small where the data "
              "has copies",
    "nadeau_bengio": "per-fold-model AUCs: with a handful of fold models it has little power (detectable.csv)",
    "bootstrap_wilcoxon": "anti-conservative: its p-value shrinks as more bootstrap resamples are drawn, whatever "
                          "the data; shown for comparability with Byra (2021) only",
}


def _page_context(proto: dict, lb: pd.DataFrame, sig: pd.DataFrame) -> dict:
    """What the Markdown and the HTML page both show: banner, leaderboard, notes, surviving differences."""
    header, rows = leaderboard_table(lb)
    return {"proto": proto, "banner": synthetic_banner(proto), "header": header, "rows": rows,
            "notes": leaderboard_notes(proto), "reference": reference_sentences(lb),
            "no_tests": summary_sentences(sig)[0] if sig.empty else None, "tests": differences_by_test(sig),
            "protocol": protocol_items(proto), "reproduction": reproduction_section(lb, sig, proto)}


def markdown_page(proto: dict, lb: pd.DataFrame, sig: pd.DataFrame, repeats: dict | None = None) -> str:
    """``leaderboard.md``: banner (synthetic data), table, notes, the spread over repeats (``repeats``:
    :func:`benchmark.reporting.report_repeats.repeats_section`), surviving differences, protocol."""
    return render("leaderboard.md", **_page_context(proto, lb, sig), repeats=repeats)


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
             ("tests", (f"primary, method-level, on every data set: the corrected repeated k-fold t-test over all "
                        f"{len(proto['repeats'])} x {proto['folds']} per-fold-model AUC differences (Nadeau & Bengio "
                        "2003, Bouckaert & Frank 2004), which includes what a rerun varies (on an external data set "
                        "with the images' bootstrap variance added); decisions by analysis plan (docs/analysis-plan.md)"
                        "; secondary, conditional on the trained models: the paired cluster bootstrap of the "
                        "fold-stratified AUC (test images resampled, one trained model per fold)")
                       + " (per-model AUC on an external data set); DeLong on "
                       "each repeat's pooled scores (assumes independent images, which duplicates violate); "
                       "corrected t-test training size: " + proto["n_train_source"] + "; the bootstrap Wilcoxon "
                       "rank-sum test of Byra (2021), anti-conservative, for comparability. Holm correction over all "
                       f"pairs per data set, test and repeat (each data set a family of its own), alpha {ALPHA}"),
             ("resolution", f"the paired bootstrap's p-value cannot fall below 2/(B+1) = "
                            f"{2 / (proto['paired_resamples'] + 1):.5f}")]
    if len(proto["checksums"]) > 1:
        items.append(("WARNING", "the runs used different data (several checksums)"))
    return items


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
    """``leaderboard.html``: the Markdown page's content, the figures (``{caption: path}``) embedded, and
    every test."""
    return render("leaderboard.html", **_page_context(proto, lb, sig), alpha=ALPHA,
                  split=split_leaderboard(*leaderboard_table(lb)),
                  figures=[(caption, embedded_figure(path)) for caption, path in figures.items()],
                  methods=method_rows(data, lb), significance=None if sig.empty else significance_table(sig))


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


def write_leaderboard(run_dir, n_bootstrap: int | None = None) -> dict[str, Path]:
    """Rebuild the leaderboard of a run folder from disk.

    Writes (atomically) into ``run_dir``: ``leaderboard.csv`` (:func:`leaderboard`),
    ``significance.csv`` (:func:`significance`), ``detectable.csv``
    (:func:`benchmark.evaluation.detectable.detectable_differences`), ``analysis_plan.json`` (the version and
    hash of the analysis plan that decided the verdicts), ``figures/roc.png`` (pooled out-of-fold
    scores), ``figures/auc_vs_parameters.png``, ``figures/pvalues_nadeau_bengio.png`` (with
    at least two ranked methods), ``leaderboard.md`` and ``leaderboard.html`` (self-contained).
    If any run used synthetic data, the first line of the Markdown and the first element of
    the HTML page say so. ``predictions.csv`` and ``studies.csv`` are collected again first when
    they are older than the studies' own files (:func:`benchmark.runfolder.refresh_tables`).
    Returns ``{name: path}`` of the files written.
    """
    from benchmark.reporting import figures as fig  # matplotlib only when a report is written

    run_dir = Path(run_dir)
    refresh_tables(run_dir)
    data = load_run(run_dir, n_bootstrap)
    lb = with_families(leaderboard(data))
    sig = significance(data)
    proto = run_protocol(data)
    plan = load_plan()
    written = {"leaderboard.csv": write_csv_atomic(run_dir / "leaderboard.csv", lb),
               "significance.csv": write_csv_atomic(run_dir / "significance.csv", sig),
               DETECTABLE_FILE: write_csv_atomic(run_dir / DETECTABLE_FILE, detectable_differences(data, plan)),
               PLAN_RECORD_FILE: write_json_atomic(run_dir / PLAN_RECORD_FILE, {"version": plan.version, "sha256": plan.sha256,
                                                                      "margin": plan.margin, "label": plan.label})}
    written["claims.csv"] = write_claims(run_dir, lb, sig, data.internal)
    written.update(write_repeat_tables(run_dir, data))
    fig_dir = run_dir / "figures"
    figures = {}
    if data.order:
        figures["ROC curves of the pooled out-of-fold scores of every ranked method (AUC in the legend)"] = \
            fig.roc_figure(data, fig_dir / "roc.png")
        figures["Fold-stratified AUC against trainable parameters (error bars: 95% cluster-bootstrap CI)"] = \
            fig.auc_vs_parameters_figure(lb, fig_dir / "auc_vs_parameters.png", synthetic=proto["synthetic"])
    if (sig["test"] == PRIMARY_TEST).any():
        figures["Holm-adjusted p-values of the method-level test (corrected t-test) for every pair of methods"] = \
            fig.pvalue_matrix_figure(sig, fig_dir / f"pvalues_{PRIMARY_TEST}.png", test=PRIMARY_TEST,
                                     synthetic=proto["synthetic"])
    for path in figures.values():
        written[f"figures/{Path(path).name}"] = Path(path)
    written["leaderboard.md"] = write_text_atomic(run_dir / "leaderboard.md",
                                                  markdown_page(proto, lb, sig, repeats_section(run_dir)))
    written["leaderboard.html"] = write_text_atomic(run_dir / "leaderboard.html",
                                                    html_page(proto, lb, sig, figures, data))
    return written
