"""DRS exactly as Byra (2021) defines it: placement, parameter count, identity at initialisation."""
import pytest
import torch

from benchmark.models.backbones import create_structure
from benchmark.models.build import apply_method, count_parameters
from benchmark.plugins.registry import get_method
from methods.drs import DRSLayer

DRS_METHODS = ["drs", "drs_spatial", "drs_channel", "drs_finetune_last_block", "drs_finetune_all"]


def _drs_layers(model):
    return [m for m in model.modules() if isinstance(m, DRSLayer)]


def test_drs_layer_equations():
    layer = DRSLayer(channels=2, height=3, width=4)
    with torch.no_grad():
        layer.spatial_scale.copy_(torch.arange(12.0).view(1, 1, 3, 4))
        layer.spatial_shift.fill_(1.0)
        layer.channel_scale.copy_(torch.tensor([2.0, -1.0]).view(1, 2, 1, 1))
        layer.channel_shift.copy_(torch.tensor([0.5, 0.0]).view(1, 2, 1, 1))
    y = torch.randn(5, 2, 3, 4)
    s = torch.arange(12.0).view(3, 4)
    expected = torch.stack([2.0 * (s * y[:, 0] + 1) + 0.5, -1.0 * (s * y[:, 1] + 1)], dim=1)
    assert torch.allclose(layer(y), expected)
    with pytest.raises(ValueError, match=r"built for representations \(2, 3, 4\) \(C, H, W\) got \(2, 4, 4\): "
                                         "build the model at the input size"):
        layer(torch.randn(1, 2, 4, 4))
    assert "channels=2, height=3, width=4, spatial=True, channel=True" in repr(layer)


def test_a_drs_layer_without_either_scaling_is_refused():
    with pytest.raises(ValueError, match=r"^a DRS layer needs the spatial or the channel scaling \(or both\)$"):
        DRSLayer(channels=2, height=3, width=4, spatial=False, channel=False)


@pytest.mark.parametrize("name", DRS_METHODS)
@pytest.mark.parametrize("backbone", ["resnet18", "efficientnet_lite0"])
def test_identity_at_initialisation(name, backbone):
    adapter = create_structure(backbone, image_size=64)
    adapter.model.eval()
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        before = adapter.model(x)
        apply_method(adapter, get_method(name))
        after = adapter.model(x)
    assert len(_drs_layers(adapter.model)) == len(adapter.blocks())
    assert torch.allclose(before, after, atol=1e-6)


def test_resnet101_has_33_drs_layers_with_2hw_plus_2c_parameters():
    adapter = create_structure("resnet101", image_size=224)
    shapes = adapter.site_shapes()
    apply_method(adapter, get_method("drs"))
    layers = _drs_layers(adapter.model)
    assert len(layers) == 33
    expected = sum(2 * h * w + 2 * c for c, h, w in shapes)
    assert sum(p.numel() for l in layers for p in l.parameters()) == expected == 99_422
    counts = count_parameters(adapter)
    assert counts.trainable_backbone == 99_422 and counts.head == 2049
    # the first block's layer is 56 x 56 with 256 channels; the last 7 x 7 with 2048
    assert layers[0].shape == (256, 56, 56) and layers[-1].shape == (2048, 7, 7)


def test_drs_sits_before_the_final_relu():
    adapter = create_structure("resnet18", image_size=64)
    apply_method(adapter, get_method("drs"))
    layer = _drs_layers(adapter.model)[0]
    with torch.no_grad():
        layer.channel_shift.fill_(-1000.0)  # drives every element negative before the ReLU
    out = []
    adapter.blocks()[0].register_forward_hook(lambda m, i, o: out.append(o))
    with torch.no_grad():
        adapter.model(torch.randn(1, 3, 64, 64))
    assert torch.equal(out[0], torch.zeros_like(out[0]))


def test_ablations_split_the_drs_count():
    counts = {}
    for name in ("drs", "drs_spatial", "drs_channel"):
        adapter = create_structure("resnet18", image_size=64)
        apply_method(adapter, get_method(name))
        counts[name] = count_parameters(adapter).trainable_backbone
    assert counts["drs_spatial"] + counts["drs_channel"] == counts["drs"]
    assert counts["drs_spatial"] > 0 and counts["drs_channel"] > 0


def test_combinations_are_the_union_of_their_parts():
    def trained(name):
        adapter = create_structure("resnet18", image_size=64)
        apply_method(adapter, get_method(name))
        return {n for n, p in adapter.model.named_parameters() if p.requires_grad}

    def norm(names):  # a DRS insertion renames the wrapped activation, not parameters
        return {n.replace(".original", "").replace(".inserted", "") for n in names}

    assert norm(trained("drs_finetune_last_block")) == norm(trained("drs") | trained("finetune_last_block"))
    assert get_method("drs_finetune_all").components == ("drs", "finetune_all")
