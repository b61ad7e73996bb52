"""Frozen-prefix caching: run the frozen front of the network once per augmented view, not
once per trial.

When a method trains only a suffix of the network (feature extraction trains the head,
last-block fine-tuning the last block), the modules before the first trained one compute
the same function in every epoch and every trial: their batch norms are in eval mode and
nothing in them learns. The trainer shows every method, cached or not, the same images:
in epoch e of a trial, view v(e) of every training image (``benchmark.training.trainer.epoch_view``,
an augmentation drawn from a seed of the fold and the view index). A cached method gets the
prefix's outputs on exactly those augmented images; the prefix runs once per view, the
first time a trial needs that view, and later trials of the search reuse it. So caching
changes the cost of an epoch, never what a method trains on.

The cache is kept in memory across the trials of a process, keyed by everything that changes
the features: backbone, input size, the prefix's parameters themselves (so random-weight
backbones of different seeds never share an entry), the images, the augmentation seed,
whether views are augmented, device and compute dtype.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Callable

import numpy as np
import torch
from torch import nn

from benchmark.models.backbones import BackboneAdapter
from benchmark.models.norms import BATCH_NORMS as _BATCH_NORMS

_CACHE: "OrderedDict[tuple, PrefixViews]" = OrderedDict()
_BUDGET = {"bytes": 512 * 2**20}  # all entries together; the trainer sets it from [train] cache_budget_mb


def frozen_prefix_length(backbone: BackboneAdapter, bn_stats: str) -> int:
    """How many leading modules of ``backbone.forward_sequence()`` are frozen functions."""
    sequence = backbone.forward_sequence()
    for i, (_, module) in enumerate(sequence):
        if any(p.requires_grad for p in module.parameters()):
            return i
        if bn_stats == "train" and any(isinstance(m, _BATCH_NORMS) for m in module.modules()):
            return i
        if any(isinstance(m, nn.Dropout) and m.p > 0 for m in module.modules()):
            return i
    return len(sequence)


def split_model(backbone: BackboneAdapter, length: int) -> tuple[nn.Sequential, nn.Sequential]:
    modules = [m for _, m in backbone.forward_sequence()]
    return nn.Sequential(*modules[:length]), nn.Sequential(*modules[length:])


def _fingerprint(module: nn.Module) -> str:
    """sha256 of a module's parameters and buffers (what its output depends on)."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class PrefixViews:
    """Prefix outputs of views of one image set, computed the first time each view is asked for.

    ``make_view(v)`` gives the preprocessed input of view v (N x 3 x H x W); ``view(v)`` the
    prefix's outputs on it (float32, N x ...), kept for the next trial.
    """

    def __init__(self, prefix: nn.Module, make_view: Callable[[int], torch.Tensor], batch_size: int,
                 autocast: Callable[[], object]):
        self.prefix, self.make_view, self.batch_size, self.autocast = prefix, make_view, batch_size, autocast
        self.views: dict[int, torch.Tensor] = {}

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.views.values())

    @torch.no_grad()  # not inference_mode: the outputs feed a backward pass
    def view(self, v: int) -> torch.Tensor:
        if v not in self.views:
            self.prefix.eval()
            x = self.make_view(v)
            chunks = []
            for start in range(0, len(x), self.batch_size):
                with self.autocast():
                    chunks.append(self.prefix(x[start:start + self.batch_size]).float())
            self.views[v] = torch.cat(chunks)
            _evict(keep=self)
        return self.views[v]


def _evict(keep: PrefixViews) -> None:
    """Drop the least recently used entries (never ``keep``) while the cache is over its budget."""
    while sum(e.nbytes for e in _CACHE.values()) > _BUDGET["bytes"]:
        oldest = next((k for k, e in _CACHE.items() if e is not keep), None)
        if oldest is None:
            return
        del _CACHE[oldest]


def prefix_views(backbone: BackboneAdapter, length: int, images: np.ndarray, seed: int, augment: bool,
                 device: torch.device, make_view: Callable[[int], torch.Tensor], batch_size: int = 128,
                 precision: str = "auto", budget_mb: int | None = None) -> PrefixViews:
    """The (shared) :class:`PrefixViews` of ``images`` for this prefix; ``make_view(v)`` must be
    a function of ``images``, ``seed``, ``augment`` and v alone (``benchmark.training.trainer.epoch_view``).
    ``budget_mb`` bounds the memory of all entries together (least recently used dropped first)."""
    from benchmark.training.device import inference_autocast, inference_dtype

    if budget_mb is not None:
        _BUDGET["bytes"] = int(budget_mb) * 2**20
    prefix, _ = split_model(backbone, length)
    key = (backbone.name, backbone.image_size, length, _fingerprint(prefix),
           hashlib.sha256(np.ascontiguousarray(images).data).hexdigest(), seed, augment, str(device),
           str(inference_dtype(device, precision)))
    if key in _CACHE:
        _CACHE.move_to_end(key)
        entry = _CACHE[key]
        entry.prefix, entry.make_view = prefix, make_view  # same function, this trial's modules
        return entry
    entry = PrefixViews(prefix, make_view, batch_size, lambda: inference_autocast(device, precision))
    _CACHE[key] = entry
    return entry


@torch.no_grad()
def output_numel(backbone: BackboneAdapter, length: int, device: torch.device) -> int:
    """Elements of the prefix's output for one image at the backbone's input size."""
    prefix, _ = split_model(backbone, length)
    was = [m.training for m in prefix]
    prefix.eval()
    size = backbone.image_size
    n = prefix(torch.zeros(1, 3, size, size, device=device)).numel()
    for m, t in zip(prefix, was):
        m.train(t)
    return int(n)


def clear() -> None:
    _CACHE.clear()
