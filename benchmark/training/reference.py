"""The reference every leaderboard is held against: scikit-learn's logistic regression on the
pretrained backbone's frozen features, on the run's own folds, under the methods' protocol.

For each fold: the pooled features of the frozen pretrained backbone (no augmentation) of the
fold's training images only (not its validation images, which the methods use to stop and to
select: the probe sees the images a method trains on), as the dense head of
``feature_extraction`` sees them (not standardised: docs/decisions/reference-standardisation.md);
an L2 logistic regression whose C is chosen by 5-fold cross-validation within them (grouped by
duplicate group, scored by AUC); its threshold Youden's on the out-of-fold predictions of that inner
cross-validation at the chosen C (not on its own fitted training scores); the fold's test images
scored with it. Written to
``reference_predictions.csv`` (the columns of ``predictions.csv``, method
:data:`REFERENCE_METHOD`) and ``reference.json`` (:data:`REFERENCE_PROTOCOL`, the partition's
fingerprint, the training-set sizes, each fold's C and threshold), atomically. A data-efficiency
run (``[data] train_sizes``) gets one probe per fold and size, fitted on the very images the methods
trained on at that size (``train_subsets.csv``), and a ``train_size`` column: the learning curve
holds every method against the probe at its own size. Each fold's (and size's) probe also scores every
image of the run's external sets (``suite.json``'s ``external``, loaded as the suite loaded them and
checked against ``external.json``'s checksums), as each fold model of a method does, so the
leaderboard's external columns and the learning curve hold the methods against it there too.
:func:`write_reference` is called by the
suite after its studies (when the run folder has no reference of its partition and protocol
yet) and by ``petl-bench reference RUN_DIR``. ``petl-bench reference --protocol`` compares it
with the probe fitted on the training and validation images (the reference before it followed
the methods' protocol) and with C chosen on the validation images (:data:`PROTOCOL_PROBES`).

The fits run with one BLAS thread (:func:`one_blas_thread`): each is too small to share between
threads, and the solutions are the same (lbfgs, same data, same tolerance). Why:
docs/decisions/reference-blas-threads.md.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from benchmark.common.io import write_csv_atomic, write_json_atomic
from benchmark.common.train_sizes import size_order
from benchmark.data import ImageSet, load_dataset
from benchmark.runfolder import (EXTERNAL_FILE, PREDICTION_COLUMNS, REFERENCE_FILE, REFERENCE_INFO_FILE,
                                 REFERENCE_METHOD, TEST_IMAGES_FILE, TRAIN_SUBSETS_FILE, load_train_subsets,
                                 read_partition, read_suite)
from benchmark.runfolder.partition import partition_fingerprint
from benchmark.stats import roc_auc, youden_threshold
from benchmark.runfolder import SUITE_FILE
from benchmark.runfolder import open_test_images

C_GRID = np.logspace(-4, 1, 11)
INNER_FOLDS = 5
REFERENCE_PROTOCOL = ("each fold's training images (not its validation images), C by 5-fold grouped inner "
                      "cross-validation on them, threshold by Youden's J on the inner out-of-fold predictions")


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
    """The probe fitted on the images ``fit`` (boolean mask; C by grouped inner cross-validation
    on them) and its threshold: Youden's on the inner cross-validation's out-of-fold predictions
    at the chosen C. Nothing outside ``fit`` is used. With fewer than :data:`INNER_FOLDS` duplicate
    groups of a class (a small training subset), the inner cross-validation has as many folds as
    that class has groups; fewer than two is a ValueError."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold, cross_val_predict

    x, y, g = features[fit], labels[fit], groups[fit]
    n_inner = min([INNER_FOLDS] + [len(np.unique(g[y == c])) for c in (0, 1)])
    if n_inner < 2:
        raise ValueError(f"the reference probe needs at least 2 duplicate groups of each class among its "
                         f"{int(fit.sum())} training images ({int((y == 1).sum())} malignant); use a larger "
                         "training-set size")
    cv = StratifiedGroupKFold(n_inner, shuffle=True, random_state=seed)
    model = GridSearchCV(LogisticRegression(max_iter=5000), {"C": C_GRID}, scoring="roc_auc", cv=cv)
    with one_blas_thread():
        model.fit(x, y, groups=g)
        inner = cross_val_predict(LogisticRegression(C=model.best_params_["C"], max_iter=5000), x, y, groups=g,
                                  cv=cv, method="predict_proba")[:, 1]
    return model, youden_threshold(y, inner)


def one_blas_thread():
    """A context in which BLAS (numpy's, scipy's, scikit-learn's OpenBLAS) uses one thread: the
    probe's fits are too small to share between threads (see the module's docstring)."""
    return threadpool_limits(limits=1, user_api="blas")


def _say(progress: bool, text: str) -> None:
    if progress:
        print(f"reference: {text}", flush=True)


def _run_features(run_dir: Path, device: str, progress: bool = False) -> tuple[dict, dict, np.ndarray]:
    """``suite.json``, the arrays of ``test_images.npz`` and the frozen features of its images."""
    with open_test_images(run_dir, "the suite writes it before its first study "
                                   f"(`petl-bench suite --run-dir {run_dir}` resumes)") as z:
        arrays = {k: z[k] for k in z.files}
    suite = read_suite(run_dir)
    backbone = (suite.get("profile") or {}).get("backbone")
    if not backbone:
        raise ValueError(f"{run_dir / SUITE_FILE} names no backbone: is {run_dir} a run folder of the suite?")
    started = time.perf_counter()
    _say(progress, f"frozen {backbone['name']} features of {len(arrays['images'])} images at "
                   f"{backbone['image_size']} px ...")
    x = frozen_features(backbone["name"], int(backbone["image_size"]), backbone.get("weights"), arrays["images"],
                        device)
    _say(progress, f"features {x.shape[1]} per image, in {time.perf_counter() - started:.0f} s")
    return suite, arrays, x


def _external_names(run_dir: Path) -> dict[str, str | None]:
    """``name -> checksum`` of the external sets the suite scored (``suite.json``, ``external.json``)."""
    names = read_suite(run_dir).get("external") or []
    path = run_dir / EXTERNAL_FILE
    info = json.loads(path.read_text()) if names and path.is_file() else {}
    return {str(name): (info.get(name) or {}).get("checksum") for name in names}


def _external_features(run_dir: Path, suite: dict, device: str,
                       progress: bool) -> dict[str, tuple[ImageSet, np.ndarray]]:
    """Each external set of the run (loaded as the suite loads it: the profile's image size, generated ones from the
    next seed) and its frozen features; a ValueError when its images are not those the suite scored."""
    backbone, data = suite["profile"]["backbone"], suite["profile"].get("data") or {}
    out = {}
    for name, checksum in _external_names(run_dir).items():
        ext = load_dataset(name, int(backbone["image_size"]), synthetic_images=int(data.get("synthetic_images", 647)),
                           synthetic_seed=int(data.get("synthetic_seed", 0)) + 1, include_normal=False)
        if checksum is not None and ext.checksum != checksum:
            raise ValueError(f"external set {name}: its images here (checksum {ext.checksum[:12]}) are not those the "
                             f"suite scored ({run_dir / EXTERNAL_FILE}: {checksum[:12]}); point the reference at "
                             "the same images (`petl-bench datasets` shows where each set is found)")
        out[name] = (ext, frozen_features(backbone["name"], int(backbone["image_size"]), backbone.get("weights"),
                                          ext.images, device))
        _say(progress, f"external set {name}: features of {len(ext)} images")
    return out


def _fold_parts(run_dir: Path, suite: dict, arrays: dict):
    """(repeat, fold, train, val, test) index arrays of every fold of the run: from the parts the
    suite saved (``parts_<r>``), or, in a run folder saved before them, rebuilt from a k-fold
    profile and checked against the test folds it saved."""
    repeats = sorted(int(k.rsplit("_", 1)[1]) for k in arrays if k.startswith("test_fold_"))
    if all(f"parts_{r}" in arrays for r in repeats):
        for r in repeats:
            for fold, part in enumerate(arrays[f"parts_{r}"]):
                yield r, fold, *(np.flatnonzero(part == k) for k in range(3))
        return
    from benchmark.data.split import kfold_splits

    evaluation = suite["profile"]["evaluation"]
    if evaluation.get("scheme") != "kfold":
        raise ValueError(f"{run_dir / TEST_IMAGES_FILE} has no training / validation parts and {run_dir / SUITE_FILE} "
                         f"is not a kfold run: rewrite it with `petl-bench suite --run-dir {run_dir}` (finished "
                         "studies are not redone)")
    y, groups = arrays["labels"], arrays["groups"]
    for r, seed in enumerate(evaluation["split_seeds"]):
        for fold, split in enumerate(kfold_splits(y, groups, int(evaluation["folds"]), int(seed))):
            if not np.array_equal(np.sort(split["test"]), np.flatnonzero(arrays[f"test_fold_{r}"] == fold)):
                raise ValueError(f"{run_dir / TEST_IMAGES_FILE}: repeat {r} fold {fold} is not the profile's "
                                 "fold: was the run made with another version of the splitter?")
            yield r, fold, split["train"], split["val"], split["test"]


def _mask(n: int, index: np.ndarray) -> np.ndarray:
    return np.isin(np.arange(n), index)


def reference_predictions(run_dir, device: str = "auto", progress: bool = False,
                          folds_info: list | None = None) -> pd.DataFrame:
    """The probe's out-of-fold scores on the run's data and folds (``test_images.npz``,
    ``suite.json``), under :data:`REFERENCE_PROTOCOL`. ``folds_info``, when given, receives each
    fold's repeat, fold, C, threshold and number of training images."""
    run_dir = Path(run_dir)
    suite, arrays, x = _run_features(run_dir, device, progress)
    y, groups, ids = arrays["labels"], arrays["groups"], arrays["ids"]
    externals = _external_features(run_dir, suite, device, progress)
    subsets = load_train_subsets(run_dir)
    frames, started = [], time.perf_counter()
    for repeat, fold, train, _, test in _fold_parts(run_dir, suite, arrays):
        for size, fit in _sized(subsets, repeat, fold, train, ids):
            model, threshold = probe_fold(x, y, groups, _mask(len(y), fit), seed=repeat)
            c = float(model.best_params_["C"])
            at = "" if size is None else f", size {size}"
            _say(progress, f"repeat {repeat}, fold {fold}{at}: {len(fit)} training images, C {c:.3g}, threshold "
                           f"{threshold:.3f} ({time.perf_counter() - started:.0f} s)")
            if folds_info is not None:
                folds_info.append({"repeat": int(repeat), "fold": int(fold), "C": c, "threshold": float(threshold),
                                   "n_train": int(len(fit)), **({} if size is None else {"train_size": size})})
            scored = [(suite.get("dataset", ""), ids[test], groups[test], y[test], x[test])]
            scored += [(name, np.asarray(ext.ids), ext.groups, ext.labels, xe) for name, (ext, xe) in externals.items()]
            for dataset, image_ids, image_groups, labels, features in scored:
                frame = pd.DataFrame({
                    "dataset": dataset, "method": REFERENCE_METHOD, "repeat": repeat, "fold": int(fold),
                    "image_id": image_ids.astype(str), "group": image_groups.astype(int), "label": labels.astype(int),
                    "score": model.predict_proba(features)[:, 1], "threshold": threshold})
                frames.append(frame if size is None else frame.assign(train_size=size, n_train=len(fit)))
    frame = pd.concat(frames, ignore_index=True)
    return frame[PREDICTION_COLUMNS + [c for c in ("train_size", "n_train") if c in frame.columns]]


def _sized(subsets: pd.DataFrame | None, repeat: int, fold: int, train: np.ndarray, ids: np.ndarray):
    """(size, training indices) of one fold: ``(None, train)`` in a run without sizes, else one pair per size
    of ``train_subsets.csv``, each subset checked to lie within the fold's training part."""
    if subsets is None:
        yield None, train
        return
    part = subsets[(subsets["repeat"] == repeat) & (subsets["fold"] == fold)]
    if part.empty:
        raise ValueError(f"{TRAIN_SUBSETS_FILE} has no training images of repeat {repeat}, fold {fold}: rewrite it "
                         "with `petl-bench suite --run-dir RUN_DIR` (finished studies are not redone)")
    position = {str(i): k for k, i in enumerate(ids)}
    for size in size_order(part["train_size"]):
        chosen = part.loc[part["train_size"] == size, "image_id"]
        index = np.array(sorted(position[i] for i in chosen if i in position), dtype=int)
        if len(index) != len(chosen) or not np.isin(index, train).all():
            raise ValueError(f"{TRAIN_SUBSETS_FILE}: repeat {repeat}, fold {fold}, size {size} names images outside "
                             "the fold's training part: was it written for another partition?")
        yield size, index


PROTOCOL_PROBES = ("reference: training images, C by inner CV", "training + validation images, C by inner CV",
                   "training images, C on validation")


def protocol_probe_aucs(run_dir, device: str = "auto", progress: bool = False) -> dict[str, float]:
    """Pooled out-of-fold AUC (mean over repeats) of the probe in :data:`PROTOCOL_PROBES`: the
    reference (training images, C by inner CV); on the training and validation images, C by
    inner CV (the reference before it followed the methods' protocol); on the training images,
    C the best on the validation images' AUC, as a trained method chooses its epoch and trial."""
    from sklearn.linear_model import LogisticRegression

    run_dir = Path(run_dir)
    suite, arrays, x = _run_features(run_dir, device, progress)
    y, groups = arrays["labels"], arrays["groups"]
    scores: dict[int, dict[str, np.ndarray]] = {}
    for repeat, fold, train, val, test in _fold_parts(run_dir, suite, arrays):
        own = scores.setdefault(repeat, {name: np.full(len(y), np.nan) for name in PROTOCOL_PROBES})
        for name, fit in zip(PROTOCOL_PROBES[:2], (train, np.r_[train, val])):
            model, _ = probe_fold(x, y, groups, _mask(len(y), fit), seed=repeat)
            own[name][test] = model.predict_proba(x[test])[:, 1]
        with one_blas_thread():
            fitted = [LogisticRegression(C=c, max_iter=5000).fit(x[train], y[train]) for c in C_GRID]
        best = max(fitted, key=lambda m: roc_auc(y[val], m.predict_proba(x[val])[:, 1]))
        own[PROTOCOL_PROBES[2]][test] = best.predict_proba(x[test])[:, 1]
        _say(progress, f"repeat {repeat}, fold {fold} done")
    aucs = {name: [] for name in PROTOCOL_PROBES}
    for own in scores.values():
        tested = ~np.isnan(own[PROTOCOL_PROBES[0]])
        for name in PROTOCOL_PROBES:
            aucs[name].append(roc_auc(y[tested], own[name][tested]))
    return {name: float(np.mean(values)) for name, values in aucs.items()}


def _partition_fingerprint(run_dir: Path) -> str | None:
    partition = read_partition(run_dir)
    return None if partition is None else partition_fingerprint(*partition)


def reference_is_current(run_dir) -> bool:
    """Whether ``run_dir`` holds a reference of its partition under :data:`REFERENCE_PROTOCOL`."""
    run_dir = Path(run_dir)
    info = run_dir / REFERENCE_INFO_FILE
    if not (run_dir / REFERENCE_FILE).is_file() or not info.is_file():
        return False
    try:
        stored = json.loads(info.read_text())
    except json.JSONDecodeError:
        return False
    return (stored.get("protocol") == REFERENCE_PROTOCOL and stored.get("partition") == _partition_fingerprint(run_dir)
            and stored.get("train_sizes") == _train_sizes(run_dir)
            and (stored.get("external") or {}) == _external_names(run_dir))


def _train_sizes(run_dir: Path) -> list[str] | None:
    subsets = load_train_subsets(run_dir)
    return None if subsets is None else size_order(subsets["train_size"])


def reference_summary(path) -> list[str]:
    """One line per data set and repeat (and training-set size, in a data-efficiency run) of a written
    ``reference_predictions.csv``: the probe's pooled out-of-fold AUC on the training data set, the mean of
    its fold probes' AUCs on an external set (scikit-learn's)."""
    from sklearn.metrics import roc_auc_score

    frame = pd.read_csv(path, dtype={"train_size": str})
    sized = "train_size" in frame.columns  # a data-efficiency run: one probe per fold and training-set size
    internal = frame["dataset"].iloc[0]  # the training data set's rows come first
    lines = []
    for key, part in frame.groupby(["dataset", "repeat"] + (["train_size"] if sized else []), sort=False):
        where = f"{key[0]}, repeat {key[1]}" + (f", training-set size {key[2]}" if sized else "")
        if key[0] == internal:
            lines.append(f"{where}: logistic-regression reference, pooled out-of-fold AUC "
                         f"{roc_auc_score(part['label'], part['score']):.4f}")
        else:
            per_probe = [roc_auc_score(g["label"], g["score"]) for _, g in part.groupby("fold")]
            lines.append(f"{where}: logistic-regression reference, mean AUC of its {len(per_probe)} fold probes "
                         f"{np.mean(per_probe):.4f}")
    return lines


def write_reference(run_dir, device: str = "auto", progress: bool = True) -> Path:
    """Compute the reference and write ``reference_predictions.csv`` and ``reference.json`` into
    ``run_dir`` (atomically), printing its progress."""
    run_dir = Path(run_dir)
    _say(progress, REFERENCE_PROTOCOL)
    folds: list[dict] = []
    path = write_csv_atomic(run_dir / REFERENCE_FILE, reference_predictions(run_dir, device, progress, folds))
    write_json_atomic(run_dir / REFERENCE_INFO_FILE, {"protocol": REFERENCE_PROTOCOL,
                                                      "partition": _partition_fingerprint(run_dir),
                                                      "train_sizes": _train_sizes(run_dir),
                                                      "external": _external_names(run_dir), "folds": folds})
    return path
