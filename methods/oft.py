"""OFT: an orthogonal rotation of the input channels of every 1x1 convolution (peft).

Each adapted convolution computes ``conv(x)`` with its weight rotated, ``W R``, where R is
block-diagonal with blocks of ``block_size`` channels, each block orthogonal (the Cayley
transform of a learned skew-symmetric matrix: ``block_size (block_size - 1) / 2`` parameters
per block, C_in / block_size blocks). R starts as the identity, so the network is the pretrained
one at initialisation; R merges into W afterwards.

Which convolutions: 1x1 convolutions only (``groups == 1``): ResNet's bottleneck ``conv1``/
``conv3`` and shortcut projections, EfficientNet-Lite's ``conv_pw``/``conv_pwl`` and head
convolution. Why: peft 0.21 applies OFT to a k x k convolution (k > 1) by unfolding the input
into patches, rotating each, and folding back, which sums overlapping patches: at
initialisation the output is then not the pretrained one (measured on EfficientNet-Lite0's
3x3 stem and ResNet's 3x3 convolutions: output differences of order 0.1), and it fails on
feature maps smaller than the kernel. On a 1x1 kernel patches do not overlap and OFT is exact.
Depthwise convolutions (one input channel per group) have nothing to rotate.

Qiu et al., "Controlling Text-to-Image Diffusion by Orthogonal Finetuning", NeurIPS 2023;
peft's ``OFTConfig``.
"""
import optuna

from benchmark.plugins.registry import register_method
from methods._peft import convolutions, inject, merge_and_unload, trains_adapters


@register_method(
    description="OFT (peft): block-orthogonal rotation of the inputs of every 1x1 convolution, and the "
                "head; pretrained weights frozen",
    citation="Qiu et al., 'Controlling Text-to-Image Diffusion by Orthogonal Finetuning', NeurIPS 2023; peft",
    search_space={"block_size": optuna.distributions.CategoricalDistribution([4, 8])},
    family="reparameterisation", source="peft", trains=trains_adapters, identity_at_init=True,
    merge=merge_and_unload,
)
def oft(backbone, block_size: int = 8):
    import peft  # here, not at the top: listing the methods needs no peft

    targets = convolutions(backbone.model, grouped=False, kernel=1)
    config = peft.OFTConfig(r=0, oft_block_size=block_size, target_modules=targets, module_dropout=0.0)
    inject(backbone.model, config, targets, peft.tuners.oft.OFTLayer)
