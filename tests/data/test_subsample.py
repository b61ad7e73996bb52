"""Training-set subsampling for data-efficiency curves: nested, stratified, whole groups, seeded, and the
profile option that asks for it ([data] train_sizes)."""
from __future__ import annotations

import numpy as np
import pytest

from benchmark.common.profiles import ProfileError, load_profile
from benchmark.common.train_sizes import leaderboard_size, size_order
from benchmark.data.split import kfold_splits
from benchmark.data.subsample import nested_subsets, smallest_size

SIZES = [20, 40, 80, 160, "all"]


def _data(n=400, malignant=0.35, pairs=40, triples=10, seed=0):
    """Labels and duplicate groups: ``pairs`` groups of two and ``triples`` of three images (same label)."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < malignant).astype(int)
    groups = np.arange(n)
    i = 0
    for size, count in ((2, pairs), (3, triples)):
        for _ in range(count):
            labels[i:i + size] = labels[i]
            groups[i:i + size] = i
            i += size
    return labels, groups


def _fold(labels, groups):
    return kfold_splits(labels, groups, 5, seed=0)[0]


def test_each_smaller_subset_lies_inside_every_larger_one():
    labels, groups = _data()
    train = _fold(labels, groups)["train"]
    subsets = nested_subsets(train, labels, groups, SIZES, seed=3)
    assert list(subsets) == ["20", "40", "80", "160", "all"]
    order = list(subsets.values())
    for small, large in zip(order, order[1:]):
        assert set(small) < set(large)
    assert set(order[-1]) == set(train)  # "all": the training part itself
    assert all(set(s) <= set(train) for s in order)


def test_subsets_are_stratified_and_sized_as_asked():
    labels, groups = _data()
    train = _fold(labels, groups)["train"]
    share = labels[train].mean()
    for label, subset in nested_subsets(train, labels, groups, SIZES, seed=3).items():
        n = len(train) if label == "all" else int(label)
        assert abs(len(subset) - n) <= 2, (label, len(subset))  # whole groups of at most 3 images
        assert set(labels[subset]) == {0, 1}
        assert abs(labels[subset].sum() - share * n) <= 2.5, (label, labels[subset].sum(), share * n)


def test_singletons_meet_every_size_exactly():
    labels, groups = _data(pairs=0, triples=0)
    train = _fold(labels, groups)["train"]
    subsets = nested_subsets(train, labels, groups, [10, 33, 101], seed=1)
    assert [len(s) for s in subsets.values()] == [10, 33, 101]


def test_no_group_is_split():
    labels, groups = _data(pairs=60, triples=30)
    train = _fold(labels, groups)["train"]
    for subset in nested_subsets(train, labels, groups, SIZES, seed=5).values():
        inside = set(subset.tolist())
        for g in np.unique(groups[subset]):
            members = set(np.flatnonzero(groups == g).tolist()) & set(train.tolist())
            assert members <= inside, f"group {g} split"


def test_the_same_seed_draws_the_same_subsets_another_seed_others():
    labels, groups = _data()
    train = _fold(labels, groups)["train"]
    a = nested_subsets(train, labels, groups, SIZES, seed=7)
    b = nested_subsets(train, labels, groups, SIZES, seed=7)
    c = nested_subsets(train, labels, groups, SIZES, seed=8)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["40"], c["40"])


def test_sizes_are_served_in_order_whatever_order_they_are_given():
    labels, groups = _data()
    train = _fold(labels, groups)["train"]
    a = nested_subsets(train, labels, groups, ["all", 80, 20], seed=2)
    b = nested_subsets(train, labels, groups, [20, 80, "all"], seed=2)
    assert list(a) == ["20", "80", "all"] and all(np.array_equal(a[k], b[k]) for k in a)


def test_a_size_larger_than_the_training_part_or_too_small_for_both_classes_is_refused():
    labels, groups = _data()
    train = _fold(labels, groups)["train"]
    with pytest.raises(ValueError, match=r"\[data\] train_sizes: 5000 images is more than fold 0 holds"):
        nested_subsets(train, labels, groups, [5000], seed=0, where="fold 0")
    floor = smallest_size(labels[train])
    assert floor >= 2
    with pytest.raises(ValueError, match=rf"\[data\] train_sizes: 1 images would leave a class.*smallest size "
                                         rf"that keeps both classes is {floor}"):
        nested_subsets(train, labels, groups, [1], seed=0)
    assert set(labels[nested_subsets(train, labels, groups, [floor], seed=0)[str(floor)]]) == {0, 1}


def test_sized_folds_keep_validation_and_test_images_and_subsample_training(smoke_profile, tiny_data):
    from dataclasses import replace

    from benchmark.training.runner import evaluation_splits, sized_folds

    profile = replace(smoke_profile, data=replace(smoke_profile.data, train_sizes=("10", "all")))
    folds = evaluation_splits(profile, tiny_data)
    sized = sized_folds(profile, tiny_data, folds)
    assert len(sized) == 2 * len(folds)
    for f in folds:
        mine = [s for s in sized if (s.repeat, s.fold) == (f.repeat, f.fold)]
        assert [s.train_size for s in mine] == ["10", None] and mine[1] is f  # "all": the fold itself
        assert mine[0].folder == f"{f.folder}-size-10"
        for s in mine:
            assert np.array_equal(s.split["val"], f.split["val"]) and np.array_equal(s.split["test"], f.split["test"])
        assert len(mine[0].split["train"]) == 10 and set(mine[0].split["train"]) < set(f.split["train"])
    assert sized_folds(smoke_profile, tiny_data, folds) == folds  # no sizes: the folds as they are


def test_profile_option(tmp_path):
    def load(text):
        path = tmp_path / "p.toml"
        path.write_text('base = "smoke"\n[data]\n' + text)
        return load_profile(path)

    assert load('train_sizes = [50, 25, "all"]\n').data.train_sizes == ("25", "50", "all")
    for bad, message in (("[0]", "positive number"), ("[2.5]", "positive number"), ('["half"]', "positive number"),
                         ("[25, 25]", "lists a size twice"), ('["all"]', "at least one number")):
        with pytest.raises(ProfileError, match=message):
            load(f"train_sizes = {bad}\n")
    # the sizes are not part of a study's fingerprint (each size is in its study's name instead)
    assert load('train_sizes = [25]\n').training_dict() == load("").training_dict()
    assert load_profile("data_efficiency").data.train_sizes[-1] == "all"
    assert size_order([200, "all", 25]) == ["25", "200", "all"] and leaderboard_size(["25", "200"]) == "200"
