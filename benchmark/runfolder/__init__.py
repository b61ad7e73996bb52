"""A run folder: the names of its files and the columns of its tables (``layout``), reading and
validating its tables without torch (``tables``), and collecting them from the studies' own
files (``records``). The training side writes a run folder; the evaluation side only reads it.

Their public names are imported from here: ``from benchmark.runfolder import load_predictions``.
"""
from benchmark.runfolder.layout import (COST_FILE, DETECTABLE_FILE, EXTERNAL_FILE, PLAN_RECORD_FILE, FAILED_FILE, IMAGE_COLUMNS, IMAGES_FILE, OK,
                                        PREDICTION_COLUMNS, PREDICTIONS_FILE, REFERENCE_FILE, REFERENCE_INFO_FILE, REFERENCE_METHOD, RESULTS_FILE, STATE_FILE, STUDIES_FILE,
                                        STUDY_COLUMNS, SUITE_FILE, TEST_IMAGES_FILE, TRAIN_SUBSETS_FILE, TRIAL_COLUMNS,
                                        TRIALS_FILE)
from benchmark.runfolder.partition import PARTITION_FILE, check_partition, partition_info, read_partition
from benchmark.runfolder.records import collect
from benchmark.runfolder.sizes import load_train_subsets
from benchmark.runfolder.tables import (external_datasets, external_scores, internal_dataset, load_image_table,
                                        load_predictions, load_reference, load_runs, load_studies, read_cost, read_suite,
                                        refresh_tables, score_table, test_images)

__all__ = [
    "SUITE_FILE", "PREDICTIONS_FILE", "STUDIES_FILE", "COST_FILE", "RESULTS_FILE", "FAILED_FILE", "STATE_FILE",
    "TEST_IMAGES_FILE", "REFERENCE_FILE", "REFERENCE_INFO_FILE", "REFERENCE_METHOD", "PREDICTION_COLUMNS",
    "STUDY_COLUMNS", "OK", "TRAIN_SUBSETS_FILE", "EXTERNAL_FILE", "DETECTABLE_FILE", "PLAN_RECORD_FILE",
    "TRIALS_FILE", "TRIAL_COLUMNS", "IMAGES_FILE", "IMAGE_COLUMNS",
    "read_suite", "load_predictions", "load_image_table", "load_reference", "load_train_subsets", "load_studies", "load_runs", "read_cost",
    "internal_dataset", "external_datasets", "external_scores", "score_table", "test_images", "refresh_tables",
    "collect", "PARTITION_FILE", "check_partition", "partition_info", "read_partition",
]
