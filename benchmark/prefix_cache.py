"""Frozen-prefix caching: run the frozen front of the network once, not every epoch.

When a method trains only a suffix of the network (feature extraction trains the head,
last-block fine-tuning the last block), the modules before the first trained one compute
the same function in every epoch and every trial: their batch norms are in eval mode and
nothing in them learns. So each training image is augmented into ``views`` fixed views,
the prefix runs once per view, and training draws one cached view per image per epoch;
validation images run through the prefix once, unaugmented. The cache is kept in memory
across the trials of a process (keyed by backbone, weights, input size, prefix, images,
views, augmentation seed, device and compute dtype), so a search pays for the prefix once.

The price: augmentation draws from ``views`` fixed views per image instead of a fresh one
every epoch. Profiles set ``views``; ``views = 0`` switches caching off.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from .augment import augment_batch
from .backbones import BackboneAdapter

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_CACHE: "OrderedDict[tuple, torch.Tensor]" = OrderedDict()
_CACHE_ENTRIES = 8  # train and validation entries of a few prefixes


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


def _key(backbone: BackboneAdapter, length: int, images: np.ndarray, views: int, seed: int,
         augment: bool, device: torch.device, compute_dtype: torch.dtype) -> tuple:
    digest = hashlib.sha256(np.ascontiguousarray(images).data).hexdigest()
    return (backbone.name, backbone.weights.detail, backbone.weights.sha256, backbone.image_size,
            length, digest, views, seed, augment, str(device), str(compute_dtype))


@torch.no_grad()  # not inference_mode: the outputs feed a backward pass
def prefix_features(backbone: BackboneAdapter, length: int, images: np.ndarray, views: int,
                    seed: int, augment: bool, device: torch.device, preprocess, batch_size: int = 128,
                    precision: str = "auto") -> torch.Tensor:
    """Prefix outputs, ``views x N x ...``: view v of image i is augmented with a seeded draw.

    The prefix computes in ``precision`` (see ``benchmark.trainer.inference_dtype``); the
    outputs are stored in float32, which the trained suffix takes.
    """
    from .trainer import inference_autocast, inference_dtype

    key = _key(backbone, length, images, views, seed, augment, device, inference_dtype(device, precision))
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    prefix, _ = split_model(backbone, length)
    prefix.eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    x_all = torch.as_tensor(images)
    out = []
    for _ in range(views):
        chunks = []
        for start in range(0, len(x_all), batch_size):
            unit = preprocess.to_unit(x_all[start:start + batch_size].to(device))
            if augment:
                unit = augment_batch(unit, generator)
            with inference_autocast(device, precision):
                chunks.append(prefix(preprocess(unit)).float())
        out.append(torch.cat(chunks))
    features = torch.stack(out)
    _CACHE[key] = features
    while len(_CACHE) > _CACHE_ENTRIES:
        _CACHE.popitem(last=False)
    return features


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
