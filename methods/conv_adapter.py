"""Conv-Adapter: a small bottleneck convolution beside every residual block, starting at zero.

Beside each residual block ``f`` (ResNet's bottleneck or basic block, EfficientNet-Lite's
inverted-residual block) the block's output becomes ``f(x) + s * up(relu(down(x)))``, the
block-level parallel adapter of Conv-Adapter (Chen et al. 2022), after the parallel residual
adapters of Rebuffi, Bilen, Vedaldi (2018):
- ``down``: a k x k (here 3 x 3) grouped convolution with the block's stride from C_in to
  C_in / ``reduction`` channels, ``reduction`` input channels per group (Conv-Adapter's
  depth-wise down-projection: ``9 C_in`` weights);
- ``up``: a 1 x 1 convolution to the block's C_out, initialised to zero, so the adapter adds
  nothing and the network is the pretrained one at initialisation;
- ``s``: a learned scale per output channel, initialised to one.
The adapter sits outside the block, so it sees the same input and adds to the same output in
both families (after a ResNet block's final ReLU). The backbone stays frozen (its batch-norms
keep their statistics); the adapters and the head train.

Chen, Liu, Li, Savvides, "Conv-Adapter: Exploring Parameter Efficient Transfer Learning for
ConvNets", 2022 (CVPR Workshops 2024); Rebuffi, Bilen, Vedaldi, "Efficient parametrization of
multi-domain deep neural networks", CVPR 2018.
"""
from __future__ import annotations

import math

import optuna
import torch
from torch import nn

from benchmark.plugins.registry import register_method


class ConvAdapter(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, reduction: int):
        super().__init__()
        per_group = math.gcd(in_channels, reduction)  # reduction input channels per group, where it divides
        hidden = in_channels // per_group
        self.down = nn.Conv2d(in_channels, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False)
        self.up = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self.scale = nn.Parameter(torch.ones(1, out_channels, 1, 1))
        nn.init.kaiming_uniform_(self.down.weight, a=math.sqrt(5))
        nn.init.zeros_(self.up.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.up(torch.relu(self.down(x)))


class WithAdapter(nn.Module):
    """A block and its parallel adapter: ``block(x) + adapter(x)``."""

    def __init__(self, block: nn.Module, adapter: ConvAdapter):
        super().__init__()
        self.block, self.adapter = block, adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x) + self.adapter(x)


def block_shapes(backbone) -> list[tuple[int, int, int]]:
    """(C_in, C_out, stride) of every residual block, from one forward pass at the profile's size."""
    shapes = []
    hooks = [b.register_forward_hook(lambda m, i, o: shapes.append((i[0].shape, o.shape)))
             for b in backbone.blocks()]
    model, size = backbone.model, backbone.image_size
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size, device=next(model.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return [(i[1], o[1], max(1, round(i[-1] / o[-1]))) for i, o in shapes]  # 7 -> 4 is stride 2


def add_adapters(backbone, reduction: int) -> list[ConvAdapter]:
    model = backbone.model
    names = {id(m): n for n, m in model.named_modules()}
    device = next(model.parameters()).device
    adapters = []
    for block, (c_in, c_out, stride) in zip(backbone.blocks(), block_shapes(backbone)):
        adapter = ConvAdapter(c_in, c_out, stride, reduction).to(device)
        parent_name, _, child = names[id(block)].rpartition(".")
        setattr(model.get_submodule(parent_name), child, WithAdapter(block, adapter))
        adapters.append(adapter)
    return adapters


@register_method(
    description="Conv-Adapter: a zero-initialised bottleneck convolution (3x3 grouped down, 1x1 up, scale) "
                "beside every residual block, and the head; backbone frozen",
    citation="Chen, Liu, Li, Savvides, 'Conv-Adapter: Exploring Parameter Efficient Transfer Learning for "
             "ConvNets', 2022; Rebuffi, Bilen, Vedaldi, CVPR 2018",
    search_space={"reduction": optuna.distributions.CategoricalDistribution([4, 8, 16])},
    family="adapter", source="literature", identity_at_init=True,
    trains=lambda backbone, name, owner: any(isinstance(m, ConvAdapter) for m in _owners(backbone, name)),
)
def conv_adapter(backbone, reduction: int = 8):
    add_adapters(backbone, reduction)


def _owners(backbone, name: str) -> list[nn.Module]:
    """The modules on the path to parameter ``name``."""
    parts = name.split(".")[:-1]
    return [backbone.model.get_submodule(".".join(parts[:i])) for i in range(1, len(parts) + 1)]
