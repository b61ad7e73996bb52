"""One run: a method trained on one fold (or holdout split) with fixed hyper-parameters, tested once.

Writes, atomically, ``results.json`` (metrics, hyper-parameters, parameter counts, timing,
provenance), ``predictions.csv`` (the tidy rows of :data:`PREDICTION_COLUMNS`: one per test
image, and one per image of every external data set), ``validation_predictions.csv`` (the same
columns, one row per validation image: they chose the threshold, and post-hoc recalibration is
fitted on them) and ``trained_state.pt`` (the selected
model's trained parameters and buffers, for later analysis). A folder that already holds a
finished run of the same configuration is not run again.

The evaluation scheme (:func:`evaluation_splits`): ``kfold`` partitions the data into k folds
of whole duplicate groups, stratified by class, once per split seed (a repeat); each fold's
rest is split again into train and validation. ``holdout`` is the paper's 452/65/130 split,
one per split seed (a repeat with the single fold 0).
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmark.models.backbones import BackboneAdapter
from benchmark.data import ImageSet, load_dataset
from benchmark.data.split import kfold_splits, stratified_group_split
from benchmark.data.subsample import nested_subsets
from benchmark.common.train_sizes import ALL, size_order
from benchmark.common.io import write_atomic, write_csv_atomic, write_json_atomic
from benchmark.stats import cluster_bootstrap_ci, evaluate_scores
from benchmark.models.build import ParameterCounts, build_model, count_parameters, rebuild_trained
from benchmark.common.profiles import Profile
from benchmark.common.provenance import provenance
from benchmark.runfolder import PREDICTION_COLUMNS, PREDICTIONS_FILE, RESULTS_FILE
from benchmark.runfolder import STATE_FILE
from benchmark.runfolder.validation import VALIDATION_PREDICTIONS_FILE
from benchmark.plugins.registry import Method, get_method
from benchmark.stats import threshold_metrics, youden_threshold
from benchmark.training.seeds import augment_seed, subsample_seed, train_seed
from benchmark.training.trainer import TrainResult, predict_scores, train, trained_state
from benchmark.training.device import resolve_device


_BUILD_LOCK = threading.Lock()


@dataclass(frozen=True)
class Fold:
    """One train/validation/test split of the evaluation scheme."""
    repeat: int          # index into the profile's split seeds
    fold: int            # 0..k-1 (holdout: 0)
    split_seed: int      # the partition's seed
    split: dict          # {"train", "val", "test"}: index arrays
    search_seed: int = 0  # the profile's [search] seed (with the split seed: training and sampler seeds)
    train_size: str | None = None  # a subset of the training part ([data] train_sizes), or None: all of it

    @property
    def folder(self) -> str:
        size = f"-size-{self.train_size}" if self.train_size is not None else ""
        return f"repeat-{self.repeat}/fold-{self.fold}{size}"

    @property
    def augment_seed(self) -> int:
        """The seed of the augmented views: one per fold, the same for every method (seeds.py)."""
        return augment_seed(self.split_seed, self.fold, self.search_seed)

    def train_seed(self, trial: int = 0) -> int:
        """The training seed of a trial of this fold's studies (seeds.py)."""
        return train_seed(self.split_seed, self.fold, trial, self.search_seed)


def evaluation_splits(profile: Profile, data: ImageSet) -> list[Fold]:
    """Every (repeat, fold) of the profile's scheme, in order. Every method sees the same ones."""
    ev, out = profile.evaluation, []
    official = data.official_partition(ev.folds) if ev.partition == "official" else None
    for repeat, seed in enumerate(ev.split_seeds):
        if ev.scheme == "kfold":  # official: the data set's test folds, and validation parts drawn from the seed
            for f, split in enumerate(kfold_splits(data.labels, data.groups, ev.folds, seed, test_folds=official)):
                out.append(Fold(repeat, f, int(seed), split, profile.search.seed))
        else:
            out.append(Fold(repeat, 0, int(seed), stratified_group_split(data.labels, data.groups, seed=seed),
                            profile.search.seed))
    return out


def sized_folds(profile: Profile, data: ImageSet, folds: list[Fold]) -> list[Fold]:
    """Every fold once per ``[data] train_sizes`` size (the folds themselves when the profile has none).

    A size's fold keeps the validation and test images and trains on a nested, stratified subset of
    whole groups of the training part (:func:`benchmark.data.subsample.nested_subsets`, seeded by the
    split seed and the fold: the same subsets for every method); ``"all"`` is the fold itself
    (``train_size`` None: the study of a run without sizes)."""
    sizes = profile.data.train_sizes
    if not sizes:
        return list(folds)
    out = []
    for f in folds:
        subsets = nested_subsets(f.split["train"], data.labels, data.groups, sizes,
                                 subsample_seed(f.split_seed, f.fold),
                                 where=f"the training part of repeat {f.repeat}, fold {f.fold}")
        out += [f if label == ALL else replace(f, split={**f.split, "train": subsets[label]}, train_size=label)
                for label in size_order(sizes)]
    return out


def find_fold(profile: Profile, data: ImageSet, repeat: int, fold: int) -> Fold:
    for f in evaluation_splits(profile, data):
        if (f.repeat, f.fold) == (repeat, fold):
            return f
    ev = profile.evaluation
    folds = ev.folds if ev.scheme == "kfold" else 1
    raise ValueError(f"profile {profile.name!r} ({ev.scheme}) has repeats 0..{len(ev.split_seeds) - 1} and folds "
                     f"0..{folds - 1}; got repeat {repeat}, fold {fold}")


@dataclass(frozen=True)
class RunSpec:
    method: str
    dataset: str
    profile: Profile
    repeat: int = 0
    fold: int = 0
    train_seed: int | None = None   # defaults to a seed of the fold
    data_root: str | None = None
    weights: str | None = None      # overrides the profile's backbone weights
    lr: float | None = None         # default: the profile's [train] lr
    beta1: float | None = None
    params: dict | None = None      # the method's own hyper-parameters

    def resolved(self) -> dict:
        p = self.profile
        seed = p.evaluation.split_seeds[self.repeat] if self.repeat < len(p.evaluation.split_seeds) else None
        return {"method": self.method, "dataset": self.dataset, "profile": p.name,
                "backbone": p.backbone.name, "image_size": p.backbone.image_size,
                "weights": self.weights if self.weights is not None else p.backbone.weights,
                "scheme": p.evaluation.scheme, "repeat": self.repeat, "fold": self.fold, "split_seed": seed,
                "search_seed": p.search.seed,
                "train_seed": train_seed(seed or 0, self.fold, 0, p.search.seed) if self.train_seed is None
                else self.train_seed,
                "lr": p.train.lr if self.lr is None else self.lr,
                "beta1": p.train.beta1 if self.beta1 is None else self.beta1,
                # filled in with the method's defaults, as results.json records them: a rerun of the same
                # request is recognised as the same run (finished_run)
                "method_params": {**get_method(self.method).defaults(), **(self.params or {})}}


def load_data(spec: RunSpec) -> tuple[ImageSet, float]:
    p = spec.profile
    started = time.perf_counter()
    data = load_dataset(spec.dataset, p.backbone.image_size, data_root=spec.data_root,
                        synthetic_images=p.data.synthetic_images, synthetic_seed=p.data.synthetic_seed,
                        include_normal=p.data.include_normal, exclude_overlays=p.data.exclude_overlays)
    return data, time.perf_counter() - started


def finished_run(out_dir: Path, spec: RunSpec) -> dict | None:
    """The stored results if ``out_dir`` holds a finished run of the same configuration."""
    path = out_dir / RESULTS_FILE
    if not path.is_file() or not (out_dir / PREDICTIONS_FILE).is_file():
        return None
    try:
        stored = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    config = {k: v for k, v in (stored.get("config") or {}).items() if k != "augment_seed"}
    same = config == json.loads(json.dumps(spec.resolved())) and \
        stored.get("profile", {}).get("train") == json.loads(json.dumps(spec.profile.as_dict()["train"]))
    return stored if same else None


def run(spec: RunSpec, out_dir: str | Path, device: str = "auto", progress: bool = True,
        data: ImageSet | None = None, force: bool = False, external: dict | None = None) -> dict:
    """Train with the spec's fixed hyper-parameters on one fold, then test once and record."""
    out_dir = Path(out_dir)
    if not force and (done := finished_run(out_dir, spec)) is not None:
        return done
    started = time.perf_counter()
    config = spec.resolved()
    dev = resolve_device(device)
    load_seconds = 0.0
    if data is None:
        data, load_seconds = load_data(spec)
    fold = find_fold(spec.profile, data, spec.repeat, spec.fold)
    config["augment_seed"] = fold.augment_seed
    trained = train_model(spec.profile, config, data, fold.split, dev, progress=progress)
    return record_run(out_dir, trained, data, fold, spec.profile, dev, started, load_seconds, external=external)


@dataclass
class TrainedModel:
    backbone: BackboneAdapter
    method: Method
    config: dict
    counts: ParameterCounts
    result: TrainResult


def train_model(profile: Profile, config: dict, data: ImageSet, split: dict, device: torch.device,
                progress: bool = True, on_epoch=None) -> TrainedModel:
    """Build the method's model (seeded) and train it on the split's train/val images."""
    with _BUILD_LOCK:  # the global RNG initialises the head: seed and build without interleaving
        torch.manual_seed(config["train_seed"])
        backbone, method, used_params = build_model(config["method"], profile.backbone.name,
                                                    profile.backbone.image_size, config["weights"],
                                                    config["method_params"])
    config = {**config, "method_params": used_params}
    counts = count_parameters(backbone)
    tr, va = split["train"], split["val"]
    result = train(backbone, method.bn_stats, data.images[tr], data.labels[tr], data.images[va],
                   data.labels[va], profile.train, config["lr"], config["beta1"], device,
                   seed=config["train_seed"], progress=progress, on_epoch=on_epoch, desc=config["method"],
                   selection=profile.search.selection, augment_seed=config.get("augment_seed", 0))
    return TrainedModel(backbone, method, config, counts, result)


def prediction_rows(data: ImageSet, index: np.ndarray, scores: np.ndarray, method: str, fold: Fold,
                    threshold: float) -> pd.DataFrame:
    """The rows of :data:`PREDICTION_COLUMNS` of the images ``index`` of ``data`` scored ``scores``."""
    return pd.DataFrame({"dataset": data.name, "method": method, "repeat": fold.repeat, "fold": fold.fold,
                         "image_id": [data.ids[i] for i in index], "group": data.groups[index].astype(int),
                         "label": data.labels[index].astype(int), "score": scores.astype(float),
                         "threshold": float(threshold)})[PREDICTION_COLUMNS]


def _external_rows(score, ext: ImageSet, method: str, fold: Fold, threshold: float) -> tuple[pd.DataFrame, dict]:
    """A model's rows on every image of an external set, and their summary for results.json."""
    ext_scores = score(ext.images)
    info = {"n_images": len(ext), "checksum": ext.checksum,
            "auc": float(evaluate_scores(ext.labels, ext_scores, n_bootstrap=0)["auc"])}
    return prediction_rows(ext, np.arange(len(ext)), ext_scores, method, fold, threshold), info


def score_external(out_dir: Path, profile: Profile, external: dict[str, ImageSet], device: torch.device) -> list[str]:
    """Score a finished run's saved model (``trained_state.pt``) on the external sets it has not
    scored yet, at its validation threshold, and add the rows and summaries to its files.

    This is how a finished run folder gains an external set (``suite --run-dir DIR --external
    NAME``): the external images never reach training, search or selection, so scoring them
    later gives the rows scoring them at the end of the study would have. Returns the sets scored.
    """
    out_dir = Path(out_dir)
    predictions = pd.read_csv(out_dir / PREDICTIONS_FILE, dtype={"image_id": str})
    todo = {n: e for n, e in external.items() if n not in set(predictions["dataset"])}
    if not todo:
        return []
    record = json.loads((out_dir / RESULTS_FILE).read_text())
    config = record["config"]
    state = torch.load(out_dir / STATE_FILE, map_location="cpu", weights_only=True)
    with _BUILD_LOCK:
        backbone, method = rebuild_trained(config, state, str(out_dir / STATE_FILE))
    score = lambda images: predict_scores(backbone, images, device, profile.train.eval_batch_size,  # noqa: E731
                                          profile.train.inference_precision, profile.train.channels_last)
    fold = Fold(int(config["repeat"]), int(config["fold"]), int(config.get("split_seed") or 0), {},
                int(config.get("search_seed") or 0))
    threshold = float(record["metrics"]["validation_threshold"])
    frames = [predictions]
    for name, ext in todo.items():
        frame, record.setdefault("external", {})[name] = _external_rows(score, ext, method.name, fold, threshold)
        frames.append(frame)
    write_csv_atomic(out_dir / PREDICTIONS_FILE, pd.concat(frames, ignore_index=True)[PREDICTION_COLUMNS])
    write_json_atomic(out_dir / RESULTS_FILE, record)
    return list(todo)


def _test_metrics(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray, n_bootstrap: int, seed: int) -> dict:
    """The test fold's metrics (evaluate_scores). ``auc_std`` is the duplicate-aware bootstrap's (duplicate
    groups resampled whole: cluster_bootstrap_ci, with its interval); the corner point's standard
    deviations resample images and are named so (``*_std_image_level``)."""
    metrics = evaluate_scores(labels, scores, n_bootstrap=n_bootstrap, seed=seed)
    for key in ("auc", "accuracy", "sensitivity", "specificity"):
        metrics[f"{key}_std_image_level"] = metrics.pop(f"{key}_std")
    if n_bootstrap >= 2:
        ci = cluster_bootstrap_ci(labels, scores, groups, n_bootstrap, seed)
        metrics.update(auc_std=ci["se"], auc_ci_low=ci["ci_low"], auc_ci_high=ci["ci_high"])
    else:
        metrics.update(auc_std=float("nan"), auc_ci_low=float("nan"), auc_ci_high=float("nan"))
    metrics["auc_std_note"] = ("auc_std and the 95% interval auc_ci_low..auc_ci_high: bootstrap over duplicate groups "
                               "(a group's images resampled together); *_std_image_level: over images")
    return metrics


def record_run(out_dir: Path, trained: TrainedModel, data: ImageSet, fold: Fold, profile: Profile,
               device: torch.device, started: float, load_seconds: float = 0.0,
               extra: dict | None = None, external: dict[str, ImageSet] | None = None) -> dict:
    """Test the trained model once (and score every external set once); write the run's files
    atomically (results.json last).

    The operating point (``threshold``) is chosen on the fold's validation images (Youden's J),
    never on the test images; the paper's test-set corner point stays in ``metrics`` for
    comparison with Byra (2021), optimistic by construction.
    """
    backbone, method, split = trained.backbone, trained.method, fold.split
    score = lambda images: predict_scores(backbone, images, device, profile.train.eval_batch_size,  # noqa: E731
                                          profile.train.inference_precision, profile.train.channels_last)
    va, te = split["val"], split["test"]
    val_scores = score(data.images[va])  # kept: post-hoc recalibration is fitted on them (runfolder.validation)
    threshold = youden_threshold(data.labels[va], val_scores)
    scores = score(data.images[te])
    metrics = _test_metrics(data.labels[te], scores, data.groups[te], profile.evaluation.n_bootstrap,
                            fold.split_seed * 1000 + fold.fold)
    metrics["corner_point_note"] = "accuracy/sensitivity/specificity: ROC corner point chosen on the test set " \
                                   "(optimistic; for comparison with Byra 2021)"
    metrics["validation_threshold"] = threshold
    metrics["at_validation_threshold"] = threshold_metrics(data.labels[te], scores, threshold)
    frames = [prediction_rows(data, te, scores, method.name, fold, threshold)]
    external_info = {}
    for name, ext in (external or {}).items():
        frame, external_info[name] = _external_rows(score, ext, method.name, fold, threshold)
        frames.append(frame)
    record = {
        "config": trained.config,
        "method": {"name": method.name, "family": method.family, "source": method.source,
                   "description": method.description, "citation": method.citation,
                   "components": list(method.components), "bn_running_stats": method.bn_stats,
                   "bn_running_stats_description": method.bn_stats_description()},
        "dataset": {"name": data.name, "synthetic": data.synthetic, "checksum": data.checksum,
                    "n_images": len(data), "n_excluded": len(data.excluded), "excluded": data.excluded,
                    "skipped_pairs": data.skipped_pairs,
                    "split_sizes": {k: int(len(v)) for k, v in split.items()},
                    "split_malignant": {k: int(data.labels[v].sum()) for k, v in split.items()},
                    "load_seconds": load_seconds},
        "external": external_info,
        "backbone": {"name": backbone.name, "family": backbone.family, "weights": backbone.weights.as_dict(),
                     "mean": backbone.mean, "std": backbone.std},
        "parameters": trained.counts.as_dict(),
        "training": trained.result.as_dict(),
        "metrics": metrics,
        **(extra or {}),
        "wall_seconds": time.perf_counter() - started,
        "profile": profile.as_dict(),
        "provenance": provenance(device),
    }
    state = {k: v.cpu() for k, v in trained_state(backbone.model).items()}
    out_dir = Path(out_dir)
    write_atomic(out_dir / STATE_FILE, lambda p: torch.save(state, p))
    write_csv_atomic(out_dir / PREDICTIONS_FILE, pd.concat(frames, ignore_index=True))
    write_csv_atomic(out_dir / VALIDATION_PREDICTIONS_FILE,
                     prediction_rows(data, va, val_scores, method.name, fold, threshold))
    write_json_atomic(out_dir / RESULTS_FILE, record)  # last: its presence marks the run finished
    return json.loads((out_dir / RESULTS_FILE).read_text())
