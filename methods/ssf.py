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
the small per-channel factors combined first (``benchmark.models.batchnorm_folding``). Gradients reach
every SSF parameter as before; the numbers differ only by float rounding. A pair is folded
only where the convolution's output feeds its batch-norm and nothing else, which a forward
pass with random SSF parameters checks when the layers are added.

Lian, Zhou, Feng, Wang, "Scaling & Shifting Your Features: A New Baseline for Efficient
Model Tuning", NeurIPS 2022.
"""
from __future__ import annotations

import torch
from torch import nn

from benchmark.models.backbones import InsertAfter, InsertBefore
from benchmark.models.batchnorm_folding import fold_into_batch_norms, is_folding, norm_pairs
from benchmark.models.norms import BATCH_NORMS
from benchmark.plugins.registry import register_method


class SSF(nn.Module):
    """Per-channel scale and shift on N x C x ... tensors, identity at initialisation."""

    def __init__(self, channels: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels))   # gamma
        self.shift = nn.Parameter(torch.zeros(channels))  # beta
        self.folded_into: tuple = ()  # (batch-norm,) that applies this layer (batchnorm_folding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.folded_into and is_folding(self.folded_into[0]):
            return x  # the adjacent eval-mode batch-norm applies this layer
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return torch.addcmul(self.shift.view(shape), x, self.scale.view(shape))  # one pass over x

    def extra_repr(self) -> str:
        return f"channels={self.scale.numel()}"


def add_ssf_layers(model: nn.Module, fold: bool = True) -> list[SSF]:
    """Insert an SSF layer after every convolution and batch-norm of ``model``; ``fold``: let
    each batch-norm apply its SSF layers in its own pass (``benchmark.models.batchnorm_folding``)."""
    sites = [(name, m) for name, m in model.named_modules()
             if isinstance(m, nn.Conv2d) or isinstance(m, BATCH_NORMS)]
    device = next(model.parameters()).device
    after = {}  # site name -> its SSF layer
    for name, module in sites:
        channels = module.out_channels if isinstance(module, nn.Conv2d) else module.num_features
        layer = after[name] = SSF(channels).to(device)
        if isinstance(module, BATCH_NORMS) and isinstance(getattr(module, "act", None), nn.Module):
            module.act = InsertBefore(layer, module.act)  # timm BatchNormAct2d: after BN, before act
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, InsertAfter(module, layer))
    if fold:
        fold_into_batch_norms(model, norm_pairs(sites, after))
    return list(after.values())


@register_method(
    description="SSF: per-channel scale and shift after every convolution and every batch-norm "
                "(before its activation), and the head; backbone frozen",
    citation="Lian, Zhou, Feng, Wang, 'Scaling & Shifting Your Features: A New Baseline for "
             "Efficient Model Tuning', NeurIPS 2022",
    family="scaling", source="literature", identity_at_init=True,
    trains=lambda backbone, name, owner: isinstance(owner, SSF),
)
def ssf(backbone):
    add_ssf_layers(backbone.model)
