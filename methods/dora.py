"""DoRA: weight-decomposed low-rank adaptation of the backbone's convolutions, through peft.

Each adapted convolution's weight is split into a direction and a magnitude,
``W' = m * (W + (alpha / rank) B A) / ||W + (alpha / rank) B A||`` (the norm per output
channel): the LoRA factors A, B (as in ``methods/lora.py``) and the magnitude vector m (one value
per output channel, initialised to ``||W||``) train. B starts at zero and m at ``||W||``, so the
network is the pretrained one at initialisation; the adapters merge into the weights afterwards.

Which convolutions: the same as LoRA's, every ``nn.Conv2d`` with ``groups == 1``. peft 0.21's
LoRA and DoRA need ``rank % groups == 0`` on a grouped convolution and cannot merge there, so
EfficientNet-Lite's depthwise 3x3/5x5 convolutions stay frozen (LoHa, LoKr and IA3 adapt them).

The trainer keeps activations and weights channels-last; peft 0.21's DoRA flattens each LoRA
factor with ``.view``, which a channels-last k x k factor refuses, so a hook keeps the factors'
weights contiguous (a layout, not a change of values).

Liu et al., "DoRA: Weight-Decomposed Low-Rank Adaptation", ICML 2024; peft's
``LoraConfig(use_dora=True)``.
"""

from benchmark.plugins.registry import register_method
from methods._peft import merge_and_unload, trains_adapters
from methods.lora import ADAPTED, SPACE, add_lora


def _contiguous_factors(layer, args) -> None:
    for factor in list(layer.lora_A.values()) + list(layer.lora_B.values()):
        if not factor.weight.is_contiguous():
            factor.weight.data = factor.weight.data.contiguous()


@register_method(
    description=f"DoRA (peft): LoRA factors and a per-channel magnitude on every {ADAPTED}, and the head",
    citation="Liu et al., 'DoRA: Weight-Decomposed Low-Rank Adaptation', ICML 2024; peft",
    search_space=SPACE, family="reparameterisation", source="peft",
    trains=trains_adapters, identity_at_init=True, merge=merge_and_unload,
)
def dora(backbone, rank: int = 8, alpha: int = 16):
    from peft.tuners.lora import LoraLayer  # here, not at the top: listing the methods needs no peft

    add_lora(backbone, rank, alpha, dora=True)
    for layer in backbone.model.modules():
        if isinstance(layer, LoraLayer):
            layer.register_forward_pre_hook(_contiguous_factors)
