"""scripts/experiments/design_choices.py: a design choice is re-decided on a partition no reported profile uses,
and the reference_standardisation choice's raw variant is exactly the suite's own reference there."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from benchmark.common.io import write_json_atomic
from benchmark.stats import stratified_auc
from benchmark.training.reference import reference_predictions
from benchmark.training.runner import RunSpec, evaluation_splits, load_data
from benchmark.training.suite import save_test_images

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "experiments" / "design_choices.py"


def _script():
    spec = importlib.util.spec_from_file_location("design_choices", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reported_split_seeds_are_refused_and_the_design_partition_is_another():
    dc = _script()
    with pytest.raises(SystemExit, match="9001"):
        dc.design_profile("smoke", 0)
    design = dc.design_profile("smoke", 9001)
    assert tuple(design.evaluation.split_seeds) == (9001,)
    data, _ = load_data(RunSpec("feature_extraction", "synthetic", design))
    reported = evaluation_splits(dc.load_profile("smoke"), data)
    fresh = evaluation_splits(design, data)
    assert any(not np.array_equal(np.sort(a.split["test"]), np.sort(b.split["test"])) for a, b in zip(reported, fresh))


@pytest.mark.slow
def test_the_raw_variant_is_the_suites_reference_on_the_design_partition(tmp_path):
    dc = _script()
    profile = dc.design_profile("smoke", 9001)
    table = dc.reference_standardisation(profile, "synthetic", ["synthetic_shifted"]).set_index("variant")
    assert list(table.index) == ["raw (the suite's)", "standardised"]
    # the suite's own reference, computed from a run folder holding the same partition
    data, _ = load_data(RunSpec("feature_extraction", "synthetic", profile))
    save_test_images(tmp_path, data, evaluation_splits(profile, data))
    write_json_atomic(tmp_path / "suite.json", {"profile": profile.as_dict(), "dataset": "synthetic"})
    ref = reference_predictions(tmp_path, device="cpu")
    assert table.loc["raw (the suite's)", "fold_stratified_auc"] == pytest.approx(
        stratified_auc(ref.label, ref.score, ref.fold), abs=1e-12)
    for variant, row in table.iterrows():  # the learnable synthetic set: well above chance everywhere
        assert row.inner_cv_auc > 0.6 and row.fold_stratified_auc > 0.6, (variant, row.to_dict())
        assert 0.5 < row.external_synthetic_shifted_auc <= 1, (variant, row.to_dict())


def test_the_head_floor_variant_trains_the_head_at_the_floor_and_leaves_other_methods_alone(monkeypatch):
    from benchmark.plugins import registry
    from benchmark.models.build import build_model
    from benchmark.training import trainer

    registry.discover()  # first: a copy of a registry not yet discovered would leave the real one empty after
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # the variant goes when the test ends
    monkeypatch.setattr(trainer, "make_optimizer", trainer.make_optimizer)  # and so does the patch
    dc = _script()
    names = dc.register_variants("head_lr_floor")
    assert names == ["finetune_all", "finetune_all_head_lr_floor"]
    floored, _, _ = build_model("finetune_all_head_lr_floor", "efficientnet_lite0", 64)
    opt = trainer.make_optimizer(floored, 1e-4, 0.9)  # what the trainer calls, patched by the script
    body, head = opt.param_groups
    assert body["lr"] == 1e-4 and head["lr"] == dc.HEAD_LR_FLOOR
    assert {id(p) for p in head["params"]} == {id(p) for p in floored.head().parameters()}
    n_trainable = sum(p.requires_grad for p in floored.model.parameters())
    assert len(body["params"]) + len(head["params"]) == n_trainable
    assert [g["lr"] for g in trainer.make_optimizer(floored, 1e-2, 0.9).param_groups] == [1e-2, 1e-2]
    plain, _, _ = build_model("finetune_all", "efficientnet_lite0", 64)
    assert [g["lr"] for g in trainer.make_optimizer(plain, 1e-4, 0.9).param_groups] == [1e-4]
    # the variant searches what full fine-tuning searches and trains what it trains
    assert dc.get_method("finetune_all_head_lr_floor").lr == dc.get_method("finetune_all").lr
    assert all(p.requires_grad for p in floored.model.parameters())
