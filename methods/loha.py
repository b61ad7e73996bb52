"""LoHa: a low-rank Hadamard-product update of every convolution, depthwise ones included (peft).

Each convolution ``W`` (C_out x C_in/groups x k x k, seen as a C_out x (C_in/groups * k * k)
matrix) gets ``dW = (alpha / rank) (B1 A1) * (B2 A2)`` (``*`` elementwise): two rank-``rank``
products whose Hadamard product reaches rank ``rank**2`` with ``2 rank (C_out + C_in k k / groups)``
parameters. One factor of the second product starts at zero, so the network is the pretrained
one at initialisation; the update merges into the weight afterwards.

Which convolutions: every ``nn.Conv2d``. Unlike LoRA, LoHa builds its update per group, so
EfficientNet-Lite's depthwise 3x3/5x5 convolutions are adapted as well (groups = channels:
a C_out x k*k matrix each).

Hyeon-Woo, Ye-Bin, Oh, "FedPara: Low-Rank Hadamard Product for Communication-Efficient
Federated Learning", ICLR 2022; LyCORIS (Yeh et al., ICLR 2024); peft's ``LoHaConfig``.
"""
import optuna

from benchmark.plugins.registry import register_method
from methods._peft import convolutions, inject, merge_and_unload, trains_adapters


@register_method(
    description="LoHa (peft): low-rank Hadamard-product updates of every convolution, depthwise included, "
                "and the head; pretrained weights frozen",
    citation="Hyeon-Woo, Ye-Bin, Oh, 'FedPara: Low-Rank Hadamard Product for Communication-Efficient "
             "Federated Learning', ICLR 2022; Yeh et al. (LyCORIS), ICLR 2024; peft",
    search_space={"rank": optuna.distributions.CategoricalDistribution([2, 4, 8]),
                  "alpha": optuna.distributions.CategoricalDistribution([2, 4, 8])},
    family="reparameterisation", source="peft", trains=trains_adapters, identity_at_init=True,
    merge=merge_and_unload,
)
def loha(backbone, rank: int = 4, alpha: int = 4):
    import peft  # here, not at the top: listing the methods needs no peft

    targets = convolutions(backbone.model)
    inject(backbone.model, peft.LoHaConfig(r=rank, alpha=alpha, target_modules=targets), targets,
           peft.tuners.loha.LoHaLayer)
