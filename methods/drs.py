"""DRS: deep representation scaling (Byra 2021, section 2.2, equations 2-4).

A DRS layer rescales a representation y (H x W x C) first in space, then per channel:

    y'(i,j,k) = S_m(i,j) * y(i,j,k) + S_b(i,j)
    z(i,j,k)  = D_m(k)   * y'(i,j,k) + D_b(k)

2HW + 2C parameters, initialised as the identity (S_m = D_m = 1, S_b = D_b = 0). One layer
goes into every residual block at the backbone's DRS site: in a ResNet after the residual
addition and before the block's final ReLU (33 layers in ResNet101); in EfficientNet-Lite,
whose blocks end without an activation, after each block's output. H and W are those of
the block's output at the profile's input size. Only the DRS layers and the head train;
batch-norm running statistics of the frozen backbone stay frozen.
"""
from __future__ import annotations

import torch
from torch import nn

from benchmark.plugins.registry import register_method

CITATION = ("Byra, 'Breast mass classification with transfer learning based on scaling of deep "
            "representations', Biomed. Signal Process. Control 69 (2021)")


class DRSLayer(nn.Module):
    """Spatial scaling S (H x W) then channel scaling D (C); either can be switched off."""

    def __init__(self, channels: int, height: int, width: int, spatial: bool = True, channel: bool = True):
        super().__init__()
        if not (spatial or channel):
            raise ValueError("a DRS layer needs the spatial or the channel scaling (or both)")
        if spatial:
            self.spatial_scale = nn.Parameter(torch.ones(1, 1, height, width))   # S_m
            self.spatial_shift = nn.Parameter(torch.zeros(1, 1, height, width))  # S_b
        if channel:
            self.channel_scale = nn.Parameter(torch.ones(1, channels, 1, 1))     # D_m
            self.channel_shift = nn.Parameter(torch.zeros(1, channels, 1, 1))    # D_b
        self.spatial, self.channel = spatial, channel
        self.shape = (channels, height, width)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if tuple(y.shape[1:]) != self.shape:
            raise ValueError(f"DRS layer built for representations {self.shape} (C, H, W) got "
                             f"{tuple(y.shape[1:])}: build the model at the input size you feed it")
        # z = D_m (S_m y + S_b) + D_b = (D_m S_m) y + (D_m S_b + D_b): the small factors are
        # combined first, so the batch is read once, in one fused multiply-add
        if self.spatial and self.channel:
            scale = self.channel_scale * self.spatial_scale
            shift = self.channel_scale * self.spatial_shift + self.channel_shift
        elif self.spatial:
            scale, shift = self.spatial_scale, self.spatial_shift
        else:
            scale, shift = self.channel_scale, self.channel_shift
        if y.is_contiguous(memory_format=torch.channels_last):  # keep y's layout in the output
            scale = scale.contiguous(memory_format=torch.channels_last)
            shift = shift.contiguous(memory_format=torch.channels_last)
        return torch.addcmul(shift, y, scale)

    def extra_repr(self) -> str:
        c, h, w = self.shape
        return f"channels={c}, height={h}, width={w}, spatial={self.spatial}, channel={self.channel}"


def add_drs_layers(backbone, spatial: bool = True, channel: bool = True) -> list[DRSLayer]:
    """Insert one trainable DRS layer at every block's DRS site; return them in block order."""
    layers = [DRSLayer(c, h, w, spatial, channel) for c, h, w in backbone.site_shapes()]
    for index, layer in enumerate(layers):
        layer.to(next(backbone.model.parameters()).device)
        backbone.insert_at_site(index, layer)
    return layers


def in_drs_layer(backbone, name, owner) -> bool:
    return isinstance(owner, DRSLayer)


DECLARED = dict(citation=CITATION, family="scaling", source="paper", trains=in_drs_layer, identity_at_init=True)


@register_method(description="DRS layers (spatial then channel scaling) in every residual block, "
                             "and the head; backbone frozen", **DECLARED)
def drs(backbone):
    add_drs_layers(backbone)


@register_method(description="Ablation: DRS with the spatial scaling S only", **DECLARED)
def drs_spatial(backbone):
    add_drs_layers(backbone, channel=False)


@register_method(description="Ablation: DRS with the channel scaling D only", **DECLARED)
def drs_channel(backbone):
    add_drs_layers(backbone, spatial=False)
