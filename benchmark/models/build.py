"""Putting a backbone and a method together, and counting what it trains."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from benchmark.models.backbones import BackboneAdapter, create_backbone
from benchmark.models.norms import BATCH_NORMS
from benchmark.plugins.registry import Method, get_method


@dataclass(frozen=True)
class ParameterCounts:
    trainable: int          # everything that receives gradients, head included
    trainable_backbone: int  # trainable parameters outside the new head
    head: int
    total: int

    def as_dict(self) -> dict:
        return {"trainable": self.trainable, "trainable_without_head": self.trainable_backbone,
                "head": self.head, "total": self.total}


def apply_method(backbone: BackboneAdapter, method: Method, params: dict | None = None) -> dict:
    """Apply ``method`` to ``backbone`` (its function adds its modules to a backbone frozen but for
    the head), then train exactly the head and what ``method.trains`` declares.

    Returns the method's own hyper-parameters as used (defaults updated by ``params``).
    """
    used = {**method.defaults(), **(params or {})}
    unknown = set(used) - set(method.defaults())
    if unknown:
        raise ValueError(f"method {method.name!r} has no hyper-parameters {sorted(unknown)}; "
                         f"it takes {sorted(method.defaults()) or 'none'}")
    backbone.model.requires_grad_(False)
    backbone.head().requires_grad_(True)
    method.apply(backbone, **used)
    train_declared(backbone, method)
    return used


def train_declared(backbone: BackboneAdapter, method: Method) -> None:
    """Set ``requires_grad`` on every parameter of ``backbone.model``: true for the head's and for
    those ``method.trains(backbone, full_name, owner_module)`` names, false for all others."""
    head = {id(p) for p in backbone.head().parameters()}
    trains: dict[int, bool] = {}
    for module_name, owner in backbone.model.named_modules():
        for param_name, p in owner.named_parameters(recurse=False):
            name = f"{module_name}.{param_name}" if module_name else param_name
            trains[id(p)] = trains.get(id(p), False) or id(p) in head or bool(method.trains(backbone, name, owner))
    for p in backbone.model.parameters():
        p.requires_grad_(trains[id(p)])


def build_model(method_name: str, backbone_name: str, image_size: int, weights=None,
                params: dict | None = None) -> tuple[BackboneAdapter, Method, dict]:
    method = get_method(method_name)
    backbone = create_backbone(backbone_name, weights=weights, image_size=image_size)
    used = apply_method(backbone, method, params)
    return backbone, method, used


def rebuild_trained(config: dict, state: dict | None,
                    source: str = "the trained state") -> tuple[BackboneAdapter, Method]:
    """The model a run trained, rebuilt from its ``config`` (method, backbone, image_size, weights,
    method_params, train_seed) and its trained ``state`` (parameters that trained, and buffers);
    with ``state=None``, the model as the run built it before training.

    Built under the run's training seed (the trainer's: ``results.json`` records it), so frozen
    weights that the state does not hold (a ``weights="random"`` backbone) come out as in
    training; the global random state is kept."""
    import torch

    if config.get("train_seed") is None:
        raise ValueError(f"{source}: the run's config records no train_seed, the seed its model was built with")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(config["train_seed"]))
        backbone, method, _ = build_model(config["method"], config["backbone"], int(config["image_size"]),
                                          config.get("weights"), config.get("method_params"))
    if state is None:
        return backbone, method
    result = backbone.model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise ValueError(f"{source} does not fit the {config['method']} model "
                         f"(unexpected keys, e.g. {result.unexpected_keys[:3]})")
    return backbone, method


def count_parameters(backbone: BackboneAdapter) -> ParameterCounts:
    model = backbone.model
    head_ids = {id(p) for p in backbone.head().parameters()}
    params = list(model.parameters())
    trainable = sum(p.numel() for p in params if p.requires_grad)
    head = sum(p.numel() for p in params if id(p) in head_ids)
    return ParameterCounts(trainable, trainable - head, head, sum(p.numel() for p in params))


def set_train_mode(model: nn.Module, bn_stats: str) -> None:
    """Training mode, with batch-norm running statistics treated as the method declared.

    "frozen": a batch-norm layer none of whose parameters is trained stays in eval mode,
    so its running statistics are those of the pretrained network.
    "eval": every batch-norm layer stays in eval mode (pretrained running statistics), also
    one whose affine parameters train.
    "train": every batch-norm layer updates its running statistics.
    """
    model.train()
    if bn_stats == "eval":
        for module in model.modules():
            if isinstance(module, BATCH_NORMS):
                module.eval()
    elif bn_stats == "frozen":
        for module in model.modules():
            if isinstance(module, BATCH_NORMS):
                if not any(p.requires_grad for p in module.parameters(recurse=False)):
                    module.eval()


PARAMETER_NOTES = (
    "Counted on the built model (random weights; nothing downloaded). 'without head' is what the "
    "method trains inside the backbone; 'head' is the new dense layer (features x 1 + 1 bias).",
    "Fine-tuning counts differ a little from a Keras ResNet101 (Byra 2021 used Keras), whose "
    "convolutions carry bias terms; timm's convolutions before batch norm have none.",
    "DRS layers have 2HW + 2C parameters each at the input size given; the DRS count without the "
    "head covers the DRS layers alone (with the head add its parameters).",
)


def parameter_table(backbone_name: str, image_size: int = 224, methods: list[str] | None = None):
    """Trainable parameters (without head, head, total trainable) and model size per method."""
    import pandas as pd

    from benchmark.models.backbones import create_structure
    from benchmark.plugins.registry import list_methods

    rows = []
    for method in list_methods():
        if methods and method.name not in methods:
            continue
        backbone = create_structure(backbone_name, image_size=image_size)
        apply_method(backbone, method)
        c = count_parameters(backbone)
        rows.append({"method": method.name, "trainable_without_head": c.trainable_backbone,
                     "head": c.head, "trainable": c.trainable, "total": c.total,
                     "trainable_percent": 100.0 * c.trainable / c.total})
    return pd.DataFrame(rows)
