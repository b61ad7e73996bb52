"""Tables of a run folder, from its files alone: leaderboard, pairwise significance, the comparison
with the reference and what they say in words (no figures, no pages; those are
:mod:`benchmark.reporting`).

Everything here reads only what the training side wrote (:mod:`benchmark.runfolder`:
``suite.json``, ``predictions.csv``, ``studies.csv``, ``runs/*/repeat-*/fold-*/results.json``,
optionally ``cost.csv``), so a report can be rebuilt at any time, on any machine.

* :mod:`benchmark.evaluation.run_data` - :func:`load_run`: the run folder's tables, validated,
  with each method's status;
* :mod:`benchmark.evaluation.draws` - the pooled out-of-fold scores and the bootstrap draws
  every table below shares;
* :mod:`benchmark.evaluation.table` - :func:`leaderboard`: one row per method: pooled
  out-of-fold AUC with duplicate-aware and image-level bootstrap intervals, per-fold AUCs,
  operating points, rank with its interval, cost, status; methods without a working
  configuration at the bottom, unranked;
* :mod:`benchmark.evaluation.reference` - :func:`reference_comparison`: every ranked method
  against the logistic-regression reference on the frozen features
  (:mod:`benchmark.training.reference`), when the run has it: a method significantly below it
  is flagged, and wins over it are not claimed as evidence;
* :mod:`benchmark.evaluation.pairwise` - :func:`significance`: every pair of ranked
  methods, every test, Holm-corrected per family;
* :mod:`benchmark.evaluation.sentences` - :func:`summary_sentences`: the differences that
  survive Holm correction, in words (and :func:`reference_sentences`, the reference's);
* :mod:`benchmark.evaluation.run_spread` - :func:`run_spread`: each method's pooled AUC in
  several run folders on the same folds (``petl-bench spread``), which the intervals above
  leave out: the randomness of the search and the training;
* ``benchmark.reporting.pages.write_leaderboard`` writes ``leaderboard.csv|md|html``,
  ``significance.csv``, ``figures/*.png`` (the pages are rendered by
  :mod:`benchmark.reporting.pages`, the figures by :mod:`benchmark.reporting.figures`).

The statistic ranked is the **pooled out-of-fold AUC**: in each repeat of k-fold
cross-validation every image is scored once, by the model that did not see it; the AUC of
those scores (one per image) is averaged over repeats. Its uncertainty comes from a stratified
bootstrap of duplicate *groups* (:func:`benchmark.stats.cluster_bootstrap_aucs`), the same
resamples for every method (paired) and every repeat, so the intervals, the paired
differences and the rank intervals all come from one set of draws. Statistics come from
:mod:`benchmark.stats`; nothing is re-implemented here. Bootstrap seeds are fixed
(:data:`benchmark.evaluation.draws.BOOTSTRAP_SEED`), so rebuilding gives identical numbers.
"""
from benchmark.evaluation.draws import Draws, bootstrap_draws, fold_aucs, pooled_scores
from benchmark.evaluation.table import LEADERBOARD_COLUMNS, REFERENCE_COLUMNS, REFERENCE_STATUS, leaderboard
from benchmark.evaluation.reference import reference_comparison
from benchmark.evaluation.run_data import (ALPHA, CONFIDENCE, NO_WORKING, RunData, default_n_bootstrap, load_run,
                                           method_order, method_status, paired_bootstrap_resamples)
from benchmark.evaluation.sentences import fmt_p, reference_sentences, summary_sentences
from benchmark.evaluation.pairwise import (PRIMARY_TEST, SIGNIFICANCE_COLUMNS, TEST_LABELS, TESTS,
                                               nadeau_bengio_sizes, significance)

__all__ = [
    "ALPHA", "CONFIDENCE", "NO_WORKING", "PRIMARY_TEST", "TESTS", "TEST_LABELS", "SIGNIFICANCE_COLUMNS",
    "LEADERBOARD_COLUMNS", "REFERENCE_STATUS", "REFERENCE_COLUMNS", "RunData", "Draws", "load_run", "method_status",
    "method_order", "default_n_bootstrap", "paired_bootstrap_resamples", "pooled_scores", "bootstrap_draws",
    "fold_aucs", "leaderboard", "reference_comparison", "significance", "nadeau_bengio_sizes", "fmt_p",
    "summary_sentences", "reference_sentences",
]
