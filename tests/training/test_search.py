"""Optuna search: the paper's grid, TPE in each method's own space (its default point first,
its own draws, resumed without repeating them), pruning, failed trials, a study per profile,
"no working configuration found", resuming a killed run; and the k-fold splits searched on."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from benchmark.common.profiles import ProfileError, load_profile
from benchmark.plugins.registry import get_method, register_method
from benchmark.training.runner import evaluation_splits
from benchmark.runfolder import REFERENCE_METHOD
from benchmark.training.search import (
    FAILURE_ATTR,
    INTERRUPTED_ATTR,
    NO_WORKING_CONFIGURATION,
    _sampler_and_pruner,
    run_search,
)
from benchmark.training.search_space import (
    describe_space,
    first_point,
    grid_points,
    search_space,
    study_fingerprint,
    study_name,
)
from benchmark.training.study_storage import default_storage
from benchmark.stats import auc_standard_error

ROOT = Path(__file__).resolve().parents[2]


def _profile(tmp_path, text, name="p"):
    """A holdout profile (one split: repeat 0, fold 0) on 48 synthetic images at 64 px, batches
    of 8 (34 training images: enough steps in an epoch for a model to leave the prior loss).
    ``text`` follows the [evaluation] section (a [train] section in it gets the batch size)."""
    path = tmp_path / f"{name}.toml"
    train = "" if "[train]\n" in text else "[train]\nbatch_size = 8\n"
    text = text.replace("[train]\n", "[train]\nbatch_size = 8\n")
    path.write_text(f'name = "{name}"\n[backbone]\nimage_size = 64\n[data]\nsynthetic_images = 48\n{train}'
                    f'[evaluation]\nn_bootstrap = 50\n{text}')
    return load_profile(path)


@pytest.fixture(scope="module")
def data():
    from benchmark.data.synthetic import make_synthetic

    return make_synthetic(48, 64, 0)


def _fold(profile, data, index=0):
    return evaluation_splits(profile, data)[index]


def _search(method, profile, data, tmp_path, out=None, **kwargs):
    fold = _fold(profile, data)
    out = out or tmp_path / "runs" / method / fold.folder
    return run_search(method, profile, "synthetic", data, fold, out, tmp_path, device="cpu", progress=False,
                      **kwargs)


def _study(run_dir, record):
    return optuna.load_study(study_name=record["search"]["study_name"], storage=default_storage(run_dir))


def _study_of(run_dir, method, profile, data, repeat=0, fold=0):
    name = study_name(method, profile.backbone.name, repeat, fold,
                      study_fingerprint(profile, get_method(method), data.checksum))
    return optuna.load_study(study_name=name, storage=default_storage(run_dir))


def _val_counts(data, profile):
    labels = data.labels[_fold(profile, data).split["val"]]
    return int(labels.sum()), int(len(labels) - labels.sum())


def test_paper_grid_points():
    points = grid_points(load_profile("paper"))
    assert len(points) == 27
    assert {(p["lr"], p["beta1"]) for p in points} == {(lr, b) for lr in (1e-3, 1e-2, 1e-1)
                                                       for b in (0.85, 0.9, 0.95)}
    assert sorted({p["repeat"] for p in points}) == [0, 1, 2]


def test_grid_search_selects_on_validation_and_tests_once(tmp_path, data):
    profile = _profile(tmp_path, "[train]\nmax_epochs = 1\n[search]\nsampler = 'grid'\n"
                                 "lr = [0.005, 0.01]\nbeta1 = [0.9]\nrepeats = 2\n")
    out = tmp_path / "runs" / "feature_extraction" / "repeat-0" / "fold-0"
    record = _search("feature_extraction", profile, data, tmp_path, out)
    trials = record["search"]["trials"]
    assert len(trials) == 4 and {(t["params"]["lr"], t["params"]["repeat"]) for t in trials} == {
        (lr, r) for lr in (0.005, 0.01) for r in (0, 1)}
    # one epoch on 34 images: a trial may fail as collapsed (with the reason), never otherwise
    assert all(t["state"] == "COMPLETE" or (t["failure"] or "").startswith("collapsed") for t in trials)
    assert record["search"]["selection_metric"] == "auc"
    from benchmark.training.seeds import sampler_seed
    assert record["config"]["search_seed"] == 0 and record["config"]["split_seed"] == 0
    assert record["search"]["sampler_seed"] == sampler_seed("feature_extraction", 0, 0, 0)
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    # trials within one standard error of the best validation AUC tie; the lowest loss wins
    top = max(t["value"] for t in complete)
    tol = record["search"]["tie_tolerance"]
    assert tol == pytest.approx(auc_standard_error(top, *_val_counts(data, profile)))
    tied = [t for t in complete if t["value"] >= top - tol - 1e-12]
    assert record["search"]["tied_trials"] == sorted(t["number"] for t in tied)
    best = min(tied, key=lambda t: (t["val_loss"], -t["value"], t["number"]))
    assert record["search"]["selected_trial"] == best["number"]
    assert record["config"]["lr"] == best["params"]["lr"]
    assert record["training"]["best_val_auc"] == best["value"] == best["val_auc"]
    # the repeats of one setting train with distinct seeds (shared across settings: paired)
    study = _study(tmp_path, record)
    fold = evaluation_splits(profile, data)[0]
    for t in study.trials:
        if "config" in t.user_attrs:
            assert t.user_attrs["config"]["train_seed"] == fold.train_seed(t.params["repeat"])
    assert len({fold.train_seed(r) for r in (0, 1)}) == 2
    assert (out / "predictions.csv").is_file() and not (out / "trials").exists()
    # a finished study is not searched again
    again = _search("feature_extraction", profile, data, tmp_path, out)
    assert again == record and len(_study(tmp_path, record).trials) == 4


def test_diverged_trial_is_failed_and_the_study_goes_on(tmp_path, data, monkeypatch):
    import benchmark.training.search as search
    from benchmark.training.trainer import TrainingDiverged

    real = search.train_model

    def diverge_at_high_lr(profile, config, *args, **kwargs):
        if config["lr"] == 0.1:
            raise TrainingDiverged("diverged: loss became nan at epoch 1")
        return real(profile, config, *args, **kwargs)

    monkeypatch.setattr(search, "train_model", diverge_at_high_lr)
    profile = _profile(tmp_path, "[train]\nmax_epochs = 1\n[search]\nlr = [0.01, 0.1]\nbeta1 = [0.9]\nrepeats = 1\n")
    record = _search("feature_extraction", profile, data, tmp_path)
    states = {t["params"]["lr"]: t["state"] for t in record["search"]["trials"]}
    assert states == {0.01: "COMPLETE", 0.1: "FAIL"}
    assert record["config"]["lr"] == 0.01 and record["search"]["n_failed"] == 1
    # Optuna stores it as pruned, so that its sampler learns from it (samplers skip failed trials)
    failed = [t for t in _study(tmp_path, record).trials if FAILURE_ATTR in t.user_attrs]
    assert [t.state for t in failed] == [TrialState.PRUNED] and "nan" in failed[0].user_attrs[FAILURE_ATTR]
    assert [t["failure"] for t in record["search"]["trials"] if t["state"] == "FAIL"] == \
        ["diverged: loss became nan at epoch 1"]


@pytest.mark.slow
def test_tpe_with_median_pruner_and_method_search_space(tmp_path, data):
    profile = _profile(tmp_path, "[train]\nmax_epochs = 3\n[search]\nsampler = 'tpe'\nn_trials = 3\n"
                                 "startup_trials = 2\npruner = 'median'\nbeta1 = [0.85, 0.9, 0.95]\n")
    lora = get_method("lora")
    record = _search("lora", profile, data, tmp_path)
    trials = record["search"]["trials"]
    assert len(trials) == 3
    for t in trials:  # failed trials fail on their own (collapsed), with the reason
        assert t["state"] in ("COMPLETE", "PRUNED") or (t["state"] == "FAIL" and t["failure"])
    assert trials[0]["params"] == first_point(profile, lora) == {"lr": 0.001, "beta1": 0.9, "rank": 8, "alpha": 16}
    assert all(t["params"]["rank"] in (4, 8, 16) and 1e-4 <= t["params"]["lr"] <= 1e-2
               and t["params"]["beta1"] in (0.85, 0.9, 0.95) for t in trials)
    assert record["search"]["space"] == describe_space(profile, lora)
    if record.get("status") != NO_WORKING_CONFIGURATION:
        assert record["config"]["method_params"]["rank"] in (4, 8, 16)


def test_search_space_is_the_methods_own(tmp_path):
    smoke = load_profile("smoke")
    fe, ft = get_method("feature_extraction"), get_method("finetune_all")
    assert (search_space(smoke, fe)["lr"].low, search_space(smoke, fe)["lr"].high) == (1e-3, 1e-1)
    assert first_point(smoke, fe) == {"lr": 0.01} and first_point(smoke, ft) == {"lr": 1e-4}
    assert describe_space(smoke, ft) == "lr in [1e-05, 0.001] (log)"
    # the profile's lr_range replaces every method's; several beta1 values are searched, the
    # profile's [train] beta1 first
    wide = _profile(tmp_path, "[train]\nbeta1 = 0.9\n[search]\nsampler = 'tpe'\nlr_range = [1e-5, 1e-1]\n"
                              "beta1 = [0.85, 0.9, 0.95]\n")
    space = search_space(wide, ft)
    assert (space["lr"].low, space["lr"].high) == (1e-5, 1e-1) and list(space["beta1"].choices) == [0.85, 0.9, 0.95]
    assert first_point(wide, ft) == {"lr": 0.001, "beta1": 0.9}
    # the grid is the profile's, the same for every method
    grid = load_profile("paper")
    assert search_space(grid, fe).keys() == search_space(grid, ft).keys() == {"lr", "beta1"}
    assert list(search_space(grid, fe)["lr"].choices) == [1e-3, 1e-2, 1e-1]


def test_study_fingerprint_follows_what_decides_the_trials(tmp_path):
    fe = get_method("feature_extraction")

    def fp(train="", search="", evaluation="n_bootstrap = 50\n", name="p", method=fe, checksum="abc"):
        path = tmp_path / f"{name}.toml"
        path.write_text(f'name = "{name}"\n[train]\n{train}[search]\nsampler = "tpe"\n{search}'
                        f'[evaluation]\n{evaluation}')
        return study_fingerprint(load_profile(path), method, checksum)

    reference = fp()
    assert fp() == reference
    # what only changes reporting or speed, and the profile's name, keep the study
    assert fp(search="parallel_trials = 2\n") == reference
    assert fp(evaluation="n_bootstrap = 9\n") == reference
    assert fp(evaluation="n_bootstrap = 50\nexternal = ['breast_lesions_usg']\n") == reference
    assert fp(name="renamed") == reference
    assert fp(train="cache_prefix = false\ncache_budget_mb = 64\neval_batch_size = 16\n") == reference
    # what changes the trials or their selection makes a new study
    changed = [fp(train="max_epochs = 7\n"), fp(search="n_trials = 3\n"),
               fp(search="selection = 'accuracy'\n"), fp(search="lr_range = [1e-4, 1e-2]\n"),
               fp(search="startup_trials = 2\n"), fp(evaluation="scheme = 'kfold'\nfolds = 3\n"),
               fp(evaluation="split_seeds = [1]\n"), fp(checksum="other data"),
               fp(method=get_method("finetune_all")), fp(search="tie_se = 0\n"),
               fp(search="seed = 1\n")]
    assert reference not in changed and len(set(changed)) == len(changed)
    assert study_name("drs", "resnet101", 1, 3, "0123456789") == "drs.resnet101.repeat-1.fold-3.0123456789"


# -- every study its own draws; a resume continues them; a changed profile is a new study ---------
def test_each_study_draws_its_own_points_after_the_default_first(tmp_path, data, clean_registry):
    """Two methods with the same space: the same default first trial, then each study's own
    draws (the samplers are seeded per method, fold and repeat: benchmark.training.seeds)."""
    @register_method(description="feature extraction under another name", citation="test", lr=(1e-3, 1e-1),
                     trains=lambda backbone, name, owner: False)
    def head_probe(backbone):
        pass

    profile = _profile(tmp_path, "[train]\nmax_epochs = 1\n[search]\nsampler = 'tpe'\nn_trials = 3\n"
                                 "startup_trials = 3\nbeta1 = [0.9]\n")
    lrs = {}
    for method in ("feature_extraction", "head_probe"):
        record = _search(method, profile, data, tmp_path)
        trials = record["search"]["trials"]
        assert [t["number"] for t in trials] == [0, 1, 2]
        assert trials[0]["params"] == first_point(profile, get_method(method)) == {"lr": 0.01}
        lrs[method] = [t["params"]["lr"] for t in trials]
        assert all(1e-3 <= lr <= 1e-1 for lr in lrs[method]) and len(set(lrs[method])) == 3
    assert set(lrs["feature_extraction"][1:]).isdisjoint(lrs["head_probe"][1:])
    # the sampler seeds: one per method, fold and repeat, and another once a study has trials
    from benchmark.training.runner import Fold

    def seed(method, fold, n_existing, split_seed=0, search_seed=0):  # the first number the sampler draws
        study = Fold(0, fold, split_seed, {}, search_seed)
        return _sampler_and_pruner(profile, method, study, n_existing)[0]._random_sampler._rng.rng.randint(2**31)

    assert seed("a", 0, 0) != seed("b", 0, 0) and seed("a", 0, 0) != seed("a", 1, 0) != seed("a", 1, 0, split_seed=1)
    assert seed("a", 0, 0) == seed("a", 0, 0) != seed("a", 0, 2)
    assert seed("a", 0, 0, search_seed=1) != seed("a", 0, 0)  # [search] seed: other draws on the same fold


def _interrupt_training(monkeypatch, at_call, exception):
    """Make the ``at_call``-th training of this test raise ``exception`` (after its trial drew its point)."""
    import benchmark.training.search as search

    real, calls = search.train_model, []

    def train_model(*args, **kwargs):
        calls.append(1)
        if len(calls) == at_call:
            raise exception
        return real(*args, **kwargs)

    monkeypatch.setattr(search, "train_model", train_model)
    return real


def test_a_resumed_tpe_study_does_not_repeat_its_first_draws(tmp_path, data, monkeypatch):
    """A run killed in the third trial of a study (SystemExit, like SIGKILL, leaves the trial
    'running'), then run again: the lost trial is redone with its own parameters, and the
    sampler goes on drawing new points; it does not start its sequence over, which would
    repeat the learning rates the study has tried."""
    import benchmark.training.search as search

    profile = _profile(tmp_path, "[train]\nmax_epochs = 1\n[search]\nsampler = 'tpe'\nn_trials = 4\n"
                                 "startup_trials = 10\nbeta1 = [0.9]\n")
    real = _interrupt_training(monkeypatch, 3, SystemExit("killed"))
    with pytest.raises(SystemExit):
        _search("feature_extraction", profile, data, tmp_path)
    study = _study_of(tmp_path, "feature_extraction", profile, data)
    drawn = {t.number: t.params["lr"] for t in study.trials if t.params}
    assert sorted(drawn) == [0, 1, 2] and len(set(drawn.values())) == 3 and drawn[0] == 0.01

    monkeypatch.setattr(search, "train_model", real)
    record = _search("feature_extraction", profile, data, tmp_path)
    trials = record["search"]["trials"]
    assert record["search"]["interrupted_trials_redone"] == 1
    assert trials[2]["state"] == "FAIL" and not trials[2]["failure"]
    assert {t["number"]: t["params"]["lr"] for t in trials[:3]} == drawn  # the history is kept
    later = [t["params"]["lr"] for t in trials[3:]]
    assert len(later) == 2 and drawn[2] in later  # the killed trial redone with its parameters
    new = [lr for lr in later if lr != drawn[2]]
    assert len(new) == 1 and new[0] not in drawn.values()  # a new draw, not the first draws again
    assert sum(t["state"] != "FAIL" or bool(t["failure"]) for t in trials) == 4  # the budget, done


def test_a_study_stopped_with_ctrl_c_resumes_and_completes(tmp_path, data, monkeypatch):
    """Ctrl-C in a trial (KeyboardInterrupt: Optuna marks the trial failed and re-raises): run
    again, the study redoes that trial and completes its budget."""
    import benchmark.training.search as search

    profile = _profile(tmp_path, "[train]\nmax_epochs = 1\n[search]\nsampler = 'tpe'\nn_trials = 3\n"
                                 "startup_trials = 10\nbeta1 = [0.9]\n")
    real = _interrupt_training(monkeypatch, 2, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        _search("feature_extraction", profile, data, tmp_path)
    monkeypatch.setattr(search, "train_model", real)
    record = _search("feature_extraction", profile, data, tmp_path)
    trials = record["search"]["trials"]
    assert sum(t["state"] != "FAIL" or bool(t["failure"]) for t in trials) == 3  # the budget, done
    assert trials[1]["state"] == "FAIL" and not trials[1]["failure"]  # the interrupted one, redone later
    assert trials[1]["params"]["lr"] in [t["params"]["lr"] for t in trials[2:]]


def test_a_changed_profile_makes_a_new_study_and_never_returns_the_old_result(tmp_path, data):
    search = "[search]\nsampler = 'tpe'\nn_trials = 1\nbeta1 = [0.9]\n"
    one = _profile(tmp_path, "[train]\nmax_epochs = 1\npatience = 5\n" + search)
    out = tmp_path / "runs" / "feature_extraction" / "repeat-0" / "fold-0"
    first = _search("feature_extraction", one, data, tmp_path, out)
    assert _search("feature_extraction", one, data, tmp_path, out) == first  # unchanged: not searched again

    two = _profile(tmp_path, "[train]\nmax_epochs = 2\npatience = 5\n" + search)  # same name, same file
    second = _search("feature_extraction", two, data, tmp_path, out)
    assert second["search"]["study_name"] != first["search"]["study_name"]
    assert second["search"]["study_name"].startswith("feature_extraction.efficientnet_lite0.repeat-0.fold-0.")
    assert second["profile"]["train"]["max_epochs"] == 2 and len(second["training"]["history"]) == 2
    assert len(first["training"]["history"]) == 1
    # a fresh study (one trial of its own), and the folder's files are the new run's
    assert second["search"]["n_trials"] == 1 and len(_study(tmp_path, second).trials) == 1
    assert len(_study(tmp_path, first).trials) == 1  # the old study is kept, untouched
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["search"]["study_name"] == second["search"]["study_name"]


def test_a_changed_profile_whose_study_fails_does_not_keep_the_old_result(tmp_path, data, monkeypatch):
    """The folder of a study that found no working configuration must not go on reporting the
    result of an earlier profile's study."""
    import benchmark.training.search as search
    from benchmark.runfolder import collect
    from benchmark.training.trainer import TrainingDiverged

    text = "[search]\nsampler = 'tpe'\nn_trials = 1\nbeta1 = [0.9]\n"
    one = _profile(tmp_path, "[train]\nmax_epochs = 1\n" + text)
    out = tmp_path / "runs" / "feature_extraction" / "repeat-0" / "fold-0"
    _search("feature_extraction", one, data, tmp_path, out)

    def diverge(*args, **kwargs):
        raise TrainingDiverged("diverged: loss became nan at epoch 1")

    monkeypatch.setattr(search, "train_model", diverge)
    two = _profile(tmp_path, "[train]\nmax_epochs = 2\n" + text)
    failed = _search("feature_extraction", two, data, tmp_path, out)
    assert failed["status"] == NO_WORKING_CONFIGURATION
    predictions, studies = collect(tmp_path)
    assert list(studies["status"]) == [NO_WORKING_CONFIGURATION]
    assert predictions.empty


# -- no working configuration ----------------------------------------------------------------------
@pytest.mark.slow
def test_a_broken_method_finds_no_working_configuration_and_is_never_ranked(tmp_path, clean_registry):
    from benchmark.evaluation import NO_WORKING, leaderboard
    from benchmark.reporting import write_leaderboard
    from benchmark.training.suite import run_suite

    @register_method(description="a head whose output is multiplied by 0", citation="test", lr=(1e-3, 1e-1),
                     trains=lambda backbone, name, owner: False)
    def dead_head(backbone):
        backbone.head().register_forward_hook(lambda module, args, out: out * 0)

    run_dir = tmp_path / "run"
    smoke = load_profile("smoke")  # 2 folds, 1 trial per study
    run_suite(smoke, "synthetic", run_dir, ["feature_extraction", "dead_head"], device="cpu", progress=False,
              workers=1)
    for fold in (0, 1):
        folder = run_dir / "runs" / "dead_head" / "repeat-0" / f"fold-{fold}"
        record = json.loads((folder / "failed.json").read_text())
        assert record["status"] == NO_WORKING_CONFIGURATION and record["fold"] == fold
        assert record["reason"].startswith("1 trial(s): 1 collapsed, 0 diverged, 0 pruned")
        assert "validation scores nearly constant" in record["reason"]
        assert [t["state"] for t in record["search"]["trials"]] == ["FAIL"]
        assert record["search"]["trials"][0]["params"] == {"lr": 0.01}  # the default point was tried
        assert not (folder / "results.json").exists() and not (folder / "predictions.csv").exists()
        assert not (folder / "trained_state.pt").exists()
    studies = pd.read_csv(run_dir / "studies.csv")
    assert list(zip(studies["method"], studies["fold"], studies["status"])) == [
        ("dead_head", 0, NO_WORKING_CONFIGURATION), ("dead_head", 1, NO_WORKING_CONFIGURATION),
        ("feature_extraction", 0, "ok"), ("feature_extraction", 1, "ok")]
    assert (studies.loc[studies["method"] == "dead_head", "n_collapsed"] == 1).all()
    trials = pd.read_csv(run_dir / "trials.csv")  # every trial, with why it failed and which was selected
    dead, fe = trials[trials["method"] == "dead_head"], trials[trials["method"] == "feature_extraction"]
    assert list(dead["state"]) == ["FAIL", "FAIL"] and dead["failure"].str.startswith("collapsed").all()
    assert not dead["selected"].any()
    assert list(fe["fold"]) == [0, 1] and fe["selected"].all() and fe["tied"].all()
    assert (fe["state"] == "COMPLETE").all() and fe["val_auc"].notna().all() and fe["val_loss"].notna().all()
    predictions = pd.read_csv(run_dir / "predictions.csv")
    assert set(predictions["method"]) == {"feature_extraction"}
    failures = json.loads((run_dir / "failures.json").read_text())
    assert [(f["method"], f["fold"], f["status"]) for f in failures] == [
        ("dead_head", 0, NO_WORKING_CONFIGURATION), ("dead_head", 1, NO_WORKING_CONFIGURATION)]

    table = leaderboard(run_dir).set_index("method")
    # ranked first, then the suite's logistic-regression reference, then the others
    assert list(table.index) == ["feature_extraction", REFERENCE_METHOD, "dead_head"]
    assert table.loc["feature_extraction", "rank"] == 1 and table.loc["feature_extraction", "status"] == "ok"
    assert pd.isna(table.loc["dead_head", "rank"]) and pd.isna(table.loc["dead_head", "auc"])
    assert table.loc["dead_head", "status"].startswith(f"{NO_WORKING}: 1 trial(s): 1 collapsed")
    assert table.loc["dead_head", "status"].endswith("(2 of 2 studies)")
    write_leaderboard(run_dir)
    written = pd.read_csv(run_dir / "leaderboard.csv").set_index("method")
    assert pd.isna(written.loc["dead_head", "rank"]) and written.loc["dead_head", "status"].startswith(NO_WORKING)
    significance = pd.read_csv(run_dir / "significance.csv")
    assert "dead_head" not in set(significance["method_a"]) | set(significance["method_b"])
    assert NO_WORKING in (run_dir / "leaderboard.md").read_text()

    # a rerun finds the failed studies finished: they are not searched again
    stamps = {p: os.stat(p).st_mtime_ns for p in run_dir.glob("runs/dead_head/*/*/failed.json")}
    run_suite(smoke, "synthetic", run_dir, ["feature_extraction", "dead_head"], device="cpu", progress=False,
              workers=1)
    assert {p: os.stat(p).st_mtime_ns for p in stamps} == stamps and len(stamps) == 2


def test_suite_keeps_failed_studies_when_a_later_study_raises(tmp_path, monkeypatch):
    from benchmark.training import suite
    from benchmark.common.io import write_json_atomic

    calls = []

    def fake_search(method, profile, dataset, data, fold, out_dir, run_dir, **kwargs):
        calls.append(method)
        if len(calls) == 1:
            record = {"status": NO_WORKING_CONFIGURATION, "reason": "1 trial(s): 1 collapsed, 0 diverged, 0 pruned",
                      "method": method, "repeat": fold.repeat, "fold": fold.fold,
                      "config": {"method": method, "repeat": fold.repeat, "fold": fold.fold},
                      "search": {"n_trials": 1, "n_collapsed": 1, "n_failed": 1, "trials": []}}
            write_json_atomic(Path(out_dir) / "failed.json", record)
            return record
        raise RuntimeError("out of memory")

    monkeypatch.setattr(suite, "run_search", fake_search)
    profile = _profile(tmp_path, "split_seeds = [0]\n")  # into its [evaluation]
    with pytest.raises(RuntimeError, match="out of memory"):
        suite.run_suite(profile, "synthetic", tmp_path / "run", ["feature_extraction", "bitfit"],
                        progress=False, workers=1)
    assert calls == ["feature_extraction", "bitfit"]
    failures = json.loads((tmp_path / "run" / "failures.json").read_text())
    assert [(f["method"], f["repeat"], f["fold"], f["status"], f["reason"]) for f in failures] == [
        ("feature_extraction", 0, 0, NO_WORKING_CONFIGURATION, "1 trial(s): 1 collapsed, 0 diverged, 0 pruned")]
    studies = pd.read_csv(tmp_path / "run" / "studies.csv")
    assert list(studies["method"]) == ["feature_extraction"] and list(studies["status"]) == [NO_WORKING_CONFIGURATION]


# -- resuming, parallel trials, worker processes ------------------------------------------------------
def _complete_trials_read_only(db: Path) -> int:
    """Finished trials in an Optuna SQLite file, read without touching its schema (opening it
    through Optuna while the suite creates it would race the suite's own table creation)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.Error:  # not created yet, or locked for a moment
        return 0


@pytest.mark.slow
def test_killed_suite_resumes_without_redoing_finished_trials(tmp_path):
    profile = tmp_path / "resume.toml"
    profile.write_text('name = "resume"\n[backbone]\nimage_size = 64\n[data]\nsynthetic_images = 48\n'
                       '[train]\nmax_epochs = 1\nbatch_size = 8\n[search]\nlr = [0.01]\nbeta1 = [0.9]\nrepeats = 8\n'
                       '[evaluation]\nn_bootstrap = 50\n')
    run_dir = tmp_path / "run"
    argv = [sys.executable, "-m", "benchmark", "suite", "--profile", str(profile), "--dataset", "synthetic",
            "--methods", "feature_extraction", "--run-dir", str(run_dir), "--no-progress", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    complete_before = 0
    db = run_dir / "optuna.db"
    try:
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
            complete_before = _complete_trials_read_only(db)
            if complete_before >= 2:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait()
    assert 2 <= complete_before < 8, proc.stderr.read().decode()[-2000:]
    (name,) = optuna.get_all_study_names(default_storage(run_dir))
    study = optuna.load_study(study_name=name, storage=default_storage(run_dir))
    snapshot = {t.number: t.datetime_complete for t in study.trials if t.state == TrialState.COMPLETE}

    from benchmark.cli import main

    assert main(argv[3:]) == 0
    study = optuna.load_study(study_name=name, storage=default_storage(run_dir))
    done = [t for t in study.trials if t.state == TrialState.COMPLETE or FAILURE_ATTR in t.user_attrs]
    assert len(done) == 8 and sum(t.state == TrialState.COMPLETE for t in done) >= 1
    assert sorted(t.params["repeat"] for t in done) == list(range(8))  # every grid point once
    for number, finished in snapshot.items():  # finished trials were kept, not rerun
        assert study.trials[number].datetime_complete == finished
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    for t in study.trials:
        if t.state == TrialState.FAIL:
            assert t.user_attrs.get(INTERRUPTED_ATTR) or t.user_attrs.get(FAILURE_ATTR)
    record = json.loads((run_dir / "runs/feature_extraction/repeat-0/fold-0/results.json").read_text())
    assert record["search"]["n_trials"] == len(study.trials)
    assert record["search"]["study_name"] == study.study_name


def test_parallel_trials_complete_the_study_and_keep_one_state(tmp_path, data):
    profile = _profile(tmp_path, "[train]\nmax_epochs = 1\n[search]\nsampler = 'tpe'\nn_trials = 4\n"
                                 "lr_range = [0.001, 0.01]\nbeta1 = [0.9]\nparallel_trials = 2\n")
    out = tmp_path / "out"
    record = _search("feature_extraction", profile, data, tmp_path, out)
    trials = record["search"]["trials"]
    assert len(trials) == 4 and all(t["state"] in ("COMPLETE", "FAIL") for t in trials)
    assert sum(t["state"] == "COMPLETE" for t in trials) >= 1
    assert all(0.001 <= t["params"]["lr"] <= 0.01 for t in trials)
    assert not (out / "trials").exists() and (out / "trained_state.pt").is_file()


@pytest.mark.slow
def test_suite_runs_studies_in_worker_processes(tmp_path, capsys):
    from benchmark.cli import main

    profile = tmp_path / "workers.toml"
    profile.write_text('name = "workers"\n[backbone]\nimage_size = 64\n[data]\nsynthetic_images = 48\n'
                       '[train]\nmax_epochs = 1\nbatch_size = 8\n[search]\nlr = [0.01]\nbeta1 = [0.9]\nrepeats = 2\n'
                       '[evaluation]\nsplit_seeds = [0, 1]\nn_bootstrap = 50\n')
    run_dir = tmp_path / "run"
    argv = ["suite", "--profile", str(profile), "--dataset", "synthetic", "--methods", "feature_extraction,bitfit",
            "--run-dir", str(run_dir), "--no-progress", "--device", "cpu", "--workers", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "4 studies in 2 worker processes" in out and "[4/4]" in out
    for method in ("feature_extraction", "bitfit"):
        for repeat, seed in enumerate((0, 1)):
            folder = run_dir / f"runs/{method}/repeat-{repeat}/fold-0"
            done = folder / ("results.json" if (folder / "results.json").is_file() else "failed.json")
            record = json.loads(done.read_text())
            assert record["config"]["split_seed"] == seed and record["config"]["repeat"] == repeat
            assert record["search"]["n_trials"] == 2 and record["search"]["concurrent_studies"] == 2
            study = optuna.load_study(study_name=record["search"]["study_name"], storage=default_storage(run_dir))
            assert len([t for t in study.trials if t.state == TrialState.COMPLETE or FAILURE_ATTR in t.user_attrs]) == 2
    assert len(pd.read_csv(run_dir / "studies.csv")) == 4
    # a rerun finds every study finished and starts no worker
    assert main(argv) == 0
    assert "worker processes" not in capsys.readouterr().out


def test_workers_option():
    import torch

    from benchmark.training.suite import resolve_workers

    assert resolve_workers("3") == 3 and resolve_workers(1) == 1
    assert resolve_workers("auto", "cpu") == (2 if torch.get_num_threads() >= 2 else 1)
    for bad in ("0", "-1", "two"):
        with pytest.raises(ValueError, match=f"--workers {bad}"):
            resolve_workers(bad)


def test_bad_workers_stop_the_command_before_a_run_folder_is_made(tmp_path, capsys):
    from benchmark.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["suite", "--profile", "smoke", "--dataset", "synthetic", "--reports", str(tmp_path / "reports"),
              "--workers", "0"])
    assert exit_info.value.code == 2 and "--workers" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


# -- the folds every method is searched and tested on ---------------------------------------------------
def _grouped_labels(n_groups=150, seed=0):
    """Labels and duplicate groups: about a third malignant, groups of 1 to 4 images sharing a label."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice([1, 1, 1, 2, 3, 4], n_groups)
    group_labels = (rng.random(n_groups) < 0.35).astype(int)
    groups = np.repeat(np.arange(n_groups), sizes)
    labels = np.repeat(group_labels, sizes)
    order = rng.permutation(len(labels))  # groups are not contiguous in a real data set
    return labels[order], groups[order]


@pytest.mark.parametrize("k,seed", [(5, 0), (3, 7), (2, 1)])
def test_kfold_splits_test_every_image_once_keep_groups_whole_and_stratify(k, seed):
    from benchmark.data.split import kfold_splits

    labels, groups = _grouped_labels(seed=seed)
    n, overall = len(labels), labels.mean()
    folds = kfold_splits(labels, groups, k, seed)
    assert len(folds) == k
    tested = np.concatenate([f["test"] for f in folds])
    assert np.array_equal(np.sort(tested), np.arange(n))  # every index tested exactly once
    test_groups = [set(groups[f["test"]]) for f in folds]
    for a in range(k):
        for b in range(a + 1, k):
            assert not test_groups[a] & test_groups[b]  # a duplicate group is in one test fold only
    for f, fold in enumerate(folds):
        parts = [fold["train"], fold["val"], fold["test"]]
        assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(n))  # a partition of the data
        sets = [set(groups[p]) for p in parts]
        assert not sets[0] & sets[1] and not sets[0] & sets[2] and not sets[1] & sets[2], f
        assert abs(len(fold["test"]) - n / k) <= 4  # near-equal folds (a group may overshoot)
        for name in ("train", "val", "test"):
            assert 0 < labels[fold[name]].sum() < len(fold[name])  # both classes everywhere
        assert abs(labels[fold["test"]].mean() - overall) < 0.05  # stratified
        assert abs(labels[fold["train"]].mean() - overall) < 0.05
        assert abs(len(fold["val"]) / (len(fold["train"]) + len(fold["val"])) - 65 / 517) < 0.03
    # deterministic for a seed, another partition for another seed
    again = kfold_splits(labels, groups, k, seed)
    assert all(np.array_equal(a[s], b[s]) for a, b in zip(folds, again) for s in ("train", "val", "test"))
    other = kfold_splits(labels, groups, k, seed + 1)
    assert not all(np.array_equal(a["test"], b["test"]) for a, b in zip(folds, other))


def test_kfold_splits_reject_too_few_folds_or_images():
    from benchmark.data.split import kfold_splits

    labels, groups = _grouped_labels(20)
    with pytest.raises(ValueError, match="k >= 2"):
        kfold_splits(labels, groups, 1, 0)
    with pytest.raises(ValueError, match="too few"):
        kfold_splits(labels[:8], groups[:8], 3, 0)


def test_a_repeat_draws_a_new_partition_training_seeds_and_sampler_seeds(tmp_path, data):
    """Two repeats differ in partition, training, augmentation and sampler seeds; the same repeat
    of the same profile rebuilds identically; another [search] seed keeps the partition and
    changes the training and sampler seeds."""
    from benchmark.training.search import _sampler_and_pruner

    kfold = _profile(tmp_path, "scheme = 'kfold'\nfolds = 3\nsplit_seeds = [4, 9]\n", name="k")
    first, second = ([f for f in evaluation_splits(kfold, data) if f.repeat == r][0] for r in (0, 1))
    assert not np.array_equal(first.split["test"], second.split["test"])
    seeds = lambda f: (f.train_seed(0), f.train_seed(1), f.augment_seed,  # noqa: E731
                       _sampler_and_pruner(kfold, "lora", f, 0)[0]._rng.rng.randint(2**31))
    assert all(a != b for a, b in zip(seeds(first), seeds(second)))
    again = evaluation_splits(kfold, data)[0]
    assert seeds(again) == seeds(first) and np.array_equal(again.split["test"], first.split["test"])
    reseeded = _profile(tmp_path, "scheme = 'kfold'\nfolds = 3\nsplit_seeds = [4, 9]\n[search]\nseed = 1\n",
                        name="k1")
    other = evaluation_splits(reseeded, data)[0]
    assert np.array_equal(other.split["test"], first.split["test"])
    assert all(a != b for a, b in zip(seeds(other), seeds(first)))


def test_repeated_split_seed_is_refused(tmp_path):
    with pytest.raises(ProfileError, match="split_seeds .* repeat a seed"):
        _profile(tmp_path, "scheme = 'kfold'\nsplit_seeds = [3, 3]\n", name="dup")


def test_evaluation_splits_are_the_same_for_every_method(tmp_path, data):
    from benchmark.training.runner import find_fold

    kfold = _profile(tmp_path, "scheme = 'kfold'\nfolds = 3\nsplit_seeds = [4, 9]\n", name="k")
    folds = evaluation_splits(kfold, data)
    assert [(f.repeat, f.fold, f.split_seed) for f in folds] == [(r, f, s) for r, s in enumerate((4, 9))
                                                                   for f in range(3)]
    assert folds[4].folder == "repeat-1/fold-1"
    assert len({f.augment_seed for f in folds}) == 6  # one augmentation seed per fold
    for repeat in (0, 1):
        tested = np.concatenate([f.split["test"] for f in folds if f.repeat == repeat])
        assert np.array_equal(np.sort(tested), np.arange(len(data)))
    again = find_fold(kfold, data, 1, 2)
    assert again.augment_seed == folds[5].augment_seed
    assert all(np.array_equal(again.split[s], folds[5].split[s]) for s in ("train", "val", "test"))
    with pytest.raises(ValueError, match="folds 0..2"):
        find_fold(kfold, data, 0, 3)
    holdout = _profile(tmp_path, "split_seeds = [0, 1]\n", name="h")
    assert [(f.repeat, f.fold) for f in evaluation_splits(holdout, data)] == [(0, 0), (1, 0)]


def test_every_trial_records_the_epochs_it_trained_and_its_wall_time():
    import datetime

    from benchmark.training.search import _seconds, _trial_rows

    start = datetime.datetime(2026, 1, 1, 12, 0, 0)
    study = optuna.create_study(direction="maximize")
    dist = {"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)}
    study.add_trial(optuna.trial.create_trial(
        params={"lr": 0.01}, distributions=dist, value=0.8, state=TrialState.COMPLETE,
        intermediate_values={e: 0.7 for e in range(1, 9)},
        user_attrs={"training": {"epochs_run": 8}, "val_auc": 0.8, "val_loss": 0.5}))
    study.add_trial(optuna.trial.create_trial(  # pruned after its fourth epoch
        params={"lr": 0.05}, distributions=dist, state=TrialState.PRUNED,
        intermediate_values={e: 0.6 for e in range(1, 5)}))
    study.add_trial(optuna.trial.create_trial(  # collapsed after 6 epochs: pruned in Optuna, failed in the records
        params={"lr": 0.09}, distributions=dist, state=TrialState.PRUNED,
        intermediate_values={e: 0.5 for e in range(1, 7)}, user_attrs={FAILURE_ATTR: "collapsed: constant"}))
    rows = _trial_rows(study)
    assert [r["epochs"] for r in rows] == [8, 4, 6]
    assert [r["state"] for r in rows] == ["COMPLETE", "PRUNED", "FAIL"]
    trial = study.trials[1]
    trial.datetime_start, trial.datetime_complete = start, start + datetime.timedelta(minutes=4, seconds=3)
    assert _seconds(trial) == 243.0
    trial.datetime_complete = None  # still running, or a killed run's
    assert _seconds(trial) is None
