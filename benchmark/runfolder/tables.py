"""Reading a run folder: the files the training side writes and the evaluation side reads.

Layout (written by ``petl-bench suite``)::

    suite.json        {"profile": {..., "evaluation": {"scheme", "folds", "split_seeds", "n_bootstrap"}},
                       "dataset": NAME, "methods": [...], "workers": N, "external": [NAME, ...]}
    predictions.csv   one row per scored image and model: dataset, method, repeat, fold, image_id, group,
                      label, score, threshold (see PREDICTION_COLUMNS)
    studies.csv       one row per (method, repeat, fold) study: method, repeat, fold, status, reason, n_trials,
                      n_collapsed, n_failed, selected_params, val_auc, run_path
    runs/<method>/repeat-<r>/fold-<f>/results.json   a finished study's selected model (parameters, time, ...)
    runs/<method>/repeat-<r>/fold-<f>/failed.json    instead, when the study found no working configuration
    test_images.npz   test images (uint8) with their ids, for the report's gallery and the analysis
                      (read by :mod:`benchmark.runfolder.images`)
    images.csv        one row per image of the training and external sets: dataset, image_id, group, label,
                      then what the data set tells of it (bus_bra: patient, histology, birads, device, side)
    cost.csv          optional, from ``petl-bench bench``
    reference_predictions.csv  optional, from ``benchmark.training.reference``: the out-of-fold scores of a
                      logistic regression on the frozen backbone's features, in the columns of predictions.csv

Rows of ``predictions.csv`` whose ``dataset`` is the training data set (``suite.json``'s
``dataset``) are out-of-fold test scores: in a repeat every image is scored once, by the model
of the fold that held it out. Rows of another data set are external: every fold's model scored
all of its images (:func:`external_scores` averages them per repeat).

Nothing here imports torch: a report can be rebuilt on a machine without it.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.common.train_sizes import ALL
from benchmark.runfolder.layout import (
    COST_FILE,
    FAILED_FILE,
    IMAGE_COLUMNS,
    IMAGES_FILE,
    MANIFEST_FILE,
    PREDICTION_COLUMNS,
    PREDICTIONS_FILE,
    REFERENCE_FILE,
    RESULTS_FILE,
    STUDIES_FILE,
    STUDY_COLUMNS,
    SUITE_FILE,
    TRIAL_PREDICTIONS_FILE,
    TRIALS_FILE,
)
from benchmark.runfolder.partition import check_partition
from benchmark.runfolder.sizes import record_size, select_size
from benchmark.runfolder.studies import study_folders

__all__ = ["read_suite", "load_predictions", "load_reference", "load_image_table", "load_studies", "load_runs", "read_cost", "internal_dataset", "external_datasets",
           "external_scores", "score_table", "refresh_tables"]


_NAN = float("nan")


def read_suite(run_dir) -> dict:
    """``suite.json`` as a dict ({} when missing or not valid JSON, with a warning for the latter)."""
    path = Path(run_dir) / SUITE_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        warnings.warn(f"ignoring {path}: not valid JSON", stacklevel=2)
        return {}


# --------------------------------------------------------------------------- predictions
def _integers(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() | (values != values.round())
    if bad.any():
        raise ValueError(f"{path}: column {column!r} must hold integers; row {int(np.flatnonzero(bad)[0]) + 2} "
                         f"holds {frame[column].iloc[int(np.flatnonzero(bad)[0])]!r}")
    return values.astype(np.int64)


def load_predictions(run_dir, name: str = PREDICTIONS_FILE, train_size: str | None = None,
                     every_size: bool = False) -> pd.DataFrame:
    """``predictions.csv`` (or another file ``name`` in its columns), validated: one row per
    scored image and model, and its rows of the training data set made on the run's partition
    (:func:`benchmark.runfolder.partition.check_partition`).

    Columns :data:`PREDICTION_COLUMNS` (others are kept): ``repeat``, ``fold``, ``group`` and
    ``label`` integers, ``label`` 0 (benign) or 1 (malignant), ``score`` and ``threshold``
    finite, ``image_id`` text. A ``(dataset, method, repeat, fold, image_id)`` may occur
    once, the threshold must be the same on all rows of a ``(dataset, method, repeat, fold)``,
    and an image keeps one label and one group within its data set. Every violation is a
    ``ValueError`` naming the file and the first offending row (file rows count from 2, after
    the header); a missing file is a ``FileNotFoundError``. A data-efficiency run's file (a
    ``train_size`` column, :mod:`benchmark.runfolder.sizes`) gives the rows of one size:
    ``train_size``, by default the leaderboard's; every size with ``every_size``.
    """
    path = Path(run_dir) / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the suite writes it when its studies finish "
                                f"(expected columns {', '.join(PREDICTION_COLUMNS)})")
    try:
        pred = pd.read_csv(path, dtype={"dataset": str, "method": str, "image_id": str, "train_size": str},
                           keep_default_na=False,
                           na_values={"score": ["", "nan", "NaN"], "threshold": ["", "nan", "NaN"]})
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty (not even a header); expected columns "
                         f"{', '.join(PREDICTION_COLUMNS)}") from None
    missing = [c for c in PREDICTION_COLUMNS if c not in pred.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(PREDICTION_COLUMNS)}")
    for col in ("repeat", "fold", "group", "label"):
        pred[col] = _integers(pred, col, path)
    if not pred["label"].isin([0, 1]).all():
        row = int(np.flatnonzero(~pred["label"].isin([0, 1]))[0])
        raise ValueError(f"{path}: label must be 0 (benign) or 1 (malignant); row {row + 2} holds "
                         f"{pred['label'].iloc[row]}")
    for col in ("score", "threshold"):
        values = pd.to_numeric(pred[col], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=float))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{path}: {col} must be a finite number; row {row + 2} holds {pred[col].iloc[row]!r}")
        pred[col] = values.astype(float)
    sized = ["train_size"] if "train_size" in pred.columns else []  # each size: a study of its own
    key = ["dataset", "method", "repeat", "fold", *sized, "image_id"]
    dup = pred.duplicated(key, keep=False)
    if dup.any():
        r = pred[dup].iloc[0]
        raise ValueError(f"{path}: image {r.image_id!r} of {r.dataset} is scored twice by {r.method}, repeat "
                         f"{r['repeat']}, fold {r.fold}")
    thresholds = pred.groupby(["dataset", "method", "repeat", "fold", *sized])["threshold"].nunique()
    if (thresholds > 1).any():
        d, m, r, f = thresholds[thresholds > 1].index[0]
        raise ValueError(f"{path}: {m}, repeat {r}, fold {f} on {d} has more than one threshold; the threshold "
                         "is chosen once per fold, on its validation data")
    for col in ("label", "group"):
        n = pred.groupby(["dataset", "image_id"])[col].nunique()
        if (n > 1).any():
            d, i = n[n > 1].index[0]
            raise ValueError(f"{path}: image {i!r} of {d} has more than one {col} "
                             f"({sorted(pred.loc[(pred.dataset == d) & (pred.image_id == i), col].unique())})")
    fix = (f"compute it again with `petl-bench reference {Path(run_dir)}`" if name == REFERENCE_FILE else
           "the run folder mixes studies of two partitions: run the suite into a new run folder")
    check_partition(run_dir, pred, path, read_suite(run_dir).get("dataset"), fix)
    return select_size(pred, train_size, every_size, str(path))


def load_reference(run_dir, train_size: str | None = None) -> pd.DataFrame | None:
    """``reference_predictions.csv`` validated as :func:`load_predictions`, at ``train_size`` in a
    data-efficiency run (default: the leaderboard's size); None when the run has none, or none at that
    size (a reference written before it had sizes: ``petl-bench reference RUN_DIR`` computes them)."""
    if not (Path(run_dir) / REFERENCE_FILE).is_file():
        return None
    reference = load_predictions(run_dir, REFERENCE_FILE, every_size=True)
    if "train_size" not in reference.columns:
        return reference if train_size in (None, ALL) else None
    if train_size is None:
        return select_size(reference, where=str(Path(run_dir) / REFERENCE_FILE))
    part = reference[reference["train_size"] == str(train_size)]
    return part.reset_index(drop=True) if len(part) else None


def load_image_table(run_dir) -> pd.DataFrame | None:
    """``images.csv`` (each image's data set, id, group, label and metadata), or None when the run has none."""
    path = Path(run_dir) / IMAGES_FILE
    if not path.is_file():
        return None
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    missing = [c for c in IMAGE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path} has no column {', '.join(missing)}; rebuild it with `petl-bench suite --run-dir "
                         f"{Path(run_dir)}` (finished runs are not redone)")
    twice = table[table.duplicated(["dataset", "image_id"])]
    if not twice.empty:
        raise ValueError(f"{path}: image {twice.image_id.iloc[0]!r} of {twice.dataset.iloc[0]} is listed twice")
    return table


def internal_dataset(run_dir, predictions: pd.DataFrame) -> str:
    """The data set the models were trained on: ``suite.json``'s ``dataset``.

    When that name is missing from ``predictions.csv`` (or there is no ``suite.json``), the one
    data set of the predictions that ``suite.json`` does not list as external; a
    ``ValueError`` when that is not unique.
    """
    suite = read_suite(run_dir)
    present = list(dict.fromkeys(predictions["dataset"]))
    name = suite.get("dataset")
    if name in present or (name and not present):  # no predictions at all: nothing scored yet
        return name
    candidates = [d for d in present if d not in set(suite.get("external") or [])]
    if len(candidates) == 1:
        return candidates[0]
    raise ValueError(f"{Path(run_dir) / PREDICTIONS_FILE}: cannot tell the training data set among {present} "
                     f"(suite.json names {name!r})")


def external_datasets(run_dir, predictions: pd.DataFrame) -> list[str]:
    """The data sets of ``predictions.csv`` other than the training one, in file order."""
    internal = internal_dataset(run_dir, predictions)
    return [d for d in dict.fromkeys(predictions["dataset"]) if d != internal]


def external_scores(predictions: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """One score per (method, repeat, external image): the mean over the fold models of the repeat.

    Every fold's selected model scored the same external images, so a repeat's external
    score of an image is the mean of its k fold models' scores (an ensemble of the fold
    models; for a holdout scheme, the one model of the split). Returns a DataFrame with
    columns ``dataset, method, repeat, image_id, group, label, score, n_models`` (fold models
    averaged). Raises ``ValueError`` when the folds of a repeat scored different images.
    """
    ext = predictions[predictions["dataset"] == dataset]
    if ext.empty:
        raise ValueError(f"no predictions on data set {dataset!r}")
    folds = ext.groupby(["method", "repeat"])["fold"].nunique()
    per_image = ext.groupby(["method", "repeat", "image_id"])["fold"].nunique()
    short = per_image[per_image.to_numpy() != folds.reindex(per_image.index.droplevel("image_id")).to_numpy()]
    if not short.empty:
        m, r, i = short.index[0]
        raise ValueError(f"{dataset}: the fold models of {m}, repeat {r} scored different images (e.g. {i!r} by "
                         f"{short.iloc[0]} of {folds[(m, r)]}); each fold's model must score every external image")
    out = (ext.groupby(["method", "repeat", "image_id"], sort=True)
              .agg(group=("group", "first"), label=("label", "first"), score=("score", "mean"),
                   n_models=("fold", "size"))
              .reset_index())
    out.insert(0, "dataset", dataset)
    return out[["dataset", "method", "repeat", "image_id", "group", "label", "score", "n_models"]]


def score_table(frame: pd.DataFrame, methods) -> tuple[pd.DataFrame, list[tuple[str, int]], np.ndarray]:
    """Scores of one data set as an image x (method, repeat) matrix, for paired statistics.

    ``frame`` holds one row per (method, repeat, image) (out-of-fold rows of the training
    set, or :func:`external_scores`). Returns ``(images, columns, matrix)``: ``images`` the
    distinct images (``image_id, group, label``, sorted by id), ``columns`` the
    ``(method, repeat)`` pairs of ``methods`` in order (repeats ascending), and ``matrix``
    ``(n_images, n_columns)`` with NaN where a model did not score an image (a holdout split's
    test set covers part of the images). Raises ``ValueError`` when a (method, repeat) scores
    an image twice.
    """
    frame = frame[frame["method"].isin(list(methods))]
    dup = frame.duplicated(["method", "repeat", "image_id"], keep=False)
    if dup.any():
        r = frame[dup].iloc[0]
        raise ValueError(f"{r.method}, repeat {r['repeat']}: image {r.image_id!r} is scored by more than one fold; "
                         "out-of-fold scores need each image in one test fold per repeat")
    images = (frame.drop_duplicates("image_id")[["image_id", "group", "label"]]
              .sort_values("image_id", kind="stable").reset_index(drop=True))
    wide = frame.pivot(index="image_id", columns=["method", "repeat"], values="score").reindex(images["image_id"])
    columns = [(m, int(r)) for m in methods for r in sorted(frame.loc[frame["method"] == m, "repeat"].unique())]
    matrix = np.column_stack([wide[c].to_numpy(dtype=float) for c in columns]) if columns else \
        np.empty((len(images), 0))
    return images, columns, matrix


def refuse_published(run_dir) -> None:
    """ValueError when ``run_dir`` is a published folder (it has ``MANIFEST.json``): a command that
    refreshes a run folder's tables would rewrite it from its compressed files."""
    if (Path(run_dir) / MANIFEST_FILE).is_file():
        raise ValueError(f"{run_dir} is a published folder ({MANIFEST_FILE}), not a run folder: commands that rebuild "
                         f"tables would rewrite it. Check it with `petl-bench check-published {run_dir}`, or unpack "
                         "it into a run folder first (benchmark.publishing.unpack(FOLDER, DEST)) and give that")


def refresh_tables(run_dir) -> bool:
    """Rebuild ``predictions.csv``, ``studies.csv`` and ``trials.csv`` from the run records when
    they are stale.

    The suite writes both when it ends (``benchmark.runfolder.records``); a suite killed
    before that leaves them missing or older than its finished studies. When the study
    folders hold their own ``predictions.csv`` (the runner's) and either table is missing or
    older than any study's files, the tables are collected again. Returns whether they were.
    """
    run_dir = Path(run_dir)
    refuse_published(run_dir)
    folders = study_folders(run_dir)
    if not any((p / PREDICTIONS_FILE).is_file() for p in folders):
        return False
    newest = max((f.stat().st_mtime for p in folders for f in (p / PREDICTIONS_FILE, p / RESULTS_FILE,
                                                                p / FAILED_FILE, p / TRIAL_PREDICTIONS_FILE)
                  if f.is_file()), default=0.0)
    tables = [run_dir / PREDICTIONS_FILE, run_dir / STUDIES_FILE, run_dir / TRIALS_FILE]
    if any((p / TRIAL_PREDICTIONS_FILE).is_file() for p in folders):  # the studies kept their trials' rows
        tables.append(run_dir / TRIAL_PREDICTIONS_FILE)
    if all(t.is_file() and t.stat().st_mtime >= newest for t in tables):
        return False
    from benchmark.runfolder.records import collect  # the training side's collector (no torch)

    collect(run_dir)
    return True


# ------------------------------------------------------------------------------ studies
def load_studies(run_dir, train_size: str | None = None, every_size: bool = False) -> pd.DataFrame:
    """``studies.csv``: one row per (method, repeat, fold) study, columns :data:`STUDY_COLUMNS`.

    ``status`` is ``"ok"`` or why the study has no selected model (``no_working_configuration``);
    ``reason`` is empty for ok studies. A missing file gives an empty frame (a warning says
    so: statuses then come from ``predictions.csv`` alone); a file without the key columns
    is a ``ValueError`` naming it.
    """
    path = Path(run_dir) / STUDIES_FILE
    if not path.is_file():
        warnings.warn(f"{path} is missing: every method with predictions is taken to have worked", stacklevel=2)
        return pd.DataFrame({c: pd.Series(dtype=object) for c in STUDY_COLUMNS})
    studies = pd.read_csv(path, dtype={"method": str, "status": str, "reason": str, "selected_params": str,
                                       "train_size": str},
                          keep_default_na=False, na_values={c: ["", "nan", "NaN"] for c in
                                                            ("n_trials", "n_collapsed", "n_failed", "val_auc")})
    missing = [c for c in ("method", "repeat", "fold", "status") if c not in studies.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(STUDY_COLUMNS)}")
    for col in ("repeat", "fold"):
        studies[col] = _integers(studies, col, path)
    for col in STUDY_COLUMNS:
        if col not in studies.columns:
            studies[col] = "" if col in ("reason", "selected_params", "run_path") else _NAN
    studies["status"] = studies["status"].str.strip()
    return select_size(studies, train_size, every_size, str(path))  # one training-set size (see load_predictions)


# --------------------------------------------------------------------------------- runs
def _number(value, cast=float, missing=_NAN):
    if value is None:
        return missing
    try:
        return cast(value)
    except (TypeError, ValueError):
        return missing


def _folder_index(folder: Path, prefix: str) -> int | None:
    name = folder.name
    return int(name[len(prefix):]) if name.startswith(prefix) and name[len(prefix):].isdigit() else None


def _run_row(run_dir: Path, folder: Path, record: dict) -> dict:
    config = record.get("config") or {}
    params, training = record.get("parameters") or {}, record.get("training") or {}
    dataset, method, search = record.get("dataset") or {}, record.get("method") or {}, record.get("search") or {}
    sizes = dataset.get("split_sizes") or {}
    repeat = config.get("repeat", _folder_index(folder.parent, "repeat-"))
    fold = config.get("fold", _folder_index(folder, "fold-"))
    return {
        "method": str(config.get("method") or folder.parent.parent.name),
        "repeat": _number(repeat, int, None), "fold": _number(fold, int, None), "train_size": record_size(record),
        "lr": _number(config.get("lr")), "beta1": _number(config.get("beta1")),
        "method_params": json.dumps(config.get("method_params") or {}, sort_keys=True),
        "trainable_parameters": _number(params.get("trainable"), int, None),
        "trainable_parameters_without_head": _number(params.get("trainable_without_head"), int, None),
        "head_parameters": _number(params.get("head"), int, None),
        "total_parameters": _number(params.get("total"), int, None),
        "seconds_per_epoch": _number(training.get("seconds_per_epoch")),
        "epochs_run": _number(training.get("epochs_run"), int, None),
        "train_seconds": _number(training.get("train_seconds")),
        "dataset": dataset.get("name"), "synthetic": bool(dataset.get("synthetic", False)),
        "dataset_checksum": dataset.get("checksum"), "n_images": _number(dataset.get("n_images"), int, None),
        "n_train": _number(sizes.get("train"), int, None), "n_val": _number(sizes.get("val"), int, None),
        "n_test": _number(sizes.get("test"), int, None),
        "n_train_malignant": _number((dataset.get("split_malignant") or {}).get("train"), int, None),
        # the loss's class weights; a record written before the setting existed trained with balanced weights
        "class_weights": ((record.get("profile") or {}).get("train") or {}).get("class_weights", "balanced"),
        "description": method.get("description"), "citation": method.get("citation"),
        "search_sampler": search.get("sampler"), "search_n_trials": _number(search.get("n_trials"), int, None),
        "concurrent_studies": _number(search.get("concurrent_studies"), int, 1),
        "run_path": folder.relative_to(run_dir).as_posix(),
    }


RUN_COLUMNS = list(_run_row(Path("."), Path("m/repeat-0/fold-0"), {}).keys())
_INT_COLUMNS = ("repeat", "fold", "trainable_parameters", "trainable_parameters_without_head", "head_parameters",
                "total_parameters", "epochs_run", "n_images", "n_train", "n_val", "n_test", "n_train_malignant",
                "search_n_trials")


def load_runs(run_dir, train_size: str | None = None, every_size: bool = False) -> pd.DataFrame:
    """One row per finished study, ``runs/<method>/repeat-<r>/fold-<f>/results.json`` flattened.

    Columns :data:`RUN_COLUMNS`: method, repeat, fold, selected hyper-parameters (``lr``,
    ``beta1``, ``method_params`` as JSON), parameter counts, ``seconds_per_epoch``,
    ``epochs_run``, ``train_seconds``, data set facts (name, synthetic, checksum, images,
    ``n_train``/``n_val``/``n_test`` of the fold when recorded), description, citation, search
    facts and ``run_path`` (relative to ``run_dir``). Folders holding ``failed.json`` are left
    out silently (see :func:`load_studies`); folders with neither file (a study in progress)
    with a warning. An empty frame when nothing has finished. ``train_size`` (``"all"`` unless the
    run used ``[data] train_sizes``) selects as :func:`load_predictions` does.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    rows = []
    for folder in study_folders(run_dir):
        if (folder / FAILED_FILE).is_file():
            continue
        path = folder / RESULTS_FILE
        if not path.is_file():
            warnings.warn(f"skipping {folder}: no {RESULTS_FILE} (study in progress or unfinished)", stacklevel=2)
            continue
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            warnings.warn(f"skipping {folder}: {RESULTS_FILE} is not valid JSON ({exc})", stacklevel=2)
            continue
        rows.append(_run_row(run_dir, folder, record))
    runs = pd.DataFrame(rows, columns=RUN_COLUMNS)
    for col in _INT_COLUMNS:
        runs[col] = runs[col].astype("Int64")
    runs["synthetic"] = runs["synthetic"].astype(bool)
    runs = select_size(runs, train_size, every_size, str(run_dir))
    return runs.sort_values(["method", "repeat", "fold"], kind="stable").reset_index(drop=True)


def read_cost(run_dir) -> pd.DataFrame | None:
    """``cost.csv`` (``petl-bench bench``), or None when missing or unusable (with a warning)."""
    path = Path(run_dir) / COST_FILE
    if not path.is_file():
        return None
    try:
        cost = pd.read_csv(path)
    except Exception as exc:  # a malformed optional file must not stop the report
        warnings.warn(f"ignoring {path}: {exc}", stacklevel=2)
        return None
    if "method" not in cost.columns:
        warnings.warn(f"ignoring {path}: no 'method' column", stacklevel=2)
        return None
    return cost
