"""Tables of a run folder, from its files alone: leaderboard, pairwise significance, the comparison
with the reference and what they say in words (no figures, no pages; those are
:mod:`benchmark.reporting`).

Everything here reads only what the training side wrote (:mod:`benchmark.runfolder`:
``suite.json``, ``predictions.csv``, ``studies.csv``, ``runs/*/repeat-*/fold-*/results.json``,
optionally ``cost.csv``), so a report can be rebuilt at any time, on any machine.

* :mod:`benchmark.evaluation.run_data` - :func:`load_run`: the run folder's tables, validated,
  with each method's status;
* :mod:`benchmark.evaluation.draws` - the out-of-fold scores and the bootstrap draws every
  table below shares (fold-stratified and pooled AUC; per-model external AUC);
* :mod:`benchmark.evaluation.leaderboard` - :func:`leaderboard`: one row per method: fold-stratified
  AUC with duplicate-aware and image-level bootstrap intervals, pooled out-of-fold AUC, per-fold
  AUCs, operating points, rank with its interval, external per-model AUC and drop, cost,
  status; methods without a working configuration at the bottom, unranked;
* :mod:`benchmark.evaluation.reference` - :func:`reference_comparison`: every ranked method
  against the logistic-regression reference on the frozen features
  (:mod:`benchmark.training.reference`), per data set it scored: a method significantly below
  it is flagged, and wins over it are not claimed as evidence;
* :mod:`benchmark.evaluation.method_level` - :func:`method_level`: the primary, method-level
  comparison of two methods (the corrected repeated k-fold t-test over the fold models, with its
  interval; what a rerun varies included), and :func:`probability_best`;
* :mod:`benchmark.evaluation.pairwise` - :func:`significance`: every pair of ranked
  methods, every test, Holm-corrected per family, the method-level test marked primary;
* :mod:`benchmark.evaluation.plan` - the analysis plan (``analysis_plan.toml``): margin, levels,
  claims, version and hash, which decide every verdict;
* :mod:`benchmark.evaluation.detectable` - what a run could detect: the minimum detectable
  difference for one pair and for all pairs, and the repeats the plan's margin needs;
* :mod:`benchmark.evaluation.sentences` - :func:`summary_sentences`: the differences that
  survive Holm correction, in words; :func:`headline`, the summary's short sentences (the training data
  set's method-level family and what the run could detect); :func:`reference_sentences`, the reference's;
* :mod:`benchmark.evaluation.reproduction` - :func:`paper_claims`, :func:`reproduction_table`: the
  seed paper's Table 1 and Table 2 beside the run, and each of its claims tested by the primary
  paired comparison (Holm within that pre-specified family);
* :mod:`benchmark.evaluation.run_spread` - :func:`run_spread`: each method's fold-stratified
  (optionally pooled) AUC in several run folders on the same folds (``petl-bench spread``), which the intervals above
  leave out: the randomness of the search and the training;
* :mod:`benchmark.evaluation.derived` - every table the evaluation writes into a run folder, declared once
  with its files, inputs and builder, and :func:`~benchmark.evaluation.derived.refresh`, which rebuilds those
  that are missing or stale (the report renders them: :mod:`benchmark.reporting`).

The statistic ranked is the **fold-stratified AUC**: in each repeat of k-fold cross-validation
every image is scored once, by the fold model that did not see it, and only malignant-benign
pairs scored by the same fold model are compared (:func:`benchmark.stats.stratified_auc`: the
per-fold AUCs averaged with weights n_malignant * n_benign of each fold); it is averaged over
repeats. The pooled out-of-fold AUC (all pairs, also those scored by two different fold models,
so it also measures whether the models agree in scale) is a secondary column. On an external
data set the statistic is the **per-model AUC**: each fold model's own AUC on its images,
averaged over the fold models and repeats. Uncertainty comes from a stratified bootstrap of
duplicate *groups* (:func:`benchmark.stats.cluster_bootstrap_aucs`; within folds when every
repeat has one partition), the same resamples for every method (paired) and every repeat, so
the intervals, the paired differences and the rank intervals all come from one set of draws.
It resamples test images with one trained model per fold, so it is conditional on the trained
models: the intervals and rank intervals describe these models; every verdict ("significant",
"supported") comes from the method-level test, which includes the run-to-run variance at any
number of repeats (:mod:`benchmark.evaluation.method_level`). Statistics come from
:mod:`benchmark.stats`; nothing is re-implemented here. Bootstrap seeds are fixed
(:data:`benchmark.evaluation.draws.BOOTSTRAP_SEED`), so rebuilding gives identical numbers.
"""
from benchmark.evaluation.draws import STATISTICS, Draws, bootstrap_draws, fold_aucs, pooled_scores
from benchmark.evaluation.leaderboard import LEADERBOARD_COLUMNS, REFERENCE_COLUMNS, REFERENCE_STATUS, leaderboard
from benchmark.evaluation.reference import BELOW_REFERENCE, reference_comparison
from benchmark.evaluation.run_data import (ALPHA, CONFIDENCE, NO_WORKING, RunData, default_n_bootstrap,
                                           fold_stratified_aucs, load_run, method_order, method_status,
                                           paired_bootstrap_resamples, pooled_aucs)
from benchmark.evaluation.sentences import CONDITIONAL, fmt_p, headline, reference_sentences, summary_sentences
from benchmark.evaluation.method_level import method_level, nadeau_bengio_sizes, probability_best
from benchmark.evaluation.pairwise import (MODEL_LEVEL_TEST, PRIMARY_TEST, SIGNIFICANCE_COLUMNS, TEST_LABELS, TESTS,
                                           significance)
from benchmark.evaluation.reproduction import CLAIMS, PAPER_METHODS, paper_claims, reproduction_table

__all__ = [
    "ALPHA", "CONFIDENCE", "NO_WORKING", "PRIMARY_TEST", "MODEL_LEVEL_TEST", "TESTS", "TEST_LABELS",
    "SIGNIFICANCE_COLUMNS", "STATISTICS", "BELOW_REFERENCE", "CONDITIONAL", "headline", "method_level", "probability_best",
    "fold_stratified_aucs", "pooled_aucs",
    "LEADERBOARD_COLUMNS", "REFERENCE_STATUS", "REFERENCE_COLUMNS", "RunData", "Draws", "load_run", "method_status",
    "method_order", "default_n_bootstrap", "paired_bootstrap_resamples", "pooled_scores", "bootstrap_draws",
    "fold_aucs", "leaderboard", "reference_comparison", "significance", "nadeau_bengio_sizes", "fmt_p",
    "summary_sentences", "reference_sentences", "CLAIMS", "PAPER_METHODS", "paper_claims", "reproduction_table",
]
