"""Budget curves (benchmark.evaluation.budget_curves, budget_curve.csv and tuning_gain.csv): the selection rule
replayed on the first k trials of each study of a fake run with a known trial order, the AUC of the picked
trials' test rows, ranks and Kendall's tau against the full budget, and a run without trial predictions."""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape

from benchmark.evaluation.budget_curves import (BUDGET_CURVE_COLUMNS, TUNING_GAIN_COLUMNS, budget_curve_sentence,
                                                budget_curves, budget_selections, study_rules)
from benchmark.evaluation.derived import refresh
from benchmark.evaluation.run_data import load_run
from benchmark.runfolder import (BUDGET_CURVE_FILE, TRIAL_COLUMNS, TRIAL_PREDICTION_COLUMNS, TRIAL_PREDICTIONS_FILE,
                                 TRIALS_FILE, TUNING_GAIN_FILE)
from benchmark.stats import stratified_auc
from benchmark.stats.selection import SelectionRule
from fake_runs import make_run_folder

METHODS = ("good", "weak", "mid")
FOLDS = 3
N_VAL, N_VAL_MALIGNANT = 20, 7
# per trial: state, failure, validation AUC, validation loss, test-score strength (the trial order is known)
PLAN = {
    "good": [("COMPLETE", "", 0.70, 0.60, 0.2), ("COMPLETE", "", 0.90, 0.40, 2.0), ("PRUNED", "", None, None, None),
             ("COMPLETE", "", 0.88, 0.35, 1.5), ("COMPLETE", "", 0.95, 0.50, 2.5)],
    "weak": [("COMPLETE", "", 0.85, 0.45, 1.2), ("FAIL", "collapsed: scores constant", None, None, None),
             ("COMPLETE", "", 0.80, 0.50, 0.4), ("FAIL", "", None, None, None),  # left by a killed run: not counted
             ("COMPLETE", "", 0.86, 0.44, 0.8), ("COMPLETE", "", 0.60, 0.70, 0.1)],
    "mid": [("FAIL", "diverged: loss nan", None, None, None), ("COMPLETE", "", 0.75, 0.55, 0.6),
            ("COMPLETE", "", 0.92, 0.42, 1.8), ("COMPLETE", "", 0.93, 0.30, 1.9), ("COMPLETE", "", 0.50, 0.9, 0.0)],
}


def _plan(method: str, fold: int) -> list[tuple]:
    """The method's plan, with each fold's validation values moved a little (so folds can select differently)."""
    return [(s, why, None if v is None else v - 0.03 * fold * (i % 2), loss, w)
            for i, (s, why, v, loss, w) in enumerate(PLAN[method])]


def _budget_run(tmp_path, with_trials: bool = True, externals: dict | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = make_run_folder(tmp_path, methods=METHODS, folds=FOLDS, n_images=90, n_malignant=30, n_bootstrap=50,
                              externals=externals)
    if not with_trials:
        return run
    predictions = pd.read_csv(run / "predictions.csv", dtype={"image_id": str})
    trials, rows = [], []
    rng = np.random.default_rng(5)
    for method in METHODS:
        for fold in range(FOLDS):
            plan = _plan(method, fold)
            path = run / "runs" / method / "repeat-0" / f"fold-{fold}" / "results.json"
            record = json.loads(path.read_text())
            record["dataset"]["split_sizes"]["val"] = N_VAL
            record["dataset"]["split_malignant"]["val"] = N_VAL_MALIGNANT
            record["search"].update(selection_metric="auc", tie_se=1.0, n_trials=len(plan),
                                    trials=[{"number": i, "state": s, "value": v, "val_auc": v, "val_loss": loss}
                                            for i, (s, _, v, loss, _) in enumerate(plan)])
            path.write_text(json.dumps(record))
            test = predictions[(predictions["method"] == method) & (predictions["fold"] == fold)]
            for i, (state, why, v, loss, strength) in enumerate(plan):
                trials.append({"method": method, "repeat": 0, "fold": fold, "trial": i, "state": state,
                               "failure": why, "params": "{}", "val_auc": v, "val_loss": loss, "epochs": 3,
                               "tied": False, "selected": False})
                if state == "COMPLETE":
                    y = test["label"].to_numpy()
                    logit = strength * (2 * y - 1) + rng.normal(0.0, 1.0, len(y))
                    rows.append(test.assign(score=1 / (1 + np.exp(-logit)), trial=i))
    pd.DataFrame(trials, columns=TRIAL_COLUMNS).to_csv(run / TRIALS_FILE, index=False)
    pd.concat(rows)[TRIAL_PREDICTION_COLUMNS].to_csv(run / TRIAL_PREDICTIONS_FILE, index=False)
    return run


def _direct(method: str, fold: int, k: int):
    """The selection rule run directly on the completed trials among the first k that used budget."""
    rule = SelectionRule("auc", 1.0, N_VAL_MALIGNANT, N_VAL - N_VAL_MALIGNANT)
    counted = [(i, t) for i, t in enumerate(_plan(method, fold)) if t[0] != "FAIL" or t[1]][:k]
    done = [SimpleNamespace(number=i, value=t[2], user_attrs={"val_loss": t[3]})
            for i, t in counted if t[0] == "COMPLETE"]
    return rule.select(done).number if done else None


def test_the_curve_selects_at_every_budget_what_the_rule_selects_on_the_first_k_trials(tmp_path):
    run = _budget_run(tmp_path)
    trials = pd.read_csv(run / TRIALS_FILE)
    picks = budget_selections(trials, study_rules(run))
    top = max(sum(1 for t in PLAN[m] if t[0] != "FAIL" or t[1]) for m in METHODS)
    assert sorted(picks["budget"].unique()) == list(range(1, top + 1))
    checked = 0
    for r in picks.itertuples():
        expected = _direct(r.method, r.fold, r.budget)
        assert (None if pd.isna(r.trial) else int(r.trial)) == expected, (r.method, r.fold, r.budget)
        checked += 1
    assert checked == len(METHODS) * FOLDS * top
    # the plan exercises the rule: trial 4 has the best validation AUC, trial 1 ties with it (within one standard
    # error on 20 validation images) and has the lower loss; a killed run's trial 3 uses no budget
    assert _direct("good", 0, 5) == 1 and _direct("weak", 0, 4) == 4 and _direct("mid", 0, 1) is None


def test_the_tables_hold_the_picked_trials_auc_ranks_and_tau(tmp_path):
    run = _budget_run(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ctx = refresh(run)
    curve, gain = pd.read_csv(run / BUDGET_CURVE_FILE), pd.read_csv(run / TUNING_GAIN_FILE)
    assert BUDGET_CURVE_FILE in ctx.built and list(curve.columns) == BUDGET_CURVE_COLUMNS
    assert list(gain.columns) == TUNING_GAIN_COLUMNS and set(gain["method"]) == set(METHODS)
    top = int(curve["budget"].max())
    at_top = curve[curve["budget"] == top]
    assert (at_top["kendall_tau"] == 1.0).all() and (at_top["studies_changed"] == 0).all()
    assert sorted(at_top["rank"]) == [1, 2, 3]
    # each AUC is the fold-stratified AUC of the picked trials' test rows
    rows = pd.read_csv(run / TRIAL_PREDICTIONS_FILE, dtype={"image_id": str})
    picks = budget_selections(pd.read_csv(run / TRIALS_FILE), study_rules(run))
    for r in curve.itertuples():
        mine = picks[(picks["method"] == r.method) & (picks["budget"] == r.budget)]
        if mine["trial"].isna().any():
            assert pd.isna(r.auc) and pd.isna(r.rank)
            continue
        chosen = rows.merge(mine.assign(trial=mine["trial"].astype(int))[["method", "fold", "trial"]])
        assert r.auc == pytest.approx(stratified_auc(chosen["label"], chosen["score"], chosen["fold"]))
        assert r.auc_ci_low <= r.auc <= r.auc_ci_high
    assert curve.loc[(curve["method"] == "mid") & (curve["budget"] == 1), "auc"].isna().all()  # trial 0 diverged
    good = gain.set_index("method").loc["good"]
    auc = curve[curve["method"] == "good"].set_index("budget")["auc"]
    assert good.gain == pytest.approx(auc[top] - auc[1])
    assert good.gain_ci_low_image <= good.gain <= good.gain_ci_high_image  # these trained models, images resampled
    # the method-level interval: the corrected t-test over the per-fold AUC differences of the two budgets' picks
    from benchmark.stats import roc_auc

    def fold_auc(k, fold):
        trial = picks[(picks["method"] == "good") & (picks["budget"] == k) & (picks["fold"] == fold)]["trial"].item()
        mine = rows[(rows["method"] == "good") & (rows["fold"] == fold) & (rows["trial"] == int(trial))]
        return roc_auc(mine["label"], mine["score"])

    per_fold = [fold_auc(top, f) - fold_auc(1, f) for f in range(FOLDS)]
    assert (good.gain_ci_low + good.gain_ci_high) / 2 == pytest.approx(np.mean(per_fold))
    assert good.gain_ci_high - good.gain_ci_low > good.gain_ci_high_image - good.gain_ci_low_image
    assert 0 <= good.gain_p <= 1
    stable = int(good.stable_from)
    assert all(abs(auc[k] - auc[top]) <= 0.01 for k in range(stable, top + 1))
    assert stable == 1 or abs(auc[stable - 1] - auc[top]) > 0.01
    sentence = budget_curve_sentence(curve, gain)
    assert f"With {top} trial(s) per study the top method is" in sentence and "Kendall's tau" in sentence
    again = refresh(run)
    assert BUDGET_CURVE_FILE not in again.built  # current: not rebuilt


def test_a_run_without_trial_predictions_has_no_budget_curves(tmp_path):
    run = _budget_run(tmp_path, with_trials=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ctx = refresh(run)
        assert budget_curves(load_run(run)) is None
    assert not (run / BUDGET_CURVE_FILE).exists() and not (run / TUNING_GAIN_FILE).exists()
    assert BUDGET_CURVE_FILE not in ctx.built
    assert budget_curve_sentence(None, None) is None


def test_the_report_shows_the_curves_after_the_search_budget_and_skips_them_without(tmp_path):
    from benchmark.reporting.figures import draw_figures
    from benchmark.reporting.sections.budget_curves import budget_curve_section, shown_budgets
    from benchmark.runfolder import BUDGET_CURVE_FIGURE, FIGURES_DIR

    assert shown_budgets([1, 2, 3, 4, 5]) == [1, 2, 4, 5] and shown_budgets(range(1, 13)) == [1, 2, 4, 8, 12]
    run = _budget_run(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ctx = refresh(run)
        drawn = draw_figures(ctx, synthetic=False)
    assert f"{FIGURES_DIR}/{BUDGET_CURVE_FIGURE}" in drawn and (run / FIGURES_DIR / BUDGET_CURVE_FIGURE).is_file()
    section = budget_curve_section(run)
    assert section["header"] == ["method", "k = 1", "k = 2", "k = 4", "k = 5"] and section["figure"] is not None
    assert section["rows"][-1][0] == "Kendall's tau against k = 5" and section["rows"][-1][-1] == "1.00"
    assert [r[0] for r in section["gain_rows"]] == [r[0] for r in section["rows"][:-1]]
    from benchmark.reporting.render import render

    html = render("sections/budget_curves.html", budget_curves=section)
    assert 'id="budget-curves"' in html and 'id="tuning-gain-table"' in html
    assert str(escape(section["sentence"])) in html
    assert section["conclusions"] and str(escape(section["conclusions"])) in html  # budget_conclusions.csv
    from benchmark.reporting.pages.leaderboard import leaderboard_markdown

    md = leaderboard_markdown(ctx)  # the published leaderboard.md carries the curves too
    assert "### The ranking against the search budget" in md and section["conclusions"] in md
    assert "| Kendall's tau against k = 5 |" in md and "| method | AUC at k = 1 (default point) |" in md
    from benchmark.reporting import sections

    template = (Path(sections.__file__).parent / "leaderboard.html").read_text()  # right after the search budget
    assert template.index('id="search-budget-table"') < template.index('{% if budget_curves %}') \
        < template.index('{% include "sections/budget_curves.html" %}')
    bare = _budget_run(tmp_path / "bare", with_trials=False)
    assert budget_curve_section(bare) is None


def test_the_conclusions_are_redrawn_from_the_trials_each_budget_selects(tmp_path):
    from benchmark.evaluation.budget_curves import (BUDGET_CONCLUSION_COLUMNS, budget_conclusion_sentence,
                                                    budget_conclusions)
    from benchmark.evaluation.pairwise import PRIMARY_TEST, significance
    from benchmark.evaluation.run_data import with_predictions

    run = _budget_run(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refresh(run)
        data = load_run(run)
        found = budget_conclusions(data)
    assert list(found.columns) == BUDGET_CONCLUSION_COLUMNS
    pd.testing.assert_frame_equal(pd.read_csv(run / "budget_conclusions.csv"), found, check_dtype=False)
    assert sorted(found["budget"].unique()) == [1, 2, 4, 5]  # 1, 2, 4 and K = 5
    assert found.loc[found["budget"] == 5, "as_at_top"].all()
    curve = pd.read_csv(run / BUDGET_CURVE_FILE)
    rows = pd.read_csv(run / TRIAL_PREDICTIONS_FILE, dtype={"image_id": str})
    picks = budget_selections(pd.read_csv(run / TRIALS_FILE), study_rules(run))
    tops = {}
    for k in (1, 2, 4, 5):
        at = found[found["budget"] == k]
        # the top method is the one the budget curve ranks first at k (the picked trials' test rows)
        top = at.loc[at["kind"] == "top method", "verdict"].item()
        assert top == curve[(curve["budget"] == k) & (curve["rank"] == 1)]["method"].item()
        tops[k] = top
        # every pair's verdict is the method-level test on the picked trials' rows
        mine = picks[(picks["budget"] == k)].dropna(subset=["trial"]).astype({"trial": int})
        scored = rows.merge(mine[["method", "repeat", "fold", "trial"]])[data.predictions.columns]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sig = significance(with_predictions(data, scored), tests=(PRIMARY_TEST,))
        pairs = at[(at["kind"] == "pair") & (at["dataset"] == data.internal)].set_index("conclusion")["verdict"]
        assert len(pairs) == 3
        for r in sig[sig["dataset"] == data.internal].itertuples():
            x, y = sorted((r.method_a, r.method_b))
            expected = "no significant difference" if not r.significant else \
                (f"{x} > {y}" if (r.difference > 0) == (r.method_a == x) else f"{x} < {y}")
            assert pairs[f"{x} vs {y}"] == expected
        claims = at[at["kind"] == "claim"]
        assert len(claims) and (claims["verdict"] == "not tested").all()  # the fake methods are not the paper's
    # trial 0 of "mid" diverged: at k = 1 it is unranked, and its pairs say so
    first = found[(found["budget"] == 1) & (found["kind"] == "pair")]
    assert (first.loc[first["conclusion"].str.contains("mid"), "verdict"] == "unranked").all()
    assert not first.loc[first["conclusion"].str.contains("mid"), "as_at_top"].any()
    # "good"'s default point (trial 0) scores weakly: the top method moves with the budget
    assert tops[1] != tops[5] == "good"
    sentence = budget_conclusion_sentence(found)
    assert "at k = 1" in sentence and "different:" in sentence and "the top-ranked method" in sentence
    assert budget_conclusion_sentence(None) is None


def test_an_external_set_that_some_methods_trials_did_not_score_is_left_out_of_the_conclusions(tmp_path):
    """A run compared against a published one whose trials kept no external scores: the training data set's
    conclusions are drawn as with every row, the external set's are left out (not drawn on some methods)."""
    from benchmark.evaluation.budget_curves import budget_conclusions

    run = _budget_run(tmp_path, externals={"other": (40, 15)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        every = budget_conclusions(load_run(run))
        rows = pd.read_csv(run / TRIAL_PREDICTIONS_FILE, dtype={"image_id": str})
        rows[(rows["method"] != "mid") | (rows["dataset"] == "busi")].to_csv(run / TRIAL_PREDICTIONS_FILE, index=False)
        some = budget_conclusions(load_run(run))
    assert set(every["dataset"]) == {"busi", "other"}
    assert set(some["dataset"]) == {"busi"}
    inner = every[every["dataset"] == "busi"].reset_index(drop=True)
    pd.testing.assert_frame_equal(some.reset_index(drop=True), inner)


def test_the_sentence_says_from_which_budget_the_ranking_holds():
    def curve(taus):
        rows = [{"method": m, "budget": k, "auc": 0.8, "rank": r, "kendall_tau": t}
                for k, t in enumerate(taus, start=1) for r, m in enumerate(("a", "b"), start=1)]
        return pd.DataFrame(rows)

    gain = pd.DataFrame([{"method": "a", "gain": 0.01, "gain_ci_low": -0.02, "gain_ci_high": 0.04}])
    assert "the ranking is k = 3's from k = 2 on" in budget_curve_sentence(curve([0.2, 1.0, 1.0]), gain)
    # settled only at K itself: the ranking still moved at the last trial, which the sentence must not hide
    assert "still changes between k = 2 and k = 3" in budget_curve_sentence(curve([0.2, 0.5, 1.0]), gain)
