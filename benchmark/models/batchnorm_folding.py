"""Folding per-channel affine layers into frozen batch-norms: one pass instead of three.

A batch-norm in eval mode (running statistics, frozen) is the per-channel affine map
``a x + b``. A per-channel affine layer ``s x + t`` before it (after the convolution that
feeds it) and one after it then compose into one map,
``s2 (a (s1 x + t1) + b) + t2 = (s2 a s1) x + (s2 (a t1 + b) + t2)``, whose factors have C
elements: the batch-norm computes it in one multiply-add over the feature map, and the two
layers pass their input on. Gradients reach every layer's parameters through the small
factors, so the function and its gradients are those of the unfolded network up to float
rounding. In training mode a batch-norm normalises with batch statistics and nothing folds.

The layers (SSF's, ``methods/ssf.py``) carry ``scale`` and ``shift`` of C elements and a
``folded_into`` tuple, ``(batch-norm,)`` while folded, and return their input unchanged while
:func:`is_folding` holds for that batch-norm. The module tree and parameter names do not
change: the batch-norm gets an instance ``forward``.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

from benchmark.models.norms import BATCH_NORMS


def is_folding(norm: nn.Module) -> bool:
    """A batch-norm in eval mode with running statistics: the affine map ``a x + b``."""
    return not norm.training and norm.running_mean is not None and norm.running_var is not None


def _folded_batch_norm(norm: nn.Module, before, after, x: torch.Tensor) -> torch.Tensor:
    if not is_folding(norm):  # training mode: batch statistics; the layers run on their own
        return type(norm).forward(norm, x)
    # s2 (a (s1 x + t1) + b) + t2 = (s2 a s1) x + (s2 (a t1 + b) + t2), factors of shape C
    a = torch.rsqrt(norm.running_var + norm.eps)
    a = a * norm.weight if norm.weight is not None else a
    b = -norm.running_mean * a
    b = b + norm.bias if norm.bias is not None else b
    if before is not None:
        a, b = a * before.scale, a * before.shift + b
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = torch.addcmul((after.scale * b + after.shift).view(shape), x, (after.scale * a).view(shape))
    if isinstance(getattr(norm, "act", None), nn.Module):  # timm BatchNormAct2d (the layer in its act passes y on)
        y = norm.act(norm.drop(y))
    return y


def norm_pairs(sites, after: dict) -> list[tuple]:
    """(batch-norm, the layer after the convolution registered just before it in the same
    module or None, the layer after the batch-norm) for every batch-norm of ``sites``
    (``(name, module)`` of the convolutions and batch-norms); ``after``: name -> its layer."""
    pairs, previous = [], {}
    for name, module in sites:
        parent = name.rpartition(".")[0]
        before = previous.get(parent)
        if isinstance(module, BATCH_NORMS):
            pairs.append((module, after[before] if before is not None else None, after[name]))
        previous[parent] = name if isinstance(module, nn.Conv2d) else None
    return pairs


def _features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model.forward_features(x) if hasattr(model, "forward_features") else model(x)


@torch.no_grad()
def fold_into_batch_norms(model: nn.Module, pairs, size: int = 64) -> None:
    """Let each batch-norm of ``pairs`` apply its affine layers (the convolution's before it,
    its own after it) in one pass while it is in eval mode.

    Registration order suggests which convolution feeds which batch-norm (``norm_pairs``); a
    forward pass with random layer parameters checks it, at ``size`` px. If the folded
    network differs from the unfolded one, each batch-norm folds only its own layer (adjacent
    by construction); if that differs too, nothing is folded. Parameters and train/eval
    modes are restored afterwards.
    """
    layers = list({id(m): m for _, before, after in pairs for m in (before, after) if m is not None}.values())
    saved = [(m.scale.clone(), m.shift.clone()) for m in layers]
    modes = [(m, m.training) for m in model.modules()]
    generator = torch.Generator().manual_seed(0)
    for m in layers:  # at an identity initialisation any placement would pass the check
        m.scale.copy_(1 + 0.2 * torch.randn(m.scale.shape, generator=generator))
        m.shift.copy_(0.2 * torch.randn(m.shift.shape, generator=generator))
    param = next(model.parameters())
    x = torch.randn(2, 3, size, size, generator=generator).to(param.device, param.dtype)
    model.eval()
    reference = _features(model, x)
    for use_before in (True, False):
        for norm, before, after_layer in pairs:
            _fold(norm, before if use_before else None, after_layer)
        if torch.allclose(_features(model, x), reference, rtol=1e-3, atol=1e-3 * reference.abs().max().item()):
            break
        for norm, before, after_layer in pairs:
            _unfold(norm, before, after_layer)
    for m, (scale, shift) in zip(layers, saved):
        m.scale.copy_(scale)
        m.shift.copy_(shift)
    for m, mode in modes:
        m.training = mode


def _fold(norm: nn.Module, before, after) -> None:
    norm.forward = functools.partial(_folded_batch_norm, norm, before, after)
    after.folded_into = (norm,)
    if before is not None:
        before.folded_into = (norm,)


def _unfold(norm: nn.Module, before, after) -> None:
    norm.__dict__.pop("forward", None)
    for layer in (before, after):
        if layer is not None:
            layer.folded_into = ()
