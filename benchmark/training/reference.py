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
from benchmark.stats import roc_auc, youden_threshold

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


def _run_features(run_dir: Path, device: str) -> tuple[dict, dict, np.ndarray]:
    """``suite.json``, the arrays of ``test_images.npz`` and the frozen features of its images."""
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
    return suite, arrays, x


def reference_predictions(run_dir, device: str = "auto") -> pd.DataFrame:
    """The probe's out-of-fold scores on the run's data and folds (``test_images.npz``, ``suite.json``)."""
    suite, arrays, x = _run_features(Path(run_dir), device)
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


PROTOCOL_PROBES = ("reference", "training images, C by inner CV", "training images, C on validation")


def protocol_probe_aucs(run_dir, device: str = "auto") -> dict[str, float]:
    """The probe under the methods' own protocol: pooled out-of-fold AUC (mean over repeats) of
    :data:`PROTOCOL_PROBES`: as the reference (training + validation images, C by inner CV); on
    the training images alone, C by inner CV; on the training images alone, C the best on the
    validation images' AUC, as a trained method chooses its epoch and trial. A k-fold run only:
    the folds' training and validation parts are rebuilt from its profile and checked against
    the test folds it saved."""
    from sklearn.linear_model import LogisticRegression

    from benchmark.data.split import kfold_splits

    run_dir = Path(run_dir)
    suite, arrays, x = _run_features(run_dir, device)
    evaluation = suite["profile"]["evaluation"]
    if evaluation.get("scheme") != "kfold":
        raise ValueError(f"{run_dir / 'suite.json'}: the probe under the protocol needs a kfold run, not "
                         f"{evaluation.get('scheme')!r}")
    y, groups = arrays["labels"], arrays["groups"]
    aucs = {name: [] for name in PROTOCOL_PROBES}
    for repeat, seed in enumerate(evaluation["split_seeds"]):
        scores = {name: np.zeros(len(y)) for name in PROTOCOL_PROBES}
        for fold, split in enumerate(kfold_splits(y, groups, int(evaluation["folds"]), int(seed))):
            train, val, test = split["train"], split["val"], split["test"]
            if not np.array_equal(np.sort(test), np.flatnonzero(arrays[f"test_fold_{repeat}"] == fold)):
                raise ValueError(f"{run_dir / TEST_IMAGES_FILE}: repeat {repeat} fold {fold} is not the profile's "
                                 "fold: was the run made with another version of the splitter?")
            for name, fit in zip(PROTOCOL_PROBES[:2], (np.r_[train, val], train)):
                model, _ = probe_fold(x, y, groups, np.isin(np.arange(len(y)), fit), seed=repeat)
                scores[name][test] = model.predict_proba(x[test])[:, 1]
            fitted = [LogisticRegression(C=c, max_iter=5000).fit(x[train], y[train]) for c in C_GRID]
            best = max(fitted, key=lambda m: roc_auc(y[val], m.predict_proba(x[val])[:, 1]))
            scores[PROTOCOL_PROBES[2]][test] = best.predict_proba(x[test])[:, 1]
        for name in PROTOCOL_PROBES:
            aucs[name].append(roc_auc(y, scores[name]))
    return {name: float(np.mean(values)) for name, values in aucs.items()}


def write_reference(run_dir, device: str = "auto") -> Path:
    """Compute the reference and write ``reference_predictions.csv`` into ``run_dir`` (atomically)."""
    run_dir = Path(run_dir)
    return write_csv_atomic(run_dir / REFERENCE_FILE, reference_predictions(run_dir, device))
