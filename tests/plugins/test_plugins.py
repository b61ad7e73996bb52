"""Plugins: the example of docs/methods.md, a plugin from a temporary module, and every registered
method through one smoke training on synthetic data."""
import importlib
import re
import sys
from pathlib import Path

import pytest

from benchmark.plugins import registry
from benchmark.common.profiles import load_profile
from benchmark.plugins.registry import list_methods
from benchmark.training.runner import RunSpec, run

METHODS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "methods.md"  # its example plugin


@pytest.fixture(scope="module")
def smoke_data():
    from benchmark.data.synthetic import make_synthetic

    p = load_profile("smoke")
    return make_synthetic(p.data.synthetic_images, p.backbone.image_size, p.data.synthetic_seed)


def _readme_example() -> str:
    section = METHODS_PAGE.read_text().split("## Adding a method", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _import_from(tmp_path, monkeypatch, name, source):
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return importlib.import_module(name)


def test_readme_example_is_short_registers_and_trains(tmp_path, monkeypatch, clean_registry, smoke_data):
    """The example trains on smoke (the contract checks on it: tests/plugins/test_method_contract.py)."""
    source = _readme_example()
    assert len(source.strip().splitlines()) <= 35
    registry.unregister("last_blocks_scaling")  # a copy saved in methods/ (clean_registry puts it back)
    _import_from(tmp_path, monkeypatch, "last_blocks_scaling_example", source)
    method = registry.get_method("last_blocks_scaling")
    assert method.defaults() == {"blocks": 2} and "blocks" in method.search_space
    record = run(RunSpec("last_blocks_scaling", "synthetic", load_profile("smoke")), tmp_path / "run",
                 device="cpu", progress=False, data=smoke_data)
    # a scale and a shift per channel after EfficientNet-Lite0's last two blocks (192, 320) + head (1280 + 1)
    assert record["parameters"]["trainable"] == 2 * (192 + 320) + 1281


def test_plugin_in_a_temporary_module_runs_on_smoke(tmp_path, monkeypatch, clean_registry, smoke_data):
    _import_from(tmp_path, monkeypatch, "my_head_only", '''
from benchmark.plugins.registry import register_method

@register_method(description="temporary plugin", citation="test", trains=lambda backbone, name, owner: False)
def temporary_head_only(backbone):
    pass
''')
    assert "temporary_head_only" in {m.name for m in list_methods()}
    record = run(RunSpec("temporary_head_only", "synthetic", load_profile("smoke")), tmp_path / "run",
                 device="cpu", progress=False, data=smoke_data)
    assert record["method"]["citation"] == "test" and 0 <= record["metrics"]["auc"] <= 1


@pytest.mark.slow
@pytest.mark.parametrize("name", [m.name for m in list_methods()])
def test_every_method_runs_one_smoke_training(name, tmp_path, smoke_data):
    record = run(RunSpec(name, "synthetic", load_profile("smoke")), tmp_path / name, device="cpu",
                 progress=False, data=smoke_data)
    assert record["training"]["epochs_run"] >= 1
    assert 0.0 <= record["metrics"]["auc"] <= 1.0
    assert record["parameters"]["trainable"] > record["parameters"]["head"] or name == "feature_extraction"
    assert record["method"]["bn_running_stats"] == registry.get_method(name).bn_stats
