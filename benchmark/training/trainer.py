"""The trainer, after the paper's protocol (Byra 2021, section 3.4).

Adam (lr, beta1; beta2 0.999), batch 24, binary cross-entropy on one logit (unweighted, or each
sample weighted by the inverse frequency of its class: ``[train] class_weights``), augmentation,
early stopping on the selection metric (validation AUC, or accuracy as in the paper) with a
patience, the learning rate multiplied by 0.9 after every 4 epochs without improvement, and
the weights that were best on validation kept. Only a strict improvement of the metric
counts: an equal metric with a lower loss neither resets the patience nor delays the decay.

Augmentation is the same for every method: in epoch e of a trial every training image is
seen as view v = (e - 1 + train_seed) mod max_epochs, an augmentation drawn from the seed of
the fold and v alone (:func:`epoch_view`); a method whose frozen prefix is cached sees the
prefix's outputs on exactly those images (``benchmark.training.prefix_cache``).

A trained model is "collapsed" (:func:`collapse_reason`) when its validation scores are
(nearly) constant or its training loss never left the loss of a constant prediction.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from benchmark.training import prefix_cache
from benchmark.training.augment import augment_batch
from benchmark.stats import roc_auc
from benchmark.models.backbones import BackboneAdapter
from benchmark.models.build import set_train_mode
from benchmark.models.hooks import Stage
from benchmark.common.profiles import SELECTION_METRICS, TrainSection
from benchmark.training.device import Preprocess, inference_autocast, inference_dtype, training_autocast

PRIOR_LOSS = math.log(2.0)   # balanced class-weighted BCE of a constant prediction at its best (score 0.5)
COLLAPSE_SCORE_RANGE = 1e-3  # validation scores spanning less than this are "constant"
COLLAPSE_LOSS_FRACTION = 0.98  # a training loss never below 0.98 ln 2 never left the prior
AUGMENT_CHUNK = 256          # images augmented per call, so a view does not depend on batching


class TrialFailed(RuntimeError):
    """A trial that ended without a usable model (the search marks it failed, with the reason)."""


class TrainingDiverged(TrialFailed):
    """The training loss became NaN or infinite."""


class TrainingCollapsed(TrialFailed):
    """The trained model scores every image (nearly) the same, or never left the prior loss."""


def constant_loss(labels: np.ndarray, weights: torch.Tensor) -> float:
    """The loss (BCE, each image weighted by its class's weight, mean over images) of the best constant prediction:
    ln 2 under balanced weights, the entropy of the malignant fraction without weights."""
    counts = np.bincount(np.asarray(labels), minlength=2).astype(float) * weights.double().cpu().numpy()
    p = counts[1] / counts.sum()
    return float(-(counts[1] * math.log(p) + counts[0] * math.log(1 - p)) / len(labels)) if 0 < p < 1 else 0.0


def collapse_reason(val_scores: np.ndarray, history: list[dict], prior_loss: float = PRIOR_LOSS) -> str | None:
    """Why a trained model counts as collapsed, or None.

    - its validation scores span less than ``COLLAPSE_SCORE_RANGE`` (every image scored the same);
    - its loss never left the class-prior loss: neither the training loss (mean of an epoch) nor
      the validation loss ever reached ``COLLAPSE_LOSS_FRACTION`` x ``prior_loss`` (0.98 x the loss of
      the best constant prediction, :func:`constant_loss`: ln 2 under balanced class weights; a loss
      exactly at it has reached it), or it finished no epoch. It learnt nothing from the images.
    """
    spread = float(np.ptp(val_scores)) if len(val_scores) else 0.0
    if spread < COLLAPSE_SCORE_RANGE:
        return f"collapsed: validation scores nearly constant (range {spread:.2g})"
    limit = COLLAPSE_LOSS_FRACTION * prior_loss
    train = min((h["train_loss"] for h in history), default=math.inf)
    val = min((h["val_loss"] for h in history), default=math.inf)
    if train > limit and val > limit:
        return (f"collapsed: training loss never below {train:.4f} and validation loss never below {val:.4f}, "
                f"the loss of a constant prediction being "
                f"{'ln 2 = ' if math.isclose(prior_loss, PRIOR_LOSS) else ''}{prior_loss:.4f}")
    return None


def view_index(epoch: int, train_seed: int, max_epochs: int) -> int:
    """The augmented view a trial trains on in ``epoch`` (1-based): each view once per trial."""
    return (epoch - 1 + train_seed) % max(max_epochs, 1)


def epoch_view(images: torch.Tensor, seed: int, view: int, prep: "Preprocess", augment: bool) -> torch.Tensor:
    """View ``view`` of uint8 ``images`` (N x H x W): augmented with a generator seeded from
    (``seed``, ``view``) alone, in chunks of ``AUGMENT_CHUNK``, then preprocessed (N x 3 x H x W)."""
    generator = torch.Generator(device=images.device)
    generator.manual_seed(int(np.random.SeedSequence([seed, view]).generate_state(1)[0]))
    out = []
    for start in range(0, len(images), AUGMENT_CHUNK):
        unit = prep.to_unit(images[start:start + AUGMENT_CHUNK])
        out.append(prep(augment_batch(unit, generator) if augment else unit))
    return torch.cat(out) if out else prep(prep.to_unit(images))


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
    best_val_auc: float = math.nan
    selection: str = "auc"
    collapse: str | None = None
    post_training: dict = field(default_factory=dict)  # what a method's finish hook chose (on validation)

    @property
    def best_val_metric(self) -> float:
        return self.best_val_auc if self.selection == "auc" else self.best_val_accuracy

    @property
    def seconds_per_epoch(self) -> float:
        return self.train_seconds / max(self.epochs_run, 1)

    def as_dict(self) -> dict:
        return {"best_epoch": self.best_epoch, "best_val_accuracy": self.best_val_accuracy,
                "best_val_loss": self.best_val_loss, "epochs_run": self.epochs_run,
                "stopped_early": self.stopped_early, "train_seconds": self.train_seconds,
                "best_val_auc": self.best_val_auc, "selection": self.selection, "collapse": self.collapse,
                "seconds_per_epoch": self.seconds_per_epoch, "inputs": self.inputs, "history": self.history,
                "post_training": self.post_training}

    @classmethod
    def from_dict(cls, d: dict) -> "TrainResult":
        return cls(d["best_epoch"], d["best_val_accuracy"], d["best_val_loss"], d["epochs_run"],
                   d["stopped_early"], d["train_seconds"], d["history"], d.get("inputs", {}),
                   d.get("best_val_auc", math.nan), d.get("selection", "accuracy"), d.get("collapse"),
                   d.get("post_training", {}))


def class_weights(labels: np.ndarray, scheme: str) -> torch.Tensor:
    """Per-class weights of the loss: ``"balanced"``, n / (2 n_c) (inverse class frequency, mean
    weight 1 over the set), or ``"none"`` (1 each). The profile's ``[train] class_weights``."""
    counts = np.bincount(labels, minlength=2).astype(float)
    if (counts == 0).any():
        raise ValueError(f"the training set needs both classes, has counts {counts.tolist()}")
    if scheme == "none":
        return torch.ones(2, dtype=torch.float32)
    if scheme != "balanced":
        raise ValueError(f"class weights {scheme!r}: use 'balanced' or 'none'")
    return torch.tensor(len(labels) / (2.0 * counts), dtype=torch.float32)


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


def make_optimizer(backbone: BackboneAdapter, lr: float, beta1: float) -> torch.optim.Adam:
    """Adam (beta2 0.999) at ``lr`` over the parameters the method left trainable, head included.

    One rate for all, as in the paper; a floor of 1e-3 for the new head alone made no detectable
    difference on validation data, so the simpler definition stays (why: docs/decisions/head-lr-floor.md)."""
    params = [p for p in backbone.model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the method left no parameter trainable")
    return torch.optim.Adam(params, lr=lr, betas=(beta1, 0.999))


def train(backbone: BackboneAdapter, bn_stats: str, train_images: np.ndarray, train_labels: np.ndarray,
          val_images: np.ndarray, val_labels: np.ndarray, config: TrainSection, lr: float, beta1: float,
          device: torch.device, seed: int, progress: bool = True,
          on_epoch: Callable[[int, float], None] | None = None, desc: str = "train",
          selection: str = "auc", augment_seed: int = 0) -> TrainResult:
    """Train the trainable parameters of ``backbone.model``; load the best-on-validation state.

    ``selection`` ("auc" or "accuracy") is the validation metric that early stopping, the
    learning-rate decay and the choice of the best epoch follow (strict improvements only).
    ``on_epoch(epoch, metric)`` is called after every epoch (an Optuna pruner hooks in here
    and may raise to stop the run). ``augment_seed`` seeds the augmented views
    (:func:`epoch_view`): the same for every method trained on the same images.

    The method's training hooks (``backbone.hooks``, see ``benchmark.models.hooks``) are followed:
    a penalty added to the loss, stages (each a full run of the loop below, the next starting
    from the previous one's best state), and a finish step that sees validation metrics only.
    """
    if selection not in SELECTION_METRICS:
        raise ValueError(f"selection metric {selection!r}: use one of {', '.join(SELECTION_METRICS)}")
    hooks = backbone.hooks
    if not hooks.stages and hooks.finish is None:
        return _train_stage(backbone, bn_stats, train_images, train_labels, val_images, val_labels, config, lr,
                            beta1, device, seed, progress, on_epoch, desc, selection, augment_seed, hooks.penalty)
    started, results, offset = time.perf_counter(), [], 0
    declared = {id(p): p.requires_grad for p in backbone.model.parameters()}
    for stage in hooks.stages or [Stage("train")]:
        chosen = None if stage.trainable is None else {id(p) for p in stage.trainable(backbone)}
        for p in backbone.model.parameters():
            p.requires_grad_(declared[id(p)] and (chosen is None or id(p) in chosen))
        step = None if on_epoch is None else (lambda e, metric, o=offset: on_epoch(o + e, metric))
        result = _train_stage(backbone, bn_stats, train_images, train_labels, val_images, val_labels, config,
                              stage.lr or lr, beta1, device, seed, progress, step, f"{desc} {stage.name}",
                              selection, augment_seed, hooks.penalty)
        results.append(result)
        result.history = [{**h, "epoch": offset + h["epoch"], "stage": stage.name} for h in result.history]
        offset += result.epochs_run
        if stage.on_end is not None:
            stage.on_end(backbone)
    for p in backbone.model.parameters():
        p.requires_grad_(declared[id(p)])
    last = results[-1]
    last.history = [h for r in results for h in r.history]
    last.best_epoch += offset - last.epochs_run
    last.epochs_run = offset
    if hooks.finish is not None:
        y_val, weights = np.asarray(val_labels), class_weights(np.asarray(train_labels), config.class_weights)

        def evaluate() -> dict:
            scores = predict_scores(backbone, val_images, device, config.eval_batch_size,
                                    config.inference_precision, config.channels_last)
            metrics = validation_metrics(scores, y_val, weights)
            return {**metrics, "selection": metrics[selection], "scores": scores}

        last.post_training = hooks.finish(backbone, evaluate)
        final = evaluate()
        last.best_val_auc, last.best_val_accuracy, last.best_val_loss = final["auc"], final["accuracy"], final["loss"]
        last.collapse = collapse_reason(final["scores"], last.history, constant_loss(train_labels, weights))
    last.train_seconds = time.perf_counter() - started
    return last


def _train_stage(backbone: BackboneAdapter, bn_stats: str, train_images: np.ndarray, train_labels: np.ndarray,
                 val_images: np.ndarray, val_labels: np.ndarray, config: TrainSection, lr: float, beta1: float,
                 device: torch.device, seed: int, progress: bool, on_epoch: Callable[[int, float], None] | None,
                 desc: str, selection: str, augment_seed: int, penalty: Callable[[], torch.Tensor] | None
                 ) -> TrainResult:
    """One run of the training loop over the parameters that require gradients (see :func:`train`)."""
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    model = backbone.model.to(device).to(memory_format=layout)
    prep = Preprocess(backbone.mean, backbone.std, config.channels_last).to(device)
    order_generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()  # building the frozen-prefix cache counts as training time
    inputs = TrainingInputs(backbone, bn_stats, train_images, val_images, config, device, prep, augment_seed)
    y_train = torch.as_tensor(train_labels, dtype=torch.float32).to(device)
    y_val = np.asarray(val_labels)
    weights = class_weights(np.asarray(train_labels), config.class_weights).to(device)
    optimizer = make_optimizer(backbone, lr, beta1)

    best_metric, best = -math.inf, {"accuracy": math.nan, "auc": math.nan, "loss": math.inf}
    best_state, best_scores, best_epoch, since_best = trained_state(model), np.zeros(0), 0, 0
    history: list[dict] = []
    bar = tqdm(range(1, config.max_epochs + 1), desc=desc, disable=not progress, leave=False, unit="epoch")
    epoch = 0
    for epoch in bar:
        epoch_start = time.perf_counter()
        inputs.start_epoch(view_index(epoch, seed, config.max_epochs))
        set_train_mode(model, bn_stats)
        order = torch.randperm(len(y_train), generator=order_generator).to(device)
        total, seen = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            idx = order[start:start + config.batch_size]
            with training_autocast(device):
                logits = inputs.train_logits(idx).squeeze(1).float()
            target = y_train[idx]
            loss = (F.binary_cross_entropy_with_logits(logits, target, reduction="none")
                    * weights[target.long()]).mean()
            if penalty is not None:
                loss = loss + penalty()
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"diverged: loss became {loss.item()} at epoch {epoch} "
                                       f"(learning rate {optimizer.param_groups[0]['lr']:.3g})")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            seen += len(idx)

        val_scores = inputs.val_scores()
        val = validation_metrics(val_scores, y_val, weights.cpu())
        metric = val[selection]
        history.append({"epoch": epoch, "train_loss": total / max(seen, 1), "val_loss": val["loss"],
                        "val_accuracy": val["accuracy"], "val_auc": val["auc"],
                        "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - epoch_start})
        if metric > best_metric:  # strict: an equal metric is no improvement
            best_metric, best, best_state, best_scores = metric, val, trained_state(model), val_scores
            best_epoch, since_best = epoch, 0
        else:
            since_best += 1
            if since_best % config.lr_decay_patience == 0:
                for group in optimizer.param_groups:
                    group["lr"] *= config.lr_decay_factor
        bar.set_postfix(loss=f"{total / max(seen, 1):.3f}", **{f"val_{selection}": f"{metric:.3f}"}, best=best_epoch)
        if on_epoch is not None:
            on_epoch(epoch, metric)
        if since_best >= config.patience:
            break
    bar.close()
    model.load_state_dict(best_state, strict=False)
    collapse = collapse_reason(best_scores, history, constant_loss(train_labels, weights))
    return TrainResult(best_epoch, best["accuracy"], best["loss"], epoch, since_best >= config.patience,
                       time.perf_counter() - started, history, inputs.describe(), best["auc"], selection, collapse)


class TrainingInputs:
    """What the trained part of the network sees in an epoch: view v of the training images
    (:func:`epoch_view`) through the whole model, or, when a frozen prefix can be cached (see
    benchmark.training.prefix_cache), the prefix's outputs on the same view through the trained suffix.
    Call :meth:`start_epoch` with the view before the epoch's :meth:`train_logits`."""

    def __init__(self, backbone, bn_stats, train_images, val_images, config: TrainSection,
                 device: torch.device, prep: Preprocess, augment_seed: int = 0):
        self.backbone, self.device, self.prep, self.config = backbone, device, prep, config
        self.augment_seed, self.val_images = augment_seed, val_images
        self.x_train = torch.as_tensor(train_images).to(device)
        self.prefix_length = 0
        if config.cache_prefix:
            length = prefix_cache.frozen_prefix_length(backbone, bn_stats)
            if length > 0:
                views = config.max_epochs if config.augment else 1
                size = views * len(train_images) * prefix_cache.output_numel(backbone, length, device) * 4
                if size <= config.cache_budget_mb * 2**20:
                    self.prefix_length = length
        if self.prefix_length:
            common = dict(device=device, batch_size=config.eval_batch_size, precision=config.inference_precision,
                          budget_mb=config.cache_budget_mb)
            self.train_views = prefix_cache.prefix_views(
                backbone, self.prefix_length, train_images, augment_seed, config.augment,
                make_view=self._view, **common)
            x_val = torch.as_tensor(val_images).to(device)
            self.val_features = prefix_cache.prefix_views(
                backbone, self.prefix_length, val_images, 0, False,
                make_view=lambda v: epoch_view(x_val, 0, 0, prep, False), **common).view(0)
            _, self.suffix = prefix_cache.split_model(backbone, self.prefix_length)
        self.current: torch.Tensor | None = None
        self.views_used: set[int] = set()

    def _view(self, v: int) -> torch.Tensor:
        return epoch_view(self.x_train, self.augment_seed, v, self.prep, self.config.augment)

    def start_epoch(self, view: int) -> None:
        self.views_used.add(view)
        self.current = self.train_views.view(view) if self.prefix_length else self._view(view)

    def describe(self) -> dict:
        precision = str(inference_dtype(self.device, self.config.inference_precision)).removeprefix("torch.")
        out = {"frozen_prefix_cached": bool(self.prefix_length), "inference_dtype": precision,
               "augment_seed": self.augment_seed, "views_used": len(self.views_used)}
        if self.prefix_length:
            out["prefix_modules"] = self.prefix_length
        return out

    def train_logits(self, idx: torch.Tensor) -> torch.Tensor:
        if self.current is None:
            raise RuntimeError("TrainingInputs.start_epoch(view) must come before train_logits")
        if self.prefix_length:
            return self.suffix(self.current[idx])
        return self.backbone.model(self.current[idx])

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


def validation_metrics(scores: np.ndarray, labels: np.ndarray, weights: torch.Tensor) -> dict:
    """Accuracy at 0.5, AUC, and the loss of validation scores, each image weighted by its class's weight."""
    labels = np.asarray(labels)
    accuracy = float(np.mean((scores >= 0.5) == (labels == 1)))
    auc = roc_auc(labels, scores) if len(np.unique(labels)) == 2 else math.nan
    s = torch.as_tensor(scores, dtype=torch.float64).clamp(1e-7, 1 - 1e-7)
    y = torch.as_tensor(labels, dtype=torch.float64)
    w = weights.double()[torch.as_tensor(labels).long()]
    loss = float((-(y * s.log() + (1 - y) * (1 - s).log()) * w).mean())
    return {"accuracy": accuracy, "auc": auc, "loss": loss}
