"""One optimiser step of the suite's trainer, callable again and again, for timing and FLOP counts.

:func:`make_train_step` sets a model up as ``benchmark.training.trainer.train`` does (its
``TrainingInputs``: preprocessing, the epoch's augmented view, the frozen-prefix cache where
asked; channels_last; the method's batch-norm policy; Adam on the trainable parameters), and
:class:`TrainStep` runs the body of the trainer's inner loop: a random batch, forward under
autocast, the loss (class weights as the trainer's), backward and the optimiser's step. So what ``bench`` times
is what a trial spends per step, without the trainer's epochs, validation and early stopping.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchmark.cost.meters import as_device

if TYPE_CHECKING:  # torch and the suite load on first use: `petl-bench --help` stays quick
    import numpy as np
    import torch

    from benchmark.training.trainer import TrainingInputs


@dataclass
class TrainStep:
    """One optimiser step as ``benchmark.training.trainer.train`` runs it, callable repeatedly.

    ``inputs`` is the trainer's own ``TrainingInputs``, its epoch started on view 0 (that
    augmented view of the images through the whole model, or, with ``cached=True`` and a frozen
    prefix, the prefix's outputs on it through the suffix). Calling it draws a random batch,
    runs forward (autocast), the loss, backward and Adam's step, and returns the
    loss. The augmentation (once per epoch in the trainer) is not part of a step.
    """

    model: torch.nn.Module
    inputs: TrainingInputs
    bn_stats: str
    optimizer: torch.optim.Optimizer
    labels: torch.Tensor
    weights: torch.Tensor
    batch_size: int
    device: torch.device
    order_generator: torch.Generator
    penalty: object = None  # the method's loss penalty (backbone.hooks.penalty: L2-SP), as in the trainer

    @property
    def cached(self) -> bool:
        return bool(self.inputs.prefix_length)

    def __call__(self, batch_size: int | None = None) -> float:
        import torch
        import torch.nn.functional as F

        from benchmark.training.device import training_autocast

        n = batch_size or self.batch_size
        idx = torch.randperm(len(self.labels), generator=self.order_generator)[:n].to(self.device)
        # the body of the trainer's inner loop (benchmark.training.trainer.train)
        with training_autocast(self.device):
            logits = self.inputs.train_logits(idx).squeeze(1).float()
        target = self.labels[idx]
        loss = (F.binary_cross_entropy_with_logits(logits, target, reduction="none")
                * self.weights[target.long()]).mean()
        if self.penalty is not None:
            loss = loss + self.penalty()
        bool(torch.isfinite(loss))  # the trainer checks (and so synchronises) every step
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()


def make_train_step(backbone, bn_stats: str, images: np.ndarray, labels: np.ndarray, device,
                    batch_size: int = 24, cached: bool = False, views: int = 1, augment: bool = True,
                    lr: float = 1e-3, beta1: float = 0.9, seed: int = 0,
                    eval_batch_size: int = 128, inference_precision: str = "auto") -> TrainStep:
    """A :class:`TrainStep` on ``images`` (uint8 N x H x W), the model moved and set up as the
    trainer does (channels_last, training mode with the method's batch-norm policy).

    ``cached=True`` uses the trainer's frozen-prefix cache when the method has a frozen prefix
    (``TrainStep.cached`` says whether it did); ``views`` is the epochs (one view each) its
    memory budget is checked for. Only view 0 is computed, here, not in the timed steps.
    """
    import numpy as np
    import torch

    from benchmark.models.build import set_train_mode
    from benchmark.common.profiles import TrainSection
    from benchmark.training.trainer import TrainingInputs, class_weights, make_optimizer
    from benchmark.training.device import Preprocess

    dev = as_device(device)
    model = backbone.model.to(dev).to(memory_format=torch.channels_last)
    prep = Preprocess(backbone.mean, backbone.std).to(dev)
    config = TrainSection(batch_size=batch_size, augment=augment, eval_batch_size=eval_batch_size,
                          max_epochs=views, cache_prefix=cached, inference_precision=inference_precision)
    inputs = TrainingInputs(backbone, bn_stats, images, images[:batch_size], config, dev, prep, augment_seed=seed)
    inputs.start_epoch(0)  # one epoch's view: the augmentation runs once per epoch, not per step
    optimizer = make_optimizer(backbone, lr, beta1)
    set_train_mode(model, bn_stats)
    return TrainStep(model, inputs, bn_stats, optimizer,
                     torch.as_tensor(labels, dtype=torch.float32).to(dev),
                     class_weights(np.asarray(labels), config.class_weights).to(dev), batch_size, dev, torch.Generator().manual_seed(seed),
                     backbone.hooks.penalty)
