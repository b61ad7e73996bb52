"""Plugins: the example of docs/methods.md, a plugin from a temporary module, and every registered
method through one smoke training on synthetic data."""
import importlib
import re
import sys
from pathlib import Path

import pytest

from benchmark.models import registry
from benchmark.common.profiles import load_profile
from benchmark.models.registry import list_methods
from benchmark.training.runner import RunSpec, run

METHODS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "methods.md"  # its example plugin


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
    source = _readme_example()
    assert len(source.strip().splitlines()) <= 30
    _import_from(tmp_path, monkeypatch, "stem_tuning_example", source)
    method = registry.get_method("stem_tuning")
    assert method.defaults() == {"train_norm": True} and "train_norm" in method.search_space
    record = run(RunSpec("stem_tuning", "synthetic", load_profile("smoke")), tmp_path / "run",
                 device="cpu", progress=False, data=smoke_data)
    # stem conv (32*3*3*3) + its batch norm (2*32) + head (1280 + 1)
    assert record["parameters"]["trainable"] == 864 + 64 + 1281


def test_plugin_in_a_temporary_module_runs_on_smoke(tmp_path, monkeypatch, clean_registry, smoke_data):
    _import_from(tmp_path, monkeypatch, "my_head_only", '''
from benchmark.models.registry import register_method

@register_method(description="temporary plugin", citation="test")
def temporary_head_only(backbone):
    pass
''')
    assert "temporary_head_only" in {m.name for m in list_methods()}
    record = run(RunSpec("temporary_head_only", "synthetic", load_profile("smoke")), tmp_path / "run",
                 device="cpu", progress=False, data=smoke_data)
    assert record["method"]["citation"] == "test" and 0 <= record["metrics"]["auc"] <= 1


@pytest.mark.parametrize("name", [m.name for m in list_methods()])
def test_every_method_runs_one_smoke_training(name, tmp_path, smoke_data):
    record = run(RunSpec(name, "synthetic", load_profile("smoke")), tmp_path / name, device="cpu",
                 progress=False, data=smoke_data)
    assert record["training"]["epochs_run"] >= 1
    assert 0.0 <= record["metrics"]["auc"] <= 1.0
    assert record["parameters"]["trainable"] > record["parameters"]["head"] or name == "feature_extraction"
    assert record["method"]["bn_running_stats"] == registry.get_method(name).bn_stats
