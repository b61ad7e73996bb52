"""The trainer's hooks for methods (benchmark.models.hooks): LP-FT's stages, L2-SP's penalty,
WiSE-FT's interpolation chosen on validation images; and peft's BN tuning against the suite's own."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from benchmark.models.build import build_model
from benchmark.training.trainer import predict_scores, train

CPU = torch.device("cpu")


def _train(tiny_data, profile, method, params=None, seed=0, lr=1e-3, **overrides):
    torch.manual_seed(seed)
    backbone, m, _ = build_model(method, "efficientnet_lite0", 64, weights="random", params=params)
    config = dataclasses.replace(profile.train, **overrides)
    d = tiny_data
    result = train(backbone, m.bn_stats, d.images[:32], d.labels[:32], d.images[32:], d.labels[32:],
                   config, lr=lr, beta1=0.9, device=CPU, seed=seed, progress=False)
    return backbone, result


def test_lp_ft_trains_the_head_first_then_everything(tiny_data, smoke_profile):
    torch.manual_seed(0)
    backbone, _, _ = build_model("lp_ft", "efficientnet_lite0", 64, weights="random")
    stem = backbone.model.conv_stem.weight.detach().clone()
    seen = []
    stages = backbone.hooks.stages
    stages[0].on_end = lambda b: seen.append((torch.equal(b.model.conv_stem.weight, stem),
                                              [p.requires_grad for p in b.model.parameters()].count(True)))
    d = tiny_data
    result = train(backbone, "frozen", d.images[:32], d.labels[:32], d.images[32:], d.labels[32:],
                   dataclasses.replace(smoke_profile.train, max_epochs=2), lr=1e-3, beta1=0.9, device=CPU,
                   seed=0, progress=False)
    assert seen == [(True, 2)], "the probe stage trains the head (weight and bias) alone"
    assert not torch.equal(backbone.model.conv_stem.weight, stem), "the second stage trains the backbone"
    assert [h["stage"] for h in result.history] == ["linear probe"] * 2 + ["fine-tune"] * 2
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4] and result.epochs_run == 4
    assert result.history[0]["lr"] == pytest.approx(1e-2) and result.history[2]["lr"] == pytest.approx(1e-3)
    assert all(p.requires_grad for p in backbone.model.parameters()), "every declared parameter trainable again"


def test_l2_sp_pulls_towards_the_pretrained_weights(tiny_data, smoke_profile):
    def distance(alpha):
        backbone, _ = _train(tiny_data, smoke_profile, "l2_sp", {"alpha": alpha}, lr=1e-2, max_epochs=2)
        torch.manual_seed(0)
        start, _, _ = build_model("l2_sp", "efficientnet_lite0", 64, weights="random")
        return sum((p - q).pow(2).sum().item() for (n, p), (_, q) in
                   zip(backbone.model.named_parameters(), start.model.named_parameters()) if "classifier" not in n)

    assert distance(1000.0) < 0.5 * distance(0.0)


def test_wise_ft_chooses_its_mixing_weight_on_validation_images(tiny_data, smoke_profile):
    backbone, result = _train(tiny_data, smoke_profile, "wise_ft", max_epochs=2)
    post = result.post_training
    assert [g["alpha"] for g in post["grid"]] == pytest.approx([i / 10 for i in range(11)])
    best = max(post["grid"], key=lambda g: (g["val_selection"], -g["val_loss"], g["alpha"]))
    assert post["wise_ft_alpha"] == best["alpha"]
    d = tiny_data
    scores = predict_scores(backbone, d.images[32:], CPU)
    from benchmark.stats import roc_auc
    assert result.best_val_auc == pytest.approx(roc_auc(d.labels[32:], scores)), "the mixed model is what is kept"
    assert result.best_val_auc == pytest.approx(best["val_selection"])


def test_peft_bn_tuning_gives_the_suites_bn_tuning_numbers(tiny_data, smoke_profile):
    own, r_own = _train(tiny_data, smoke_profile, "bn_tuning", lr=1e-2, max_epochs=2)
    peft, r_peft = _train(tiny_data, smoke_profile, "bn_tuning_peft", lr=1e-2, max_epochs=2)
    assert [h["train_loss"] for h in r_own.history] == pytest.approx([h["train_loss"] for h in r_peft.history],
                                                                     rel=1e-5)
    d = tiny_data
    assert np.allclose(predict_scores(own, d.images, CPU), predict_scores(peft, d.images, CPU), atol=1e-5)


def test_the_cost_of_a_step_includes_the_penalty(tiny_data):
    from benchmark.cost.train_step import make_train_step

    torch.manual_seed(0)
    backbone, m, _ = build_model("l2_sp", "efficientnet_lite0", 64, weights="random", params={"alpha": 0.1})
    step = make_train_step(backbone, m.bn_stats, tiny_data.images[:16], tiny_data.labels[:16], CPU, batch_size=4)
    assert step.penalty is backbone.hooks.penalty
    assert np.isfinite(step())
