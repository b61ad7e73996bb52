"""Every searched hyper-parameter reaches the model: for every registered method and every key of
the space its study searches (the method's own: LoRA's rank and alpha, L2-SP's strength, and
whatever a new plugin declares; and the learning rate and beta1), the model built or trained at
another value of that key differs from the one at the study's first point, all else equal.

"Differs" is judged on what the model computes, not on the configuration. A method's own key: the
built model's parameter shapes, its scores of fixed images once every trainable parameter has
been moved by the same seeded noise (LoRA's alpha scales the adapters' output, which starts at
zero, so it shows only once they have moved), the value of its training penalty there, and its
training stages; if all of these agree, the scores after two optimiser steps must differ. The
learning rate and beta1: the scores after two optimiser steps (training is deterministic for a
seed, checked here, so any difference is the hyper-parameter's).

Also: the values a study samples are the values its trials train with.
"""
from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pytest
import torch
from optuna.distributions import CategoricalDistribution

from benchmark.models.build import build_model
from benchmark.plugins.registry import get_method, list_methods
from benchmark.training.runner import RunSpec, train_model
from benchmark.training.search_space import first_point, search_space
from benchmark.training.trainer import predict_scores

CPU = torch.device("cpu")
SEARCHING = [m.name for m in list_methods() if m.search_space]  # methods with their own hyper-parameters
OPTIMISER_KEYS_ON = ["feature_extraction", "lp_ft"]  # lr and beta1: one optimiser, and training stages


@pytest.fixture(scope="module")
def setting(smoke_profile):
    """The smoke profile, searching beta1 too, one epoch of two steps on 16 training images."""
    from benchmark.data.synthetic import make_synthetic

    profile = dataclasses.replace(
        smoke_profile, train=dataclasses.replace(smoke_profile.train, max_epochs=1, patience=1, batch_size=8),
        search=dataclasses.replace(smoke_profile.search, beta1=(0.85, 0.9, 0.95)))
    data = make_synthetic(24, smoke_profile.backbone.image_size, 5)
    split = {"train": np.arange(16), "val": np.arange(16, 24), "test": np.arange(0)}
    return profile, data, split


def _other_value(dist, value):
    """A value of ``dist`` other than ``value``: another choice, or the bound farther from it."""
    if isinstance(dist, CategoricalDistribution):
        return next(c for c in dist.choices if c != value)
    return dist.high if value - dist.low < dist.high - value else dist.low


def _start(profile, method) -> dict:
    space = search_space(profile, method)
    start = {**method.defaults(), **first_point(profile, method)}
    for key, dist in space.items():
        if key not in start:  # a default outside its own space: start at the first choice
            start[key] = dist.choices[0] if isinstance(dist, CategoricalDistribution) else dist.low
    return start


def _built(setting, method: str, params: dict):
    """What the model built with ``params`` computes once its trainable parameters have moved."""
    profile, data, _ = setting
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        backbone, _, _ = build_model(method, profile.backbone.name, profile.backbone.image_size,
                                     profile.backbone.weights, params)
    with torch.no_grad():
        for name, p in sorted(backbone.model.named_parameters()):
            if p.requires_grad:
                g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
                p.add_(0.05 * torch.randn(p.shape, generator=g))
    hooks = getattr(backbone, "hooks", None)
    penalty = float(hooks.penalty()) if hooks is not None and hooks.penalty is not None else None
    stages = [(s.name, s.lr) for s in hooks.stages] if hooks is not None else []
    shapes = {k: tuple(v.shape) for k, v in backbone.model.state_dict().items()}
    return shapes, predict_scores(backbone, data.images, CPU, precision="float32"), penalty, stages


def _same_build(a, b) -> bool:
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2] == b[2] and a[3] == b[3]


def _trained(setting, method: str, point: dict):
    profile, data, split = setting
    own = {k: v for k, v in point.items() if k not in ("lr", "beta1")}
    config = {**RunSpec(method, "synthetic", profile, lr=point["lr"], beta1=point.get("beta1"),
                        params=own).resolved(), "augment_seed": 0}
    trained = train_model(profile, config, data, split, CPU, progress=False)
    return predict_scores(trained.backbone, data.images, CPU, precision="float32")


@pytest.mark.parametrize("name", SEARCHING)
def test_every_searched_method_parameter_changes_the_model(setting, name):
    profile = setting[0]
    method = get_method(name)
    start = _start(profile, method)
    own = {k: start[k] for k in method.search_space}
    base = _built(setting, name, own)
    assert _same_build(base, _built(setting, name, own)), f"{name}: building is not repeatable"
    for key, dist in method.search_space.items():
        other = {**own, key: _other_value(dist, start[key])}
        if _same_build(base, _built(setting, name, other)):
            assert not np.array_equal(_trained(setting, name, {**start, **other}), _trained(setting, name, start)), (
                f"{name}: {key} = {other[key]} gives the same model as {key} = {start[key]}, built and trained: "
                "the searched value does not reach the model")


@pytest.mark.parametrize("name", OPTIMISER_KEYS_ON)
def test_the_learning_rate_and_beta1_change_the_trained_model(setting, name):
    profile = setting[0]
    method = get_method(name)
    space = search_space(profile, method)
    assert {"lr", "beta1"} <= set(space)
    start = _start(profile, method)
    scores = _trained(setting, name, start)
    assert np.array_equal(scores, _trained(setting, name, start)), f"{name}: training is not repeatable"
    for key in ("lr", "beta1"):
        point = {**start, key: _other_value(space[key], start[key])}
        assert not np.array_equal(_trained(setting, name, point), scores), (
            f"{name}: {key} = {point[key]} trains the same model as {key} = {start[key]}")


@pytest.mark.slow
def test_the_values_a_study_samples_are_the_values_its_trials_train_with(tmp_path, monkeypatch):
    """Every method with its own search space (and one without): each trial's learning rate, beta1
    and method parameters are what the trainer receives (trials stop before training)."""
    import benchmark.training.search as search
    from benchmark.common.profiles import load_profile
    from benchmark.data.synthetic import make_synthetic
    from benchmark.training.runner import evaluation_splits
    from benchmark.training.trainer import TrialFailed

    path = tmp_path / "tpe.toml"
    path.write_text('name = "tpe"\n[backbone]\nimage_size = 64\n[data]\nsynthetic_images = 48\n'
                    "[search]\nsampler = 'tpe'\nn_trials = 4\nbeta1 = [0.85, 0.9, 0.95]\n"
                    "[evaluation]\nscheme = 'holdout'\nn_bootstrap = 10\n")
    profile = load_profile(path)
    data = make_synthetic(48, 64, 0)
    fold = evaluation_splits(profile, data)[0]
    received = []

    def record_and_stop(profile, config, *args, **kwargs):
        received.append(config)
        raise TrialFailed("stopped by the test before training")

    monkeypatch.setattr(search, "train_model", record_and_stop)
    names = [m.name for m in list_methods() if m.search_space] + ["feature_extraction"]
    for name in names:
        received.clear()
        record = search.run_search(name, profile, "synthetic", data, fold, tmp_path / name, tmp_path / name,
                                   device="cpu", progress=False)
        trials = record["search"]["trials"]
        assert len(trials) == len(received) == 4
        own = set(get_method(name).search_space)
        for trial, config in zip(trials, received):
            params = trial["params"]
            assert config["lr"] == params["lr"] and config["beta1"] == params["beta1"], name
            assert {k: v for k, v in config["method_params"].items() if k in own} == \
                {k: v for k, v in params.items() if k in own}, name
