"""What every registered method declares, checked: identity at initialisation where it claims it,
exactly the declared parameters train, a trained state reloads to the same scores, merge-and-unload
keeps the scores; the same checks on the example plugin of docs/methods.md, saved in methods/ as a
user saves it; hand counts for a few methods; and deliberately wrong plugins that fail the checks."""
from __future__ import annotations

import copy
import functools
import re
import sys
from pathlib import Path

import pytest
import torch
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn

from benchmark.plugins import registry
from benchmark.models.backbones import create_structure
from benchmark.models.build import apply_method, count_parameters, rebuild_trained, set_train_mode
from benchmark.models.norms import BATCH_NORMS as BNS
from benchmark.plugins.registry import get_method, list_methods, register_method
from benchmark.training.trainer import trained_state

METHODS = [m.name for m in list_methods()]
SIZE = 64
ROOT = Path(__file__).resolve().parents[2]


def _structure(backbone="efficientnet_lite0"):
    """A random-weight structure whose batch-norms are far from the identity, as pretrained ones are."""
    return copy.deepcopy(_built(backbone))


@functools.lru_cache(maxsize=None)
def _built(backbone):
    torch.manual_seed(0)
    adapter = create_structure(backbone, image_size=SIZE)
    with torch.no_grad():
        for bn in (m for m in adapter.model.modules() if isinstance(m, BNS)):
            bn.weight.uniform_(0.5, 1.5), bn.bias.uniform_(-0.5, 0.5)
            bn.running_mean.uniform_(-0.5, 0.5), bn.running_var.uniform_(0.5, 2.0)
    return adapter


def _inputs(n=2):
    return torch.randn(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def _perturb(adapter, scale=0.05, seed=2):
    """Move every trainable parameter, as training would."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in adapter.model.parameters():
            if p.requires_grad:
                p.add_(scale * torch.randn(p.shape, generator=generator))


def check_identity_at_init(method, backbone="efficientnet_lite0"):
    adapter = _structure(backbone)
    x = _inputs()
    with torch.no_grad():
        base = adapter.model.eval()(x)
    apply_method(adapter, method)
    with torch.no_grad():
        adapted = adapter.model.eval()(x)
    assert torch.allclose(base, adapted, atol=1e-5), \
        f"{method.name} claims identity_at_init but moves the output by {(base - adapted).abs().max():.3g}"


def check_declared_parameters(method, backbone="efficientnet_lite0"):
    """Exactly the head and the parameters ``method.trains`` names require and receive gradients,
    and after an optimiser step (in the trainer's channels-last layout) nothing else has changed."""
    adapter = _structure(backbone)
    apply_method(adapter, method)
    model = adapter.model
    head = {id(p) for p in adapter.head().parameters()}
    declared = {}
    for mod_name, owner in model.named_modules():
        for p_name, p in owner.named_parameters(recurse=False):
            name = f"{mod_name}.{p_name}" if mod_name else p_name
            declared[name] = id(p) in head or bool(method.trains(adapter, name, owner))
    named = dict(model.named_parameters())
    wrong = sorted(n for n, p in named.items() if p.requires_grad != declared[n])
    assert not wrong, f"{method.name}: requires_grad differs from its declaration for {wrong[:4]}"
    model.to(memory_format=torch.channels_last)  # the trainer's layout ([train] channels_last)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    set_train_mode(model, method.bn_stats)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(_inputs(4)).pow(2).sum().backward()
    optimizer.step()
    for n, p in named.items():
        assert (p.grad is not None) == declared[n], f"{method.name}: {n} gradient does not match its declaration"
        if not declared[n]:
            assert torch.equal(p.detach(), before[n]), f"{method.name}: undeclared {n} changed"
    if method.bn_stats == "frozen":  # frozen batch-norms keep their running statistics
        for mod_name, bn in model.named_modules():
            if isinstance(bn, BNS) and not any(p.requires_grad for p in bn.parameters(recurse=False)):
                assert torch.equal(bn.running_mean, before[f"{mod_name}.running_mean"]), \
                    f"{method.name}: frozen {mod_name} updated its running mean"
    counts = count_parameters(adapter)
    assert counts.trainable == sum(p.numel() for p in named.values() if p.requires_grad)
    assert counts.head == sum(p.numel() for p in adapter.head().parameters())
    return adapter


@pytest.mark.parametrize("name", [m.name for m in list_methods() if m.identity_at_init])
def test_identity_at_initialisation(name):
    check_identity_at_init(get_method(name))


@pytest.mark.parametrize("name", ["dora", "loha", "lokr", "ia3", "oft", "bn_tuning_peft"])
def test_identity_at_initialisation_on_a_resnet(name):
    check_identity_at_init(get_method(name), "resnet18")


@pytest.mark.parametrize("name", METHODS)
def test_exactly_the_declared_parameters_train(name):
    method = get_method(name)
    assert method.trains is not None, f"{name} does not declare what it trains (register_method(trains=...))"
    assert method.family and method.source
    check_declared_parameters(method)


def check_reload(name):
    """A trained state, reloaded into the model rebuilt from the run's config, gives the same scores."""
    config = {"method": name, "backbone": "efficientnet_lite0", "image_size": SIZE, "weights": "random",
              "method_params": {}, "train_seed": 5}
    torch.manual_seed(config["train_seed"])
    adapter = create_structure("efficientnet_lite0", image_size=SIZE)
    apply_method(adapter, get_method(name))
    _perturb(adapter)
    x = _inputs()
    with torch.no_grad():
        trained = adapter.model.eval()(x)
    state = trained_state(adapter.model)
    rebuilt, _ = rebuild_trained(config, state)
    with torch.no_grad():
        again = rebuilt.model.eval()(x)
    assert torch.equal(trained, again), (trained - again).abs().max()


def check_trains_at_the_quick_size(method):
    """112 px: odd feature maps (7 x 7 -> 4 x 4) in EfficientNet-Lite0's last stages."""
    adapter = create_structure("efficientnet_lite0", image_size=112)
    apply_method(adapter, method)
    set_train_mode(adapter.model, method.bn_stats)
    out = adapter.model.to(memory_format=torch.channels_last)(torch.randn(2, 3, 112, 112))
    out.sum().backward()
    assert out.shape == (2, 1)


def check_merge(method):
    adapter = _structure()
    plain = count_parameters(adapter).total
    apply_method(adapter, method)
    _perturb(adapter)
    x = _inputs()
    with torch.no_grad():
        before = adapter.model.eval()(x)
        method.merge(adapter)
        after = adapter.model.eval()(x)
    assert not any(isinstance(m, BaseTunerLayer) for m in adapter.model.modules())
    assert count_parameters(adapter).total == plain, "merged: the pretrained network's own parameters"
    assert torch.allclose(before, after, atol=1e-4), (before - after).abs().max()


def check_contract(method):
    """Every check of this module that applies to ``method``."""
    assert method.trains is not None, f"{method.name} does not declare what it trains (register_method(trains=...))"
    assert method.family and method.source
    if method.identity_at_init:
        check_identity_at_init(method)
    check_declared_parameters(method)
    check_reload(method.name)
    check_trains_at_the_quick_size(method)
    if method.merge is not None:
        check_merge(method)


@pytest.mark.parametrize("name", METHODS)
def test_a_trained_state_reloads_to_the_same_scores(name):
    check_reload(name)


@pytest.mark.parametrize("name", METHODS)
def test_trains_at_the_quick_profiles_size(name):
    check_trains_at_the_quick_size(get_method(name))


@pytest.mark.parametrize("name", [m.name for m in list_methods() if m.merge is not None])
def test_merge_and_unload_keeps_the_scores(name):
    check_merge(get_method(name))


def _convs(model, **where):
    return [m for m in model.modules() if type(m) is nn.Conv2d
            and all(getattr(m, k) == v for k, v in where.items())]


def test_hand_counts_on_resnet18():
    """ResNet18: stem 7x7 (3->64), 8 basic blocks of two 3x3 convs, 3 strided 1x1 shortcuts."""
    counts = {}
    for name, params in (("ia3", {}), ("oft", {"block_size": 8}), ("dora", {"rank": 4}), ("lora", {"rank": 4}),
                         ("bn_tuning_peft", {}), ("bn_tuning", {})):
        adapter = create_structure("resnet18", image_size=SIZE)
        apply_method(adapter, get_method(name), params)
        counts[name] = count_parameters(adapter).trainable_backbone
    # IA3: an output scale per conv (the blocks' second conv scales its input, the same width here)
    assert counts["ia3"] == 64 + 2 * (64 + 64) + 2 * (128 + 128) + 128 + 2 * (256 + 256) + 256 \
        + 2 * (512 + 512) + 512 == 4800
    # OFT on the three 1x1 shortcuts (64, 128, 256 inputs): C_in / 8 blocks of 8 * 7 / 2 = 28
    assert counts["oft"] == (64 + 128 + 256) // 8 * 28
    # LoRA rank 4: A (4 x C_in k k) and B (C_out x 4) on all 20 convs; DoRA adds C_out magnitudes
    structure = create_structure("resnet18", image_size=SIZE).model
    lora = sum(4 * (c.in_channels * c.kernel_size[0] ** 2 + c.out_channels) for c in _convs(structure))
    assert counts["lora"] == lora
    assert counts["dora"] == lora + sum(c.out_channels for c in _convs(structure))
    assert counts["bn_tuning_peft"] == counts["bn_tuning"] == 2 * sum(m.num_features for m in structure.modules()
                                                                       if isinstance(m, BNS))


def test_conv_adapter_hand_count_on_resnet18():
    """Per block (C_in -> C_out): 3x3 down with 8 inputs per group (9 C_in), 1x1 up (C_in / 8 x C_out), scale C_out."""
    adapter = create_structure("resnet18", image_size=SIZE)
    apply_method(adapter, get_method("conv_adapter"), {"reduction": 8})
    blocks = [(64, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512), (512, 512)]
    assert count_parameters(adapter).trainable_backbone == sum(9 * i + i // 8 * o + o for i, o in blocks) == 80704


def test_oft_and_dora_leave_what_they_cannot_adapt():
    adapter = create_structure("efficientnet_lite0", image_size=SIZE)
    apply_method(adapter, get_method("oft"))
    adapted = [m.get_base_layer() for m in adapter.model.modules() if isinstance(m, BaseTunerLayer)]
    assert adapted and all(c.kernel_size == (1, 1) and c.groups == 1 for c in adapted)
    assert len(adapted) == len(_convs(create_structure("efficientnet_lite0").model, kernel_size=(1, 1), groups=1))
    adapter = create_structure("efficientnet_lite0", image_size=SIZE)
    apply_method(adapter, get_method("loha"))
    depthwise = [m.get_base_layer() for m in adapter.model.modules()
                 if isinstance(m, BaseTunerLayer) and m.get_base_layer().groups > 1]
    assert len(depthwise) == 16, "LoHa adapts the depthwise convolutions too"


# -- deliberately wrong plugins fail the checks -----------------------------------------------------

class _Scale(nn.Module):
    def __init__(self, channels, init):
        super().__init__()
        self.scale = nn.Parameter(torch.full((1, channels, 1, 1), float(init)))

    def forward(self, x):
        return x * self.scale


def test_a_plugin_that_declares_a_parameter_it_never_uses_fails(clean_registry):
    @register_method(description="wrong", citation="test",
                     trains=lambda backbone, name, owner: isinstance(owner, _Scale))
    def unused_layer(backbone):
        backbone.model.unused = _Scale(8, 1.0)  # declared trained, but not in the forward pass

    with pytest.raises(AssertionError, match="unused.scale gradient does not match its declaration"):
        check_declared_parameters(get_method("unused_layer"))


def test_the_declaration_overrules_what_a_plugin_function_sets(clean_registry):
    """The builder sets requires_grad from ``trains`` after the function: a function that makes an
    undeclared parameter trainable trains it no more than one that does not."""
    @register_method(description="sets requires_grad itself", citation="test",
                     trains=lambda backbone, name, owner: isinstance(owner, _Scale))
    def sets_its_own(backbone):
        backbone.insert_at_site(0, _Scale(backbone.site_shapes()[0][0], 1.0).requires_grad_(False))
        backbone.model.conv_stem.requires_grad_(True)  # not declared

    adapter = check_declared_parameters(get_method("sets_its_own"))
    assert not adapter.model.conv_stem.weight.requires_grad
    assert [n for n, p in adapter.model.named_parameters() if p.requires_grad and "scale" in n]


def test_a_plugin_that_claims_identity_but_is_not_fails(clean_registry):
    @register_method(description="wrong", citation="test", identity_at_init=True,
                     trains=lambda backbone, name, owner: isinstance(owner, _Scale))
    def not_identity(backbone):
        backbone.insert_at_site(0, _Scale(backbone.site_shapes()[0][0], 1.5))

    with pytest.raises(AssertionError, match="claims identity_at_init"):
        check_identity_at_init(get_method("not_identity"))
    check_declared_parameters(get_method("not_identity"))  # what it trains it declares


# -- the example plugin of docs/methods.md, saved in methods/ as a user saves it --------------------

def documented_plugin() -> tuple[str, str]:
    """The first Python block of docs/methods.md's "Adding a method": (its module name, its code)."""
    section = (ROOT / "docs" / "methods.md").read_text().split("## Adding a method", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    saved_as = re.match(r"# methods/(\w+)\.py\n", code)
    assert saved_as, "the example starts with the path a user saves it at: # methods/<name>.py"
    return saved_as.group(1), code


def discover_saved(tmp_path, monkeypatch, module: str, code: str) -> list:
    """Save ``code`` as ``methods/<module>.py`` in ``tmp_path``, discover methods as the suite does
    (``registry.discover``: every module of the ``methods`` package, this folder first), and return
    the methods that module registered. A copy the user saved in methods/ is replaced meanwhile."""
    import methods as package

    folder = tmp_path / "methods"
    folder.mkdir()
    (folder / f"{module}.py").write_text(code)
    key = f"methods.{module}"
    for name, method in list(registry._REGISTRY.items()):
        if getattr(method.apply, "__module__", None) == key:
            registry.unregister(name)  # registered by the user's copy (clean_registry restores it)
    monkeypatch.setattr(package, "__path__", [str(folder), *package.__path__])
    monkeypatch.setattr(package, module, getattr(package, module, None), raising=False)
    monkeypatch.setattr(registry, "_discovered", False)
    saved = sys.modules.pop(key, None)
    try:
        registry.discover()
    finally:
        sys.modules.pop(key, None)
        if saved is not None:
            sys.modules[key] = saved
    return [m for m in registry._REGISTRY.values() if getattr(m.apply, "__module__", None) == key]


def test_the_documented_plugin_passes_the_contract(tmp_path, monkeypatch, clean_registry):
    module, code = documented_plugin()
    registered = discover_saved(tmp_path, monkeypatch, module, code)
    assert [m.name for m in registered] == [module], "the example registers one method, named as its file"
    method = registered[0]
    assert method.search_space and method.identity_at_init, "the example shows a search space and is tested as identity"
    check_contract(method)
    adapter = create_structure("efficientnet_lite0", image_size=SIZE)
    apply_method(adapter, method)
    assert count_parameters(adapter).trainable_backbone > 0, "the example trains more than the head"


def test_the_documented_plugin_without_its_trains_declaration_fails(tmp_path, monkeypatch, clean_registry):
    module, code = documented_plugin()
    without = re.sub(r"\n\s*trains=.*\n", "\n", code, count=1)
    assert without != code
    with pytest.raises(TypeError, match=rf"'{module}' \(methods\.{module}\.{module}\) does not declare "
                                        r"what it trains: add trains=lambda backbone, name, owner.*docs/methods.md"):
        discover_saved(tmp_path, monkeypatch, module, without)


def test_one_definition_of_the_batch_norm_types():
    files = [path for folder in ("benchmark", "methods") for path in sorted((ROOT / folder).rglob("*.py"))]
    defined = [str(path.relative_to(ROOT)) for path in files
               if re.search(r"nn\.BatchNorm1d,\s*nn\.BatchNorm2d", path.read_text())]
    assert defined == ["benchmark/models/norms.py"], defined
