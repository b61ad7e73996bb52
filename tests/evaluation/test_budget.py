"""The search budget each method was given (benchmark.evaluation.budget, search_budget.csv) and where the pages
state it."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import pandas as pd

from benchmark.evaluation.budget import BUDGET_COLUMNS, budget_sentence, pruning_sentence, search_budget
from benchmark.evaluation.derived import refresh
from benchmark.runfolder import SEARCH_BUDGET_FILE, TRIAL_COLUMNS, TRIALS_FILE
from fake_runs import make_run_folder


def _trials(method: str, states: list[str], epochs: list, failures: list[str] | None = None,
            folds: int = 1) -> pd.DataFrame:
    rows = []
    for fold in range(folds):
        for i, (state, ep) in enumerate(zip(states, epochs)):
            rows.append({"method": method, "repeat": 0, "fold": fold, "trial": i, "state": state,
                         "failure": (failures or [""] * len(states))[i], "params": "{}", "val_auc": 0.8,
                         "val_loss": 0.5, "epochs": ep, "tied": False, "selected": i == 0})
    return pd.DataFrame(rows, columns=TRIAL_COLUMNS)


def test_the_budget_counts_every_trial_and_how_it_ended():
    trials = pd.concat([
        _trials("a", ["COMPLETE", "PRUNED", "FAIL", "FAIL"], [10, 3, np.nan, 2],
                ["", "", "collapsed: every image scored 0.5", "CUDA out of memory"], folds=2),
        _trials("b", ["COMPLETE", "COMPLETE"], [7, 9], folds=2),
    ], ignore_index=True)
    runs = pd.DataFrame({"method": ["a", "a", "b", "b"], "epochs_run": [10, 8, 7, 9],
                         "train_seconds": [60.0, 30.0, 12.0, np.nan]})
    budget = search_budget(trials, runs).set_index("method")
    assert list(budget.reset_index().columns) == BUDGET_COLUMNS
    a, b = budget.loc["a"], budget.loc["b"]
    assert (a.n_studies, a.trials_run, a.trials_completed, a.trials_pruned, a.trials_failed, a.trials_collapsed,
            a.trials_interrupted) == (2, 8, 2, 2, 4, 2, 0)
    assert a.epochs_total == 2 * (10 + 3 + 2) and a.epochs_selected == 18 and a.selected_train_seconds == 90.0
    assert (b.trials_run, b.epochs_total, b.selected_train_seconds) == (4, 32, 12.0)  # a missing time is left out


def test_the_sentence_says_whether_the_budgets_were_equal():
    equal = search_budget(pd.concat([_trials("a", ["COMPLETE"] * 2, [5, 5], folds=3),
                                     _trials("b", ["COMPLETE", "PRUNED"], [5, 1], folds=3)]))
    assert "every method ran 2 trial(s) per study, 3 studies each" in budget_sentence(equal)
    unequal = search_budget(pd.concat([_trials("a", ["COMPLETE"] * 4, [5] * 4, folds=3),
                                       _trials("b", ["COMPLETE"] * 2, [5, 5], folds=3)]))
    text = budget_sentence(unequal)
    assert "different numbers of trials per study (a 4, b 2)" in text and "tuned less" in text
    # a trial a killed run left behind (failed, no reason) used no budget: the resumed run trained it again
    resumed = search_budget(pd.concat([_trials("a", ["COMPLETE", "FAIL", "COMPLETE"], [5, 1, 5], ["", "", ""]),
                                       _trials("b", ["COMPLETE"] * 2, [5, 5])]))
    assert list(resumed["trials_interrupted"]) == [1, 0]
    text = budget_sentence(resumed)
    assert "every method ran 2 trial(s) per study" in text and "not counting 1 trial(s)" in text


def test_the_report_writes_and_shows_the_budget(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = make_run_folder(tmp_path, methods=("good", "weak"), folds=3, n_images=60, n_malignant=20,
                              n_bootstrap=20)
    trials = pd.concat([_trials("good", ["COMPLETE", "COMPLETE"], [4, 6], folds=3),
                        _trials("weak", ["COMPLETE", "PRUNED", "COMPLETE"], [4, 1, 5], folds=3)])
    trials.to_csv(run / TRIALS_FILE, index=False)
    from benchmark.reporting import write_leaderboard

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_leaderboard(run)
    written = pd.read_csv(run / SEARCH_BUDGET_FILE).set_index("method")
    assert written.loc["weak", "trials_pruned"] == 3 and written.loc["good", "epochs_total"] == 30
    md = (run / "leaderboard.md").read_text()
    assert "### Search budget" in md and "(good 2, weak 3)" in md
    assert "| weak | 3 | 9 | 6 | 3 | 0 (0) | 30 |" in md
    ctx = refresh(run)
    assert SEARCH_BUDGET_FILE not in ctx.built  # current: not rebuilt


def test_what_pruning_saved_is_estimated_from_each_studys_completed_trials():
    trials = _trials("a", ["COMPLETE", "COMPLETE", "PRUNED", "PRUNED", "FAIL"], [10, 8, 3, 12, 9],
                     ["", "", "", "", "collapsed: scores constant"], folds=2)
    trials["seconds"] = trials["epochs"] * 6.0  # six seconds an epoch
    budget = search_budget(trials).set_index("method").loc["a"]
    # per study: the completed trials trained 9 epochs on average; the pruned ones 3 (6 saved) and 12 (none)
    assert budget.epochs_pruned == 2 * (3 + 12) and budget.epochs_saved == 2 * 6
    assert budget.search_seconds == 6.0 * 2 * 42 and budget.seconds_saved == pytest.approx(6.0 * 12)
    text = pruning_sentence(search_budget(trials))
    assert "stopped 4 of 10 trials (40%)" in text and "about 12 more epochs than its 84 (14% more)" in text
    # records without the pruned trials' epochs (written before they were kept) estimate nothing
    old = trials.assign(epochs=trials["epochs"].where(trials["state"] != "PRUNED")).drop(columns="seconds")
    legacy = search_budget(old).set_index("method").loc["a"]
    assert np.isnan(legacy.epochs_saved) and np.isnan(legacy.search_seconds)
    assert "more epochs" not in pruning_sentence(search_budget(old))
    assert pruning_sentence(search_budget(_trials("b", ["COMPLETE"] * 2, [5, 5]))) is None


def test_a_trial_a_killed_run_left_behind_adds_no_epochs_and_no_time():
    """Its recorded time runs from its start in the killed run to its closing by the resumed one, the hours the
    run stood still included; the pruning sentence counts the same trials as the budget."""
    trials = _trials("a", ["COMPLETE", "FAIL", "PRUNED", "COMPLETE"], [10, 7, 3, 8], ["", "", "", ""])
    trials["seconds"] = trials["epochs"] * 6.0
    trials.loc[1, "seconds"] = 3955.0
    budget = search_budget(trials).set_index("method").loc["a"]
    assert budget.trials_interrupted == 1 and budget.trials_run == 4
    assert budget.epochs_total == 21 and budget.search_seconds == 6.0 * 21
    assert budget.seconds_saved == pytest.approx(6.0 * (9 - 3))
    assert "stopped 1 of 3 trials" in pruning_sentence(search_budget(trials))
