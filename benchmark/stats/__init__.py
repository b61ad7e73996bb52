"""Statistics on scores and labels alone (numpy and scipy). Nothing here knows about run folders,
training or reports.

* :mod:`benchmark.stats.metrics` - AUC, the stratified AUC (pairs within one fold model's test
  images only), the ROC corner operating point and the stratified image bootstrap of Byra
  (2021), and the conventions every module here follows;
* :mod:`benchmark.stats.thresholds` - operating points chosen on validation data (Youden's J, a target
  sensitivity) and the metrics they give, with case weights;
* :mod:`benchmark.stats.net_benefit` - net benefit of decision-curve analysis (a model, biopsy all), with
  case weights;
* :mod:`benchmark.stats.cluster_bootstrap` - the duplicate-aware bootstrap: AUCs of several
  scorers on shared resamples of duplicate groups (optionally within folds, with pairs
  within folds only);
* :mod:`benchmark.stats.bootstrap` - what shared bootstrap draws say: percentile intervals,
  paired differences with their p-value, rank intervals;
* :mod:`benchmark.stats.hypothesis` - significance tests comparing classifiers, and Holm's
  correction for multiple comparisons;
* :mod:`benchmark.stats.bayes` - the correlated Bayesian t-test (posterior probabilities of A better,
  practically equivalent, B better);
* :mod:`benchmark.stats.power` - the power of the corrected repeated k-fold t-test: the smallest
  difference it detects, the repeats a target needs, and the floor no number of repeats passes;
* :mod:`benchmark.stats.calibration` - Brier score, calibration intercept and slope, adaptive
  ECE, Platt scaling (with case weights, so that bootstrap resamples are rows of weights).

Their public functions are imported from here: ``from benchmark.stats import delong_test``.
"""
from benchmark.stats.bootstrap import paired_differences, percentile_interval, rank_intervals
from benchmark.stats.calibration import (CALIBRATED_DRAWS, CALIBRATION_METRICS, adaptive_ece, brier_score,
                                         calibrated_ece_draws, calibration_metrics, logistic_calibration, mean_predicted,
                                         observed_expected, platt_apply, platt_fit, prior_correct, smooth_calibration,
                                         smooth_ece, weighting_shift)
from benchmark.stats.cluster_bootstrap import (cluster_bootstrap_aucs, cluster_bootstrap_ci, cluster_bootstrap_weights,
                                               paired_cluster_bootstrap, weighted_aucs)
from benchmark.stats.hypothesis import (bootstrap_wilcoxon_test, delong_test, delong_variance, holm_correction,
                                        nadeau_bengio_ttest, paired_bootstrap_auc_difference,
                                        paired_bootstrap_auc_differences, paired_split_test)
from benchmark.stats.metrics import (auc_standard_error, bootstrap_aucs, corner_operating_point, evaluate_scores, roc_auc,
                                     stratified_auc)
from benchmark.stats.bayes import correlated_bayesian_ttest, posterior_probabilities
from benchmark.stats.power import detectable_floor, minimum_detectable_difference, repeats_needed
from benchmark.stats.net_benefit import net_benefit, treat_all_net_benefit
from benchmark.stats.thresholds import (sensitivity_threshold, threshold_metrics, threshold_rates,
                                       youden_threshold)

__all__ = [
    "roc_auc", "stratified_auc", "auc_standard_error", "corner_operating_point", "evaluate_scores", "bootstrap_aucs",
    "youden_threshold", "sensitivity_threshold", "threshold_metrics", "threshold_rates",
    "net_benefit", "treat_all_net_benefit",
    "weighted_aucs", "cluster_bootstrap_aucs", "cluster_bootstrap_weights", "cluster_bootstrap_ci",
    "paired_cluster_bootstrap",
    "CALIBRATION_METRICS", "CALIBRATED_DRAWS", "calibrated_ece_draws", "brier_score", "logistic_calibration",
    "adaptive_ece", "calibration_metrics", "platt_fit", "platt_apply", "weighting_shift", "prior_correct",
    "observed_expected", "mean_predicted", "smooth_calibration", "smooth_ece",
    "percentile_interval", "paired_differences", "rank_intervals",
    "delong_variance", "delong_test", "paired_bootstrap_auc_difference", "paired_bootstrap_auc_differences",
    "bootstrap_wilcoxon_test", "paired_split_test", "nadeau_bengio_ttest", "holm_correction",
    "correlated_bayesian_ttest", "posterior_probabilities",
    "minimum_detectable_difference", "repeats_needed", "detectable_floor",
]
