import dataclasses

import numpy as np
import pytest
import torch

from benchmark.augment import AugmentConfig, augment_batch
from benchmark.model import build_model
from benchmark.trainer import (
    TrainingDiverged,
    class_weights,
    inference_dtype,
    predict_scores,
    resolve_device,
    train,
)

CPU = torch.device("cpu")


def _train(tiny_data, profile, method="feature_extraction", seed=0, **overrides):
    torch.manual_seed(seed)
    backbone, m, _ = build_model(method, "efficientnet_lite0", 64)
    config = dataclasses.replace(profile.train, **overrides)
    d = tiny_data
    result = train(backbone, m.bn_stats, d.images[:32], d.labels[:32], d.images[32:], d.labels[32:],
                   config, lr=1e-3, beta1=0.9, device=CPU, seed=seed, progress=False)
    return backbone, result


def test_class_weights_are_inverse_frequency():
    w = class_weights(np.array([0, 0, 0, 1]))
    assert torch.allclose(w, torch.tensor([4 / 6, 4 / 2]))
    with pytest.raises(ValueError, match="both classes"):
        class_weights(np.array([0, 0]))


def test_training_is_repeatable_for_a_seed(tiny_data, smoke_profile):
    b1, r1 = _train(tiny_data, smoke_profile, "finetune_last_block", seed=1)
    b2, r2 = _train(tiny_data, smoke_profile, "finetune_last_block", seed=1)
    s1 = predict_scores(b1, tiny_data.images, CPU)
    s2 = predict_scores(b2, tiny_data.images, CPU)
    assert np.array_equal(s1, s2)
    assert [h["train_loss"] for h in r1.history] == [h["train_loss"] for h in r2.history]


def test_best_validation_weights_are_kept(tiny_data, smoke_profile):
    backbone, result = _train(tiny_data, smoke_profile, max_epochs=4, patience=10)
    best = max(result.history, key=lambda h: (h["val_accuracy"], -h["val_loss"]))
    assert result.best_epoch == best["epoch"]
    scores = predict_scores(backbone, tiny_data.images[32:], CPU, precision=smoke_profile.train.inference_precision)
    assert np.mean((scores >= 0.5) == (tiny_data.labels[32:] == 1)) == pytest.approx(best["val_accuracy"])


def test_early_stopping_and_learning_rate_decay(tiny_data, smoke_profile):
    # lr 0 cannot improve after the first epoch: stop after `patience` epochs more
    torch.manual_seed(0)
    backbone, m, _ = build_model("feature_extraction", "efficientnet_lite0", 64)
    config = dataclasses.replace(smoke_profile.train, max_epochs=20, patience=3, lr_decay_patience=1,
                                 lr_decay_factor=0.5)
    d = tiny_data
    result = train(backbone, m.bn_stats, d.images[:32], d.labels[:32], d.images[32:], d.labels[32:],
                   config, lr=0.0, beta1=0.9, device=CPU, seed=0, progress=False)
    assert result.epochs_run == 4 and result.stopped_early and result.best_epoch == 1


def test_learning_rate_is_multiplied_after_patience(tiny_data, smoke_profile):
    torch.manual_seed(0)
    backbone, m, _ = build_model("feature_extraction", "efficientnet_lite0", 64)
    config = dataclasses.replace(smoke_profile.train, max_epochs=6, patience=99, lr_decay_patience=2,
                                 lr_decay_factor=0.9)
    d = tiny_data
    result = train(backbone, m.bn_stats, d.images[:32], d.labels[:32], d.images[32:], d.labels[32:],
                   config, lr=1e-12, beta1=0.9, device=CPU, seed=0, progress=False)
    lrs = [h["lr"] for h in result.history]
    assert lrs == pytest.approx([1e-12, 1e-12, 1e-12, 0.9e-12, 0.9e-12, 0.81e-12])


def test_nan_loss_raises_training_diverged(tiny_data, smoke_profile):
    torch.manual_seed(0)
    backbone, m, _ = build_model("feature_extraction", "efficientnet_lite0", 64)
    with torch.no_grad():
        backbone.head().weight.fill_(float("nan"))
    d = tiny_data
    with pytest.raises(TrainingDiverged, match="epoch 1"):
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
