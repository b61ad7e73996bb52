"""Budget curves: how the leaderboard would read had each study run only its first k trials.

Optuna's trial sequence does not depend on how many trials follow, so a study of K trials contains
the studies of 1..K trials. For every budget k, each study's selection rule (the one the search
applied, :class:`benchmark.stats.selection.SelectionRule`, with the study's metric, tie width and
validation counts from its record) is replayed on the completed trials among its first k trials
(counted in Optuna's trial order: completed, pruned and failed trials each use one; a trial a killed
run left behind does not); the trial it picks has scored the test fold when it finished
(``trial_predictions.csv``, :mod:`benchmark.training.trial_predictions`). Selection reads validation
values only (``trials.csv`` and the records); the test rows are read only after it.

``budget_curve.csv`` (:func:`budget_curves`), one row per method and budget: the fold-stratified AUC of
the selected trials (:func:`benchmark.stats.stratified_auc`, mean over repeats) with its 95% interval
from the duplicate-group bootstrap the leaderboard uses (groups resampled within folds, the same
resamples for every method and budget), the method's rank at k (1 = best), Kendall's tau of the
ranking at k against the ranking at K, and how many studies selected another trial than at K.
``tuning_gain.csv``: per method the gain from tuning (AUC at K minus AUC at k = 1, the method's
default point) with the method-level interval and p (``gain_ci_low``, ``gain_ci_high``, ``gain_p``: the
corrected t-test over the per-fold AUC differences of the fold models at K and at k = 1, so a rerun's
variance is in it) and the paired bootstrap interval of these trained models (``gain_ci_low_image``,
``gain_ci_high_image``: the test images resampled), and the budget from which its AUC stays within
:data:`STABLE_WITHIN` of its AUC at K. A run without trial predictions has neither.
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from benchmark.evaluation.draws import BOOTSTRAP_SEED
from benchmark.evaluation.method_level import method_level
from benchmark.evaluation.pairwise import PRIMARY_TEST, significance
from benchmark.evaluation.reference import reference_comparison
from benchmark.evaluation.reproduction import paper_claims
from benchmark.evaluation.run_data import _NAN, CONFIDENCE, RunData, with_predictions
from benchmark.runfolder import (BUDGET_CONCLUSIONS_FILE, BUDGET_CURVE_FILE, RESULTS_FILE, TRIAL_PREDICTIONS_FILE, TRIALS_FILE, TUNING_GAIN_FILE,
                                 read_record, study_folders)
from benchmark.runfolder.sizes import record_size, select_size
from benchmark.stats import cluster_bootstrap_aucs, percentile_interval, stratified_auc
from benchmark.stats.selection import SelectionRule

__all__ = ["BUDGET_CURVE_COLUMNS", "TUNING_GAIN_COLUMNS", "BUDGET_CONCLUSION_COLUMNS", "STABLE_WITHIN",
           "CONCLUSION_BUDGETS", "study_rules", "budget_selections", "budget_curves", "budget_conclusions",
           "budget_curve_sentence", "budget_conclusion_sentence"]

BUDGET_CURVE_COLUMNS = ["method", "budget", "auc", "auc_ci_low", "auc_ci_high", "rank", "kendall_tau",
                        "n_studies", "studies_changed", "selected_trials"]
TUNING_GAIN_COLUMNS = ["method", "budget", "auc_default", "auc_tuned", "gain", "gain_ci_low", "gain_ci_high", "gain_p",
                       "gain_ci_low_image", "gain_ci_high_image", "stable_from", "rank_default", "rank_tuned"]
STABLE_WITHIN = 0.01  # a method's AUC has stopped moving once it stays this close to its AUC at K
CONCLUSION_BUDGETS = (1, 2, 4, 8)  # and K: the budgets at which the report's conclusions are redrawn
BUDGET_CONCLUSION_COLUMNS = ["budget", "dataset", "kind", "conclusion", "verdict", "as_at_top"]
_KEY = ["method", "repeat", "fold"]


def study_rules(run_dir, train_size: str | None = None) -> dict[tuple, tuple[SelectionRule, dict]]:
    """Each finished study's selection rule and its trials' selection values, from its ``results.json``:
    ``{(method, repeat, fold): (rule, {trial number: value})}`` (``train_size``: that size's studies)."""
    out = {}
    for folder in study_folders(run_dir):
        record = read_record(folder / RESULTS_FILE, warn=False) if (folder / RESULTS_FILE).is_file() else None
        if record is None or (train_size is not None and record_size(record) != train_size):
            continue
        config, search, dataset = record.get("config") or {}, record.get("search") or {}, record.get("dataset") or {}
        n_val = (dataset.get("split_sizes") or {}).get("val")
        n_pos = (dataset.get("split_malignant") or {}).get("val")
        tie_se = float(search.get("tie_se", 0.0) or 0.0)
        if tie_se > 0 and (n_val is None or n_pos is None):
            raise ValueError(f"{folder / RESULTS_FILE}: the selection rule needs the validation set's size and "
                             "malignant count (dataset.split_sizes.val, dataset.split_malignant.val)")
        rule = SelectionRule(search.get("selection_metric") or "auc", tie_se, int(n_pos or 0),
                             int((n_val or 0) - (n_pos or 0)))
        values = {int(t["number"]): t["value"] for t in search.get("trials") or [] if t.get("value") is not None}
        out[(str(config.get("method")), int(config.get("repeat", 0)), int(config.get("fold", 0)))] = (rule, values)
    return out


def _counted(part: pd.DataFrame) -> pd.DataFrame:
    """A study's trials that used budget, in trial order: completed, pruned, and failed on their own (a
    failed trial without a reason is one a killed run left behind, queued again under a later number)."""
    state, failure = part["state"].astype(str), part["failure"].fillna("").astype(str)
    used = state.isin(["COMPLETE", "PRUNED"]) | ((state == "FAIL") & (failure != ""))
    return part[used].sort_values("trial", kind="stable")


def budget_selections(trials: pd.DataFrame, rules: dict) -> pd.DataFrame:
    """The trial each study's rule selects among its first k counted trials, for k = 1..K (K: the most
    counted trials of any study; a study with fewer keeps its last selection): ``method, repeat, fold,
    budget, trial`` (trial NaN while none of its first k trials completed)."""
    studies = [(key, _counted(part)) for key, part in trials.groupby(_KEY, sort=True)
               if tuple(key) in rules]
    top = max((len(c) for _, c in studies), default=0)
    rows = []
    for (method, repeat, fold), counted in studies:
        rule, values = rules[(method, repeat, fold)]
        for k in range(1, top + 1):
            first = counted.iloc[:k]
            done = [SimpleNamespace(number=int(t.trial), value=float(values.get(int(t.trial), t.val_auc)),
                                    user_attrs={"val_loss": float(t.val_loss)})
                    for t in first[first["state"] == "COMPLETE"].itertuples()]
            rows.append({"method": method, "repeat": int(repeat), "fold": int(fold), "budget": k,
                         "trial": rule.select(done).number if done else _NAN})
    return pd.DataFrame(rows, columns=[*_KEY, "budget", "trial"])


def _scores(rows: pd.DataFrame, images: pd.Index, picks: pd.DataFrame) -> np.ndarray | None:
    """One column: the picked trials' scores (``rows``: one repeat's) on ``images`` (NaN where unscored); None when a
    study picked nothing or its pick left no rows."""
    if picks["trial"].isna().any():
        return None
    chosen = rows.merge(picks[["fold", "trial"]].astype(int), on=["fold", "trial"])
    if chosen[["fold"]].drop_duplicates().shape[0] < len(picks):
        return None
    return chosen.set_index("image_id")["score"].reindex(images).to_numpy(dtype=float)


def budget_curves(data: RunData, trials: pd.DataFrame | None = None, predictions: pd.DataFrame | None = None,
                  rules: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """``(budget_curve, tuning_gain)`` of the ranked methods of ``data`` (files read from its run folder
    unless given), or None when the run kept no trial predictions."""
    found = _inputs(data, trials, predictions, rules)
    if found is None:
        return None
    methods, picks, predictions = found
    inner = data.rows()[data.rows()["method"].isin(methods)]
    truth = inner.drop_duplicates("image_id").set_index("image_id")
    images = truth.index
    y, groups = truth["label"].to_numpy(dtype=int), truth["group"].to_numpy()
    test = predictions[predictions["dataset"] == data.internal]
    budgets = sorted(picks["budget"].unique())
    columns, blocks, where = {}, {}, {}  # one bootstrap column per distinct set of picks
    fold_of = {}
    for r, part in inner.groupby("repeat"):
        fold_of[r] = part.drop_duplicates("image_id").set_index("image_id")["fold"].reindex(images)
    for (m, k), chosen in picks.groupby(["method", "budget"]):
        for r in sorted(fold_of):
            mine = chosen[chosen["repeat"] == r]
            sig = (m, r, tuple(mine["trial"].fillna(-1).astype(int)))
            if sig not in columns:
                s = _scores(test[(test["method"] == m) & (test["repeat"] == r)], images, mine)
                columns[sig] = s
                blocks[sig] = fold_of[r].fillna(-1).to_numpy(dtype=int)
            where[(m, k, r)] = sig
    live = {sig: s for sig, s in columns.items() if s is not None}
    same = len(fold_of) == 1 and (blocks[next(iter(live))] >= 0).all() if live else False
    raw = cluster_bootstrap_aucs(y, live, groups, data.n_bootstrap, seed=BOOTSTRAP_SEED, allow_missing=True,
                                 blocks={sig: blocks[sig] for sig in live},
                                 strata=blocks[next(iter(live))] if same else None) if live else np.empty((0, 0))
    index = {sig: j for j, sig in enumerate(live)}
    observed = {sig: stratified_auc(y[np.isfinite(s)], s[np.isfinite(s)], blocks[sig][np.isfinite(s)])
                for sig, s in live.items()}
    auc, draws = {}, {}
    for m in methods:
        for k in budgets:
            sigs = [where[(m, k, r)] for r in sorted(fold_of)]
            if any(sig not in live for sig in sigs):
                auc[(m, k)], draws[(m, k)] = _NAN, np.full(raw.shape[0], _NAN)
                continue
            auc[(m, k)] = float(np.mean([observed[sig] for sig in sigs]))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                draws[(m, k)] = np.nanmean(raw[:, [index[sig] for sig in sigs]], axis=1)
    curve, gain = _tables(methods, budgets, picks, auc, draws)
    method_level_gain = _method_level_gains(data, methods, picks, predictions, budgets[0], budgets[-1])
    gain["gain_ci_low_image"], gain["gain_ci_high_image"] = gain["gain_ci_low"], gain["gain_ci_high"]
    for col, key in (("gain_ci_low", "ci_low"), ("gain_ci_high", "ci_high"), ("gain_p", "p")):
        gain[col] = [method_level_gain.get(m, {}).get(key, _NAN) for m in gain["method"]]
    return curve, gain[TUNING_GAIN_COLUMNS]


def _method_level_gains(data: RunData, methods: list[str], picks: pd.DataFrame, predictions: pd.DataFrame,
                        first: int, top: int) -> dict[str, dict]:
    """Each method's gain from tuning under the method-level test: its fold models at budget ``top`` against
    its fold models at budget ``first`` (the default points), as two methods of one run
    (:func:`benchmark.evaluation.method_level.method_level`: the corrected repeated k-fold t-test over the
    per-fold AUC differences, so the interval holds what a rerun varies, not only the test images).
    ``{method: result}``; a method without a pick in every study at both budgets is left out."""
    rows, renamed = [], []
    inner = predictions[predictions["dataset"] == data.internal]
    for k, tag in ((first, "default"), (top, "tuned")):
        chosen = picks[(picks["budget"] == k) & picks["method"].isin(methods)].dropna(subset=["trial"])
        part = inner.merge(chosen.astype({"trial": int})[[*_KEY, "trial"]], on=[*_KEY, "trial"])
        rows.append(part.assign(method=part["method"] + "@" + tag))
        renamed.append(data.runs.assign(method=data.runs["method"] + "@" + tag))
    scored = pd.concat(rows, ignore_index=True)[[c for c in data.predictions.columns if c in inner.columns]]
    both = with_predictions(replace(data, runs=pd.concat(renamed, ignore_index=True)), scored)
    ranked = set(both.order)
    pairs = [(f"{m}@tuned", f"{m}@default") for m in methods if {f"{m}@tuned", f"{m}@default"} <= ranked]
    if not pairs:
        return {}
    return {a.rsplit("@", 1)[0]: r for (a, _), r in method_level(both, data.internal, pairs).items()}


def _inputs(data: RunData, trials, predictions, rules) -> tuple[list[str], pd.DataFrame, pd.DataFrame] | None:
    """``(methods, picks, trial predictions)``: the ranked methods whose trials scored the test folds, the
    trial each study selects at each budget (:func:`budget_selections`), and the trials' rows (an external
    set's only where every one of those methods' trials scored it); files read from the run folder unless
    given. None when the run kept no trial predictions."""
    run_dir = data.run_dir
    if predictions is None:
        if not (run_dir / TRIAL_PREDICTIONS_FILE).is_file():
            return None
        predictions = pd.read_csv(run_dir / TRIAL_PREDICTIONS_FILE, dtype={"image_id": str, "train_size": str})
    if trials is None:
        trials = pd.read_csv(run_dir / TRIALS_FILE, dtype={"train_size": str})
    size = data.train_size
    trials, predictions = select_size(trials, size), select_size(predictions, size)
    rules = rules if rules is not None else study_rules(run_dir, size)
    methods = [m for m in data.order if m in set(predictions["method"])]
    # an external set some methods' trials did not score (a published run's, beside a compared run's new
    # methods) is left out: its conclusions would compare some methods only
    scored_by = predictions[predictions["method"].isin(methods)].groupby("dataset")["method"].agg(set)
    kept = [data.internal] + [d for d, scored in scored_by.items() if scored >= set(methods)]
    predictions = predictions[predictions["dataset"].isin(kept)]
    picks = budget_selections(trials[trials["method"].isin(methods)], rules)
    if not methods or picks.empty:
        return None
    return methods, picks, predictions


def budget_conclusions(data: RunData, trials: pd.DataFrame | None = None, predictions: pd.DataFrame | None = None,
                       rules: dict | None = None) -> pd.DataFrame | None:
    """``budget_conclusions.csv``: the report's conclusions redrawn at the budgets :data:`CONCLUSION_BUDGETS`
    and K, each marked whether it is the one drawn at K (``as_at_top``).

    At budget k every study's predictions are those of the trial its rule selects among its first k trials
    (the external sets' included), and the conclusions are drawn by the report's own code from them: the top
    method; every pair of methods under the method-level test (Holm over the pairs of a data set:
    ``a > b``, ``a < b`` or ``no significant difference``, the pair's names in alphabetical order); every
    claim of the analysis plan (:func:`benchmark.evaluation.reproduction.paper_claims`); and each method
    against the logistic-regression reference (significantly below it or not). A method that has no
    completed trial among its first k trials in some study is unranked at k (its conclusions read
    ``unranked``). None when the run kept no trial predictions."""
    found = _inputs(data, trials, predictions, rules)
    if found is None:
        return None
    methods, picks, predictions = found
    top = int(picks["budget"].max())
    budgets = sorted({k for k in CONCLUSION_BUDGETS if k < top} | {top})
    rows = []
    for k in budgets:
        chosen = picks[(picks["budget"] == k) & picks["method"].isin(methods)].dropna(subset=["trial"])
        chosen = chosen.astype({"trial": int})
        scored = predictions.merge(chosen[[*_KEY, "trial"]], on=[*_KEY, "trial"]).drop(columns=["trial"])
        at_k = with_predictions(data, scored[[c for c in data.predictions.columns if c in scored.columns]])
        ranked, datasets = set(at_k.order), [at_k.internal] + at_k.externals
        rows.append((k, data.internal, "top method", "the top-ranked method", at_k.order[0] if at_k.order else "none"))
        sig = significance(at_k, tests=(PRIMARY_TEST,))
        for dataset in datasets:
            primary = sig[(sig["dataset"] == dataset) & (sig["test"] == PRIMARY_TEST)]
            found_pairs = {tuple(sorted((r.method_a, r.method_b))): r for r in primary.itertuples()}
            for i, a in enumerate(methods):
                for b in methods[i + 1:]:
                    x, y = sorted((a, b))
                    r = found_pairs.get((x, y))
                    if r is None:
                        verdict = "unranked" if not {x, y} <= ranked else "not tested"
                    elif not r.significant:
                        verdict = "no significant difference"
                    else:
                        x_higher = (r.difference > 0) == (r.method_a == x)
                        verdict = f"{x} > {y}" if x_higher else f"{x} < {y}"
                    rows.append((k, dataset, "pair", f"{x} vs {y}", verdict))
            below = reference_comparison(at_k, dataset)
            below = dict(zip(below["method"], below["below"])) if len(below) else {}
            if below:
                for m in methods:
                    verdict = "unranked" if m not in ranked else \
                        "significantly below" if below.get(m) else "not significantly below"
                    rows.append((k, dataset, "against the reference", m, verdict))
        claims = paper_claims(sig, datasets, list(at_k.order))
        rows += [(k, r.dataset, "claim", r.claim, r.verdict) for r in claims.itertuples()]
    frame = pd.DataFrame(rows, columns=["budget", "dataset", "kind", "conclusion", "verdict"])
    final = frame[frame["budget"] == top].set_index(["dataset", "kind", "conclusion"])["verdict"]
    frame["as_at_top"] = [final.get((d, kind, c)) == v for d, kind, c, v in
                          zip(frame["dataset"], frame["kind"], frame["conclusion"], frame["verdict"])]
    return frame[BUDGET_CONCLUSION_COLUMNS]


def _ranks(methods: list[str], auc: dict, k) -> pd.Series:
    return pd.Series({m: auc[(m, k)] for m in methods}, dtype=float).rank(ascending=False, method="min")


def _tables(methods, budgets, picks, auc, draws) -> tuple[pd.DataFrame, pd.DataFrame]:
    top = budgets[-1]
    final = pd.Series({m: auc[(m, top)] for m in methods}, dtype=float)
    rows = []
    for k in budgets:
        ranks, now = _ranks(methods, auc, k), pd.Series({m: auc[(m, k)] for m in methods}, dtype=float)
        both = now.notna() & final.notna()
        tau = float(kendalltau(now[both], final[both]).statistic) if both.sum() >= 2 else _NAN
        for m in methods:
            mine = picks[(picks["method"] == m) & (picks["budget"] == k)]
            last = picks[(picks["method"] == m) & (picks["budget"] == top)]
            changed = int((mine["trial"].fillna(-1).to_numpy() != last["trial"].fillna(-1).to_numpy()).sum())
            lo, hi = percentile_interval(draws[(m, k)], CONFIDENCE)
            rows.append({"method": m, "budget": int(k), "auc": auc[(m, k)], "auc_ci_low": lo, "auc_ci_high": hi,
                         "rank": ranks[m], "kendall_tau": tau, "n_studies": len(mine), "studies_changed": changed,
                         "selected_trials": " ".join(f"{r.repeat}/{r.fold}:{'-' if pd.isna(r.trial) else int(r.trial)}"
                                                     for r in mine.itertuples())})
    curve = pd.DataFrame(rows, columns=BUDGET_CURVE_COLUMNS)
    curve["rank"] = curve["rank"].astype("Int64")
    gains = []
    first_ranks, top_ranks = _ranks(methods, auc, budgets[0]), _ranks(methods, auc, top)
    for m in methods:
        lo, hi = percentile_interval(draws[(m, top)] - draws[(m, budgets[0])], CONFIDENCE)
        gains.append({"method": m, "budget": int(top), "auc_default": auc[(m, budgets[0])], "auc_tuned": auc[(m, top)],
                      "gain": auc[(m, top)] - auc[(m, budgets[0])], "gain_ci_low": lo, "gain_ci_high": hi,
                      "stable_from": _stable_from(m, budgets, auc), "rank_default": first_ranks[m],
                      "rank_tuned": top_ranks[m]})
    gain = pd.DataFrame(gains, columns=TUNING_GAIN_COLUMNS)
    for col in ("stable_from", "rank_default", "rank_tuned"):
        gain[col] = gain[col].astype("Int64")
    return curve, gain


def _stable_from(m: str, budgets: list, auc: dict):
    """The smallest budget from which the method's AUC stays within :data:`STABLE_WITHIN` of its AUC at K."""
    target, out = auc[(m, budgets[-1])], pd.NA
    if not np.isfinite(target):
        return pd.NA
    for k in reversed(budgets):
        if not np.isfinite(auc[(m, k)]) or abs(auc[(m, k)] - target) > STABLE_WITHIN + 1e-12:
            break
        out = int(k)
    return out


def budget_curve_sentence(curve: pd.DataFrame | None, gain: pd.DataFrame | None) -> str | None:
    """Which conclusions change with the budget: the top method at k = 1 (and 2) against K, Kendall's tau,
    the budget from which the ranking is K's, and the largest tuning gain."""
    if curve is None or curve.empty or gain is None or gain.empty:
        return None
    top = int(curve["budget"].max())
    tau = curve.drop_duplicates("budget").set_index("budget")["kendall_tau"]

    def best(k):
        at = curve[(curve["budget"] == k) & (curve["rank"] == 1)]["method"]
        return ", ".join(sorted(at)) or "none"

    parts = [f"With {top} trial(s) per study the top method is {best(top)}"]
    for k in (1, 2):
        if k < top:
            same = "the same" if best(k) == best(top) else f"{best(k)} instead"
            parts.append(f"at k = {k} it is {same} (Kendall's tau against k = {top}: {tau.get(k, _NAN):.2f})")
    settled = [k for k in tau.index if k < top and (tau.loc[k:] >= 1 - 1e-12).all()]
    parts.append(f"the ranking is k = {top}'s from k = {min(settled)} on" if settled else
                 f"the ranking still changes between k = {top - 1} and k = {top}")
    g = gain.dropna(subset=["gain"]).sort_values("gain", ascending=False)
    if len(g):
        r = g.iloc[0]
        parts.append(f"the largest gain from tuning is {r.method}'s, {r.gain:+.3f} "
                     f"(method-level 95% CI {r.gain_ci_low:+.3f} to {r.gain_ci_high:+.3f}) over its default point")
        gains = g[(g["gain_ci_low"] > 0) | (g["gain_ci_high"] < 0)]
        parts.append(f"the method-level interval excludes 0 for {len(gains)} of {len(g)} methods"
                     + (f" ({', '.join(f'{x.method} {x.gain:+.3f}' for x in gains.itertuples())})" if len(gains)
                        else ""))
    return "; ".join(parts) + f" ({BUDGET_CURVE_FILE}, {TUNING_GAIN_FILE})."


def budget_conclusion_sentence(conclusions: pd.DataFrame | None) -> str | None:
    """Which of the report's conclusions a smaller budget would have drawn otherwise: at k = 2 (the quick
    profile's budget) and k = 1 (each method's default point), how many of the conclusions drawn at K
    are the same, and the ones that differ."""
    if conclusions is None or conclusions.empty:
        return None
    top = int(conclusions["budget"].max())
    parts = []
    for k in (2, 1):
        at = conclusions[conclusions["budget"] == k]
        if k >= top or at.empty:
            continue
        changed = at[~at["as_at_top"]]
        final = conclusions[conclusions["budget"] == top].set_index(["dataset", "kind", "conclusion"])["verdict"]
        text = f"at k = {k}, {len(at) - len(changed)} of {len(at)} conclusions are those drawn at k = {top}"
        if len(changed):
            shown = [f"{r.conclusion} on {r.dataset}: {r.verdict} (at k = {top}: {final.get((r.dataset, r.kind, r.conclusion))})"
                     for r in changed.head(4).itertuples()]
            text += "; different: " + "; ".join(shown) + (f"; and {len(changed) - 4} more" if len(changed) > 4 else "")
        parts.append(text)
    if not parts:
        return None
    at_top = conclusions[conclusions["budget"] == top]
    pairs = at_top[at_top["kind"] == "pair"]
    n_sig = int((~pairs["verdict"].isin(["no significant difference", "unranked", "not tested"])).sum())
    claims = at_top[at_top["kind"] == "claim"]["verdict"]
    below = int((at_top[at_top["kind"] == "against the reference"]["verdict"] == "significantly below").sum())
    power = (f"at k = {top}, {n_sig} of {len(pairs)} method pairs differ significantly (method-level test, Holm), "
             f"{int(claims.isin(['supported', 'contradicted']).sum())} of {len(claims)} claims are decided and "
             f"{below} method(s) are significantly below the reference")
    if n_sig == 0 and not claims.isin(["supported", "contradicted"]).any() and below == 0:
        power += ", so an unchanged conclusion here is an unchanged absence of evidence"
    return ("The report's conclusions (top method, method-level significance of every pair, the paper's claims, "
            "each method against the reference) redrawn at smaller budgets: " + "; ".join(parts) +
            f"; {power} ({BUDGET_CONCLUSIONS_FILE}).")
