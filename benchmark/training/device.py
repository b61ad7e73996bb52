"""Where and in which precision the networks run, and how images enter them.

:func:`resolve_device` picks the device; :func:`inference_dtype` and the autocast helpers
give the compute dtype of training and of forward passes without gradients;
:class:`Preprocess` turns uint8 grayscale images into the backbone's normalised input.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from benchmark.common.profiles import INFERENCE_PRECISIONS


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


def inference_dtype(device: torch.device, precision: str = "auto") -> torch.dtype:
    """The compute dtype of forward passes without gradients (evaluation, the frozen prefix).

    "auto": the dtype training computes in, so that a model is validated and tested as it was
    trained: bfloat16 on CUDA (training runs under bf16 autocast there), float32 elsewhere.
    "bfloat16" on a CPU is faster where the CPU has native bf16 but evaluates float32-trained models
    in another precision, which moves test AUCs: use it for throughput studies, not for results.
    Why: docs/decisions/inference-precision.md.
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
