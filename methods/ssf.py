"""SSF: a trainable per-channel scale and shift after every convolution and batch-norm.

An ``SSF`` layer computes ``y = gamma * x + beta`` per channel (gamma, beta of shape C,
initialised to 1 and 0, so the network is exactly the pretrained one at initialisation;
the paper's code draws them from N(1, 0.02) and N(0, 0.02)). Where they go:
- after every ``nn.Conv2d`` (depthwise ones included): the conv becomes
  ``InsertAfter(conv, SSF(out_channels))``;
- after every batch-norm, before its activation: a plain ``nn.BatchNorm2d`` (ResNet,
  whose ReLUs are separate modules) becomes ``InsertAfter(bn, SSF(C))``; in timm's
  ``BatchNormAct2d`` (EfficientNet-Lite), which bundles normalisation and activation, the
  bundled ``act`` becomes ``InsertBefore(SSF(C), act)``, so SSF acts on the normalised
  features before ReLU6 (or before the identity of a projection block).
The residual additions, activations and pooling get none. Everything pretrained stays
frozen; only the SSF parameters and the head train. Batch-norm running statistics stay
frozen: no batch-norm parameter trains, so the "frozen" policy keeps every batch-norm in
eval mode. (With frozen batch-norm in eval mode, conv -> SSF -> BN -> SSF is a product of
per-channel affine maps, so the SSF before a batch-norm only re-parameterises the one after
it; it is kept to follow the paper's "after every operation".) The paper merges SSF into
the preceding weights for inference; this suite keeps the layers.

Speed, not a change of the function: while a batch-norm is in eval mode it is the per-channel
affine map ``a x + b``, so the convolution's SSF, the batch-norm and the batch-norm's SSF
(``s2 (a (s1 x + t1) + b) + t2``) are computed as one multiply-add over the feature map with
the small per-channel factors combined first (``fold_into_batch_norms``). Gradients reach
every SSF parameter as before; the numbers differ only by float rounding. A pair is folded
only where the convolution's output feeds its batch-norm and nothing else, which a forward
pass with random SSF parameters checks when the layers are added.

Lian, Zhou, Feng, Wang, "Scaling & Shifting Your Features: A New Baseline for Efficient
Model Tuning", NeurIPS 2022.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

from benchmark.backbones import InsertAfter, InsertBefore
from benchmark.registry import register_method

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class SSF(nn.Module):
    """Per-channel scale and shift on N x C x ... tensors, identity at initialisation."""

    def __init__(self, channels: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels))   # gamma
        self.shift = nn.Parameter(torch.zeros(channels))  # beta
        self.folded_into: tuple = ()  # (batch-norm,) that applies this layer in its own pass

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.folded_into and _folding(self.folded_into[0]):
            return x  # the adjacent eval-mode batch-norm applies this layer (fold_into_batch_norms)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return torch.addcmul(self.shift.view(shape), x, self.scale.view(shape))  # one pass over x

    def extra_repr(self) -> str:
        return f"channels={self.scale.numel()}"


def add_ssf_layers(model: nn.Module, fold: bool = True) -> list[SSF]:
    """Insert an SSF layer after every convolution and batch-norm of ``model``; ``fold``: let
    each batch-norm apply its SSF layers in its own pass (see ``fold_into_batch_norms``)."""
    sites = [(name, m) for name, m in model.named_modules()
             if isinstance(m, nn.Conv2d) or isinstance(m, BATCH_NORMS)]
    device = next(model.parameters()).device
    layers, after = [], {}
    for name, module in sites:
        channels = module.out_channels if isinstance(module, nn.Conv2d) else module.num_features
        layer = SSF(channels).to(device)
        layers.append(layer)
        after[name] = layer
        if isinstance(module, BATCH_NORMS) and isinstance(getattr(module, "act", None), nn.Module):
            module.act = InsertBefore(layer, module.act)  # timm BatchNormAct2d: after BN, before act
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, InsertAfter(module, layer))
    if fold:
        fold_into_batch_norms(model, _norm_pairs(sites, after))
    return layers


# -- folding: one pass per convolution + batch-norm while the batch-norm is frozen -----------------
def _folding(norm: nn.Module) -> bool:
    """A batch-norm in eval mode with running statistics: the affine map ``a x + b``."""
    return not norm.training and norm.running_mean is not None and norm.running_var is not None


def _folded_batch_norm(norm: nn.Module, before: SSF | None, after: SSF, x: torch.Tensor) -> torch.Tensor:
    if not _folding(norm):  # training mode: batch statistics; the SSF layers run on their own
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
    if isinstance(getattr(norm, "act", None), nn.Module):  # timm BatchNormAct2d (its SSF passes y on)
        y = norm.act(norm.drop(y))
    return y


def _norm_pairs(sites, after: dict) -> list[tuple[nn.Module, SSF | None, SSF]]:
    """(batch-norm, SSF of the convolution registered just before it in the same module, its SSF)."""
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
def fold_into_batch_norms(model: nn.Module, pairs, size: int = 64) -> int:
    """Let each batch-norm of ``pairs`` apply its SSF layers (the convolution's before it,
    its own after it) in one pass while it is in eval mode; returns how many folded the
    convolution's SSF as well.

    Registration order suggests which convolution feeds which batch-norm; a forward pass
    with random SSF parameters checks it. If the folded network differs from the unfolded
    one, each batch-norm folds only its own SSF (always adjacent: it was inserted there);
    if that differs too, nothing is folded.
    """
    layers = [m for m in model.modules() if isinstance(m, SSF)]
    saved = [(m.scale.clone(), m.shift.clone()) for m in layers]
    modes = [(m, m.training) for m in model.modules()]
    generator = torch.Generator().manual_seed(0)
    for m in layers:  # at their identity initialisation any placement would pass the check
        m.scale.copy_(1 + 0.2 * torch.randn(m.scale.shape, generator=generator))
        m.shift.copy_(0.2 * torch.randn(m.shift.shape, generator=generator))
    param = next(model.parameters())
    x = torch.randn(2, 3, size, size, generator=generator).to(param.device, param.dtype)
    model.eval()
    reference = _features(model, x)
    folded = 0
    for use_before in (True, False):
        for norm, before, after_layer in pairs:
            _fold(norm, before if use_before else None, after_layer)
        if torch.allclose(_features(model, x), reference, rtol=1e-3, atol=1e-3 * reference.abs().max().item()):
            folded = len(pairs) + (sum(before is not None for _, before, _ in pairs) if use_before else 0)
            break
        for norm, before, after_layer in pairs:
            _unfold(norm, before, after_layer)
    for m, (scale, shift) in zip(layers, saved):
        m.scale.copy_(scale)
        m.shift.copy_(shift)
    for m, mode in modes:
        m.training = mode
    return folded


def _fold(norm: nn.Module, before: SSF | None, after: SSF) -> None:
    norm.forward = functools.partial(_folded_batch_norm, norm, before, after)
    after.folded_into = (norm,)
    if before is not None:
        before.folded_into = (norm,)


def _unfold(norm: nn.Module, before: SSF | None, after: SSF) -> None:
    norm.__dict__.pop("forward", None)
    for layer in (before, after):
        if layer is not None:
            layer.folded_into = ()


@register_method(
    description="SSF: per-channel scale and shift after every convolution and every batch-norm "
                "(before its activation), and the head; backbone frozen",
    citation="Lian, Zhou, Feng, Wang, 'Scaling & Shifting Your Features: A New Baseline for "
             "Efficient Model Tuning', NeurIPS 2022",
)
def ssf(backbone):
    for layer in add_ssf_layers(backbone.model):
        layer.requires_grad_(True)
