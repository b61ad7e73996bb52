"""What every registered method declares, checked: identity at initialisation where it claims it,
exactly the declared parameters train, a trained state reloads to the same scores, merge-and-unload
keeps the scores; hand counts for a few methods; and deliberately wrong plugins that fail the checks."""
from __future__ import annotations

import copy
import functools

import pytest
import torch
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn

from benchmark.models.backbones import create_structure
from benchmark.models.build import apply_method, count_parameters, rebuild_trained, set_train_mode
from benchmark.models.registry import get_method, list_methods, register_method
from benchmark.training.trainer import trained_state

METHODS = [m.name for m in list_methods()]
BNS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
SIZE = 64


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


@pytest.mark.parametrize("name", METHODS)
def test_a_trained_state_reloads_to_the_same_scores(name):
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


@pytest.mark.parametrize("name", METHODS)
def test_trains_at_the_quick_profiles_size(name):
    """112 px: odd feature maps (7 x 7 -> 4 x 4) in EfficientNet-Lite0's last stages."""
    adapter = create_structure("efficientnet_lite0", image_size=112)
    method = get_method(name)
    apply_method(adapter, method)
    set_train_mode(adapter.model, method.bn_stats)
    out = adapter.model.to(memory_format=torch.channels_last)(torch.randn(2, 3, 112, 112))
    out.sum().backward()
    assert out.shape == (2, 1)


@pytest.mark.parametrize("name", [m.name for m in list_methods() if m.merge is not None])
def test_merge_and_unload_keeps_the_scores(name):
    method = get_method(name)
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


def test_a_plugin_that_trains_an_undeclared_parameter_fails(clean_registry):
    @register_method(description="wrong", citation="test", trains=lambda backbone, name, owner: isinstance(owner, _Scale))
    def trains_too_much(backbone):
        backbone.insert_at_site(0, _Scale(backbone.site_shapes()[0][0], 1.0))
        backbone.model.conv_stem.requires_grad_(True)  # not declared

    with pytest.raises(AssertionError, match="differs from its declaration.*conv_stem"):
        check_declared_parameters(get_method("trains_too_much"))


def test_a_plugin_that_claims_identity_but_is_not_fails(clean_registry):
    @register_method(description="wrong", citation="test", identity_at_init=True,
                     trains=lambda backbone, name, owner: isinstance(owner, _Scale))
    def not_identity(backbone):
        backbone.insert_at_site(0, _Scale(backbone.site_shapes()[0][0], 1.5))

    with pytest.raises(AssertionError, match="claims identity_at_init"):
        check_identity_at_init(get_method("not_identity"))
    check_declared_parameters(get_method("not_identity"))  # what it trains it declares
