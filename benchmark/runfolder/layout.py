"""The names of a run folder's files and the columns of its tables (see :mod:`benchmark.runfolder`)."""
from __future__ import annotations

__all__ = ["SUITE_FILE", "PREDICTIONS_FILE", "STUDIES_FILE", "COST_FILE", "RESULTS_FILE", "FAILED_FILE",
           "STATE_FILE", "TEST_IMAGES_FILE", "REFERENCE_FILE", "REFERENCE_METHOD", "REFERENCE_INFO_FILE", "PREDICTION_COLUMNS",
           "STUDY_COLUMNS", "TRIALS_FILE", "TRIAL_COLUMNS", "IMAGES_FILE", "IMAGE_COLUMNS", "OK",
           "TRAIN_SUBSETS_FILE", "EXTERNAL_FILE", "DETECTABLE_FILE", "PLAN_RECORD_FILE"]

SUITE_FILE, PREDICTIONS_FILE, STUDIES_FILE, COST_FILE = "suite.json", "predictions.csv", "studies.csv", "cost.csv"
RESULTS_FILE, FAILED_FILE, STATE_FILE = "results.json", "failed.json", "trained_state.pt"
TEST_IMAGES_FILE = "test_images.npz"
IMAGES_FILE = "images.csv"  # one row per image of the training and external sets: IMAGE_COLUMNS, then the set's metadata
IMAGE_COLUMNS = ["dataset", "image_id", "group", "label"]
TRIALS_FILE = "trials.csv"
TRAIN_SUBSETS_FILE = "train_subsets.csv"  # with [data] train_sizes: repeat, fold, train_size, image_id
EXTERNAL_FILE = "external.json"  # written by the suite: each external data set's size, checksum and duplicates
REFERENCE_FILE = "reference_predictions.csv"
REFERENCE_METHOD = "logistic_regression_probe"  # benchmark.training.reference: not a method of the registry
REFERENCE_INFO_FILE = "reference.json"  # the reference's protocol, partition fingerprint and each fold's C and threshold
DETECTABLE_FILE = "detectable.csv"  # written by the report: what the run could detect (benchmark.evaluation.detectable)
PLAN_RECORD_FILE = "analysis_plan.json"  # written by the report: the version and hash of the plan behind the verdicts

PREDICTION_COLUMNS = ["dataset", "method", "repeat", "fold", "image_id", "group", "label", "score", "threshold"]
STUDY_COLUMNS = ["method", "repeat", "fold", "status", "reason", "n_trials", "n_collapsed", "n_failed",
                 "selected_params", "val_auc", "run_path"]
TRIAL_COLUMNS = ["method", "repeat", "fold", "trial", "state", "failure", "params", "val_auc", "val_loss", "epochs",
                 "tied", "selected"]
OK = "ok"
