"""Trial selection: differences inside the validation set's noise are ties, broken by the
validation loss."""
from types import SimpleNamespace

import numpy as np
import pytest

from benchmark.stats import auc_standard_error, roc_auc
from benchmark.training.selection import SelectionRule


def _trial(number, value, loss):
    return SimpleNamespace(number=number, value=value, user_attrs={"val_loss": loss})


RULE = SelectionRule("auc", 1.0, n_pos=21, n_neg=43)  # a quick-profile validation set


def test_auc_standard_error_matches_the_spread_of_simulated_aucs():
    # Hanley & McNeil's model: exponential scores; benign ~ Exp(1), malignant ~ Exp(mean 9): AUC 0.9
    rng = np.random.default_rng(0)
    n_pos, n_neg, auc = 21, 44, 0.9
    y = np.r_[np.ones(n_pos), np.zeros(n_neg)]
    aucs = [roc_auc(y, np.r_[rng.exponential(9.0, n_pos), rng.exponential(1.0, n_neg)]) for _ in range(3000)]
    assert abs(np.mean(aucs) - auc) < 0.005
    assert auc_standard_error(auc, n_pos, n_neg) == pytest.approx(np.std(aucs), rel=0.08)
    assert auc_standard_error(0.9, 210, 440) < auc_standard_error(0.9, 21, 44) / 3  # shrinks as 1/sqrt(n)
    with pytest.raises(ValueError, match="both classes"):
        auc_standard_error(0.9, 0, 44)


def test_within_one_standard_error_the_lower_validation_loss_wins():
    # the quick run's finetune_all fold 2: 0.806 "beat" 0.792 and tested at 0.623
    trials = [_trial(0, 0.792, 0.598), _trial(1, 0.806, 0.643)]
    assert RULE.tolerance(0.806) > 0.014
    assert RULE.select(trials).number == 0
    assert [t.number for t in RULE.contenders(trials)] == [0, 1]


def test_a_win_larger_than_the_noise_beats_a_lower_loss():
    trials = [_trial(0, 0.70, 0.40), _trial(1, 0.90, 0.55)]
    assert RULE.select(trials).number == 1
    assert [t.number for t in RULE.contenders(trials)] == [1]


def test_without_tie_width_the_best_value_wins_and_equal_values_go_to_the_lower_loss():
    exact = SelectionRule("auc", 0.0, 21, 44)
    assert exact.select([_trial(0, 0.792, 0.5), _trial(1, 0.806, 0.9)]).number == 1
    assert exact.select([_trial(0, 0.8, 0.6), _trial(1, 0.8, 0.5), _trial(2, 0.8, 0.5)]).number == 1
    assert "only equal values" in exact.describe()


def test_accuracy_ties_use_the_binomial_standard_error():
    rule = SelectionRule("accuracy", 1.0, 21, 44)
    assert rule.tolerance(0.8) == pytest.approx(np.sqrt(0.8 * 0.2 / 65))
    assert rule.select([_trial(0, 0.78, 0.4), _trial(1, 0.82, 0.6)]).number == 0


def test_the_tie_bar_only_rises_with_the_best_so_discarded_states_are_never_needed():
    # the search deletes the trained states of trials below the bar; a later, better trial must
    # never bring such a trial back into the tie
    for n_pos, n_neg in ((21, 44), (5, 8), (200, 400)):
        rule = SelectionRule("auc", 1.0, n_pos, n_neg)
        best = np.linspace(0.5, 1.0, 501)
        bars = np.array([b - rule.tolerance(b) for b in best])
        assert np.all(np.diff(bars) > 0)
    with pytest.raises(ValueError, match="^no complete trial to select from$"):
        RULE.select([])
