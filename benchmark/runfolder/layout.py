"""The names of a run folder's files and the columns of its tables (see :mod:`benchmark.runfolder`)."""
from __future__ import annotations

import re

__all__ = ["SUITE_FILE", "PREDICTIONS_FILE", "STUDIES_FILE", "COST_FILE", "RESULTS_FILE", "FAILED_FILE",
           "STATE_FILE", "TEST_IMAGES_FILE", "REFERENCE_FILE", "REFERENCE_METHOD", "REFERENCE_INFO_FILE", "PREDICTION_COLUMNS",
           "STUDY_COLUMNS", "TRIALS_FILE", "TRIAL_COLUMNS", "IMAGES_FILE", "IMAGE_COLUMNS", "OK",
           "TRAIN_SUBSETS_FILE", "EXTERNAL_FILE", "DETECTABLE_FILE", "PLAN_RECORD_FILE", "PARTITION_FILE",
           "VALIDATION_PREDICTIONS_FILE", "SUMMARY_FILE", "FAILURES_FILE", "STUDY_DB", "RUNS_DIR", "LEADERBOARD_FILE", "SIGNIFICANCE_FILE", "CLAIMS_FILE",
           "REPEAT_SPREAD_FILE", "RANK_STABILITY_FILE", "PARETO_FILE", "LEARNING_CURVE_FILE",
           "LEARNING_CURVE_LEAD_FILE", "CALIBRATION_CURVE_FILE", "CALIBRATION_SMOOTH_FILE", "SUBGROUPS_FILE", "SEARCH_BUDGET_FILE", "SITE_MATRIX_FILE",
           "SITE_RANKS_FILE", "REPORT_FILE", "LEADERBOARD_PAGES", "FIGURES_DIR", "ANALYSIS_DIR", "SITE_RUN_PREFIX",
           "ACTIVATION_RATES_FILE", "ACTIVATION_CHANGE_FILE", "DRS_DEVIATION_FILE", "ANALYSIS_NOTES_FILE",
           "PRETRAINED_NATURAL", "DRS_PARAMETER_NAMES", "ACTIVATION_WHERE",
           "ROC_FIGURE", "AUC_PARAMETERS_FIGURE", "PARETO_FIGURE", "LEARNING_CURVE_FIGURE",
           "ACTIVATION_RATES_FIGURE", "ACTIVATION_CHANGE_FIGURE", "DRS_DEVIATION_FIGURE", "pvalue_figure",
           "external_figure", "calibration_figure", "site_figure",
           "OPERATING_POINTS_FILE", "DECISION_CURVE_FILE", "NET_BENEFIT_RANGE_FILE", "decision_curve_figure",
           "TRIAL_PREDICTIONS_FILE", "TRIAL_PREDICTION_COLUMNS", "BUDGET_CURVE_FILE", "TUNING_GAIN_FILE", "BUDGET_CONCLUSIONS_FILE",
           "RELIANCE_SCORES_FILE", "SALIENCY_FILE", "SALIENCY_GALLERY_FILE", "REGION_EXAMPLES_FILE", "RELIANCE_NOTES_FILE",
           "RELIANCE_AUC_FILE", "SHIFT_ROBUSTNESS_FILE", "SALIENCY_SUMMARY_FILE", "ANNOTATION_PAIRS_FILE",
           "RELIANCE_FIGURE", "SALIENCY_FIGURE", "REGION_FIGURE", "RELIANCE_SCORES_PATH", "SALIENCY_PATH",
           "SALIENCY_GALLERY_PATH", "REGION_EXAMPLES_PATH",
           "BUDGET_CURVE_FIGURE", "MANIFEST_FILE", "COMPRESSED_SUFFIX", "PUBLISHED_DIR", "BASELINE_FILE"]

SUITE_FILE, PREDICTIONS_FILE, STUDIES_FILE, COST_FILE = "suite.json", "predictions.csv", "studies.csv", "cost.csv"
RESULTS_FILE, FAILED_FILE, STATE_FILE = "results.json", "failed.json", "trained_state.pt"
TEST_IMAGES_FILE = "test_images.npz"
IMAGES_FILE = "images.csv"  # one row per image of the training and external sets: IMAGE_COLUMNS, then the set's metadata
IMAGE_COLUMNS = ["dataset", "image_id", "group", "label"]
TRIALS_FILE = "trials.csv"
# every completed trial's model on the test fold and the external sets (a study's, and the run's collected):
# kept for the budget curves, never read by selection, thresholds or the leaderboard
TRIAL_PREDICTIONS_FILE = "trial_predictions.csv"
TRAIN_SUBSETS_FILE = "train_subsets.csv"  # with [data] train_sizes: repeat, fold, train_size, image_id
EXTERNAL_FILE = "external.json"  # written by the suite: each external data set's size, checksum and duplicates
REFERENCE_FILE = "reference_predictions.csv"
REFERENCE_METHOD = "logistic_regression_probe"  # benchmark.training.reference: not a method of the registry
REFERENCE_INFO_FILE = "reference.json"  # the reference's protocol, partition fingerprint and each fold's C and threshold
DETECTABLE_FILE = "detectable.csv"  # written by the report: what the run could detect (benchmark.evaluation.detectable)
PLAN_RECORD_FILE = "analysis_plan.json"  # written by the report: the version and hash of the plan behind the verdicts
PARTITION_FILE = "partition.json"  # {"fingerprint", "n_images", "repeats", "folds"}, written with test_images.npz
VALIDATION_PREDICTIONS_FILE = "validation_predictions.csv"
SUMMARY_FILE = "summary.csv"  # one row per finished study (the suite's summary)
FAILURES_FILE = "failures.json"  # the studies without a working configuration, when there are any
STUDY_DB = "optuna.db"  # the search's SQLite storage (unless --storage names another)
RUNS_DIR = "runs"  # runs/<method>/repeat-<r>/fold-<f>/: each study's own files

# derived by the evaluation (benchmark.evaluation.derived), rebuilt when stale
LEADERBOARD_FILE, SIGNIFICANCE_FILE, CLAIMS_FILE = "leaderboard.csv", "significance.csv", "claims.csv"
REPEAT_SPREAD_FILE, RANK_STABILITY_FILE = "repeat_spread.csv", "rank_stability.csv"
PARETO_FILE = "pareto.csv"
LEARNING_CURVE_FILE, LEARNING_CURVE_LEAD_FILE = "learning_curve.csv", "learning_curve_lead.csv"
CALIBRATION_CURVE_FILE, SUBGROUPS_FILE = "calibration_curve.csv", "subgroups.csv"
CALIBRATION_SMOOTH_FILE = "calibration_smooth.csv"  # the smoothed calibration curves with their bands
OPERATING_POINTS_FILE = "operating_points.csv"  # sensitivity, specificity, PPV, NPV at validation-chosen thresholds
DECISION_CURVE_FILE, NET_BENEFIT_RANGE_FILE = "decision_curve.csv", "net_benefit_range.csv"  # decision curves
SEARCH_BUDGET_FILE = "search_budget.csv"  # per method: trials run, how they ended, epochs, training time
BUDGET_CURVE_FILE, TUNING_GAIN_FILE = "budget_curve.csv", "tuning_gain.csv"  # AUC and rank against the search budget
BUDGET_CONCLUSIONS_FILE = "budget_conclusions.csv"  # the report's conclusions redrawn at smaller search budgets
SITE_MATRIX_FILE, SITE_RANKS_FILE = "site_matrix.csv", "site_ranks.csv"  # of a sites folder (train-<set>/ run folders)
SITE_RUN_PREFIX = "train-"

# a published folder (benchmark.publishing): a run folder without model weights, search storage or pages
PUBLISHED_DIR = "results"  # results/<profile>-<dataset>/ in the checkout
MANIFEST_FILE = "MANIFEST.json"  # what was published: provenance, fingerprints, every file's size and sha256
COMPRESSED_SUFFIX = ".gz"  # a large file is published gzip-compressed under its name plus this suffix
# written by `petl-bench compare`: the published folder its baseline rows come from (its training commit and date,
# its methods) and the methods trained here (with this checkout's commit)
BASELINE_FILE = "baseline.json"

# rendered by the reporting
REPORT_FILE = "index.html"
LEADERBOARD_PAGES = ("leaderboard.md", "leaderboard.html")
FIGURES_DIR = "figures"
ANALYSIS_DIR = "analysis"  # written by benchmark.analysis: tables of the trained models' representations

# figures/ (benchmark.reporting.figures draws each from its tables)
ROC_FIGURE, AUC_PARAMETERS_FIGURE = "roc.png", "auc_vs_parameters.png"
PARETO_FIGURE, LEARNING_CURVE_FIGURE = "pareto.png", "learning_curve.png"
ACTIVATION_RATES_FIGURE, ACTIVATION_CHANGE_FIGURE = "activation_rates.png", "activation_rate_change.png"
DRS_DEVIATION_FIGURE = "drs_deviation.png"
BUDGET_CURVE_FIGURE = "budget_curve.png"


def _safe(name) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(name))


def pvalue_figure(test: str) -> str:
    """``pvalues_<test>.png``: the Holm-adjusted p-values of every pair of methods under ``test``."""
    return f"pvalues_{test}.png"


def external_figure(dataset: str) -> str:
    """``external_<set>.png``: internal against external AUC on external data set ``dataset``."""
    return f"external_{_safe(dataset)}.png"


def calibration_figure(dataset: str) -> str:
    """``calibration_<set>.png``: the reliability diagram of ``dataset``."""
    return f"calibration_{_safe(dataset)}.png"


def decision_curve_figure(dataset: str) -> str:
    """``decision_curve_<set>.png``: net benefit against the threshold probability on ``dataset``."""
    return f"decision_curve_{_safe(dataset)}.png"


def site_figure(method: str) -> str:
    """``site_matrix_<method>.png`` (in a sites folder's figures/): the method's train x test heatmap."""
    return f"site_matrix_{_safe(method)}.png"


# in ANALYSIS_DIR, per block: activation rates, activation rate change of DRS models, DRS deviation from identity
ACTIVATION_RATES_FILE, ACTIVATION_CHANGE_FILE = "activation_rates.csv", "activation_rate_change.csv"
DRS_DEVIATION_FILE, ANALYSIS_NOTES_FILE = "drs_deviation.csv", "notes.md"
PRETRAINED_NATURAL = "pretrained (natural photographs)"  # activation_rates.csv's model of the photographs' reference
DRS_PARAMETER_NAMES = ("S_m", "S_b", "D_m", "D_b")  # drs_deviation.csv's parameters, in this order
ACTIVATION_WHERE = {"resnet": "after the block's final ReLU",  # activation_rates.csv's where, by backbone family
                    "efficientnet_lite": "block output (no final activation)"}

# the reliance analysis (benchmark.analysis.reliance): per study, beside its results.json, and collected in ANALYSIS_DIR
RELIANCE_SCORES_FILE = "reliance_scores.csv"  # every image's score under each condition (original, lesion-only, ...)
SALIENCY_FILE = "saliency.csv"  # per image with a lesion mask: the class-activation-map share inside the lesion region
SALIENCY_GALLERY_FILE = "saliency_gallery.npz"  # the gallery images, their regions and every method's maps
REGION_EXAMPLES_FILE = "region_examples.npz"  # the gallery images as lesion-only and context-only copies
# the same, as paths relative to the run folder (the inputs of the derived tables and figures)
RELIANCE_SCORES_PATH, SALIENCY_PATH = f"{ANALYSIS_DIR}/{RELIANCE_SCORES_FILE}", f"{ANALYSIS_DIR}/{SALIENCY_FILE}"
SALIENCY_GALLERY_PATH, REGION_EXAMPLES_PATH = f"{ANALYSIS_DIR}/{SALIENCY_GALLERY_FILE}", f"{ANALYSIS_DIR}/{REGION_EXAMPLES_FILE}"
RELIANCE_NOTES_FILE = "reliance.json"  # what was scored, what was skipped and why, the cost, the reproduction check
# derived (benchmark.evaluation.reliance): AUC per condition, robustness per shift, saliency per method
RELIANCE_AUC_FILE, SHIFT_ROBUSTNESS_FILE = "reliance_auc.csv", "shift_robustness.csv"
SALIENCY_SUMMARY_FILE, ANNOTATION_PAIRS_FILE = "saliency_summary.csv", "annotation_pairs.csv"
RELIANCE_FIGURE, SALIENCY_FIGURE, REGION_FIGURE = "shift_auc.png", "saliency_gallery.png", "region_examples.png"

PREDICTION_COLUMNS = ["dataset", "method", "repeat", "fold", "image_id", "group", "label", "score", "threshold"]
STUDY_COLUMNS = ["method", "repeat", "fold", "status", "reason", "n_trials", "n_collapsed", "n_failed",
                 "selected_params", "val_auc", "run_path"]
TRIAL_PREDICTION_COLUMNS = PREDICTION_COLUMNS + ["trial"]  # the trial's own validation threshold
TRIAL_COLUMNS = ["method", "repeat", "fold", "trial", "state", "failure", "params", "val_auc", "val_loss", "epochs",
                 "seconds", "tied", "selected"]
OK = "ok"
