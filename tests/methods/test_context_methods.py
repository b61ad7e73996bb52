"""LoRA, BitFit, SSF and BN tuning on both backbone families: what trains, identity at init."""
from __future__ import annotations

import pytest
import torch
from peft.tuners.lora import LoraLayer
from torch import nn

from benchmark.models.backbones import create_structure
from benchmark.models.build import apply_method, count_parameters, set_train_mode
from benchmark.plugins.registry import get_method
from methods.ssf import SSF, add_ssf_layers

FAMILIES = ("resnet18", "efficientnet_lite0")
METHODS = ("lora", "bitfit", "ssf", "bn_tuning")
BNS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _build(backbone, method, params=None, size=64):
    adapter = create_structure(backbone, image_size=size)
    apply_method(adapter, get_method(method), params)
    return adapter


def _owner_types(model):
    """Parameter name -> the module that holds it directly."""
    return {f"{mod_name}.{p_name}" if mod_name else p_name: module
            for mod_name, module in model.named_modules()
            for p_name, _ in module.named_parameters(recurse=False)}


def _expected(method, name, owner) -> bool:
    if method == "lora":
        return "lora_" in name
    if method == "bitfit":
        return name.endswith(".bias")
    if method == "ssf":
        return isinstance(owner, SSF)
    if method == "bn_tuning":
        return isinstance(owner, BNS)
    raise AssertionError(method)


@pytest.mark.parametrize("backbone", FAMILIES)
@pytest.mark.parametrize("method", METHODS)
def test_exactly_the_expected_parameters_train(method, backbone):
    adapter = _build(backbone, method)
    model = adapter.model
    head = {id(p) for p in adapter.head().parameters()}
    owners = _owner_types(model)
    named = dict(model.named_parameters())
    assert set(owners) == set(named)
    for name, p in named.items():
        want = id(p) in head or _expected(method, name, owners[name])
        assert p.requires_grad == want, f"{method}/{backbone}: {name} requires_grad={p.requires_grad}"
    counts = count_parameters(adapter)
    assert counts.trainable_backbone > 0
    assert counts.trainable_backbone < 0.1 * counts.total, counts
    assert counts.head == sum(p.numel() for p in adapter.head().parameters())


@pytest.mark.parametrize("backbone", FAMILIES)
def test_lora_adapts_only_ungrouped_convolutions(backbone):
    adapter = _build(backbone, "lora")
    lora_layers = {n: m for n, m in adapter.model.named_modules() if isinstance(m, LoraLayer)}
    convs = [m.get_base_layer() for m in lora_layers.values()]
    assert convs and all(type(c) is nn.Conv2d and c.groups == 1 for c in convs)
    plain = [m for m in adapter.model.modules() if type(m) is nn.Conv2d and not isinstance(m, LoraLayer)]
    base_ids = {id(c) for c in convs}
    # every plain conv that is not wrapped is either a LoRA factor or a grouped (depthwise) conv
    lora_factor_ids = {id(f) for m in lora_layers.values()
                       for f in list(m.lora_A.values()) + list(m.lora_B.values())}
    unadapted = [c for c in plain if id(c) not in base_ids and id(c) not in lora_factor_ids]
    assert all(c.groups > 1 for c in unadapted)
    if backbone == "resnet18":
        assert len(lora_layers) == 20 and not unadapted
    else:
        assert len(lora_layers) == 33 and len(unadapted) == 16  # depthwise convs stay frozen
    assert not any(p.requires_grad for c in unadapted for p in c.parameters())


@pytest.mark.parametrize("backbone", FAMILIES)
def test_lora_rank_scales_the_count(backbone):
    counts = {r: count_parameters(_build(backbone, "lora", {"rank": r})).trainable_backbone
              for r in (4, 8, 16)}
    assert counts[8] == 2 * counts[4] and counts[16] == 4 * counts[4], counts
    same_rank = count_parameters(_build(backbone, "lora", {"rank": 8, "alpha": 32})).trainable_backbone
    assert same_rank == counts[8]


def test_lora_search_space_and_defaults():
    method = get_method("lora")
    assert method.defaults() == {"rank": 8, "alpha": 16}
    assert set(method.search_space) == {"rank", "alpha"}
    assert list(method.search_space["rank"].choices) == [4, 8, 16]


@pytest.mark.parametrize("backbone", FAMILIES)
@pytest.mark.parametrize("method", ("lora", "ssf"))
def test_identity_at_initialisation(method, backbone):
    torch.manual_seed(0)
    adapter = create_structure(backbone, image_size=64)
    model = adapter.model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        base = model(x)
    apply_method(adapter, get_method(method))
    model.eval()
    with torch.no_grad():
        adapted = model(x)
    assert torch.allclose(base, adapted, atol=1e-5), (base - adapted).abs().max()
    # the inserted parameters are on the forward path: perturbing them changes the output
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad and id(p) not in {id(q) for q in adapter.head().parameters()}:
                p.add_(0.1 * torch.randn_like(p))
        perturbed = model(x)
    assert not torch.allclose(base, perturbed, atol=1e-3)


@pytest.mark.parametrize("backbone", FAMILIES)
def test_ssf_after_every_conv_and_batch_norm(backbone):
    structure = create_structure(backbone, image_size=64)
    n_sites = sum(isinstance(m, (nn.Conv2d,) + BNS) for m in structure.model.modules())
    adapter = _build(backbone, "ssf")
    ssf_layers = [m for m in adapter.model.modules() if isinstance(m, SSF)]
    assert len(ssf_layers) == n_sites
    if backbone == "efficientnet_lite0":  # inside BatchNormAct2d, before the activation
        bn2 = adapter.model.bn2
        assert isinstance(bn2, nn.BatchNorm2d) and isinstance(bn2.act.inserted, SSF)


@pytest.mark.parametrize("backbone", FAMILIES)
@pytest.mark.parametrize("method", METHODS)
def test_batch_norm_mode_follows_policy(method, backbone):
    adapter = _build(backbone, method)
    set_train_mode(adapter.model, get_method(method).bn_stats)
    modes = {m.training for m in adapter.model.modules() if isinstance(m, BNS)}
    # bitfit / bn_tuning train every BN's affine parameters but keep the pretrained statistics ("eval")
    assert modes == {False}


@pytest.mark.parametrize("policy, expected", [("eval", {False}), ("frozen", {True}), ("train", {True})])
def test_policies_differ_where_batch_norms_train(policy, expected):
    adapter = _build("efficientnet_lite0", "bn_tuning")  # every batch-norm's affine parameters train
    set_train_mode(adapter.model, policy)
    assert {m.training for m in adapter.model.modules() if isinstance(m, BNS)} == expected
    frozen = _build("efficientnet_lite0", "feature_extraction")  # no batch-norm trains
    set_train_mode(frozen.model, policy)
    assert {m.training for m in frozen.model.modules() if isinstance(m, BNS)} == \
        ({True} if policy == "train" else {False})


def test_eval_policy_keeps_running_statistics_while_affine_parameters_learn():
    adapter = _build("efficientnet_lite0", "bn_tuning")
    model = adapter.model
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    set_train_mode(model, "eval")
    gamma = next(m for m in model.modules() if isinstance(m, BNS)).weight
    model(torch.randn(4, 3, 64, 64)).sum().backward()
    assert gamma.grad is not None and gamma.grad.abs().sum() > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items() if "running" in k)


@pytest.mark.parametrize("backbone", FAMILIES)
@pytest.mark.parametrize("method", METHODS)
def test_forward_backward_at_another_size(method, backbone):
    adapter = _build(backbone, method, size=64)
    model = adapter.model
    set_train_mode(model, get_method(method).bn_stats)
    out = model(torch.randn(2, 3, 96, 96))
    assert out.shape == (2, 1)
    out.sum().backward()
    for name, p in model.named_parameters():
        assert (p.grad is not None) == p.requires_grad, name
    grads = [p.grad.abs().sum() for n, p in model.named_parameters() if p.requires_grad
             and id(p) not in {id(q) for q in adapter.head().parameters()}]
    assert sum(grads) > 0


def _ssf_network(backbone, fold, seed=1):
    """A structure with SSF layers (folded or not) whose parameters are random, not identity."""
    torch.manual_seed(0)
    adapter = create_structure(backbone, image_size=64)
    adapter.model.requires_grad_(False)
    with torch.no_grad():  # batch-norms far from identity, as pretrained ones are
        for bn in (m for m in adapter.model.modules() if isinstance(m, BNS)):
            bn.weight.uniform_(0.5, 1.5), bn.bias.uniform_(-0.5, 0.5)
            bn.running_mean.uniform_(-0.5, 0.5), bn.running_var.uniform_(0.5, 2.0)
    layers = add_ssf_layers(adapter.model, fold=fold)
    adapter.model.double()  # float64: folding changes the function by rounding alone
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in layers:
            layer.scale.copy_(1 + 0.1 * torch.randn(layer.scale.shape, generator=generator, dtype=torch.float64))
            layer.shift.copy_(0.1 * torch.randn(layer.shift.shape, generator=generator, dtype=torch.float64))
    for layer in layers:
        layer.requires_grad_(True)
    return adapter.model, layers


def _output_and_grads(model, layers, bn_stats):
    set_train_mode(model, bn_stats)
    out = model(torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    out.sum().backward()
    return out.detach(), torch.cat([torch.cat([m.scale.grad, m.shift.grad]) for m in layers])


@pytest.mark.parametrize("backbone", FAMILIES)
@pytest.mark.parametrize("bn_stats", ("frozen", "train"))
def test_folded_ssf_computes_the_unfolded_network(backbone, bn_stats):
    folded, folded_layers = _ssf_network(backbone, fold=True)
    plain, plain_layers = _ssf_network(backbone, fold=False)
    # the check that runs when the layers are added leaves buffers and modes as they were
    assert all(torch.equal(a, b) for a, b in zip(folded.state_dict().values(), plain.state_dict().values()))
    assert [m.training for m in folded.modules()] == [m.training for m in plain.modules()]
    # every batch-norm follows its convolution in these families: all layers fold
    assert all(m.folded_into for m in folded_layers) and not any(m.folded_into for m in plain_layers)
    out_f, grad_f = _output_and_grads(folded, folded_layers, bn_stats)
    out_p, grad_p = _output_and_grads(plain, plain_layers, bn_stats)
    assert torch.allclose(out_f, out_p, rtol=1e-10, atol=1e-12), (out_f - out_p).abs().max()
    assert torch.allclose(grad_f, grad_p, rtol=1e-9, atol=1e-12 * grad_p.abs().max()), \
        (grad_f - grad_p).abs().max()


@pytest.mark.parametrize("backbone", FAMILIES)
def test_ssf_starts_at_identity_after_the_folding_check(backbone):
    adapter = create_structure(backbone, image_size=64)
    layers = add_ssf_layers(adapter.model)  # the check draws random SSF parameters, then restores them
    assert all(bool(m.folded_into) for m in layers)
    assert all(torch.equal(m.scale, torch.ones_like(m.scale)) and torch.equal(m.shift, torch.zeros_like(m.shift))
               for m in layers)
    assert adapter.model.training


class _ConvFeedsTwo(nn.Module):
    """A convolution whose output feeds its batch-norm and a shortcut: its SSF cannot fold."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Conv2d(8, 1, 1)

    def forward(self, x):
        y = self.conv(x)
        return self.head(self.bn(y) + y)


def test_ssf_folds_only_where_the_convolution_feeds_the_batch_norm_alone():
    torch.manual_seed(0)
    model = _ConvFeedsTwo()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
    reference = _ConvFeedsTwo()
    reference.load_state_dict(model.state_dict())
    layers = add_ssf_layers(model)
    plain = add_ssf_layers(reference, fold=False)
    # the numerical check rejects folding the convolution's SSF; each batch-norm folds its own
    assert [bool(m.folded_into) for m in layers] == [False, True, False]
    with torch.no_grad():
        for a, b in zip(layers, plain):
            for p, q in ((a.scale, b.scale), (a.shift, b.shift)):
                p.copy_(torch.rand_like(p) + 0.5)
                q.copy_(p)
    model.eval(), reference.eval()
    x = torch.randn(2, 3, 16, 16)
    assert torch.allclose(model(x), reference(x), atol=1e-5)


@pytest.mark.parametrize("backbone", FAMILIES)
def test_dora_adds_a_magnitude_vector_to_every_lora_layer(backbone):
    """DoRA is LoRA plus one trained magnitude per output channel of each adapted convolution: the
    plugins differ by exactly those parameters (so a DoRA that silently built plain LoRA fails)."""
    lora, dora = _build(backbone, "lora"), _build(backbone, "dora")
    layers = {n: m for n, m in lora.model.named_modules() if isinstance(m, LoraLayer)}
    out_channels = sum(m.get_base_layer().out_channels for m in layers.values())
    assert count_parameters(dora).trainable - count_parameters(lora).trainable == out_channels
    magnitudes = [n for n, p in dora.model.named_parameters() if "lora_magnitude_vector" in n and p.requires_grad]
    assert len(magnitudes) == len(layers)
    assert not any("lora_magnitude_vector" in n for n, _ in lora.model.named_parameters())
