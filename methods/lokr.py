"""LoKr: a Kronecker-product update of every convolution, depthwise ones included (peft).

Each convolution's weight matrix (C_out x C_in/groups * k * k) gets
``dW = (alpha / rank) W1 (x) W2`` (``(x)``: Kronecker product), W1 a small full matrix of
factors of (C_out, C_in/groups) chosen by peft, and W2 the rest, stored as a rank-``rank``
product when it is large. W2's second factor starts at zero, so the network is the pretrained
one at initialisation; the update merges into the weight afterwards. Far fewer parameters than
LoRA at the same rank.

Which convolutions: every ``nn.Conv2d``; the update is built per group, so EfficientNet-Lite's
depthwise convolutions are adapted as well.

Edalati et al., "KronA: Parameter Efficient Tuning with Kronecker Adapter", 2022; LyCORIS
(Yeh et al., ICLR 2024); peft's ``LoKrConfig``.
"""
import optuna

from benchmark.plugins.registry import register_method
from methods._peft import convolutions, inject, merge_and_unload, trains_adapters


@register_method(
    description="LoKr (peft): Kronecker-product updates of every convolution, depthwise included, "
                "and the head; pretrained weights frozen",
    citation="Edalati et al., 'KronA: Parameter Efficient Tuning with Kronecker Adapter', 2022; "
             "Yeh et al. (LyCORIS), ICLR 2024; peft",
    search_space={"rank": optuna.distributions.CategoricalDistribution([4, 8, 16]),
                  "alpha": optuna.distributions.CategoricalDistribution([4, 8, 16])},
    family="reparameterisation", source="peft", trains=trains_adapters, identity_at_init=True,
    merge=merge_and_unload,
)
def lokr(backbone, rank: int = 8, alpha: int = 8):
    import peft  # here, not at the top: listing the methods needs no peft

    targets = convolutions(backbone.model)
    inject(backbone.model, peft.LoKrConfig(r=rank, alpha=alpha, target_modules=targets), targets,
           peft.tuners.lokr.LoKrLayer)
