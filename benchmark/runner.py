"""One run: a method trained on one split with fixed hyper-parameters, evaluated on the test set.

Writes, atomically, ``results.json`` (metrics, hyper-parameters, parameter counts, timing,
provenance), ``predictions.csv`` (test image id, label, score), and ``trained_state.pt``
(the selected model's trained parameters and buffers, for later analysis). A folder that
already holds a finished run of the same configuration is not run again.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from .data import ImageSet, load_dataset
from .data.split import stratified_group_split
from .io import write_atomic, write_csv_atomic, write_json_atomic
from .metrics import evaluate_scores
from .backbones import BackboneAdapter
from .model import ParameterCounts, build_model, count_parameters
from .registry import Method
from .profiles import Profile
from .provenance import provenance
from .trainer import TrainResult, predict_scores, resolve_device, train, trained_state

RESULTS_FILE, PREDICTIONS_FILE, STATE_FILE = "results.json", "predictions.csv", "trained_state.pt"
_BUILD_LOCK = threading.Lock()


@dataclass(frozen=True)
class RunSpec:
    method: str
    dataset: str
    profile: Profile
    split_seed: int = 0
    train_seed: int | None = None   # defaults to the split seed
    data_root: str | None = None
    weights: str | None = None      # overrides the profile's backbone weights
    lr: float | None = None         # default: the profile's [train] lr
    beta1: float | None = None
    params: dict | None = None      # the method's own hyper-parameters

    def resolved(self) -> dict:
        p = self.profile
        return {"method": self.method, "dataset": self.dataset, "profile": p.name,
                "backbone": p.backbone.name, "image_size": p.backbone.image_size,
                "weights": self.weights if self.weights is not None else p.backbone.weights,
                "split_seed": self.split_seed,
                "train_seed": self.split_seed if self.train_seed is None else self.train_seed,
                "lr": p.train.lr if self.lr is None else self.lr,
                "beta1": p.train.beta1 if self.beta1 is None else self.beta1,
                "method_params": dict(self.params or {})}


def load_data(spec: RunSpec) -> tuple[ImageSet, float]:
    p = spec.profile
    started = time.perf_counter()
    data = load_dataset(spec.dataset, p.backbone.image_size, data_root=spec.data_root,
                        synthetic_images=p.data.synthetic_images, synthetic_seed=p.data.synthetic_seed,
                        include_normal=p.data.include_normal)
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
    same = stored.get("config") == json.loads(json.dumps(spec.resolved())) and \
        stored.get("profile", {}).get("train") == json.loads(json.dumps(spec.profile.as_dict()["train"]))
    return stored if same else None


def run(spec: RunSpec, out_dir: str | Path, device: str = "auto", progress: bool = True,
        data: ImageSet | None = None, force: bool = False) -> dict:
    """Train with the spec's fixed hyper-parameters, then test once and record."""
    out_dir = Path(out_dir)
    if not force and (done := finished_run(out_dir, spec)) is not None:
        return done
    started = time.perf_counter()
    config = spec.resolved()
    dev = resolve_device(device)
    load_seconds = 0.0
    if data is None:
        data, load_seconds = load_data(spec)
    split = stratified_group_split(data.labels, data.groups, seed=spec.split_seed)
    trained = train_model(spec.profile, config, data, split, dev, progress=progress)
    return record_run(out_dir, trained, data, split, spec.profile, dev, started, load_seconds)


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
                   seed=config["train_seed"], progress=progress, on_epoch=on_epoch, desc=config["method"])
    return TrainedModel(backbone, method, config, counts, result)


def record_run(out_dir: Path, trained: TrainedModel, data: ImageSet, split: dict, profile: Profile,
               device: torch.device, started: float, load_seconds: float = 0.0,
               extra: dict | None = None) -> dict:
    """Test the trained model once and write the run's files atomically (results.json last)."""
    backbone, method, te = trained.backbone, trained.method, split["test"]
    scores = predict_scores(backbone, data.images[te], device, profile.train.eval_batch_size,
                            profile.train.inference_precision, profile.train.channels_last)
    metrics = evaluate_scores(data.labels[te], scores, n_bootstrap=profile.evaluation.n_bootstrap,
                              seed=trained.config["split_seed"])
    record = {
        "config": trained.config,
        "method": {"name": method.name, "description": method.description, "citation": method.citation,
                   "components": list(method.components), "bn_running_stats": method.bn_stats,
                   "bn_running_stats_description": method.bn_stats_description()},
        "dataset": {"name": data.name, "synthetic": data.synthetic, "checksum": data.checksum,
                    "n_images": len(data), "n_excluded": len(data.excluded), "excluded": data.excluded,
                    "split_sizes": {k: int(len(v)) for k, v in split.items()},
                    "split_malignant": {k: int(data.labels[v].sum()) for k, v in split.items()},
                    "load_seconds": load_seconds},
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
    predictions = pd.DataFrame({"image_id": [data.ids[i] for i in te], "label": data.labels[te],
                                "score": scores.astype(float)})
    state = {k: v.cpu() for k, v in trained_state(backbone.model).items()}
    out_dir = Path(out_dir)
    write_atomic(out_dir / STATE_FILE, lambda p: torch.save(state, p))
    write_csv_atomic(out_dir / PREDICTIONS_FILE, predictions)
    write_json_atomic(out_dir / RESULTS_FILE, record)  # last: its presence marks the run finished
    return json.loads((out_dir / RESULTS_FILE).read_text())
