"""The run folder's tidy tables, gathered from its run records (no torch needed).

- ``predictions.csv``: every scored image of every finished study, one row each, columns
  ``dataset, method, repeat, fold, image_id, group, label, score, threshold`` (the
  training data set's test rows, and each external data set's rows);
- ``studies.csv``: one row per (method, repeat, fold) study: ``status`` ("ok" or
  "no_working_configuration"), ``reason``, trial counts, the selected hyper-parameters,
  validation AUC and the run's folder;
- ``trials.csv``: one row per trial of every study: its state and failure reason, its
  parameters, validation AUC and loss, epochs, whether it tied with the best (within the
  profile's ``tie_se``) and whether it was selected.

:func:`collect` rebuilds them from ``runs/<method>/repeat-<r>/fold-<f>/`` (``results.json`` +
``predictions.csv``, or ``failed.json``); the suite calls it when it ends and the report
when the tables are missing or older than the runs.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd

from benchmark.common.io import write_csv_atomic
from benchmark.runfolder.layout import (FAILED_FILE, PREDICTION_COLUMNS, PREDICTIONS_FILE, RESULTS_FILE, STUDIES_FILE,
                                        STUDY_COLUMNS, TRIAL_COLUMNS, TRIALS_FILE)

__all__ = ["collect"]


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        warnings.warn(f"skipping {path}: {exc}", stacklevel=3)
        return None


def _study_row(run_dir: Path, folder: Path, record: dict, status: str) -> dict:
    search = record.get("search") or {}
    trials = search.get("trials") or []
    selected = next((t for t in trials if t.get("number") == search.get("selected_trial")), None)
    config = record.get("config") or {}
    params = {"lr": config.get("lr"), "beta1": config.get("beta1"), **(config.get("method_params") or {})} \
        if status == "ok" else {}
    return {"method": config.get("method") or record.get("method"), "repeat": int(config.get("repeat", 0)),
            "fold": int(config.get("fold", 0)), "status": status, "reason": record.get("reason", ""),
            "n_trials": int(search.get("n_trials", 0) or 0), "n_collapsed": int(search.get("n_collapsed", 0) or 0),
            "n_failed": int(search.get("n_failed", 0) or 0), "selected_params": json.dumps(params, sort_keys=True),
            "val_auc": (selected or {}).get("val_auc", (record.get("training") or {}).get("best_val_auc")),
            "run_path": folder.relative_to(run_dir).as_posix()}


def _trial_rows(record: dict) -> list[dict]:
    search, config = record.get("search") or {}, record.get("config") or {}
    tied = search.get("tied_trials")
    return [{"method": config.get("method") or record.get("method"), "repeat": int(config.get("repeat", 0)),
             "fold": int(config.get("fold", 0)), "trial": t.get("number"), "state": t.get("state"),
             "failure": t.get("failure") or "", "params": json.dumps(t.get("params") or {}, sort_keys=True),
             "val_auc": t.get("val_auc"), "val_loss": t.get("val_loss"), "epochs": t.get("epochs"),
             "tied": (t.get("number") in tied) if tied is not None else None,
             "selected": t.get("number") == search.get("selected_trial")}
            for t in search.get("trials") or []]


def collect(run_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rebuild and write ``predictions.csv``, ``studies.csv`` and ``trials.csv`` of ``run_dir``;
    return the first two."""
    run_dir = Path(run_dir)
    frames, studies, trials = [], [], []
    for folder in sorted(p for p in (run_dir / "runs").glob("*/repeat-*/fold-*") if p.is_dir()):
        if (folder / RESULTS_FILE).is_file() and (folder / PREDICTIONS_FILE).is_file():
            record = _read(folder / RESULTS_FILE)
            if record is None:
                continue
            frames.append(pd.read_csv(folder / PREDICTIONS_FILE, dtype={"image_id": str}))
            studies.append(_study_row(run_dir, folder, record, "ok"))
            trials += _trial_rows(record)
        elif (folder / FAILED_FILE).is_file():
            record = _read(folder / FAILED_FILE)
            if record is not None:
                studies.append(_study_row(run_dir, folder, record, record.get("status", "failed")))
                trials += _trial_rows(record)
    predictions = pd.concat(frames, ignore_index=True)[PREDICTION_COLUMNS] if frames else \
        pd.DataFrame(columns=PREDICTION_COLUMNS)
    predictions = predictions.sort_values(["dataset", "method", "repeat", "fold", "image_id"], kind="stable")
    study_frame = pd.DataFrame(studies, columns=STUDY_COLUMNS).sort_values(["method", "repeat", "fold"],
                                                                          kind="stable")
    write_csv_atomic(run_dir / PREDICTIONS_FILE, predictions.reset_index(drop=True))
    write_csv_atomic(run_dir / STUDIES_FILE, study_frame.reset_index(drop=True))
    trial_frame = pd.DataFrame(trials, columns=TRIAL_COLUMNS).sort_values(["method", "repeat", "fold", "trial"],
                                                                         kind="stable")
    write_csv_atomic(run_dir / TRIALS_FILE, trial_frame.reset_index(drop=True))
    return predictions.reset_index(drop=True), study_frame.reset_index(drop=True)
