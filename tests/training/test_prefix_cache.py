"""Frozen-prefix caching gives the same numbers as running the whole network, on the same
augmented images."""
import dataclasses

import numpy as np
import pytest
import torch

from benchmark.training import prefix_cache
from benchmark.models.backbones import create_structure
from benchmark.models.build import apply_method, build_model
from benchmark.plugins.registry import get_method
from benchmark.training.trainer import TrainingInputs, epoch_view, predict_scores, train, view_index
from benchmark.training.device import Preprocess

CPU = torch.device("cpu")


def _prefix_length(name, backbone="efficientnet_lite0"):
    adapter = create_structure(backbone, image_size=64)
    method = get_method(name)
    apply_method(adapter, method)
    return adapter, prefix_cache.frozen_prefix_length(adapter, method.bn_stats)


def _views(adapter, n, images, seed=0, augment=False, **kwargs):
    """The cache entry of ``images`` with the trainer's own views."""
    prep = Preprocess(adapter.mean, adapter.std)
    x = torch.as_tensor(images)
    return prefix_cache.prefix_views(adapter, n, images, seed, augment, CPU,
                                     make_view=lambda v: epoch_view(x, seed, v, prep, augment), **kwargs)


def test_prefix_ends_at_the_first_trained_module():
    adapter, n = _prefix_length("feature_extraction")
    names = [name for name, _ in adapter.forward_sequence()]
    assert names[n] == "classifier"  # everything before the head is frozen
    adapter, n = _prefix_length("finetune_last_block")
    assert names[n] == "blocks.6.0"
    _, n = _prefix_length("finetune_all")
    assert n == 0
    _, n = _prefix_length("bitfit")  # the stem's batch norm already trains its shift
    assert names[n] == "bn1"
    adapter, n = _prefix_length("finetune_last_block", "resnet18")
    assert [name for name, _ in adapter.forward_sequence()][n] == "layer4.1"


def test_suffix_on_cached_prefix_equals_the_whole_model():
    adapter, n = _prefix_length("finetune_last_block")
    adapter.model.eval()
    images = np.random.default_rng(0).integers(0, 255, (10, 64, 64), dtype=np.uint8)
    prefix_cache.clear()
    features = _views(adapter, n, images).view(0)
    _, suffix = prefix_cache.split_model(adapter, n)
    with torch.no_grad():
        cached = torch.sigmoid(suffix(features).squeeze(1)).numpy()
    assert np.allclose(cached, predict_scores(adapter, images, CPU), atol=1e-5)


def test_cache_is_reused_across_trials_views_are_lazy_and_differ():
    adapter, n = _prefix_length("feature_extraction")
    images = np.random.default_rng(1).integers(0, 255, (6, 64, 64), dtype=np.uint8)
    prefix_cache.clear()
    a = _views(adapter, n, images, augment=True)
    assert a.views == {}  # nothing computed before a trial asks for a view
    v0, v1 = a.view(0), a.view(1)
    assert v0.shape == (6, 1280) and sorted(a.views) == [0, 1]
    assert not torch.allclose(v0, v1)  # augmented views are different images
    b = _views(adapter, n, images, augment=True)  # the next trial of the search
    assert b is a and b.view(0) is v0  # reused, not recomputed
    # another augmentation seed, or no augmentation, is another entry
    assert _views(adapter, n, images, seed=1, augment=True) is not a
    assert _views(adapter, n, images, augment=False) is not a


def test_training_uses_the_cache_and_trains_exactly_as_without_it(tiny_data, smoke_profile):
    """Caching changes what an epoch costs, never what a method trains on: with and without the
    cache, feature extraction sees the same augmented images and ends with the same model."""
    d = tiny_data
    results = {}
    for cached in (False, True):
        prefix_cache.clear()
        torch.manual_seed(0)
        backbone, m, _ = build_model("feature_extraction", "efficientnet_lite0", 64)
        config = dataclasses.replace(smoke_profile.train, cache_prefix=cached, max_epochs=2,
                                     inference_precision="float32")
        r = train(backbone, m.bn_stats, d.images[:32], d.labels[:32], d.images[32:], d.labels[32:], config,
                  lr=1e-3, beta1=0.9, device=CPU, seed=0, progress=False, augment_seed=5)
        results[cached] = (r, backbone)
    assert results[False][0].inputs == {"frozen_prefix_cached": False, "inference_dtype": "float32",
                                        "augment_seed": 5, "views_used": 2}
    assert results[True][0].inputs == {"frozen_prefix_cached": True, "inference_dtype": "float32",
                                       "augment_seed": 5, "views_used": 2, "prefix_modules": 21}
    uncached, cached = results[False][0], results[True][0]
    for key in ("train_loss", "val_loss", "val_auc", "val_accuracy"):
        assert [h[key] for h in cached.history] == pytest.approx([h[key] for h in uncached.history], abs=1e-5)
    head = lambda b: torch.cat([p.detach().flatten() for p in b.head().parameters()])  # noqa: E731
    assert torch.allclose(head(results[True][1]), head(results[False][1]), atol=1e-5)
    # the validation score of the kept model, recomputed through the whole network
    r, backbone = results[True]
    scores = predict_scores(backbone, d.images[32:], CPU)
    assert np.mean((scores >= 0.5) == (d.labels[32:] == 1)) == r.best_val_accuracy


def test_cached_and_uncached_methods_see_the_same_augmented_images(tiny_data, smoke_profile):
    """Feature extraction (frozen prefix cached) gets the prefix's outputs on exactly the view
    that full fine-tuning (nothing cached) feeds the whole network, in every epoch; each epoch
    is a fresh augmentation."""
    images = tiny_data.images[:12]
    config = dataclasses.replace(smoke_profile.train, max_epochs=3, inference_precision="float32")
    prefix_cache.clear()
    torch.manual_seed(0)
    fe, fe_m, _ = build_model("feature_extraction", "efficientnet_lite0", 64)
    ft, ft_m, _ = build_model("finetune_all", "efficientnet_lite0", 64)
    prep = Preprocess(fe.mean, fe.std, config.channels_last)
    cached = TrainingInputs(fe, fe_m.bn_stats, images, tiny_data.images[40:], config, CPU, prep, augment_seed=11)
    whole = TrainingInputs(ft, ft_m.bn_stats, images, tiny_data.images[40:], config, CPU, prep, augment_seed=11)
    assert cached.prefix_length > 0 and whole.prefix_length == 0
    prefix, _ = prefix_cache.split_model(fe, cached.prefix_length)
    prefix.eval()
    seen = []
    for epoch in (1, 2, 3):
        view = view_index(epoch, 4, config.max_epochs)
        cached.start_epoch(view)
        whole.start_epoch(view)
        expected = epoch_view(torch.as_tensor(images), 11, view, prep, True)
        assert torch.equal(whole.current, expected)  # what the whole network trains on
        with torch.no_grad():
            assert torch.allclose(cached.current, prefix(whole.current), atol=1e-5)
        seen.append(whole.current.clone())
    assert not torch.allclose(seen[0], seen[1]) and not torch.allclose(seen[1], seen[2])
    # a view is a function of (images, seed, view) alone: the same in another trial, not in another fold
    assert torch.equal(epoch_view(torch.as_tensor(images), 11, 0, prep, True),
                       epoch_view(torch.as_tensor(images), 11, 0, prep, True))
    assert not torch.allclose(epoch_view(torch.as_tensor(images), 12, 0, prep, True),
                              epoch_view(torch.as_tensor(images), 11, 0, prep, True))


def test_random_weight_backbones_of_different_seeds_never_share_an_entry():
    images = np.random.default_rng(3).integers(0, 255, (4, 64, 64), dtype=np.uint8)
    prefix_cache.clear()
    entries, features = [], []
    for seed in (0, 1, 0):
        torch.manual_seed(seed)
        adapter, m, _ = build_model("feature_extraction", "efficientnet_lite0", 64, weights="random")
        n = prefix_cache.frozen_prefix_length(adapter, m.bn_stats)
        entry = _views(adapter, n, images)
        entries.append(entry)
        features.append(entry.view(0))
    assert entries[0] is not entries[1] and not torch.allclose(features[0], features[1])
    assert entries[2] is entries[0]  # the same weights again: the same entry
    # a trained prefix parameter changes the key too
    torch.manual_seed(0)
    adapter, m, _ = build_model("feature_extraction", "efficientnet_lite0", 64, weights="random")
    n = prefix_cache.frozen_prefix_length(adapter, m.bn_stats)
    with torch.no_grad():
        next(adapter.model.parameters()).add_(1e-3)
    assert _views(adapter, n, images) is not entries[0]


def test_cache_respects_its_memory_budget(tiny_data, smoke_profile):
    d = tiny_data
    torch.manual_seed(0)
    backbone, m, _ = build_model("feature_extraction", "efficientnet_lite0", 64)
    config = dataclasses.replace(smoke_profile.train, cache_budget_mb=0, max_epochs=1)
    r = train(backbone, m.bn_stats, d.images[:32], d.labels[:32], d.images[32:], d.labels[32:], config,
              lr=1e-3, beta1=0.9, device=CPU, seed=0, progress=False)
    assert r.inputs["frozen_prefix_cached"] is False


def test_cache_keeps_float32_and_bf16_prefixes_apart():
    adapter, n = _prefix_length("feature_extraction")
    images = np.random.default_rng(2).integers(0, 255, (6, 64, 64), dtype=np.uint8)
    prefix_cache.clear()
    fp32_entry = _views(adapter, n, images, precision="float32")
    bf16_entry = _views(adapter, n, images, precision="bfloat16")
    fp32, bf16 = fp32_entry.view(0), bf16_entry.view(0)
    assert fp32_entry is not bf16_entry and bf16.dtype == torch.float32  # computed in bf16, stored as float32
    assert not torch.equal(fp32, bf16)
    assert torch.allclose(fp32, bf16, rtol=0.05, atol=0.05)
