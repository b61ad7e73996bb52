"""The report's leaderboard section (``sections/leaderboard.html``) and the leaderboard as every page shows it.

:func:`leaderboard_table` turns ``leaderboard.csv`` into text cells (the Markdown page, the HTML page and
``index.html`` share it), :func:`split_leaderboard` the main columns and the rest, :func:`leaderboard_notes` what
the table's numbers mean, :func:`family_table` the best method of each family, :func:`method_rows` each method's
description, citation and selected hyper-parameters.
"""
from __future__ import annotations

import pandas as pd

from benchmark.evaluation import BELOW_REFERENCE, RunData
from benchmark.evaluation.budget import budget_sentence, pruning_sentence
from benchmark.evaluation.families import with_families
from benchmark.reporting.format import fmt_int, fmt_interval, fmt_number, is_true
from benchmark.runfolder import REFERENCE_METHOD

__all__ = ["leaderboard_table", "split_leaderboard", "leaderboard_notes", "family_table", "method_rows",
           "leaderboard_section", "budget_section", "MAIN_COLUMNS", "POOLED_VS_STRATIFIED", "EXTERNAL_NOTE"]

def leaderboard_section(lb: pd.DataFrame, proto: dict, budget: pd.DataFrame | None = None) -> dict:
    """The leaderboard table (a row class marks the best, the reference and the unranked), its notes, the best of
    each family and the search budget (``budget``: ``search_budget.csv``)."""
    row_classes = ["best" if r == 1 else "reference" if m == REFERENCE_METHOD else "unranked" if pd.isna(r) else ""
                   for r, m in zip(lb["rank"], lb["method"])]
    family_header, family_rows = family_table(lb)
    return {**split_leaderboard(*leaderboard_table(lb)), "row_classes": row_classes,
            "notes": leaderboard_notes(proto), "family_header": family_header, "family_rows": family_rows,
            "budget": budget_section(budget)}


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
               f"{fmt_number(r['auc'])} {fmt_interval(r['auc_ci_low'], r['auc_ci_high'])}" if ranked else "—",
               str(r["rank_interval"]) if not pd.isna(r["rank"]) else "—",
               f"{fmt_number(r['auc_fold_mean'])} ± {fmt_number(r['auc_fold_sd'])}" if ranked else "—",
               fmt_number(r.get("auc_pooled")) if ranked else "—"]
        if reference:
            row.append("—" if pd.isna(r["vs_reference"]) else
                       f"{r['vs_reference']:+.3f} {fmt_interval(r['vs_reference_ci_low'], r['vs_reference_ci_high'])}"
                       + (" below" if is_true(r["below_reference"]) else ""))
        row += [" / ".join(fmt_number(r[k]) for k in ("accuracy", "sensitivity", "specificity")) if ranked else "—",
               " / ".join(fmt_number(r[f"{k}_corner"]) for k in ("accuracy", "sensitivity", "specificity"))
               if ranked else "—"]
        row += [cell for e in externals for cell in (
            f"{fmt_number(r[f'external_{e}_auc'])} ({fmt_number(r[f'external_{e}_drop'])})"
            + (" below" if is_true(r.get(f"external_{e}_below_reference")) else "") if ranked else "—",
            fmt_number(r.get(f"external_{e}_auc_ensemble")) if ranked else "—")]
        row += [_parameters(r), fmt_number(r["seconds_per_epoch"])]
        row += [fmt_number(r[c], 1) for c in cost]
        row.append(str(r["status"]) + (f"; significantly {BELOW_REFERENCE}"
                                       if is_true(r.get("below_reference")) else ""))
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


def family_table(lb: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """One row per family of ranked methods, best family first: its methods in rank order (with
    their fold-stratified AUCs), the best method, its AUC and rank interval."""
    if "family" not in lb.columns:
        lb = with_families(lb)
    ranked = lb[lb["rank"].notna()].sort_values(["rank", "method"], kind="stable")
    header = ["family", "best method", "its AUC [95% CI]", "its rank interval", "methods (rank order, AUC)"]
    rows = []
    for family, group in ranked.groupby("family", sort=False):
        best = group.iloc[0]
        members = ", ".join(f"{r.method} {r.auc:.3f}" for r in group.itertuples())
        rows.append([str(family), str(best["method"]),
                     f"{best['auc']:.3f} [{best['auc_ci_low']:.3f}, {best['auc_ci_high']:.3f}]",
                     str(best["rank_interval"]), members])
    return header, rows


BUDGET_HEADER = ["method", "studies", "trials run", "completed", "pruned", "failed (collapsed)", "epochs, all trials",
                 "epochs, selected models", "training time of the selected models", "time, all trials"]


def budget_section(budget: pd.DataFrame | None) -> dict | None:
    """``search_budget.csv`` as a table, and whether every method was given the same number of trials."""
    if budget is None or budget.empty:
        return None
    rows = [[str(r.method), fmt_int(r.n_studies), fmt_int(r.trials_run), fmt_int(r.trials_completed),
             fmt_int(r.trials_pruned), f"{fmt_int(r.trials_failed)} ({fmt_int(r.trials_collapsed)})",
             fmt_int(r.epochs_total), fmt_int(r.epochs_selected),
             _minutes(r.selected_train_seconds), _minutes(getattr(r, "search_seconds", float("nan")))]
            for r in budget.itertuples()]
    sentence = " ".join(t for t in (budget_sentence(budget), pruning_sentence(budget)) if t)
    return {"header": BUDGET_HEADER, "rows": rows, "sentence": sentence}


def _minutes(seconds) -> str:
    return "—" if pd.isna(seconds) else f"{seconds / 60:.1f} min"
