"""The trainer, after the paper's protocol (Byra 2021, section 3.4).

Adam (lr, beta1; beta2 0.999), batch 24, binary cross-entropy on one logit with each
sample weighted by the inverse frequency of its class in the training set, batch
augmentation, early stopping on validation accuracy with a patience, the learning rate
multiplied by 0.9 after every 4 epochs without validation improvement, and the weights
that were best on validation kept (ties in accuracy go to the lower validation loss).
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import prefix_cache
from .augment import augment_batch
from .backbones import BackboneAdapter
from .model import set_train_mode
from .profiles import INFERENCE_PRECISIONS, TrainSection


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


def resolve_device(name: str | None = "auto") -> torch.device:
    """"auto" picks CUDA, then Apple's MPS, then the CPU; otherwise the named device."""
    if name in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine; use --device cpu or auto")
    return device


class Preprocess(nn.Module):
    """uint8 grayscale N x H x W -> normalised float N x 3 x H x W (channels_last unless told)."""

    def __init__(self, mean, std, channels_last: bool = True):
        super().__init__()
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def to_unit(self, images: torch.Tensor) -> torch.Tensor:
        return images.unsqueeze(1).float().div_(255.0)

    def forward(self, unit: torch.Tensor) -> torch.Tensor:
        x = (unit.expand(-1, 3, -1, -1) - self.mean) / self.std
        return x.contiguous(memory_format=self.memory_format)


@dataclass
class TrainResult:
    best_epoch: int
    best_val_accuracy: float
    best_val_loss: float
    epochs_run: int
    stopped_early: bool
    train_seconds: float
    history: list[dict] = field(default_factory=list)
    inputs: dict = field(default_factory=dict)

    @property
    def seconds_per_epoch(self) -> float:
        return self.train_seconds / max(self.epochs_run, 1)

    def as_dict(self) -> dict:
        return {"best_epoch": self.best_epoch, "best_val_accuracy": self.best_val_accuracy,
                "best_val_loss": self.best_val_loss, "epochs_run": self.epochs_run,
                "stopped_early": self.stopped_early, "train_seconds": self.train_seconds,
                "seconds_per_epoch": self.seconds_per_epoch, "inputs": self.inputs, "history": self.history}


def class_weights(labels: np.ndarray) -> torch.Tensor:
    """Per-class weights n / (2 n_c): inverse class frequency, mean weight 1 over the set."""
    counts = np.bincount(labels, minlength=2).astype(float)
    if (counts == 0).any():
        raise ValueError(f"the training set needs both classes, has counts {counts.tolist()}")
    return torch.tensor(len(labels) / (2.0 * counts), dtype=torch.float32)




def inference_dtype(device: torch.device, precision: str = "auto") -> torch.dtype:
    """The compute dtype of forward passes without gradients (evaluation, the frozen prefix).

    "auto": the dtype training computes in, so that a model is validated and tested as it was
    trained: bfloat16 on CUDA (training runs under bf16 autocast there), float32 elsewhere.
    "bfloat16" on a CPU is faster where the CPU has native bf16 (1.7-2.9x for
    EfficientNet-Lite0 inference on a Zen 4 core, ``petl-bench bench``) but evaluates float32-trained models in
    another precision: on the quick BUSI models it moved test scores by up to 0.6 and the
    test AUC by up to 0.13 (a collapsed LoRA model whose scores differ by less than 1e-4;
    0.023 for BitFit). Use it for throughput studies, not for results.
    """
    if precision not in INFERENCE_PRECISIONS:
        raise ValueError(f"inference precision {precision!r}: use one of {', '.join(INFERENCE_PRECISIONS)}")
    if precision == "bfloat16" or (precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return torch.float32


def inference_autocast(device: torch.device, precision: str = "auto"):
    """Autocast to :func:`inference_dtype` (nothing when that is float32)."""
    dtype = inference_dtype(device, precision)
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def training_autocast(device: torch.device):
    """bf16 autocast on CUDA (the loss is computed in float32); nothing elsewhere: the dtype
    "auto" evaluates in (:func:`inference_dtype`)."""
    return inference_autocast(device, "auto")


@torch.inference_mode()
def predict_scores(backbone: BackboneAdapter, images: np.ndarray | torch.Tensor,
                   device: torch.device, batch_size: int = 128, precision: str = "auto",
                   channels_last: bool = True) -> np.ndarray:
    """Malignancy scores (sigmoid of the logit) for uint8 images N x H x W.

    ``precision``: see :func:`inference_dtype`; ``channels_last``: the layout of the inputs.
    The trainer and the runner pass the profile's ``[train] inference_precision`` and
    ``channels_last``.
    """
    model = backbone.model
    was_training = model.training
    model.eval()
    prep = Preprocess(backbone.mean, backbone.std, channels_last).to(device)
    images = torch.as_tensor(images)
    out = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].to(device, non_blocking=True)
        with inference_autocast(device, precision):
            logits = model(prep(prep.to_unit(batch)))
        out.append(torch.sigmoid(logits.float().squeeze(1)).cpu())
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def trained_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of what training can change: trained parameters and all buffers."""
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    state = model.state_dict()
    buffers = {name for name, _ in model.named_buffers()}
    return {k: v.detach().clone() for k, v in state.items() if k in trained or k in buffers}


def train(backbone: BackboneAdapter, bn_stats: str, train_images: np.ndarray, train_labels: np.ndarray,
          val_images: np.ndarray, val_labels: np.ndarray, config: TrainSection, lr: float, beta1: float,
          device: torch.device, seed: int, progress: bool = True,
          on_epoch: Callable[[int, float], None] | None = None, desc: str = "train") -> TrainResult:
    """Train the trainable parameters of ``backbone.model``; load the best-on-validation state.

    ``on_epoch(epoch, val_accuracy)`` is called after every epoch (an Optuna pruner hooks in
    here and may raise to stop the run).
    """
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    model = backbone.model.to(device).to(memory_format=layout)
    prep = Preprocess(backbone.mean, backbone.std, config.channels_last).to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    order_generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()  # the frozen-prefix cache, when built here, counts as training time
    inputs = TrainingInputs(backbone, bn_stats, train_images, val_images, config, device, prep)
    y_train = torch.as_tensor(train_labels, dtype=torch.float32).to(device)
    weights = class_weights(np.asarray(train_labels)).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the method left no parameter trainable")
    optimizer = torch.optim.Adam(params, lr=lr, betas=(beta1, 0.999))

    best = (-1.0, math.inf)
    best_state, best_epoch, since_best = trained_state(model), 0, 0
    history: list[dict] = []
    bar = tqdm(range(1, config.max_epochs + 1), desc=desc, disable=not progress, leave=False, unit="epoch")
    epoch = 0
    for epoch in bar:
        epoch_start = time.perf_counter()
        set_train_mode(model, bn_stats)
        order = torch.randperm(len(y_train), generator=order_generator).to(device)
        total, seen = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            idx = order[start:start + config.batch_size]
            with training_autocast(device):
                logits = inputs.train_logits(idx, generator, order_generator).squeeze(1).float()
            target = y_train[idx]
            loss = (F.binary_cross_entropy_with_logits(logits, target, reduction="none")
                    * weights[target.long()]).mean()
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"{desc}: loss became {loss.item()} at epoch {epoch} "
                                       f"(learning rate {optimizer.param_groups[0]['lr']:.3g})")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            seen += len(idx)

        val_scores = inputs.val_scores()
        val_acc, val_loss = _validation(val_scores, np.asarray(val_labels), weights.cpu())
        lr_now = optimizer.param_groups[0]["lr"]
        history.append({"epoch": epoch, "train_loss": total / max(seen, 1), "val_loss": val_loss,
                        "val_accuracy": val_acc, "lr": lr_now,
                        "seconds": time.perf_counter() - epoch_start})
        if (val_acc, -val_loss) > (best[0], -best[1]):
            best, best_state, best_epoch, since_best = (val_acc, val_loss), trained_state(model), epoch, 0
        else:
            since_best += 1
            if since_best % config.lr_decay_patience == 0:
                for group in optimizer.param_groups:
                    group["lr"] *= config.lr_decay_factor
        bar.set_postfix(loss=f"{total / max(seen, 1):.3f}", val_acc=f"{val_acc:.3f}", best=best_epoch)
        if on_epoch is not None:
            on_epoch(epoch, val_acc)
        if since_best >= config.patience:
            break
    bar.close()
    model.load_state_dict(best_state, strict=False)
    return TrainResult(best_epoch, best[0], best[1], epoch, since_best >= config.patience,
                       time.perf_counter() - started, history, inputs.describe())


class TrainingInputs:
    """What the trained part of the network sees: augmented images through the whole model,
    or, when a frozen prefix can be cached (see benchmark.prefix_cache), cached prefix
    outputs through the trained suffix."""

    def __init__(self, backbone, bn_stats, train_images, val_images, config: TrainSection,
                 device: torch.device, prep: Preprocess):
        self.backbone, self.device, self.prep, self.config = backbone, device, prep, config
        self.val_images = val_images
        self.prefix_length = 0
        views = config.cached_views if config.augment else min(config.cached_views, 1)
        if views > 0:
            length = prefix_cache.frozen_prefix_length(backbone, bn_stats)
            if length > 0:
                size = views * len(train_images) * prefix_cache.output_numel(backbone, length, device) * 4
                if size <= config.cache_budget_mb * 2**20:
                    self.prefix_length = length
        if self.prefix_length:
            cache_args = dict(seed=0, device=device, preprocess=prep, batch_size=config.eval_batch_size,
                              precision=config.inference_precision)
            self.train_features = prefix_cache.prefix_features(
                backbone, self.prefix_length, train_images, views, augment=config.augment, **cache_args)
            self.val_features = prefix_cache.prefix_features(
                backbone, self.prefix_length, val_images, 1, augment=False, **cache_args)[0]
            _, self.suffix = prefix_cache.split_model(backbone, self.prefix_length)
        else:
            self.x_train = torch.as_tensor(train_images).to(device)

    def describe(self) -> dict:
        precision = str(inference_dtype(self.device, self.config.inference_precision)).removeprefix("torch.")
        if not self.prefix_length:
            return {"frozen_prefix_cached": False, "inference_dtype": precision}
        return {"frozen_prefix_cached": True, "prefix_modules": self.prefix_length,
                "cached_views": int(self.train_features.shape[0]), "inference_dtype": precision}

    def train_logits(self, idx: torch.Tensor, generator: torch.Generator,
                     order_generator: torch.Generator) -> torch.Tensor:
        if self.prefix_length:
            views = torch.randint(self.train_features.shape[0], (len(idx),), generator=order_generator)
            return self.suffix(self.train_features[views.to(self.device), idx])
        unit = self.prep.to_unit(self.x_train[idx])
        if self.config.augment:
            unit = augment_batch(unit, generator)
        return self.backbone.model(self.prep(unit))

    @torch.inference_mode()
    def val_scores(self) -> np.ndarray:
        if not self.prefix_length:
            return predict_scores(self.backbone, self.val_images, self.device, self.config.eval_batch_size,
                                  self.config.inference_precision, self.config.channels_last)
        self.suffix.eval()
        out = []
        for start in range(0, len(self.val_features), self.config.eval_batch_size):
            with inference_autocast(self.device, self.config.inference_precision):
                logits = self.suffix(self.val_features[start:start + self.config.eval_batch_size])
            out.append(torch.sigmoid(logits.float().squeeze(1)).cpu())
        return torch.cat(out).numpy()


def _validation(scores: np.ndarray, labels: np.ndarray, weights: torch.Tensor) -> tuple[float, float]:
    accuracy = float(np.mean((scores >= 0.5) == (labels == 1)))
    s = torch.as_tensor(scores, dtype=torch.float64).clamp(1e-7, 1 - 1e-7)
    y = torch.as_tensor(labels, dtype=torch.float64)
    w = weights.double()[torch.as_tensor(labels).long()]
    loss = float((-(y * s.log() + (1 - y) * (1 - s).log()) * w).mean())
    return accuracy, loss
