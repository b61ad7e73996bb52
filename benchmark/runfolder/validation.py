"""Each study's validation scores: ``runs/<method>/repeat-<r>/fold-<f>/validation_predictions.csv``.

The runner scores the selected model's validation images once (their scores choose the
operating point, Youden's J) and writes them beside the study's ``predictions.csv``, in the same
columns (:data:`benchmark.runfolder.PREDICTION_COLUMNS`; ``fold`` is the fold whose *validation*
part the image is in). Post-hoc recalibration is fitted on them and on nothing else
(:mod:`benchmark.evaluation.calibration`). Run folders written before the runner kept them have
no such files: :func:`load_validation_predictions` then says which studies lack them.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.runfolder.layout import PREDICTION_COLUMNS, VALIDATION_PREDICTIONS_FILE
from benchmark.runfolder.tables import load_predictions

__all__ = ["VALIDATION_PREDICTIONS_FILE", "load_validation_predictions"]



def load_validation_predictions(run_dir, runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The validation rows of the studies in ``runs`` (``method, repeat, fold, run_path``, as
    :func:`benchmark.runfolder.load_runs` gives them): ``(rows, missing)``, ``missing`` naming the
    studies (``method repeat r fold f``) whose folder has no :data:`VALIDATION_PREDICTIONS_FILE`.
    Each file is validated as ``predictions.csv`` is (:func:`benchmark.runfolder.load_predictions`)."""
    run_dir = Path(run_dir)
    frames, missing = [], []
    for r in runs.itertuples():
        folder = run_dir / r.run_path
        if (folder / VALIDATION_PREDICTIONS_FILE).is_file():
            frames.append(load_predictions(folder, VALIDATION_PREDICTIONS_FILE)[PREDICTION_COLUMNS])
        else:
            missing.append(f"{r.method} repeat {r.repeat} fold {r.fold}")
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=PREDICTION_COLUMNS)
    return rows, missing
