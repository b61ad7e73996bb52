"""Optuna search: the paper's grid, TPE with pruning, divergence, and resuming a killed run."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from benchmark.profiles import load_profile
from benchmark.search import FAILURE_ATTR, INTERRUPTED_ATTR, default_storage, grid_points, run_search, study_name

ROOT = Path(__file__).resolve().parents[1]


def _profile(tmp_path, text, name="p"):
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\n[backbone]\nimage_size = 64\n[data]\nsynthetic_images = 48\n'
                    f'[evaluation]\nn_bootstrap = 50\n{text}')
    return load_profile(path)


@pytest.fixture(scope="module")
def data():
    from benchmark.data.synthetic import make_synthetic

    return make_synthetic(48, 64, 0)


def _study(run_dir, method, seed=0):
    return optuna.load_study(study_name=study_name(method, "efficientnet_lite0", seed),
                             storage=default_storage(run_dir))


def test_paper_grid_points():
    points = grid_points(load_profile("paper"))
    assert len(points) == 27
    assert {(p["lr"], p["beta1"]) for p in points} == {(lr, b) for lr in (1e-3, 1e-2, 1e-1)
                                                       for b in (0.85, 0.9, 0.95)}
    assert sorted({p["repeat"] for p in points}) == [0, 1, 2]


def test_grid_search_selects_on_validation_and_tests_once(tmp_path, data):
    profile = _profile(tmp_path, "[train]\nmax_epochs = 1\n[search]\nsampler = 'grid'\n"
                                 "lr = [0.001, 0.01]\nbeta1 = [0.9]\nrepeats = 2\n")
    out = tmp_path / "run" / "runs" / "drs" / "seed-0"
    record = run_search("drs", profile, "synthetic", data, 0, out, tmp_path / "run", device="cpu", progress=False)
    trials = record["search"]["trials"]
    assert len(trials) == 4 and all(t["state"] == "COMPLETE" for t in trials)
    best = max(trials, key=lambda t: (t["value"], -t["val_loss"], -t["number"]))
    assert record["search"]["selected_trial"] == best["number"]
    assert record["config"]["lr"] == best["params"]["lr"]
    assert record["training"]["best_val_accuracy"] == best["value"]
    # the repeats of one setting train with distinct seeds (shared across settings: paired)
    study = _study(tmp_path / "run", "drs")
    for lr in (0.001, 0.01):
        seeds = {t.user_attrs["config"]["train_seed"] for t in study.trials if t.params["lr"] == lr}
        assert seeds == {0, 1}
    assert (out / "predictions.csv").is_file() and not (out / "trials").exists()
    # a finished study is not searched again
    again = run_search("drs", profile, "synthetic", data, 0, out, tmp_path / "run", device="cpu", progress=False)
    assert again == record and len(_study(tmp_path / "run", "drs").trials) == 4


def test_diverged_trial_is_failed_and_the_study_goes_on(tmp_path, data, monkeypatch):
    import benchmark.search as search
    from benchmark.trainer import TrainingDiverged

    real = search.train_model

    def diverge_at_high_lr(profile, config, *args, **kwargs):
        if config["lr"] == 0.1:
            raise TrainingDiverged("loss became nan at epoch 1")
        return real(profile, config, *args, **kwargs)

    monkeypatch.setattr(search, "train_model", diverge_at_high_lr)
    profile = _profile(tmp_path, "[train]\nmax_epochs = 1\n[search]\nlr = [0.001, 0.1]\nbeta1 = [0.9]\nrepeats = 1\n")
    record = run_search("feature_extraction", profile, "synthetic", data, 0, tmp_path / "out", tmp_path,
                        device="cpu", progress=False)
    states = {t["params"]["lr"]: t["state"] for t in record["search"]["trials"]}
    assert states == {0.001: "COMPLETE", 0.1: "FAIL"}
    assert record["config"]["lr"] == 0.001
    failed = [t for t in _study(tmp_path, "feature_extraction").trials if t.state == TrialState.FAIL]
    assert "nan" in failed[0].user_attrs[FAILURE_ATTR]


def test_tpe_with_median_pruner_and_method_search_space(tmp_path, data):
    profile = _profile(tmp_path, "[train]\nmax_epochs = 3\n[search]\nsampler = 'tpe'\nn_trials = 4\n"
                                 "pruner = 'median'\nlr = [0.001, 0.01]\n")
    record = run_search("lora", profile, "synthetic", data, 1, tmp_path / "out", tmp_path, device="cpu",
                        progress=False)
    trials = record["search"]["trials"]
    assert len(trials) == 4 and {t["state"] for t in trials} <= {"COMPLETE", "PRUNED"}
    assert all("rank" in t["params"] and t["params"]["lr"] in (0.001, 0.01) for t in trials)
    assert record["config"]["method_params"]["rank"] in (4, 8, 16)


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


def test_killed_suite_resumes_without_redoing_finished_trials(tmp_path):
    profile = tmp_path / "resume.toml"
    profile.write_text('name = "resume"\n[backbone]\nimage_size = 64\n[data]\nsynthetic_images = 48\n'
                       '[train]\nmax_epochs = 1\n[search]\nlr = [0.001]\nbeta1 = [0.9]\nrepeats = 8\n'
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
    study = _study(run_dir, "feature_extraction")
    snapshot = {t.number: t.datetime_complete for t in study.trials if t.state == TrialState.COMPLETE}

    from benchmark.cli import main

    assert main(argv[3:]) == 0
    study = _study(run_dir, "feature_extraction")
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 8
    assert sorted(t.params["repeat"] for t in complete) == list(range(8))
    for number, finished in snapshot.items():  # finished trials were kept, not rerun
        assert study.trials[number].datetime_complete == finished
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    for t in study.trials:
        if t.state == TrialState.FAIL:
            assert t.user_attrs.get(INTERRUPTED_ATTR)
    record = json.loads((run_dir / "runs/feature_extraction/seed-0/results.json").read_text())
    assert record["search"]["n_trials"] == len(study.trials)


def test_parallel_trials_complete_the_study_and_keep_one_state(tmp_path, data):
    profile = _profile(tmp_path, "[train]\nmax_epochs = 1\n[search]\nsampler = 'tpe'\nn_trials = 4\n"
                                 "lr = [0.001, 0.01]\nbeta1 = [0.9]\nparallel_trials = 2\n")
    out = tmp_path / "out"
    record = run_search("feature_extraction", profile, "synthetic", data, 0, out, tmp_path, device="cpu",
                        progress=False)
    trials = record["search"]["trials"]
    assert len(trials) == 4 and all(t["state"] == "COMPLETE" for t in trials)
    assert {t["params"]["lr"] for t in trials} <= {0.001, 0.01}
    assert not (out / "trials").exists() and (out / "trained_state.pt").is_file()


def test_suite_runs_studies_in_worker_processes(tmp_path, capsys):
    from benchmark.cli import main

    profile = tmp_path / "workers.toml"
    profile.write_text('name = "workers"\n[backbone]\nimage_size = 64\n[data]\nsynthetic_images = 48\n'
                       '[train]\nmax_epochs = 1\n[search]\nlr = [0.001]\nbeta1 = [0.9]\nrepeats = 2\n'
                       '[evaluation]\nsplit_seeds = [0, 1]\nn_bootstrap = 50\n')
    run_dir = tmp_path / "run"
    argv = ["suite", "--profile", str(profile), "--dataset", "synthetic", "--methods", "feature_extraction,bitfit",
            "--run-dir", str(run_dir), "--no-progress", "--device", "cpu", "--workers", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "4 studies in 2 worker processes" in out and "[4/4]" in out
    for method in ("feature_extraction", "bitfit"):
        for seed in (0, 1):
            record = json.loads((run_dir / f"runs/{method}/seed-{seed}/results.json").read_text())
            assert record["config"]["split_seed"] == seed and record["search"]["n_trials"] == 2
            assert record["search"]["concurrent_studies"] == 2
            assert len([t for t in _study(run_dir, method, seed).trials if t.state == TrialState.COMPLETE]) == 2
    # a rerun finds every study finished and starts no worker
    assert main(argv) == 0
    assert "worker processes" not in capsys.readouterr().out


def test_workers_option():
    import torch

    from benchmark.suite import resolve_workers

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


def test_suite_keeps_failed_studies_when_a_later_study_raises(tmp_path, monkeypatch):
    from benchmark import suite
    from benchmark.search import SearchFailed

    calls = []

    def fake_search(method, *args, **kwargs):
        calls.append(method)
        if len(calls) == 1:
            raise SearchFailed(f"{method}: no trial completed")
        raise RuntimeError("out of memory")

    monkeypatch.setattr(suite, "run_search", fake_search)
    profile = _profile(tmp_path, "split_seeds = [0]\n")  # into its [evaluation]
    with pytest.raises(RuntimeError, match="out of memory"):
        suite.run_suite(profile, "synthetic", tmp_path / "run", ["feature_extraction", "bitfit"],
                        progress=False, workers=1)
    failures = json.loads((tmp_path / "run" / "failures.json").read_text())
    assert calls == ["feature_extraction", "bitfit"]
    assert failures == [{"method": "feature_extraction", "split_seed": 0,
                         "error": "feature_extraction: no trial completed"}]
