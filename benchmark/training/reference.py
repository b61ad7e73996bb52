"""The reference every leaderboard is held against: scikit-learn's logistic regression on the
pretrained backbone's frozen features, on the run's own folds.

It needs no search of ours and no training loop of ours, so a method that falls well below it
has not learned what the frozen features already hold: a win over such a method says that it
trained badly, not that the winner is a better transfer method (the leaderboard flags it).

For each fold: the pooled features of the frozen pretrained backbone (no augmentation) of the
fold's training and validation images, as the dense head of ``feature_extraction`` sees them
(not standardised: on BUSI at 112 px standardising lowered the pooled AUC from 0.869 to
0.860); an L2 logistic regression whose C is
chosen by 5-fold cross-validation within them (grouped by duplicate group, scored by AUC); the
fold's test images scored with it. The threshold of each fold is Youden's on its training and
validation images. Written to ``reference_predictions.csv`` (the columns of
``predictions.csv``, method :data:`REFERENCE_METHOD`), atomically; :func:`write_reference` is
called by the suite after its studies and by ``petl-bench reference RUN_DIR``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmark.common.io import write_csv_atomic
from benchmark.runfolder import PREDICTION_COLUMNS, REFERENCE_FILE, REFERENCE_METHOD, TEST_IMAGES_FILE, read_suite
from benchmark.stats import youden_threshold

C_GRID = np.logspace(-4, 1, 11)
INNER_FOLDS = 5


@torch.inference_mode()
def frozen_features(backbone_name: str, image_size: int, weights, images: np.ndarray,
                    device: str = "auto", batch_size: int = 64) -> np.ndarray:
    """Pooled features of the pretrained backbone (eval mode, no augmentation, float32):
    ``(n, features)``, computed on ``device`` (auto: the GPU where there is one)."""
    from benchmark.models.build import build_model
    from benchmark.training.device import Preprocess, resolve_device
    from benchmark.training.prefix_cache import frozen_prefix_length, split_model

    dev = resolve_device(device)
    backbone, method, _ = build_model("feature_extraction", backbone_name, image_size, weights)
    prefix, _ = split_model(backbone, frozen_prefix_length(backbone, method.bn_stats))
    prefix.eval().to(dev)
    prep = Preprocess(backbone.mean, backbone.std).to(dev)
    x = torch.as_tensor(images)
    return torch.cat([prefix(prep(prep.to_unit(x[i:i + batch_size].to(dev)))).flatten(1).float().cpu()
                      for i in range(0, len(x), batch_size)]).numpy()


def probe_fold(features: np.ndarray, labels: np.ndarray, groups: np.ndarray, fit: np.ndarray,
               seed: int = 0) -> tuple[object, float]:
    """The fitted probe on the images ``fit`` (boolean mask) and its Youden threshold on them."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

    model = GridSearchCV(LogisticRegression(max_iter=5000), {"C": C_GRID}, scoring="roc_auc",
                         cv=StratifiedGroupKFold(INNER_FOLDS, shuffle=True, random_state=seed))
    model.fit(features[fit], labels[fit], groups=groups[fit])
    return model, youden_threshold(labels[fit], model.predict_proba(features[fit])[:, 1])


def reference_predictions(run_dir, device: str = "auto") -> pd.DataFrame:
    """The probe's out-of-fold scores on the run's data and folds (``test_images.npz``, ``suite.json``)."""
    run_dir = Path(run_dir)
    path = run_dir / TEST_IMAGES_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the suite writes it before its first study "
                                f"(`petl-bench suite --run-dir {run_dir}` resumes)")
    suite = read_suite(run_dir)
    backbone = (suite.get("profile") or {}).get("backbone")
    if not backbone:
        raise ValueError(f"{run_dir / 'suite.json'} names no backbone: is {run_dir} a run folder of the suite?")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    x = frozen_features(backbone["name"], int(backbone["image_size"]), backbone.get("weights"), arrays["images"],
                        device)
    y, groups, ids = arrays["labels"], arrays["groups"], arrays["ids"]
    frames = []
    for key in sorted(k for k in arrays if k.startswith("test_fold_")):
        repeat, fold_of = int(key.rsplit("_", 1)[1]), arrays[key]
        for fold in np.unique(fold_of[fold_of >= 0]):
            test = fold_of == fold
            model, threshold = probe_fold(x, y, groups, ~test, seed=repeat)
            frames.append(pd.DataFrame({
                "dataset": suite.get("dataset", ""), "method": REFERENCE_METHOD, "repeat": repeat, "fold": int(fold),
                "image_id": ids[test].astype(str), "group": groups[test], "label": y[test],
                "score": model.predict_proba(x[test])[:, 1], "threshold": threshold}))
    return pd.concat(frames, ignore_index=True)[PREDICTION_COLUMNS]


def write_reference(run_dir, device: str = "auto") -> Path:
    """Compute the reference and write ``reference_predictions.csv`` into ``run_dir`` (atomically)."""
    run_dir = Path(run_dir)
    return write_csv_atomic(run_dir / REFERENCE_FILE, reference_predictions(run_dir, device))
