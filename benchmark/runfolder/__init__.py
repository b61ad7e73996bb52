"""A run folder: the names of its files and the columns of its tables (``layout``), reading and
validating its tables without torch (``tables``), and collecting them from the studies' own
files (``records``). The training side writes a run folder; the evaluation side only reads it.

Their public names are imported from here: ``from benchmark.runfolder import load_predictions``.
"""
from benchmark.runfolder import layout
from benchmark.runfolder.layout import *  # noqa: F401,F403 (every file name and column list)
from benchmark.runfolder.partition import check_partition, partition_info, read_partition
from benchmark.runfolder.records import collect
from benchmark.runfolder.sizes import load_train_subsets
from benchmark.runfolder.studies import read_record, study_folders
from benchmark.runfolder.tables import (external_datasets, external_scores, internal_dataset, load_image_table,
                                        load_predictions, load_reference, load_runs, load_studies, read_cost, read_suite,
                                        refresh_tables, score_table)
from benchmark.runfolder.images import fold_test_set, open_test_images, test_images

__all__ = [
    *layout.__all__,
    "read_suite", "load_predictions", "load_image_table", "load_reference", "load_train_subsets", "load_studies", "load_runs", "read_cost",
    "internal_dataset", "external_datasets", "external_scores", "score_table", "test_images", "fold_test_set", "open_test_images",
    "refresh_tables",
    "collect", "study_folders", "read_record", "check_partition", "partition_info", "read_partition",
]
