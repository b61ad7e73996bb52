import dataclasses
import math

import numpy as np
import pytest
import torch

from benchmark.training import trainer
from benchmark.training.augment import AugmentConfig, augment_batch
from benchmark.stats import roc_auc
from benchmark.models.build import build_model
from benchmark.training.device import Preprocess, inference_dtype, resolve_device
from benchmark.training.trainer import (
    COLLAPSE_LOSS_FRACTION,
    COLLAPSE_SCORE_RANGE,
    PRIOR_LOSS,
    TrainingCollapsed,
    TrainingDiverged,
    TrainingInputs,
    TrainResult,
    TrialFailed,
    class_weights,
    collapse_reason,
    predict_scores,
    train,
    view_index,
)

CPU = torch.device("cpu")


def _train(tiny_data, profile, method="feature_extraction", seed=0, selection="auc", lr=1e-3, on_epoch=None,
           **overrides):
    torch.manual_seed(seed)
    backbone, m, _ = build_model(method, "efficientnet_lite0", 64)
    config = dataclasses.replace(profile.train, **overrides)
    d = tiny_data
    result = train(backbone, m.bn_stats, d.images[:32], d.labels[:32], d.images[32:], d.labels[32:],
                   config, lr=lr, beta1=0.9, device=CPU, seed=seed, progress=False, selection=selection,
                   on_epoch=on_epoch)
    return backbone, result


def test_class_weights_are_inverse_frequency_or_none():
    w = class_weights(np.array([0, 0, 0, 1]), "balanced")
    assert torch.allclose(w, torch.tensor([4 / 6, 4 / 2]))
    assert torch.equal(class_weights(np.array([0, 0, 0, 1]), "none"), torch.ones(2))
    for scheme in ("balanced", "none"):
        with pytest.raises(ValueError, match="both classes"):
            class_weights(np.array([0, 0]), scheme)


def test_the_default_loss_is_unweighted():
    """The suite's definition (docs/decisions/class-weighting.md): the plain loss, unless a profile says otherwise;
    a study trained with balanced weights keeps its old identity (the key is left out of training_dict)."""
    from benchmark.common.profiles import TrainSection, load_profile

    assert TrainSection().class_weights == "none"
    quick = load_profile("quick")
    assert quick.train.class_weights == "none" and quick.training_dict()["train"]["class_weights"] == "none"
    import dataclasses
    weighted = dataclasses.replace(quick, train=dataclasses.replace(quick.train, class_weights="balanced"))
    assert "class_weights" not in weighted.training_dict()["train"]


def test_validation_metrics_match_scikit_learn():
    """Accuracy at 0.5 (a score of exactly 0.5 counts as malignant), AUC and the class-weighted
    cross-entropy (the mean of weight x loss over the images), against scikit-learn."""
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    rng = np.random.default_rng(3)
    labels = np.concatenate([[1, 1], rng.integers(0, 2, 38)])  # the two scores of 0.5 are malignant
    scores = np.concatenate([[0.5, 0.5], rng.uniform(0.02, 0.98, 38)])
    weights = class_weights(np.array([0] * 30 + [1] * 10), "balanced")  # 2/3 and 2
    got = trainer.validation_metrics(scores, labels, weights)
    assert got["accuracy"] == pytest.approx(accuracy_score(labels, scores >= 0.5), abs=1e-12)
    assert got["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    w = weights.numpy().astype(float)[labels]
    expected = log_loss(labels, scores, sample_weight=w) * w.sum() / len(labels)
    assert got["loss"] == pytest.approx(expected, rel=1e-6)
    # scores of exactly 0 or 1 are clamped to 1e-7 from the ends: a finite loss
    edge = trainer.validation_metrics(np.array([0.0, 1.0]), np.array([1, 0]), torch.tensor([1.0, 3.0]))
    assert edge["loss"] == pytest.approx((1.0 + 3.0) / 2 * -math.log(1e-7), rel=1e-6)
    assert edge["accuracy"] == 0.0
    # float32 scores (as predict_scores returns them) are clamped in float64: 1 - 1e-7 is not 1 - 2**-23
    edge32 = trainer.validation_metrics(np.array([1.0], np.float32), np.array([0]), torch.tensor([1.0, 1.0]))
    assert edge32["loss"] == pytest.approx(-math.log(1e-7), rel=1e-6)
    assert math.isnan(trainer.validation_metrics(np.array([0.2, 0.7]), np.array([1, 1]), weights)["auc"])


def test_training_is_repeatable_for_a_seed(tiny_data, smoke_profile):
    b1, r1 = _train(tiny_data, smoke_profile, "finetune_last_block", seed=1)
    b2, r2 = _train(tiny_data, smoke_profile, "finetune_last_block", seed=1)
    s1 = predict_scores(b1, tiny_data.images, CPU)
    s2 = predict_scores(b2, tiny_data.images, CPU)
    assert np.array_equal(s1, s2)
    assert [h["train_loss"] for h in r1.history] == [h["train_loss"] for h in r2.history]


@pytest.mark.parametrize("selection", ["auc", "accuracy"])
def test_best_validation_weights_are_kept(tiny_data, smoke_profile, selection):
    backbone, result = _train(tiny_data, smoke_profile, max_epochs=4, patience=10, selection=selection)
    key = f"val_{selection}"
    # the first epoch that reached the best metric (strict improvement: later equal ones do not count)
    best = max(result.history, key=lambda h: (h[key], -h["epoch"]))
    assert result.best_epoch == best["epoch"] and result.selection == selection
    assert result.best_val_metric == best[key]
    assert (result.best_val_auc, result.best_val_accuracy, result.best_val_loss) == \
        (best["val_auc"], best["val_accuracy"], best["val_loss"])
    scores = predict_scores(backbone, tiny_data.images[32:], CPU, precision=smoke_profile.train.inference_precision)
    assert np.mean((scores >= 0.5) == (tiny_data.labels[32:] == 1)) == pytest.approx(best["val_accuracy"])
    assert roc_auc(tiny_data.labels[32:], scores) == pytest.approx(best["val_auc"])


def test_unknown_selection_metric_is_rejected(tiny_data, smoke_profile):
    with pytest.raises(ValueError, match="auc, accuracy"):
        _train(tiny_data, smoke_profile, selection="loss", max_epochs=1)


@pytest.mark.parametrize("selection,other", [("auc", "accuracy"), ("accuracy", "auc")])
def test_an_equal_metric_with_a_lower_loss_is_no_improvement(tiny_data, smoke_profile, monkeypatch,
                                                             selection, other):
    """Only a strict improvement of the selection metric counts: while it stays equal (and the
    other metric and the validation loss improve every epoch), patience runs out, the learning
    rate decays, and the first epoch stays the best."""
    script = iter([{selection: 0.7, other: 0.5 + 0.1 * i, "loss": 0.6 - 0.1 * i} for i in range(10)])
    monkeypatch.setattr(trainer, "validation_metrics", lambda scores, labels, weights: next(script))
    reported = []
    _, result = _train(tiny_data, smoke_profile, selection=selection, max_epochs=10, patience=3,
                       lr_decay_patience=1, lr_decay_factor=0.5, on_epoch=lambda e, m: reported.append((e, m)))
    assert result.epochs_run == 4 and result.stopped_early
    assert result.best_epoch == 1 and result.best_val_loss == pytest.approx(0.6)
    assert result.best_val_metric == 0.7
    assert [h["lr"] for h in result.history] == pytest.approx([1e-3, 1e-3, 5e-4, 2.5e-4])
    assert reported == [(e, 0.7) for e in (1, 2, 3, 4)]  # the pruner sees the selection metric


def _train_feature_extraction(tiny_data, smoke_profile, lr: float, **train):
    """Feature extraction on 32 tiny images (16 validation images) with the smoke profile's [train] and ``train``."""
    torch.manual_seed(0)
    backbone, m, _ = build_model("feature_extraction", "efficientnet_lite0", 64)
    config = dataclasses.replace(smoke_profile.train, **train)
    d = tiny_data
    return trainer.train(backbone, m.bn_stats, d.images[:32], d.labels[:32], d.images[32:], d.labels[32:],
                         config, lr=lr, beta1=0.9, device=CPU, seed=0, progress=False)


def test_early_stopping_and_learning_rate_decay(tiny_data, smoke_profile):
    # lr 0 cannot improve after the first epoch: stop after `patience` epochs more
    result = _train_feature_extraction(tiny_data, smoke_profile, 0.0, max_epochs=20, patience=3, lr_decay_patience=1,
                                       lr_decay_factor=0.5)
    assert result.epochs_run == 4 and result.stopped_early and result.best_epoch == 1


def test_learning_rate_is_multiplied_after_patience(tiny_data, smoke_profile):
    result = _train_feature_extraction(tiny_data, smoke_profile, 1e-12, max_epochs=6, patience=99,
                                       lr_decay_patience=2, lr_decay_factor=0.9)
    lrs = [h["lr"] for h in result.history]
    assert lrs == pytest.approx([1e-12, 1e-12, 1e-12, 0.9e-12, 0.9e-12, 0.81e-12])


def test_collapse_reason():
    good = [{"train_loss": 0.69, "val_loss": 0.7}, {"train_loss": 0.4, "val_loss": 0.55}]
    spread = np.linspace(0.2, 0.8, 16)
    assert collapse_reason(spread, good) is None
    # constant validation scores, whatever the loss did
    assert collapse_reason(np.full(16, 0.5), good).startswith("collapsed: validation scores nearly constant")
    assert collapse_reason(0.5 + np.linspace(0, 5e-4, 16), good).startswith("collapsed")
    assert collapse_reason(np.zeros(0), good).startswith("collapsed")
    # a flat loss history: neither loss ever left the loss of a constant prediction (ln 2)
    flat = [{"train_loss": PRIOR_LOSS + d, "val_loss": PRIOR_LOSS - d} for d in (0.0, 0.001, -0.002)]
    reason = collapse_reason(spread, flat)
    assert reason.startswith("collapsed: training loss never below") and "ln 2" in reason
    # leaving the prior in either loss is enough
    assert collapse_reason(spread, flat + [{"train_loss": 0.6, "val_loss": PRIOR_LOSS}]) is None
    assert collapse_reason(spread, flat + [{"train_loss": PRIOR_LOSS, "val_loss": 0.6}]) is None
    # the boundaries: a spread of exactly COLLAPSE_SCORE_RANGE is not constant, a loss exactly at the
    # limit has reached it (not collapsed), and a model without a finished epoch has learnt nothing
    assert collapse_reason(np.array([0.0, COLLAPSE_SCORE_RANGE]), good) is None
    limit = COLLAPSE_LOSS_FRACTION * PRIOR_LOSS
    assert collapse_reason(spread, [{"train_loss": limit, "val_loss": PRIOR_LOSS}]) is None
    assert collapse_reason(spread, [{"train_loss": PRIOR_LOSS, "val_loss": limit}]) is None
    assert collapse_reason(spread, []).startswith("collapsed: training loss never below")
    assert issubclass(TrainingCollapsed, TrialFailed) and issubclass(TrainingDiverged, TrialFailed)


def test_the_prior_loss_follows_the_class_weights():
    """Under balanced weights the best constant prediction's loss is ln 2; without weights it is the entropy of the
    malignant fraction (0.6269 at 0.32), so a plain-loss model stuck at the prior (loss 0.63) counts as collapsed.
    Planted: the unweighted model judged against ln 2: its 0.63 lies below 0.98 ln 2 = 0.679 and passes."""
    from benchmark.training.trainer import class_weights, constant_loss

    y = np.r_[np.ones(32, int), np.zeros(68, int)]
    assert constant_loss(y, class_weights(y, "balanced")) == pytest.approx(PRIOR_LOSS)
    plain = constant_loss(y, class_weights(y, "none"))
    assert plain == pytest.approx(-(0.32 * np.log(0.32) + 0.68 * np.log(0.68)))
    stuck = [{"train_loss": plain + 0.003, "val_loss": plain + 0.001}]
    assert collapse_reason(np.linspace(0.2, 0.8, 16), stuck, plain).startswith("collapsed: training loss never")
    assert collapse_reason(np.linspace(0.2, 0.8, 16), stuck) is None  # judged against ln 2, it would pass


def test_a_model_that_scores_every_image_the_same_is_collapsed(tiny_data, smoke_profile):
    torch.manual_seed(0)
    backbone, m, _ = build_model("feature_extraction", "efficientnet_lite0", 64)
    backbone.head().register_forward_hook(lambda module, args, out: out * 0)
    d = tiny_data
    result = train(backbone, m.bn_stats, d.images[:32], d.labels[:32], d.images[32:], d.labels[32:],
                   dataclasses.replace(smoke_profile.train, max_epochs=2), lr=1e-3, beta1=0.9, device=CPU,
                   seed=0, progress=False)
    assert result.collapse.startswith("collapsed: validation scores nearly constant")
    assert result.as_dict()["collapse"] == result.collapse
    _, healthy = _train(tiny_data, smoke_profile, max_epochs=2)
    assert healthy.collapse is None


def test_train_result_round_trips_through_its_dict(tiny_data, smoke_profile):
    _, result = _train(tiny_data, smoke_profile, max_epochs=1)
    again = TrainResult.from_dict(result.as_dict())
    assert again == result and again.seconds_per_epoch == result.seconds_per_epoch
    # a record of an older version (no AUC, no selection) reads as accuracy-selected
    old = {k: v for k, v in result.as_dict().items() if k not in ("best_val_auc", "selection", "collapse")}
    older = TrainResult.from_dict(old)
    assert older.selection == "accuracy" and math.isnan(older.best_val_auc) and older.collapse is None


def test_each_epoch_of_a_trial_trains_on_its_own_view(tiny_data, smoke_profile, monkeypatch):
    assert sorted(view_index(e, 7, 5) for e in range(1, 6)) == list(range(5))  # each view once per trial
    assert [view_index(e, 0, 3) for e in (1, 2, 3)] == [0, 1, 2]
    assert view_index(1, 1, 3) != view_index(1, 0, 3)  # trials start at different views
    seen = []
    real = TrainingInputs.start_epoch
    monkeypatch.setattr(TrainingInputs, "start_epoch", lambda self, v: (seen.append(v), real(self, v)))
    for cached in (True, False):  # the frozen-prefix cache and the whole network alike
        seen.clear()
        _, result = _train(tiny_data, smoke_profile, seed=2, max_epochs=3, patience=10, cache_prefix=cached)
        assert seen == [view_index(e, 2, 3) for e in (1, 2, 3)] == [2, 0, 1]
        assert result.inputs["frozen_prefix_cached"] is cached
        assert result.inputs["views_used"] == 3 and result.inputs["augment_seed"] == 0


def test_train_logits_needs_an_epoch_started(tiny_data, smoke_profile):
    torch.manual_seed(0)
    backbone, m, _ = build_model("finetune_all", "efficientnet_lite0", 64)
    prep = Preprocess(backbone.mean, backbone.std)
    inputs = TrainingInputs(backbone, m.bn_stats, tiny_data.images[:8], tiny_data.images[8:12], smoke_profile.train,
                            CPU, prep)
    with pytest.raises(RuntimeError, match="start_epoch"):
        inputs.train_logits(torch.arange(2))
    inputs.start_epoch(0)
    assert inputs.train_logits(torch.arange(2)).shape == (2, 1)


def test_nan_loss_raises_training_diverged(tiny_data, smoke_profile):
    torch.manual_seed(0)
    backbone, m, _ = build_model("feature_extraction", "efficientnet_lite0", 64)
    with torch.no_grad():
        backbone.head().weight.fill_(float("nan"))
    d = tiny_data
    with pytest.raises(TrainingDiverged, match="^diverged: .*epoch 1"):
        train(backbone, m.bn_stats, d.images[:32], d.labels[:32], d.images[32:], d.labels[32:],
              smoke_profile.train, lr=1e-3, beta1=0.9, device=CPU, seed=0, progress=False)


def test_augmentation_is_seeded_and_stays_in_range():
    x = torch.rand(6, 1, 32, 32)
    a = augment_batch(x, torch.Generator().manual_seed(0))
    b = augment_batch(x, torch.Generator().manual_seed(0))
    c = augment_batch(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1


def test_flip_only_augmentation_mirrors_images():
    x = torch.rand(64, 1, 16, 16)
    cfg = AugmentConfig(flip_probability=1.0, max_rotation_degrees=0, scale_range=(1, 1),
                        max_translation=0, brightness=0, contrast=0)
    out = augment_batch(x, torch.Generator().manual_seed(0), cfg)
    assert torch.allclose(out, x.flip(-1), atol=1e-5)


def test_device_resolution():
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_inference_precision_choices():
    assert inference_dtype(CPU, "float32") == torch.float32
    assert inference_dtype(CPU, "bfloat16") == torch.bfloat16
    assert inference_dtype(torch.device("cuda"), "auto") == torch.bfloat16  # decided without a GPU
    assert inference_dtype(CPU, "auto") == torch.float32  # as the CPU trains: results, not speed
    with pytest.raises(ValueError, match="auto, float32, bfloat16"):
        inference_dtype(CPU, "half")


def test_bf16_inference_ranks_like_float32(tiny_data):
    from scipy.stats import spearmanr

    torch.manual_seed(0)
    backbone, _, _ = build_model("feature_extraction", "efficientnet_lite0", 64)
    fp32 = predict_scores(backbone, tiny_data.images, CPU, precision="float32")
    bf16 = predict_scores(backbone, tiny_data.images, CPU, precision="bfloat16")
    assert not np.array_equal(fp32, bf16)  # it did compute in bf16
    assert np.abs(fp32 - bf16).max() < 0.02
    assert spearmanr(fp32, bf16).statistic > 0.98


@pytest.mark.parametrize("precision", ["float32", "bfloat16", "auto"])
def test_training_records_its_inference_dtype(tiny_data, smoke_profile, precision):
    _, result = _train(tiny_data, smoke_profile, max_epochs=1, inference_precision=precision)
    assert result.inputs["inference_dtype"] == str(inference_dtype(CPU, precision)).removeprefix("torch.")
