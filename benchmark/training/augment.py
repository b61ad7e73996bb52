"""Augmentation of whole batches as tensor operations (on the GPU when the batch is there).

Applied to grayscale batches B x 1 x H x W in [0, 1] before normalisation: a random
horizontal flip, a small random affine transform (rotation, scaling, translation), and
brightness/contrast jitter. Each image gets its own draw from ``generator``, so a run is
repeatable for a seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    flip_probability: float = 0.5
    max_rotation_degrees: float = 10.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    max_translation: float = 0.1   # fraction of the image size
    brightness: float = 0.1        # additive, in [0, 1] intensity units
    contrast: float = 0.1          # multiplicative, 1 +- contrast


def _uniform(n: int, low: float, high: float, generator, device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def augment_batch(x: torch.Tensor, generator: torch.Generator,
                  config: AugmentConfig = AugmentConfig()) -> torch.Tensor:
    """Randomly transform each image of ``x`` (B x C x H x W, float in [0, 1])."""
    b, device = x.shape[0], x.device
    angle = _uniform(b, -1, 1, generator, device) * math.radians(config.max_rotation_degrees)
    scale = _uniform(b, *config.scale_range, generator, device)
    flip = torch.where(torch.rand(b, generator=generator, device=device) < config.flip_probability,
                       -1.0, 1.0)
    shift = _uniform(2 * b, -1, 1, generator, device).view(b, 2) * 2 * config.max_translation
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    gain = _uniform(b, 1 - config.contrast, 1 + config.contrast, generator, device)
    bias = _uniform(b, -config.brightness, config.brightness, generator, device)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * gain.view(b, 1, 1, 1).to(x.dtype) + mean + bias.view(b, 1, 1, 1).to(x.dtype)
    return x.clamp_(0.0, 1.0)
