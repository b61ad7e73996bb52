"""Every completed trial's model on the fold's test images and the external sets: kept, never selected on.

When a trial of a search completes, its model (in memory at that moment, at its best epoch) scores the
fold's test images and every external set, at the trial's own validation threshold (Youden's J on the
fold's validation images, as for the selected model). The rows go to Optuna's artifact store beside the
trial's trained state, so any host of a shared search can collect them; when the study ends, the rows of
its completed trials are written into the study's ``trial_predictions.csv`` (the columns of
``predictions.csv`` and ``trial``, the Optuna trial number). Pruned and failed trials have none.

Nothing in the search, the selection, the threshold or the selected model's test reads them: the trial's
value is computed before they are, and the study's ``predictions.csv`` comes from the selected model,
restored and scored again. They exist for the budget curves (:mod:`benchmark.evaluation.budget_curves`),
which replay the selection on the first k trials of each study. ``[search] keep_trial_predictions =
false`` switches the scoring off; the key is not part of a study's identity (it changes no trial and no
selection). An external set added to a finished run folder later (``suite --run-dir DIR --external``)
is scored by the selected models only: the other trials' states are gone by then.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import torch
from optuna.artifacts import FileSystemArtifactStore, download_artifact, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound

from benchmark.common.io import write_csv_atomic
from benchmark.common.profiles import Profile
from benchmark.data import ImageSet
from benchmark.runfolder import TRIAL_PREDICTION_COLUMNS
from benchmark.stats import youden_threshold
from benchmark.training.runner import Fold, TrainedModel, prediction_rows
from benchmark.training.trainer import predict_scores

__all__ = ["TRIAL_PREDICTIONS_ATTR", "trial_rows", "keep_trial_rows", "write_trial_predictions"]

TRIAL_PREDICTIONS_ATTR = "trial_predictions_artifact"  # the trial's rows in the artifact store


def trial_rows(trained: TrainedModel, data: ImageSet, fold: Fold, profile: Profile, device: torch.device,
               external: dict[str, ImageSet] | None, trial: int) -> pd.DataFrame:
    """A trained trial's rows (:data:`TRIAL_PREDICTION_COLUMNS`): the fold's test images and every
    external set, at the threshold chosen on the fold's validation images."""
    score = lambda images: predict_scores(trained.backbone, images, device, profile.train.eval_batch_size,  # noqa: E731
                                          profile.train.inference_precision, profile.train.channels_last)
    va, te, name = fold.split["val"], fold.split["test"], trained.method.name
    threshold = youden_threshold(data.labels[va], score(data.images[va]))
    frames = [prediction_rows(data, te, score(data.images[te]), name, fold, threshold)]
    for ext in (external or {}).values():
        frames.append(prediction_rows(ext, np.arange(len(ext)), score(ext.images), name, fold, threshold))
    return pd.concat(frames, ignore_index=True).assign(trial=int(trial))[TRIAL_PREDICTION_COLUMNS]


def keep_trial_rows(trial: optuna.Trial, store: FileSystemArtifactStore, rows: pd.DataFrame) -> None:
    """Put a trial's rows in the artifact store and name them in the trial's user attributes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"trial-{trial.number}-predictions.csv"
        rows.to_csv(path, index=False)
        artifact = upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial)
    trial.set_user_attr(TRIAL_PREDICTIONS_ATTR, artifact)


def write_trial_predictions(trials, store: FileSystemArtifactStore, path: Path) -> int:
    """Write the rows of the completed ``trials`` that kept theirs into ``path`` (removed when none did);
    return how many trials' rows it holds."""
    frames = []
    for t in sorted(trials, key=lambda t: t.number):
        artifact = t.user_attrs.get(TRIAL_PREDICTIONS_ATTR)
        if not artifact:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "rows.csv"
            try:
                download_artifact(artifact_store=store, file_path=str(local), artifact_id=artifact)
            except (ArtifactNotFound, FileNotFoundError):
                continue  # another host's store: the budget curves then lack this trial (they say so)
            frames.append(pd.read_csv(local, dtype={"image_id": str})[TRIAL_PREDICTION_COLUMNS])
    path = Path(path)
    if not frames:
        path.unlink(missing_ok=True)
        return 0
    write_csv_atomic(path, pd.concat(frames, ignore_index=True))
    return len(frames)
