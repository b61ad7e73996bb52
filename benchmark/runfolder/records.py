"""The run folder's tidy tables, gathered from its run records (no torch needed).

- ``predictions.csv``: every scored image of every finished study, one row each, columns
  ``dataset, method, repeat, fold, image_id, group, label, score, threshold`` (the
  training data set's test rows, and each external data set's rows);
- ``studies.csv``: one row per (method, repeat, fold) study: ``status`` ("ok" or
  "no_working_configuration"), ``reason``, trial counts, the selected hyper-parameters,
  validation AUC and the run's folder;
- ``trials.csv``: one row per trial of every study: its state and failure reason, its
  parameters, validation AUC and loss, epochs trained (a pruned trial's until it was stopped; empty in
  records written before they were kept), wall seconds (empty likewise), whether it tied with the best
  (within the profile's ``tie_se``) and whether it was selected;
- ``trial_predictions.csv``, when the studies kept them (``[search] keep_trial_predictions``): every
  completed trial's rows on the test fold and the external sets, the columns of ``predictions.csv``
  and ``trial``; for the budget curves only (nothing that selects or ranks reads it). A run folder
  whose studies kept none has no such file.

:func:`collect` rebuilds them from ``runs/<method>/repeat-<r>/fold-<f>/`` (``results.json`` +
``predictions.csv``, or ``failed.json``); the suite calls it when it ends and the report
when the tables are missing or older than the runs.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from benchmark.common.io import write_csv_atomic
from benchmark.common.train_sizes import TRAIN_SIZE_COLUMNS
from benchmark.runfolder.sizes import is_sized, record_size, size_sort_key
from benchmark.runfolder.studies import read_record, study_folders
from benchmark.runfolder.layout import (FAILED_FILE, PREDICTION_COLUMNS, PREDICTIONS_FILE, RESULTS_FILE, STUDIES_FILE,
                                        STUDY_COLUMNS, TRIAL_COLUMNS, TRIAL_PREDICTION_COLUMNS, TRIAL_PREDICTIONS_FILE,
                                        TRIALS_FILE)

__all__ = ["collect"]


def _study_row(run_dir: Path, folder: Path, record: dict, status: str) -> dict:
    search = record.get("search") or {}
    trials = search.get("trials") or []
    selected = next((t for t in trials if t.get("number") == search.get("selected_trial")), None)
    config = record.get("config") or {}
    params = {"lr": config.get("lr"), "beta1": config.get("beta1"), **(config.get("method_params") or {})} \
        if status == "ok" else {}
    return {"method": config.get("method") or record.get("method"), "repeat": int(config.get("repeat", 0)),
            "fold": int(config.get("fold", 0)), "train_size": record_size(record), "status": status, "reason": record.get("reason", ""),
            "n_trials": int(search.get("n_trials", 0) or 0), "n_collapsed": int(search.get("n_collapsed", 0) or 0),
            "n_failed": int(search.get("n_failed", 0) or 0), "selected_params": json.dumps(params, sort_keys=True),
            "val_auc": (selected or {}).get("val_auc", (record.get("training") or {}).get("best_val_auc")),
            "run_path": folder.relative_to(run_dir).as_posix()}


def _trial_rows(record: dict) -> list[dict]:
    search, config = record.get("search") or {}, record.get("config") or {}
    tied = search.get("tied_trials")
    return [{"method": config.get("method") or record.get("method"), "repeat": int(config.get("repeat", 0)),
             "fold": int(config.get("fold", 0)), "train_size": record_size(record), "trial": t.get("number"), "state": t.get("state"),
             "failure": t.get("failure") or "", "params": json.dumps(t.get("params") or {}, sort_keys=True),
             "val_auc": t.get("val_auc"), "val_loss": t.get("val_loss"), "epochs": t.get("epochs"),
             "seconds": t.get("seconds"), "tied": (t.get("number") in tied) if tied is not None else None,
             "selected": t.get("number") == search.get("selected_trial")}
            for t in search.get("trials") or []]


def _sort(frame: pd.DataFrame, keys: list[str], sized: bool) -> pd.DataFrame:
    """``frame`` sorted by ``keys``, then (with training-set sizes) by size, smallest first."""
    if not sized:
        return frame.sort_values(keys, kind="stable")
    return frame.sort_values(keys[:-1] + ["train_size", keys[-1]], kind="stable",
                             key=lambda c: size_sort_key(c) if c.name == "train_size" else c)


def collect(run_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rebuild and write ``predictions.csv``, ``studies.csv``, ``trials.csv`` (and ``trial_predictions.csv``
    when the studies kept their trials' rows) of ``run_dir``; return the first two."""
    run_dir = Path(run_dir)
    frames, studies, trials, records, failed, trial_frames = [], [], [], [], [], []
    for folder in study_folders(run_dir):
        if (folder / RESULTS_FILE).is_file() and (folder / PREDICTIONS_FILE).is_file():
            record = read_record(folder / RESULTS_FILE)
            if record is None:
                continue
            frames.append(pd.read_csv(folder / PREDICTIONS_FILE, dtype={"image_id": str})[PREDICTION_COLUMNS])
            studies.append(_study_row(run_dir, folder, record, "ok"))
            trials += _trial_rows(record)
            records.append(record)
            if (folder / TRIAL_PREDICTIONS_FILE).is_file():
                trial_frames.append((pd.read_csv(folder / TRIAL_PREDICTIONS_FILE, dtype={"image_id": str})
                                     [TRIAL_PREDICTION_COLUMNS], record))
        elif (folder / FAILED_FILE).is_file():
            record = read_record(folder / FAILED_FILE)
            if record is not None:
                studies.append(_study_row(run_dir, folder, record, record.get("status", "failed")))
                trials += _trial_rows(record)
                failed.append(record)
    # [data] train_sizes: every table says which training-set size a row belongs to (benchmark.runfolder.sizes)
    sized = is_sized(records + failed)
    size_columns = ["train_size"] if sized else []
    if sized:
        frames = [f.assign(train_size=record_size(r), n_train=((r.get("dataset") or {}).get("split_sizes") or {})
                           .get("train")) for f, r in zip(frames, records)]
    predictions = pd.concat(frames, ignore_index=True) if frames else \
        pd.DataFrame(columns=PREDICTION_COLUMNS + (list(TRAIN_SIZE_COLUMNS) if sized else []))
    predictions = _sort(predictions, ["dataset", "method", "repeat", "fold", "image_id"], sized)
    study_frame = _sort(pd.DataFrame(studies, columns=STUDY_COLUMNS + size_columns), ["method", "repeat", "fold"],
                        sized)
    write_csv_atomic(run_dir / PREDICTIONS_FILE, predictions.reset_index(drop=True))
    write_csv_atomic(run_dir / STUDIES_FILE, study_frame.reset_index(drop=True))
    trial_frame = _sort(pd.DataFrame(trials, columns=TRIAL_COLUMNS + size_columns),
                        ["method", "repeat", "fold", "trial"], sized)
    write_csv_atomic(run_dir / TRIALS_FILE, trial_frame.reset_index(drop=True))
    _collect_trial_predictions(run_dir, trial_frames, sized)
    return predictions.reset_index(drop=True), study_frame.reset_index(drop=True)


def _collect_trial_predictions(run_dir: Path, frames: list[tuple[pd.DataFrame, dict]], sized: bool) -> None:
    """``trial_predictions.csv`` from the studies' own files; removed when no study kept any."""
    path = run_dir / TRIAL_PREDICTIONS_FILE
    if not frames:
        path.unlink(missing_ok=True)
        return
    table = pd.concat([f.assign(train_size=record_size(r)) if sized else f for f, r in frames], ignore_index=True)
    table = _sort(table, ["dataset", "method", "repeat", "fold", "trial", "image_id"], sized)
    write_csv_atomic(path, table.reset_index(drop=True))
