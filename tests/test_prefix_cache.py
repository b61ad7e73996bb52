"""Frozen-prefix caching gives the same numbers as running the whole network."""
import dataclasses

import numpy as np
import torch

from benchmark import prefix_cache
from benchmark.backbones import create_structure
from benchmark.model import apply_method, build_model, set_train_mode
from benchmark.registry import get_method
from benchmark.trainer import Preprocess, predict_scores, train

CPU = torch.device("cpu")


def _prefix_length(name, backbone="efficientnet_lite0"):
    adapter = create_structure(backbone, image_size=64)
    method = get_method(name)
    apply_method(adapter, method)
    return adapter, prefix_cache.frozen_prefix_length(adapter, method.bn_stats)


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
    prep = Preprocess(adapter.mean, adapter.std)
    images = np.random.default_rng(0).integers(0, 255, (10, 64, 64), dtype=np.uint8)
    prefix_cache.clear()
    features = prefix_cache.prefix_features(adapter, n, images, views=1, seed=0, augment=False,
                                            device=CPU, preprocess=prep)
    _, suffix = prefix_cache.split_model(adapter, n)
    with torch.no_grad():
        cached = torch.sigmoid(suffix(features[0]).squeeze(1)).numpy()
    assert np.allclose(cached, predict_scores(adapter, images, CPU), atol=1e-5)


def test_cache_is_reused_across_trials_and_views_differ():
    adapter, n = _prefix_length("feature_extraction")
    prep = Preprocess(adapter.mean, adapter.std)
    images = np.random.default_rng(1).integers(0, 255, (6, 64, 64), dtype=np.uint8)
    prefix_cache.clear()
    a = prefix_cache.prefix_features(adapter, n, images, views=3, seed=0, augment=True, device=CPU,
                                     preprocess=prep)
    b = prefix_cache.prefix_features(adapter, n, images, views=3, seed=0, augment=True, device=CPU,
                                     preprocess=prep)
    assert a is b and a.shape[:2] == (3, 6)
    assert not torch.allclose(a[0], a[1])  # augmented views are different images


def test_training_uses_the_cache_and_matches_uncached_validation(tiny_data, smoke_profile):
    d = tiny_data
    results = {}
    for views in (0, 4):
        torch.manual_seed(0)
        backbone, m, _ = build_model("feature_extraction", "efficientnet_lite0", 64)
        config = dataclasses.replace(smoke_profile.train, cached_views=views, max_epochs=2,
                                     inference_precision="float32")
        r = train(backbone, m.bn_stats, d.images[:32], d.labels[:32], d.images[32:], d.labels[32:], config,
                  lr=1e-3, beta1=0.9, device=CPU, seed=0, progress=False)
        results[views] = (r, backbone)
    assert results[0][0].inputs == {"frozen_prefix_cached": False, "inference_dtype": "float32"}
    assert results[4][0].inputs["frozen_prefix_cached"] and results[4][0].inputs["cached_views"] == 4
    # the validation score of the kept model, recomputed through the whole network
    r, backbone = results[4]
    scores = predict_scores(backbone, d.images[32:], CPU)
    assert np.mean((scores >= 0.5) == (d.labels[32:] == 1)) == r.best_val_accuracy


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
    prep = Preprocess(adapter.mean, adapter.std)
    images = np.random.default_rng(2).integers(0, 255, (6, 64, 64), dtype=np.uint8)
    prefix_cache.clear()
    common = dict(views=1, seed=0, augment=False, device=CPU, preprocess=prep)
    fp32 = prefix_cache.prefix_features(adapter, n, images, precision="float32", **common)
    bf16 = prefix_cache.prefix_features(adapter, n, images, precision="bfloat16", **common)
    assert fp32 is not bf16 and bf16.dtype == torch.float32  # computed in bf16, stored as float32
    assert not torch.equal(fp32, bf16)
    assert torch.allclose(fp32, bf16, rtol=0.05, atol=0.05)
