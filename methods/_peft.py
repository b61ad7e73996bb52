"""What the peft plugins share: injecting a tuner in place, what it trains, merge-and-unload.

peft's ``inject_adapter_in_model`` wraps each target module in place (the model's forward and
the new head are unchanged). What trains is what a plugin declares, ``trains=trains_adapters``
(the tuner's own parameters): the model builder sets ``requires_grad`` from it afterwards, over
whatever peft left trainable.
"""
from __future__ import annotations

from torch import nn


def convolutions(model: nn.Module, grouped: bool = True, kernel: int | None = None) -> list[str]:
    """Full names of the ``nn.Conv2d`` of ``model``; ``grouped=False`` leaves out grouped
    (depthwise) ones; ``kernel=1`` keeps 1x1 convolutions only."""
    return [name for name, m in model.named_modules() if type(m) is nn.Conv2d
            and (grouped or m.groups == 1) and (kernel is None or m.kernel_size == (kernel, kernel))]


def inject(model: nn.Module, config, targets: list[str], layer_type: type) -> None:
    """Wrap exactly ``targets`` with the tuner of ``config`` (``layer_type``: its layer class)."""
    import peft  # here, not at the top: listing the methods needs no peft

    peft.inject_adapter_in_model(config, model)
    wrapped = {name for name, m in model.named_modules() if isinstance(m, layer_type)}
    if wrapped != set(targets):
        raise RuntimeError(f"peft adapted {sorted(wrapped ^ set(targets))[:3]} unexpectedly")


def is_adapter(model: nn.Module, name: str) -> bool:
    """Whether parameter ``name`` belongs to a peft layer's adapter (the names its class lists in
    ``adapter_layer_names``), not to the layer it wraps."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    parts = name.split(".")
    for i in range(len(parts) - 1):
        module = model.get_submodule(".".join(parts[:i]))
        if isinstance(module, BaseTunerLayer) and parts[i] in module.adapter_layer_names:
            return True
    return False


def trains_adapters(backbone, name: str, owner: nn.Module) -> bool:
    """The ``trains`` declaration of a peft plugin: its adapters' parameters."""
    return is_adapter(backbone.model, name)


def merge_and_unload(backbone) -> None:
    """Fold every peft layer into its base layer and put the base layer back in its place."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    model = backbone.model
    for name, module in list(model.named_modules()):
        if isinstance(module, BaseTunerLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())
