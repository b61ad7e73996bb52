"""LoRA: low-rank updates of the backbone's convolutions, through peft.

Every convolution ``W`` that peft's LoRA can adapt here gets a trainable low-rank branch,
``y = W x + (alpha / rank) * B(A(x))``: A is a convolution with W's kernel, stride and
padding from C_in to ``rank`` channels, B a 1x1 convolution from ``rank`` to C_out.
B starts at zero, so the adapted network computes exactly the pretrained one at
initialisation. The pretrained weights, batch-norm layers included, stay frozen; only the
A/B factors and the head train. Batch-norm running statistics stay frozen (no batch-norm
parameter trains, so the "frozen" policy keeps every batch-norm layer in eval mode).

Which convolutions: peft 0.21 adapts ``nn.Conv1d/2d/3d``, but a grouped convolution only
when ``rank`` is divisible by ``groups`` (and never mergeable); EfficientNet-Lite's
depthwise convolutions (groups = channels, 32..1152) are therefore out of reach for ranks
4/8/16, and every ``nn.Conv2d`` with ``groups == 1`` is adapted instead:
- ResNet: all convolutions (stem, every block's convolutions, downsample 1x1 projections);
- EfficientNet-Lite: the stem, every block's 1x1 expansion/projection (``conv_pw``,
  ``conv_pwl``) and the 1x1 head convolution; the depthwise 3x3/5x5 convs stay frozen.

Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", ICLR 2022; implemented
with peft (Mangrulkar et al., 2022).
"""
from __future__ import annotations

import optuna
from torch import nn

from benchmark.plugins.registry import register_method
from methods._peft import inject, merge_and_unload, trains_adapters

ADAPTED = "nn.Conv2d with groups == 1 (depthwise/grouped convs are left frozen)"
CITATION = "Hu et al., 'LoRA: Low-Rank Adaptation of Large Language Models', ICLR 2022; peft (Mangrulkar et al., 2022)"
SPACE = {"rank": optuna.distributions.CategoricalDistribution([4, 8, 16]),
         "alpha": optuna.distributions.CategoricalDistribution([8, 16, 32])}


def lora_targets(model: nn.Module) -> list[str]:
    """Full names of the convolutions LoRA adapts: plain (ungrouped) ``nn.Conv2d``."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.groups == 1]


def add_lora(backbone, rank: int, alpha: int, dora: bool = False) -> None:
    """LoRA (or DoRA) factors on every ungrouped convolution, trained; the rest as it was."""
    import peft  # here, not at the top: listing the methods needs no peft

    targets = lora_targets(backbone.model)
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, target_modules=targets, lora_dropout=0.0, use_dora=dora)
    inject(backbone.model, config, targets, peft.tuners.lora.LoraLayer)


@register_method(
    description=f"LoRA (peft) on every {ADAPTED}, and the head; pretrained weights frozen",
    citation=CITATION, search_space=SPACE, family="reparameterisation", source="peft",
    trains=trains_adapters, identity_at_init=True, merge=merge_and_unload,
)
def lora(backbone, rank: int = 8, alpha: int = 16):
    add_lora(backbone, rank, alpha)
