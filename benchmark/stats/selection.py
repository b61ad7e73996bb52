"""Which trial a study selects, on validation data only.

The best validation metric (the profile's ``[search] selection``: AUC, or the paper's
accuracy) wins, but a difference smaller than the validation set's noise is no evidence: trials
whose metric lies within ``tie_se`` standard errors of the best are tied, and the tie goes to
the lowest validation loss (then the higher metric, then the earlier trial). ``tie_se = 0``
counts only equal metrics as ties. The standard error is that of the best trial's metric on
the validation set: Hanley & McNeil's (1982) for the AUC, the binomial one for accuracy.

Why (a validation set's AUC is noisy; the loss also sees calibration and under-training):
docs/decisions/selection-ties.md.

Pure functions of the trials' values and user attributes: nothing here trains or opens a study. The
search applies the rule (:mod:`benchmark.training.search`); the budget curves replay it on the first
k trials of each study (:mod:`benchmark.evaluation.budget_curves`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from benchmark.stats.metrics import auc_standard_error


@dataclass(frozen=True)
class SelectionRule:
    metric: str      # "auc" or "accuracy"
    tie_se: float    # standard errors of the best value within which trials are tied
    n_pos: int       # malignant validation images
    n_neg: int       # benign validation images

    def standard_error(self, value: float) -> float:
        if self.metric == "auc":
            return auc_standard_error(value, self.n_pos, self.n_neg)
        n = self.n_pos + self.n_neg
        return math.sqrt(max(value * (1.0 - value), 0.0) / n)

    def tolerance(self, best: float) -> float:
        return self.tie_se * self.standard_error(best) if self.tie_se > 0 else 0.0

    def contenders(self, trials: Sequence) -> list:
        """The trials tied with the best: the only ones that can be selected, now or after more
        trials (the bar ``best - tolerance(best)`` only rises as the best rises)."""
        best = max(t.value for t in trials)
        bar = best - self.tolerance(best) - 1e-12
        return [t for t in trials if t.value >= bar]

    def select(self, trials: Sequence):
        """The selected trial among complete ``trials`` (objects with ``value``, ``number`` and
        ``user_attrs["val_loss"]``)."""
        if not trials:
            raise ValueError("no complete trial to select from")
        return min(self.contenders(trials),
                   key=lambda t: (t.user_attrs.get("val_loss", math.inf), -t.value, t.number))

    def describe(self) -> str:
        ties = (f"within {self.tie_se:g} standard error(s) of the best ({'Hanley-McNeil' if self.metric == 'auc' else 'binomial'}, "
                f"{self.n_pos} malignant / {self.n_neg} benign validation images) count as ties"
                if self.tie_se > 0 else "only equal values count as ties")
        return (f"best validation {self.metric}; values {ties}; ties go to the lower validation loss, then the "
                "higher metric, then the earlier trial; failed (diverged, collapsed) and pruned trials are never selected")
