"""Parameter counts of the fine-tuning methods and unknown method parameters (what each registered method
trains, and that nothing else changes, is tests/plugins/test_method_contract.py)."""
import pytest

from benchmark.models.build import apply_method, count_parameters
from benchmark.models.backbones import create_structure


def test_fine_tuning_counts_are_ordered():
    from benchmark.plugins.registry import get_method

    counts = {}
    for name in ("feature_extraction", "finetune_last_block", "finetune_all"):
        adapter = create_structure("resnet18", image_size=64)
        apply_method(adapter, get_method(name))
        counts[name] = count_parameters(adapter)
    assert counts["feature_extraction"].trainable_backbone == 0
    assert 0 < counts["finetune_last_block"].trainable_backbone < counts["finetune_all"].trainable_backbone
    assert counts["finetune_all"].trainable == counts["finetune_all"].total


def test_unknown_method_parameter_is_rejected():
    from benchmark.plugins.registry import get_method

    adapter = create_structure("resnet18", image_size=64)
    with pytest.raises(ValueError, match="rank"):
        apply_method(adapter, get_method("feature_extraction"), {"rank": 4})
