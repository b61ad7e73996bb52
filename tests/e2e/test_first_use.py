"""What a new user tripped over, fixed: `run` recognises its own finished run and says so, its summary line
labels the operating point, and a resumed suite says what it skips instead of "0 studies" (and refuses to mix
studies made with other package versions into the run)."""
from __future__ import annotations

import json
import os

import pytest

from benchmark.cli import main

RUN = ["run", "--method", "lora", "--dataset", "synthetic", "--profile", "smoke", "--no-progress"]


@pytest.mark.slow
def test_second_run_of_a_method_with_hyper_parameters_is_skipped_and_says_so(tmp_path, capsys):
    out = tmp_path / "lora"
    assert main(RUN + ["--out", str(out)]) == 0
    first = capsys.readouterr().out
    assert "not run again" not in first
    record = json.loads((out / "results.json").read_text())
    # the summary line's operating point is the validation threshold's, and says so
    at_val = record["metrics"]["at_validation_threshold"]
    assert "at the threshold chosen on validation data" in first
    assert f"sensitivity {at_val['sensitivity']:.3f}" in first
    stamp = os.stat(out / "results.json").st_mtime_ns
    rank = record["config"]["method_params"]["rank"]  # the stored request has the defaults filled in
    for extra in ([], ["--param", f"rank={rank}"]):  # the bare request, and the default given explicitly
        assert main(RUN + ["--out", str(out)] + extra) == 0
        assert "not run again" in capsys.readouterr().out
        assert os.stat(out / "results.json").st_mtime_ns == stamp
    # another value of a hyper-parameter is another run
    assert main(RUN + ["--out", str(out), "--param", f"rank={rank * 2}"]) == 0
    assert "not run again" not in capsys.readouterr().out
    assert json.loads((out / "results.json").read_text())["config"]["method_params"]["rank"] == rank * 2


@pytest.mark.slow
def test_resumed_suite_says_what_it_skips(tmp_path, capsys):
    args = ["suite", "--profile", "smoke", "--dataset", "synthetic", "--methods", "feature_extraction",
            "--run-dir", str(tmp_path / "run"), "--workers", "2", "--no-progress"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "2 studies in 2 worker processes" in first and "0 studies" not in first
    assert main(args) == 0
    second = capsys.readouterr().out
    assert "2 of 2 studies already finished" in second and "worker processes" not in second
    assert len(second.splitlines()) < 25  # a short summary, not the whole leaderboard
    # a finished study made with another peft: resuming would mix versions in one run, so it is refused
    record = next((tmp_path / "run" / "runs" / "feature_extraction").glob("repeat-0/fold-*/results.json"))
    stored = json.loads(record.read_text())
    stored["provenance"]["versions"]["peft"] = "0.0.1"
    record.write_text(json.dumps(stored))
    assert main(args) == 2
    refused = capsys.readouterr().err
    assert "other package versions (peft" in refused and "0.0.1 made it" in refused and str(record) in refused
