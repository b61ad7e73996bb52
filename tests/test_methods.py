"""Every registered method: exactly its declared parameters learn, the rest stays bit-identical."""
import pytest
import torch

from benchmark.models.build import apply_method, count_parameters, set_train_mode
from benchmark.models.registry import list_methods
from benchmark.models.backbones import create_structure

METHODS = [m.name for m in list_methods()]


def _one_step(adapter, method):
    model = adapter.model
    set_train_mode(model, method.bn_stats)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-2)
    torch.manual_seed(0)
    loss = model(torch.randn(4, 3, 64, 64)).sum()
    loss.backward()
    opt.step()
    return before


@pytest.mark.parametrize("name", METHODS)
def test_exactly_declared_parameters_learn(name):
    from benchmark.models.registry import get_method

    method = get_method(name)
    adapter = create_structure("efficientnet_lite0", image_size=64)
    apply_method(adapter, method)
    trained = {n for n, p in adapter.model.named_parameters() if p.requires_grad}
    head = {f"classifier.{n}" for n, _ in adapter.head().named_parameters()}
    assert head <= trained, "the new head is always trained"
    before = _one_step(adapter, method)
    for n, p in adapter.model.named_parameters():
        if n in trained:
            assert p.grad is not None, f"{name}: {n} is trainable but got no gradient"
        else:
            assert p.grad is None, f"{name}: frozen {n} received a gradient"
            assert torch.equal(p.detach(), before[n]), f"{name}: frozen {n} changed"
    # frozen batch-norm layers keep their running statistics under the 'frozen' policy
    for mod_name, module in adapter.model.named_modules():
        if isinstance(module, torch.nn.BatchNorm2d) and method.bn_stats == "frozen" \
                and not any(p.requires_grad for p in module.parameters(recurse=False)):
            assert torch.equal(module.running_mean, before[f"{mod_name}.running_mean"]), mod_name
    counts = count_parameters(adapter)
    assert counts.trainable == sum(p.numel() for p in adapter.model.parameters() if p.requires_grad)
    assert counts.head == 1281


def test_fine_tuning_counts_are_ordered():
    from benchmark.models.registry import get_method

    counts = {}
    for name in ("feature_extraction", "finetune_last_block", "finetune_all"):
        adapter = create_structure("resnet18", image_size=64)
        apply_method(adapter, get_method(name))
        counts[name] = count_parameters(adapter)
    assert counts["feature_extraction"].trainable_backbone == 0
    assert 0 < counts["finetune_last_block"].trainable_backbone < counts["finetune_all"].trainable_backbone
    assert counts["finetune_all"].trainable == counts["finetune_all"].total


def test_unknown_method_parameter_is_rejected():
    from benchmark.models.registry import get_method

    adapter = create_structure("resnet18", image_size=64)
    with pytest.raises(ValueError, match="rank"):
        apply_method(adapter, get_method("feature_extraction"), {"rank": 4})
