"""Many processes, one search: suite processes sharing a real PostgreSQL storage and one
artifact folder divide the trials, never train one twice, survive a killed host, and each ends
with the complete results."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
METHODS = "feature_extraction,finetune_last_block,drs_channel"
N_TRIALS, FOLDS = 2, 2


def _profile(tmp_path: Path) -> Path:
    """The smoke profile with 2 TPE trials per study: 3 methods x 2 folds x 2 trials = 12 trials."""
    text = (ROOT / "benchmark" / "profiles" / "smoke.toml").read_text()
    text = text.replace("n_trials = 1 ", f"n_trials = {N_TRIALS} ").replace('name = "smoke"', 'name = "shared"')
    assert f"n_trials = {N_TRIALS}" in text
    path = tmp_path / "shared.toml"
    path.write_text(text)
    return path


def _suite(profile: Path, run_dir: Path, url: str, artifacts: Path, heartbeat: int = 60) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "benchmark", "suite", "--profile", str(profile), "--dataset", "synthetic",
         "--methods", METHODS, "--run-dir", str(run_dir), "--storage", url, "--artifacts", str(artifacts),
         "--heartbeat", str(heartbeat), "--workers", "1", "--no-progress"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 1500) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def _studies(url: str) -> dict[str, list[optuna.trial.FrozenTrial]]:
    storage = optuna.storages.RDBStorage(url)
    return {s.study_name: optuna.load_study(study_name=s.study_name, storage=storage).trials
            for s in optuna.get_all_study_summaries(storage)}


def _done(t: optuna.trial.FrozenTrial) -> bool:
    return t.state == TrialState.COMPLETE or "failure" in t.user_attrs  # collapsed: stored as pruned


def _leaderboard(run_dir: Path) -> pd.DataFrame:
    subprocess.run([sys.executable, "-m", "benchmark", "report", str(run_dir)], cwd=ROOT, check=True,
                   capture_output=True)
    table = pd.read_csv(run_dir / "leaderboard.csv")
    return table[["method", "auc", "auc_ci_low", "auc_ci_high", "rank", "status"]]


def test_two_processes_share_one_search(tmp_path, fresh_postgres_db):
    profile, artifacts = _profile(tmp_path), tmp_path / "artifacts"
    started = time.perf_counter()
    a = _suite(profile, tmp_path / "host-a", fresh_postgres_db, artifacts)
    b = _suite(profile, tmp_path / "host-b", fresh_postgres_db, artifacts)
    _finish(a), _finish(b)
    print(f"two processes: {time.perf_counter() - started:.1f} s")

    studies = _studies(fresh_postgres_db)
    assert len(studies) == 3 * FOLDS  # one study per method and fold, as a single process makes
    workers = set()
    for name, trials in studies.items():
        # exactly the trials one process runs, each once: complete, or failed on its own (collapsed)
        assert len(trials) == N_TRIALS and all(_done(t) for t in trials), \
            (name, [(t.state, t.user_attrs.get("failure")) for t in trials])
        workers |= {t.user_attrs["worker"] for t in trials}
    assert len(workers) == 2, f"both processes should have trained trials, got {workers}"

    for host in ("host-a", "host-b"):  # each ends with the complete results
        studies_csv = pd.read_csv(tmp_path / host / "studies.csv")
        assert len(studies_csv) == 3 * FOLDS
    pd.testing.assert_frame_equal(_leaderboard(tmp_path / "host-a"), _leaderboard(tmp_path / "host-b"))


def _running_trial_of(url: str, pid: int) -> bool:
    for trials in _studies(url).values():
        if any(t.state == TrialState.RUNNING and t.user_attrs.get("worker", "").endswith(f":{pid}") for t in trials):
            return True
    return False


def test_a_killed_host_is_replaced(tmp_path, fresh_postgres_db):
    profile, artifacts = _profile(tmp_path), tmp_path / "artifacts"
    doomed = _suite(profile, tmp_path / "host-a", fresh_postgres_db, artifacts, heartbeat=1)
    deadline = time.monotonic() + 300
    while not _running_trial_of(fresh_postgres_db, doomed.pid):  # wait until it is in the middle of a trial
        assert doomed.poll() is None and time.monotonic() < deadline, "the first process never ran a trial"
        time.sleep(0.1)
    finished_before = {(name, t.number) for name, trials in _studies(fresh_postgres_db).items()
                       for t in trials if t.state == TrialState.COMPLETE}
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()

    _finish(_suite(profile, tmp_path / "host-b", fresh_postgres_db, artifacts, heartbeat=1))
    studies = _studies(fresh_postgres_db)
    failed = [t for trials in studies.values() for t in trials if t.state == TrialState.FAIL and not _done(t)]
    assert len(failed) == 1, "exactly the killed trial fails without a reason of its own (its heartbeat stopped)"
    for name, trials in studies.items():
        done = [t for t in trials if _done(t)]
        assert len(done) == N_TRIALS, (name, [t.state for t in trials])
        assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    # nothing finished is lost or redone: the trials complete before the kill are still there, once
    after = {(name, t.number) for name, trials in studies.items() for t in trials if t.state == TrialState.COMPLETE}
    assert finished_before <= after
    retried = [t for trials in studies.values() for t in trials if "failed_trial" in t.system_attrs]
    assert len(retried) == 1 and retried[0].params == failed[0].params  # run again with its parameters
    studies_csv = pd.read_csv(tmp_path / "host-b" / "studies.csv")
    assert len(studies_csv) == 3 * FOLDS
