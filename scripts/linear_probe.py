"""A reference the leaderboard must beat: scikit-learn's logistic regression on frozen features.

Usage: .venv/bin/python scripts/linear_probe.py RUN_DIR

On the run's own data, folds and backbone (``test_images.npz``, ``suite.json``), it computes the
pretrained backbone's pooled features once (no augmentation), then, for every fold, fits a
standardised L2 logistic regression on the fold's training and validation images (the
regularisation C chosen by 5-fold cross-validation within them, grouped by duplicate group)
and scores the fold's test images. It prints the AUC of the pooled out-of-fold scores per
repeat, to hold against the ``feature_extraction`` row (the same features, a head trained by
Adam): a trained head well below this probe points at the training, not at the features.
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmark.model import build_model
from benchmark.prefix_cache import frozen_prefix_length, split_model
from benchmark.suite import TEST_IMAGES_FILE
from benchmark.trainer import Preprocess


@torch.inference_mode()
def features(backbone_name: str, image_size: int, weights, images: np.ndarray) -> np.ndarray:
    backbone, method, _ = build_model("feature_extraction", backbone_name, image_size, weights)
    prefix, _ = split_model(backbone, frozen_prefix_length(backbone, method.bn_stats))
    prefix.eval()
    prep = Preprocess(backbone.mean, backbone.std)
    x = torch.as_tensor(images)
    return torch.cat([prefix(prep(prep.to_unit(x[i:i + 64]))).flatten(1) for i in range(0, len(x), 64)]).numpy()


def probe(run_dir: Path) -> dict[int, float]:
    suite = json.loads((run_dir / "suite.json").read_text())
    backbone = suite["profile"]["backbone"]
    with np.load(run_dir / TEST_IMAGES_FILE) as z:
        arrays = {k: z[k] for k in z.files}
    x = features(backbone["name"], backbone["image_size"], backbone.get("weights"), arrays["images"])
    y, groups = arrays["labels"], arrays["groups"]
    out = {}
    for key in sorted(k for k in arrays if k.startswith("test_fold_")):
        fold_of = arrays[key]
        scores = np.full(len(y), np.nan)
        for fold in np.unique(fold_of[fold_of >= 0]):
            train, test = fold_of != fold, fold_of == fold
            model = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
                                 {"logisticregression__C": np.logspace(-4, 1, 11)}, scoring="roc_auc",
                                 cv=StratifiedGroupKFold(5, shuffle=True, random_state=0))
            model.fit(x[train], y[train], groups=groups[train])
            scores[test] = model.predict_proba(x[test])[:, 1]
        tested = fold_of >= 0
        out[int(key.rsplit("_", 1)[1])] = float(roc_auc_score(y[tested], scores[tested]))
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for repeat, auc in probe(Path(sys.argv[1])).items():
        print(f"repeat {repeat}: logistic-regression probe on frozen features, pooled out-of-fold AUC {auc:.4f}")
