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

Lian, Zhou, Feng, Wang, "Scaling & Shifting Your Features: A New Baseline for Efficient
Model Tuning", NeurIPS 2022.
"""
from __future__ import annotations

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return torch.addcmul(self.shift.view(shape), x, self.scale.view(shape))  # one pass over x

    def extra_repr(self) -> str:
        return f"channels={self.scale.numel()}"


def add_ssf_layers(model: nn.Module) -> list[SSF]:
    """Insert an SSF layer after every convolution and batch-norm of ``model``."""
    sites = [(name, m) for name, m in model.named_modules()
             if isinstance(m, nn.Conv2d) or isinstance(m, BATCH_NORMS)]
    device = next(model.parameters()).device
    layers = []
    for name, module in sites:
        channels = module.out_channels if isinstance(module, nn.Conv2d) else module.num_features
        layer = SSF(channels).to(device)
        layers.append(layer)
        if isinstance(module, BATCH_NORMS) and isinstance(getattr(module, "act", None), nn.Module):
            module.act = InsertBefore(layer, module.act)  # timm BatchNormAct2d: after BN, before act
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, InsertAfter(module, layer))
    return layers


@register_method(
    description="SSF: per-channel scale and shift after every convolution and every batch-norm "
                "(before its activation), and the head; backbone frozen",
    citation="Lian, Zhou, Feng, Wang, 'Scaling & Shifting Your Features: A New Baseline for "
             "Efficient Model Tuning', NeurIPS 2022",
)
def ssf(backbone):
    for layer in add_ssf_layers(backbone.model):
        layer.requires_grad_(True)
