"""A recorder of what reaches the trainer's loop (``tests/training/test_loop_inputs.py``).

:class:`LoopRecorder` wraps the places where the loop of ``benchmark.training.trainer`` meets its inputs,
calls the real code unchanged and keeps a copy of what passed:

- ``benchmark.training.runner.train`` (the trainer as a study calls it): to find the model being trained and
  hook the input of the whole network, the input of its first trained module (the frozen prefix's output,
  cached or computed on the fly) and the output of its last module;
- ``F.binary_cross_entropy_with_logits`` as the trainer calls it: each batch's logits and targets, and the
  weight the loss gave each image, read from the gradient that reaches the per-image losses (the loss is
  mean(w_i l_i), so d loss / d l_i = w_i / B);
- ``TrainingInputs.start_epoch`` and ``TrainingInputs.val_scores``: the epoch, and whether the loop trains or
  validates; ``trainer.validation_metrics``: the class weights of the validation loss.

Forward passes after ``train`` returns (the runner scoring validation and test images) are phase "after".
Nothing recorded changes what the code computes: the hooks return None and the wrappers pass their
arguments and results through.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pytest
import torch
import torch.nn.functional as F

from benchmark.training import prefix_cache, runner, trainer


@dataclass
class Step:
    """One optimiser step of the loop."""
    epoch: int
    images: torch.Tensor | None   # the whole network's input (None when the frozen prefix is cached)
    features: torch.Tensor        # the first trained module's input: the frozen prefix's output
    output: torch.Tensor          # the last module's output (B x 1)
    logits: torch.Tensor          # the logits the loss got
    target: torch.Tensor          # the targets the loss got
    weights: torch.Tensor | None = None  # the weight the loss gave each image (from its gradient)


@dataclass
class Scored:
    """One forward pass without training: validation in the loop ("val"), or the runner's scoring ("after")."""
    phase: str
    epoch: int
    kind: str                 # "images": the whole network's input; "features": the first trained module's
    inputs: torch.Tensor
    training: list[str]       # the modules that ran in training mode


@dataclass
class LoopRecorder:
    """Use as a context manager around a study's training (and scoring); read the fields afterwards."""
    backbone: object = None
    prefix_length: int = 0    # modules before the first trained one (``prefix_cache.frozen_prefix_length``)
    prefix: torch.nn.Sequential | None = None  # a copy of those modules as training began, in eval mode
    steps: list[Step] = field(default_factory=list)
    scored: list[Scored] = field(default_factory=list)
    val_weights: list[torch.Tensor] = field(default_factory=list)
    phase: str = "setup"
    epoch: int = 0

    def __enter__(self) -> "LoopRecorder":
        self._patch = pytest.MonkeyPatch()
        self._handles, self._pending = [], {}
        real_train, real_start, real_val = runner.train, trainer.TrainingInputs.start_epoch, \
            trainer.TrainingInputs.val_scores
        real_metrics = trainer.validation_metrics

        def train(backbone, bn_stats, *args, **kwargs):
            self._hook(backbone, bn_stats)
            try:
                return real_train(backbone, bn_stats, *args, **kwargs)
            finally:
                self.phase = "after"

        def start_epoch(inputs, view):
            self.epoch, self.phase = self.epoch + 1, "views"
            real_start(inputs, view)
            self.phase = "train"

        def val_scores(inputs):
            self.phase = "val"
            try:
                return real_val(inputs)
            finally:
                self.phase = "between"

        def validation_metrics(scores, labels, weights):
            self.val_weights.append(weights.detach().clone())
            return real_metrics(scores, labels, weights)

        self._patch.setattr(runner, "train", train)
        self._patch.setattr(trainer.TrainingInputs, "start_epoch", start_epoch)
        self._patch.setattr(trainer.TrainingInputs, "val_scores", val_scores)
        self._patch.setattr(trainer, "validation_metrics", validation_metrics)
        self._patch.setattr(trainer, "F", _RecordingFunctional(self))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._patch.undo()

    # -- what the tests read --------------------------------------------------------------------
    def epochs(self) -> list[int]:
        return sorted({s.epoch for s in self.steps})

    def steps_of(self, epoch: int) -> list[Step]:
        return [s for s in self.steps if s.epoch == epoch]

    def scored_in(self, phase: str, kind: str, epoch: int | None = None) -> list[Scored]:
        return [s for s in self.scored if s.phase == phase and s.kind == kind and (epoch is None or s.epoch == epoch)]

    # -- recording --------------------------------------------------------------------------------
    def _hook(self, backbone, bn_stats: str) -> None:
        self.backbone = backbone
        sequence = [m for _, m in backbone.forward_sequence()]
        self.prefix_length = prefix_cache.frozen_prefix_length(backbone, bn_stats)
        self.prefix = copy.deepcopy(torch.nn.Sequential(*sequence[:self.prefix_length])).eval()
        model, trained = backbone.model, sequence[self.prefix_length:]

        def in_training(modules) -> list[str]:
            named = {id(m): n for n, m in model.named_modules()}
            return sorted({named.get(id(m), "?") for top in modules for m in top.modules() if m.training})

        def seen(kind: str, x: torch.Tensor, modules) -> None:
            if self.phase == "train":
                self._pending[kind] = x.detach().clone()
            elif self.phase in ("val", "after"):
                self.scored.append(Scored(self.phase, self.epoch, kind, x.detach().clone(), in_training(modules)))

        def output(module, args, out) -> None:
            if self.phase == "train":
                self._pending["output"] = out.detach().clone()

        self._handles += [model.register_forward_pre_hook(lambda m, args: seen("images", args[0], [model])),
                          trained[0].register_forward_pre_hook(lambda m, args: seen("features", args[0], trained)),
                          sequence[-1].register_forward_hook(output)]

    def _loss(self, logits: torch.Tensor, target: torch.Tensor, losses: torch.Tensor) -> None:
        if self.phase != "train":
            return
        pending, self._pending = self._pending, {}
        step = Step(self.epoch, pending.get("images"), pending["features"], pending["output"],
                    logits.detach().clone(), target.detach().clone())
        self.steps.append(step)
        if losses.requires_grad:
            losses.register_hook(lambda grad: setattr(step, "weights", grad.detach() * len(grad)))


class _RecordingFunctional:
    """``torch.nn.functional`` with its binary cross-entropy recorded (the trainer's ``F``)."""

    def __init__(self, recorder: LoopRecorder):
        self._recorder = recorder

    def __getattr__(self, name):
        return getattr(F, name)

    def binary_cross_entropy_with_logits(self, logits, target, *args, **kwargs):
        losses = F.binary_cross_entropy_with_logits(logits, target, *args, **kwargs)
        self._recorder._loss(logits, target, losses)
        return losses
