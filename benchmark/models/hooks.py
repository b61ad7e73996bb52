"""What a method may ask of the trainer besides its trainable parameters: the training hooks.

Most methods only add modules and set ``requires_grad``. A few change how training runs; a
method's ``apply`` fills in ``backbone.hooks`` (a :class:`TrainingHooks`, empty by default)
and the trainer (``benchmark.training.trainer.train``) follows it:

- ``penalty()``: a scalar added to every training step's loss (L2-SP's pull towards the
  pretrained weights);
- ``stages``: training in stages (LP-FT: the head first, then everything). Each stage is a full
  run of the trainer (its own optimiser, early stopping on validation and best-state reload)
  over the parameters ``stage.trainable(backbone)`` picks among those the method declared
  trainable (None: all of them), at the trial's learning rate or the stage's own ``lr``; the
  next stage starts from the previous stage's best state. ``on_end(backbone)`` runs after the
  stage (WiSE-FT keeps the linear-probe weights there);
- ``finish(backbone, evaluate)``: runs once after the last stage; ``evaluate()`` gives the
  current model's validation metrics (``{"auc", "accuracy", "loss", "selection"}``, the last
  the profile's selection metric; validation images only: a finish hook never sees a test image). WiSE-FT chooses its mixing weight here. It
  returns a dict the run records (``training.post_training``).

Hooks compose: a composed method's parts fill in the same object in order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from torch import nn


@dataclass
class Stage:
    name: str
    trainable: Callable[[object], Iterable[nn.Parameter]] | None = None  # None: every declared one
    lr: float | None = None  # None: the trial's learning rate
    on_end: Callable[[object], None] | None = None


@dataclass
class TrainingHooks:
    penalty: Callable[[], object] | None = None
    stages: list[Stage] = field(default_factory=list)
    finish: Callable[[object, Callable[[], dict]], dict] | None = None

    def add_penalty(self, fn: Callable[[], object]) -> None:
        """Add ``fn()`` to the loss (besides any penalty already there)."""
        previous = self.penalty
        self.penalty = fn if previous is None else (lambda: previous() + fn())
