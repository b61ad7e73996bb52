"""The logistic-regression probe under the methods' own protocol: what a linear classifier on the
frozen features reaches when it, too, holds out the fold's validation images.

Usage: .venv/bin/python scripts/probe_under_protocol.py RUN_DIR

The reference row (``benchmark/training/reference.py``) fits on each fold's training and
validation images together and chooses C by grouped 5-fold cross-validation within them. A
trained method fits on the training images alone and is selected (its epoch, its trial) on the
validation images. This script scores the run's folds with the same probe three ways and prints
each pooled out-of-fold AUC (mean over repeats):

- ``reference``: as the reference row (training + validation images, C by inner CV);
- ``train, C by inner CV``: the training images alone, C by inner CV within them;
- ``train, C on validation``: the training images alone, C the best on the validation images'
  AUC, as the methods choose their epoch and trial.

So the gap between ``feature_extraction`` and the reference splits into what holding out the
validation images costs and what choosing on them costs. Folds come from the run's profile
(``suite.json``) and ``test_images.npz``; the test folds are checked against the ones saved.
"""
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from benchmark.data.split import kfold_splits
from benchmark.runfolder import TEST_IMAGES_FILE, read_suite
from benchmark.stats import roc_auc
from benchmark.training.reference import C_GRID, frozen_features, probe_fold


def fold_splits(run_dir: Path, arrays: dict) -> dict:
    """{repeat: [split, ...]}: the run's k-fold splits (train/val/test index arrays)."""
    profile = read_suite(run_dir)["profile"]
    evaluation = profile["evaluation"]
    if evaluation["scheme"] != "kfold":
        raise SystemExit(f"{run_dir}: a kfold run is needed (this one is {evaluation['scheme']})")
    out = {}
    for repeat, seed in enumerate(evaluation["split_seeds"]):
        splits = kfold_splits(arrays["labels"], arrays["groups"], int(evaluation["folds"]), int(seed))
        saved = arrays[f"test_fold_{repeat}"]
        for fold, split in enumerate(splits):
            if not np.array_equal(np.sort(split["test"]), np.flatnonzero(saved == fold)):
                raise SystemExit(f"{run_dir / TEST_IMAGES_FILE}: repeat {repeat} fold {fold} differs from the "
                                 "profile's split: was the run made with another version of the splitter?")
        out[repeat] = splits
    return out


def main(run_dir: Path) -> None:
    backbone = read_suite(run_dir)["profile"]["backbone"]
    with np.load(run_dir / TEST_IMAGES_FILE) as z:
        arrays = {k: z[k] for k in z.files}
    x = frozen_features(backbone["name"], int(backbone["image_size"]), backbone.get("weights"), arrays["images"])
    y, groups = arrays["labels"], arrays["groups"]
    results = {"reference": [], "train, C by inner CV": [], "train, C on validation": []}
    for repeat, splits in fold_splits(run_dir, arrays).items():
        scores = {name: np.zeros(len(y)) for name in results}
        for split in splits:
            train, val, test = split["train"], split["val"], split["test"]
            for name, fit in (("reference", np.r_[train, val]), ("train, C by inner CV", train)):
                mask = np.zeros(len(y), bool)
                mask[fit] = True
                model, _ = probe_fold(x, y, groups, mask, seed=repeat)
                scores[name][test] = model.predict_proba(x[test])[:, 1]
            fitted = [LogisticRegression(C=c, max_iter=5000).fit(x[train], y[train]) for c in C_GRID]
            best = max(fitted, key=lambda m: roc_auc(y[val], m.predict_proba(x[val])[:, 1]))
            scores["train, C on validation"][test] = best.predict_proba(x[test])[:, 1]
        for name in results:
            results[name].append(roc_auc(y, scores[name]))
    print(f"{run_dir}: logistic-regression probe on the frozen {backbone['name']} features at "
          f"{backbone['image_size']} px, pooled out-of-fold AUC (mean over repeats)")
    for name, aucs in results.items():
        print(f"  {name:<24} {np.mean(aucs):.3f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]))
