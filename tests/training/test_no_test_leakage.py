"""Nothing is decided on test images, enforced: perturb the test images (their labels, and their
pixels so their scores change) and show that the trained model's history (early stopping, the
learning-rate schedule, the best epoch), the validation threshold, the selected trial and the
reference's C and threshold stay exactly the same; perturb the validation images instead and
show that they do change (so the comparison can fail).

The perturbations keep the fold: it is computed once from the unperturbed data and handed to the
code under test, as the suite does (the split itself depends on every label by design).
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import torch

from benchmark.training.runner import RunSpec, evaluation_splits, record_run, train_model

CPU = torch.device("cpu")


def _perturbed(data, index, pixels: bool = True):
    """``data`` with the labels of ``index`` flipped (and their pixels inverted)."""
    labels, images = data.labels.copy(), data.images.copy()
    labels[index] = 1 - labels[index]
    if pixels:
        images[index] = 255 - images[index]
    return dataclasses.replace(data, labels=labels, images=images)


@pytest.fixture(scope="module")
def setting(smoke_profile):
    """The smoke profile's data and fold 0, trained long enough for the learning rate to decay and
    early stopping to be possible (patience 2, decay after every epoch without improvement)."""
    from benchmark.data.synthetic import make_synthetic

    train = dataclasses.replace(smoke_profile.train, max_epochs=5, patience=2, lr_decay_patience=1,
                                lr_decay_factor=0.5)
    profile = dataclasses.replace(smoke_profile, train=train)
    data = make_synthetic(profile.data.synthetic_images, profile.backbone.image_size, profile.data.synthetic_seed)
    return profile, data, evaluation_splits(profile, data)[0]


def _train_and_test(profile, data, fold, out_dir, method="feature_extraction", lr=0.01):
    config = {**RunSpec(method, "synthetic", profile, fold.repeat, fold.fold, lr=lr).resolved(),
              "augment_seed": fold.augment_seed}  # as runner.run builds it
    trained = train_model(profile, config, data, fold.split, CPU, progress=False)
    return record_run(out_dir, trained, data, fold, profile, CPU, time.perf_counter())


def _decisions(record) -> dict:
    training = record["training"]
    return {"history": [{k: v for k, v in h.items() if k != "seconds"} for h in training["history"]],
            "best_epoch": training["best_epoch"], "epochs_run": training["epochs_run"],
            "stopped_early": training["stopped_early"], "threshold": record["metrics"]["validation_threshold"]}


def test_test_images_decide_nothing_in_training_or_the_threshold(setting, tmp_path):
    profile, data, fold = setting
    base = _train_and_test(profile, data, fold, tmp_path / "base")
    lrs = [h["lr"] for h in base["training"]["history"]]
    assert len(set(lrs)) > 1, "the schedule under test should decay at least once"
    test = fold.split["test"]
    other = _train_and_test(profile, _perturbed(data, test), fold, tmp_path / "test_perturbed")
    assert other["metrics"]["auc"] != pytest.approx(base["metrics"]["auc"])  # the test images did change
    assert _decisions(other) == _decisions(base)
    # the converse: the validation images decide the epoch, the schedule and the threshold
    val = fold.split["val"]
    flipped = _train_and_test(profile, _perturbed(data, val[: len(val) // 2], pixels=False), fold,
                              tmp_path / "val_perturbed")
    changed = _decisions(flipped)
    assert changed["history"] != _decisions(base)["history"] and changed["threshold"] != base["metrics"]["validation_threshold"]


def _grid_profile(tmp_path):
    from benchmark.common.profiles import load_profile

    path = tmp_path / "grid.toml"
    path.write_text('name = "grid"\n[backbone]\nimage_size = 64\n[data]\nsynthetic_images = 96\n'
                    "[train]\nbatch_size = 8\nmax_epochs = 3\npatience = 3\n"
                    "[search]\nsampler = 'grid'\nlr = [0.002, 0.01, 0.05]\nbeta1 = [0.9]\nrepeats = 1\ntie_se = 0\n"
                    "[evaluation]\nscheme = 'kfold'\nfolds = 2\nsplit_seeds = [0]\nn_bootstrap = 20\n")
    return load_profile(path)


@pytest.mark.slow
def test_test_images_do_not_change_the_selected_trial(setting, tmp_path):
    from benchmark.training.search import run_search

    _, data, _ = setting
    profile = _grid_profile(tmp_path)
    fold = evaluation_splits(profile, data)[0]

    def search(variant, d):
        return run_search("feature_extraction", profile, "synthetic", d, fold, tmp_path / variant / "out",
                          tmp_path / variant, device="cpu", progress=False)["search"]

    def outcome(s):
        return s["selected_trial"], s["tied_trials"], [(t["params"], t["value"], t["val_loss"]) for t in s["trials"]]

    base = search("base", data)
    assert outcome(search("test", _perturbed(data, fold.split["test"]))) == outcome(base)
    # the converse: other validation labels give other trial values and, for one of these
    # perturbations at least, another selected trial (tried in order, stopping at the first)
    val = fold.split["val"]
    changed = []
    for name, index in (("all", val), ("first_half", val[: len(val) // 2]), ("second_half", val[len(val) // 2:])):
        other = search(f"val_{name}", _perturbed(data, index, pixels=False))
        assert [t["value"] for t in other["trials"]] != [t["value"] for t in base["trials"]]
        changed.append(other["selected_trial"] != base["selected_trial"])
        if changed[-1]:
            break
    assert any(changed), "no perturbation of the validation labels changed the selected trial"


def test_the_references_c_and_threshold_ignore_the_images_it_does_not_fit():
    from benchmark.training.reference import probe_fold

    rng = np.random.default_rng(0)
    n, d = 120, 12
    labels = (np.arange(n) % 3 == 0).astype(int)
    features = rng.normal(size=(n, d)) + 0.8 * labels[:, None] * rng.normal(size=d)
    groups = np.arange(n)
    fit = np.arange(n) < 80
    model, threshold = probe_fold(features, labels, groups, fit)
    outside = labels.copy()
    outside[~fit] = 1 - outside[~fit]
    noisy = features.copy()
    noisy[~fit] = rng.normal(size=(int((~fit).sum()), d))
    again, again_threshold = probe_fold(noisy, outside, groups, fit)
    assert again.best_params_ == model.best_params_ and again_threshold == threshold
    assert np.array_equal(again.predict_proba(features)[:, 1], model.predict_proba(features)[:, 1])
    # the converse: the images it fits decide C, the threshold and the scores
    inside = labels.copy()
    inside[np.flatnonzero(fit)[:20]] = 1 - inside[np.flatnonzero(fit)[:20]]
    changed, changed_threshold = probe_fold(features, inside, groups, fit)
    assert not np.allclose(changed.predict_proba(features)[:, 1], model.predict_proba(features)[:, 1])
    assert changed_threshold != threshold


@pytest.mark.slow
def test_a_folds_reference_ignores_its_own_test_images(tmp_path):
    """The reference on a run folder: flipping the labels of fold 0's test images leaves fold 0's
    threshold and scores as they were, and changes fold 1's (which trains on them)."""
    import pandas as pd

    from benchmark.common.io import write_json_atomic
    from benchmark.common.profiles import load_profile
    from benchmark.data.synthetic import make_synthetic
    from benchmark.training.reference import reference_predictions
    from benchmark.training.suite import save_test_images

    profile = load_profile("smoke")
    data = make_synthetic(90, 64, 0)
    folds = evaluation_splits(profile, data)
    rows = {}
    for variant, d in (("base", data), ("flipped", _perturbed(data, folds[0].split["test"], pixels=False))):
        run_dir = tmp_path / variant
        save_test_images(run_dir, d, folds)
        write_json_atomic(run_dir / "suite.json", {"profile": profile.as_dict(), "dataset": "synthetic"})
        rows[variant] = reference_predictions(run_dir).sort_values(["fold", "image_id"]).reset_index(drop=True)
    base, flipped = rows["base"], rows["flipped"]
    fold0 = base["fold"] == 0
    pd.testing.assert_series_equal(base.loc[fold0, "score"], flipped.loc[fold0, "score"])
    assert base.loc[fold0, "threshold"].iloc[0] == flipped.loc[fold0, "threshold"].iloc[0]
    assert not np.allclose(base.loc[~fold0, "score"], flipped.loc[~fold0, "score"])
