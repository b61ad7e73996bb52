"""Fake run folders in the suite's layout (k-fold, predictions.csv, studies.csv), built without training.

``make_run_folder`` writes what ``petl-bench suite`` writes: ``suite.json``, ``predictions.csv``
(out-of-fold scores of every method and repeat, and each fold model's scores of external data
sets), ``studies.csv``, ``runs/<method>/repeat-<r>/fold-<f>/results.json`` (or ``failed.json``)
and ``test_images.npz``. Scores come from a simple model: a method of strength ``s`` scores an
image ``sigmoid(s * (2 label - 1) + noise)``; images of one duplicate group share their noise
(they are near-copies), so duplicates make scores correlated as in BUSI. With ``fold_offsets``
each fold model adds its own offset, as differently scaled fold models do, which moves the
pooled out-of-fold AUC but not the fold-stratified one.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.common.io import write_csv_atomic, write_json_atomic
from benchmark.runfolder import REFERENCE_FILE, REFERENCE_METHOD
from benchmark.stats import youden_threshold

# name: (strength, trainable parameters, trainable parameters without the head)
METHODS = {
    "good": (2.5, 150_000, 148_719),
    "random_a": (0.0, 1_281, 0),
    "random_b": (0.0, 40_000, 38_719),
    "weak": (0.6, 2_000_000, 1_998_719),
}


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def make_images(n_images: int, n_malignant: int, duplicate_pairs: int, seed: int, prefix: str = "img"):
    """Image ids, labels and duplicate groups: the first ``duplicate_pairs`` groups hold two images."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(n_malignant, int), np.zeros(n_images - n_malignant, int)]
    rng.shuffle(labels)
    groups = np.arange(n_images)
    done = 0
    for i in range(0, n_images - 1):
        if done == duplicate_pairs:
            break
        if groups[i] == i and labels[i] == labels[i + 1] and groups[i + 1] == i + 1 and i % 2 == 0:
            groups[i + 1] = i
            done += 1
    ids = np.array([f"{prefix}_{i:04d}" for i in range(n_images)])
    return ids, labels, groups


def _folds(labels, groups, k: int, seed: int) -> np.ndarray:
    """Fold of each image: whole groups, classes spread round-robin (a stratified group k-fold)."""
    rng = np.random.default_rng(seed)
    fold = np.empty(labels.size, int)
    keys = np.unique(groups)
    for label in (0, 1):
        these = [g for g in keys if labels[groups == g][0] == label]
        rng.shuffle(these)
        for i, g in enumerate(these):
            fold[groups == g] = i % k
    return fold


def make_run_folder(root: Path, methods=tuple(METHODS), folds: int = 5, repeats: int = 1, n_images: int = 200,
                    n_malignant: int = 70, duplicate_pairs: int = 30, failed: dict | None = None,
                    externals: dict | None = None, synthetic: bool = False, n_bootstrap: int = 200,
                    strengths: dict | None = None, cost: pd.DataFrame | None = None, shuffle_rows: bool = True,
                    test_images: bool = True, name: str = "run", dataset: str | None = None,
                    reference: float | None = None, fold_offsets: float = 0.0,
                    reference_on_externals: bool = False) -> Path:
    """A run folder of ``methods`` under ``root / name``.

    ``failed``: ``{method: (reason, [(repeat, fold), ...] or None for all)}``: those studies
    found no working configuration (``failed.json``, status in ``studies.csv``, no predictions).
    ``externals``: ``{name: (n_images, n_malignant)}`` external sets every fold model scores.
    ``strengths`` overrides :data:`METHODS`' strengths. ``reference``: the strength of a
    ``reference_predictions.csv`` (the logistic-regression reference of ``benchmark.training.reference``),
    which also scores the external sets with ``reference_on_externals``. ``fold_offsets``: fold model
    ``f`` adds ``fold_offsets * N(0, 1)`` (drawn per method, repeat and fold) to its logits, on its test
    fold and on the external images.
    """
    run_dir = Path(root) / name
    dataset = dataset or ("synthetic" if synthetic else "busi")
    failed = failed or {}
    externals = externals or {}
    strengths = {**{m: v[0] for m, v in METHODS.items()}, **(strengths or {})}
    ids, labels, groups = make_images(n_images, n_malignant, duplicate_pairs, seed=1)
    scheme = "kfold" if folds > 1 else "holdout"
    write_json_atomic(run_dir / "suite.json", {
        "profile": {"name": "quick", "description": "a fake profile",
                    "backbone": {"name": "efficientnet_lite0", "image_size": 32},
                    "train": {"max_epochs": 3, "patience": 2, "batch_size": 8},
                    "search": {"sampler": "grid", "lr": [0.001], "beta1": [0.9], "n_trials": 1},
                    "evaluation": {"scheme": scheme, "folds": folds, "split_seeds": list(range(repeats)),
                                   "n_bootstrap": n_bootstrap}},
        "dataset": dataset, "methods": list(methods), "workers": 2, "external": list(externals)})
    ext_images = {e: make_images(n, m, 5, seed=7 + i, prefix=e) for i, (e, (n, m)) in enumerate(externals.items())}
    rows, studies, reference_rows = [], [], []
    for r in range(repeats):
        if folds > 1:
            fold_of = _folds(labels, groups, folds, seed=100 + r)
        else:  # holdout: a test set of about 30% of the groups, the rest (-1) for training
            in_test = np.random.default_rng(100 + r).random(groups.max() + 1) < 0.3
            fold_of = np.where(in_test[groups], 0, -1)
        if reference is not None:
            rng = np.random.default_rng(1000 * r + 999)
            noise = rng.normal(0.0, 1.0, groups.max() + 1)[groups] + rng.normal(0.0, 0.05, n_images)
            scores = _sigmoid(reference * (2 * labels - 1) + noise)
            reference_rows += [{"dataset": dataset, "method": REFERENCE_METHOD, "repeat": r, "fold": int(fold_of[i]),
                                "image_id": ids[i], "group": int(groups[i]), "label": int(labels[i]),
                                "score": float(scores[i]), "threshold": 0.5} for i in np.flatnonzero(fold_of >= 0)]
            for e, (e_ids, e_labels, e_groups) in ext_images.items() if reference_on_externals else ():
                for f in range(folds):
                    e_scores = _sigmoid(0.6 * reference * (2 * e_labels - 1) + rng.normal(0.0, 1.0, e_labels.size))
                    reference_rows += [{"dataset": e, "method": REFERENCE_METHOD, "repeat": r, "fold": f,
                                        "image_id": e_ids[i], "group": int(e_groups[i]), "label": int(e_labels[i]),
                                        "score": float(e_scores[i]), "threshold": 0.5} for i in range(e_labels.size)]
        for k, method in enumerate(methods):
            rng = np.random.default_rng(1000 * r + 17 * k + 5)
            group_noise = rng.normal(0.0, 1.0, groups.max() + 1)
            noise = group_noise[groups] + rng.normal(0.0, 0.05, n_images)
            offsets = fold_offsets * rng.normal(0.0, 1.0, folds) if fold_offsets else np.zeros(folds)
            logits = strengths.get(method, 0.5) * (2 * labels - 1) + noise
            reason, where = failed.get(method, (None, []))
            for f in range(folds):
                folder = run_dir / "runs" / method / f"repeat-{r}" / f"fold-{f}"
                test = fold_of == f
                scores = _sigmoid(logits + offsets[f])
                if reason is not None and (where is None or (r, f) in where):
                    write_json_atomic(folder / "failed.json", {"method": method, "repeat": r, "fold": f,
                                                               "status": "no_working_configuration",
                                                               "reason": reason, "trials": []})
                    studies.append({"method": method, "repeat": r, "fold": f, "status": "no_working_configuration",
                                    "reason": reason, "n_trials": 3, "n_collapsed": 3, "n_failed": 0,
                                    "selected_params": "", "val_auc": "", "run_path": folder.relative_to(run_dir)
                                    .as_posix()})
                    continue
                val = ~test
                threshold = youden_threshold(labels[val], scores[val]) + rng.normal(0.0, 0.01)
                rows += [{"dataset": dataset, "method": method, "repeat": r, "fold": f, "image_id": ids[i],
                          "group": int(groups[i]), "label": int(labels[i]), "score": float(scores[i]),
                          "threshold": threshold} for i in np.flatnonzero(test)]
                for e, (e_ids, e_labels, e_groups) in ext_images.items():
                    e_rng = np.random.default_rng(7 * r + 3 * f + k)
                    e_scores = _sigmoid(0.6 * strengths.get(method, 0.5) * (2 * e_labels - 1)
                                        + e_rng.normal(0.0, 1.0, e_labels.size) + offsets[f])
                    rows += [{"dataset": e, "method": method, "repeat": r, "fold": f, "image_id": e_ids[i],
                              "group": int(e_groups[i]), "label": int(e_labels[i]), "score": float(e_scores[i]),
                              "threshold": threshold} for i in range(e_labels.size)]
                trainable, without_head = METHODS.get(method, (0, 1_000, 0))[1:]
                n_test = int(test.sum())
                record = {
                    "config": {"method": method, "repeat": r, "fold": f, "lr": 1e-3, "beta1": 0.9,
                               "method_params": {}, "backbone": "efficientnet_lite0", "image_size": 32},
                    "method": {"name": method, "description": f"the {method} method", "citation": "Someone 2020"},
                    "dataset": {"name": dataset, "synthetic": synthetic, "checksum": "abc123",
                                "n_images": n_images, "n_excluded": 1,
                                "excluded": [{"id": "case/999", "reason": "duplicate"}],
                                "split_sizes": {"train": n_images - n_test - 20, "val": 20, "test": n_test},
                                "split_malignant": {"test": int(labels[test].sum()),  # train: about its share
                                                    "train": int(round(labels[~test].sum() * (n_images - n_test - 20)
                                                                       / (n_images - n_test)))}},
                    "backbone": {"name": "efficientnet_lite0", "weights": {"source": "random", "detail": "test"}},
                    "parameters": {"trainable": trainable, "trainable_without_head": without_head,
                                   "head": trainable - without_head, "total": 3_372_289},
                    "training": {"seconds_per_epoch": 1.5 + f, "epochs_run": 3, "train_seconds": 4.5 + 3 * f},
                    "search": {"sampler": "grid", "n_trials": 1, "concurrent_studies": 2},
                    "metrics": {},
                    "provenance": {"code": {"commit": "0123456789abcdef", "dirty": True},
                                   "versions": {"python": "3.11", "torch": "2.4"},
                                   "machine": {"device": "cpu", "processor": "x86_64", "cpu_count": 2}},
                }
                write_json_atomic(folder / "results.json", record)
                studies.append({"method": method, "repeat": r, "fold": f, "status": "ok", "reason": "",
                                "n_trials": 1, "n_collapsed": 0, "n_failed": 0,
                                "selected_params": json.dumps({"lr": 1e-3, "beta1": 0.9}), "val_auc": 0.8,
                                "run_path": folder.relative_to(run_dir).as_posix()})
    pred = pd.DataFrame(rows, columns=["dataset", "method", "repeat", "fold", "image_id", "group", "label", "score",
                                       "threshold"])
    if shuffle_rows:
        pred = pred.sample(frac=1.0, random_state=3).reset_index(drop=True)
    write_csv_atomic(run_dir / "predictions.csv", pred)
    write_csv_atomic(run_dir / "studies.csv", pd.DataFrame(studies))
    if reference is not None:
        write_csv_atomic(run_dir / REFERENCE_FILE, pd.DataFrame(reference_rows, columns=pred.columns))
    if cost is not None:
        write_csv_atomic(run_dir / "cost.csv", cost)
    if test_images:
        images = ((np.arange(n_images) % 16)[:, None, None] * 15 + np.zeros((1, 32, 32))).astype(np.uint8)
        with open(run_dir / "test_images.npz", "wb") as fh:
            np.savez_compressed(fh, images=images, labels=labels, ids=ids)
    return run_dir
