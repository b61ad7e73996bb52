"""What a hyper-parameter study searches, and which study it is: pure functions of the profile and method.

- ``grid`` (the paper's protocol, Byra 2021 section 3.4): every learning rate x beta1 of the
  profile, each trained ``repeats`` times with different training seeds (:func:`grid_points`);
  the method's own hyper-parameters keep their defaults. The same grid for every method, as in
  the paper.
- ``tpe``: the method's own space (:func:`search_space`): its learning-rate prior on a log scale
  (``register_method(lr=...)``, or the profile's ``lr_range``), beta1 where the profile lists
  more than one, and the method's own hyper-parameters. The first trial is the method's default
  point (:func:`first_point`: the centre of its learning-rate range).

:func:`trial_slots` is every trial a study runs, as queued when it is created. A study's name
(:func:`study_name`) carries a fingerprint of everything that decides its trials
(:func:`study_fingerprint`: the profile's training, search and evaluation settings, the
method's space, the data's checksum), so a changed profile makes a new study and never returns
an old result.

Nothing here trains, imports torch or opens a study: ``petl-bench methods`` shows the spaces
quickly, and :mod:`benchmark.training.search` runs the studies.
"""
from __future__ import annotations

import hashlib
import itertools
import json

from optuna.distributions import CategoricalDistribution, FloatDistribution

from benchmark.common.profiles import Profile
from benchmark.plugins.registry import Method


def search_space(profile: Profile, method: Method) -> dict:
    """The distributions a study samples: the paper's grid, or the method's own TPE space."""
    s = profile.search
    if s.sampler == "grid":
        return {"lr": CategoricalDistribution(list(s.lr)), "beta1": CategoricalDistribution(list(s.beta1))}
    low, high = s.lr_range or method.lr
    space = {"lr": FloatDistribution(low, high, log=True)}
    if len(s.beta1) > 1:
        space["beta1"] = CategoricalDistribution(list(s.beta1))
    space.update(method.search_space)
    return space


def first_point(profile: Profile, method: Method) -> dict:
    """The first trial of a TPE study: the centre of the learning-rate range, defaults elsewhere."""
    space, defaults = search_space(profile, method), method.defaults()
    low, high = space["lr"].low, space["lr"].high
    point = {"lr": float(f"{(low * high) ** 0.5:.3g}")}
    if "beta1" in space:
        point["beta1"] = profile.train.beta1 if profile.train.beta1 in space["beta1"].choices \
            else space["beta1"].choices[len(space["beta1"].choices) // 2]
    for name, dist in space.items():
        if name in ("lr", "beta1") or name not in defaults:
            continue
        value = defaults[name]
        if isinstance(dist, CategoricalDistribution):
            if value in dist.choices:
                point[name] = value
        elif dist.low <= value <= dist.high:
            point[name] = value
    return point


def describe_space(profile: Profile, method: Method) -> str:
    """One line: the space a study of ``method`` searches under ``profile``."""
    parts = []
    for name, dist in search_space(profile, method).items():
        if isinstance(dist, CategoricalDistribution):
            parts.append(f"{name} in {list(dist.choices)}")
        else:
            parts.append(f"{name} in [{dist.low:g}, {dist.high:g}]{' (log)' if dist.log else ''}")
    return "; ".join(parts)


def study_fingerprint(profile: Profile, method: Method, data_checksum: str) -> str:
    """Short hash of what decides a study's trials: a change makes a new study."""
    what = {"profile": profile.training_dict(), "space": describe_space(profile, method),
            "method_lr": list(method.lr), "bn_stats": method.bn_stats, "data": data_checksum}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:10]


def study_name(method: str, backbone: str, repeat: int, fold: int, fingerprint: str,
               train_size: str | None = None) -> str:
    """``<method>.<backbone>.repeat-<r>.fold-<f>.<fingerprint>``: one study per fold and set-up; a fold's
    training subset (``[data] train_sizes``) adds ``.size-<n>`` after the fold."""
    size = f".size-{train_size}" if train_size is not None else ""
    return f"{method}.{backbone}.repeat-{repeat}.fold-{fold}{size}.{fingerprint}"


def grid_points(profile: Profile) -> list[dict]:
    """The paper's grid: every learning rate x beta1 of the profile, once per repeat."""
    s = profile.search
    return [{"lr": lr, "beta1": b1, "repeat": r}
            for lr, b1, r in itertools.product(s.lr, s.beta1, range(s.repeats))]


def trial_slots(profile: Profile, method: Method) -> list[dict]:
    """The fixed parameters of every trial a study runs: the grid's points, or the TPE study's
    first point and open slots ({}: the sampler proposes every parameter when a process takes it)."""
    if profile.search.sampler == "grid":
        return grid_points(profile)
    return [first_point(profile, method)] + [{} for _ in range(max(profile.search.n_trials - 1, 0))]
