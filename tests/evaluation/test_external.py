"""External validation: selected models score another data set once; a finished run folder can
gain an external set later without retraining; nothing external reaches training."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import torch

from benchmark.data import load_dataset
from benchmark.training.runner import RunSpec, run, score_external

CPU = torch.device("cpu")


def _profile(smoke_profile):
    return replace(smoke_profile, train=replace(smoke_profile.train, max_epochs=1))


def test_run_scores_external_set_once_per_model(tmp_path, smoke_profile):
    profile = _profile(smoke_profile)
    external = {"synthetic_shifted": load_dataset("synthetic_shifted", 64, synthetic_images=40, synthetic_seed=1)}
    spec = RunSpec(method="feature_extraction", dataset="synthetic", profile=profile)
    record = run(spec, tmp_path / "with", device="cpu", progress=False, external=external)
    pred = pd.read_csv(tmp_path / "with" / "predictions.csv", dtype={"image_id": str})
    ext = pred[pred["dataset"] == "synthetic_shifted"]
    assert len(ext) == 40 and ext["image_id"].is_unique
    assert (ext["threshold"] == record["metrics"]["validation_threshold"]).all()
    assert record["external"]["synthetic_shifted"]["n_images"] == 40

    # the same run without the external set trains the same model: external data never reaches training
    plain = run(spec, tmp_path / "without", device="cpu", progress=False)
    untimed = lambda history: [{k: v for k, v in h.items() if k != "seconds"} for h in history]  # noqa: E731
    assert untimed(plain["training"]["history"]) == untimed(record["training"]["history"])
    internal = pred[pred["dataset"] == "synthetic"].reset_index(drop=True)
    alone = pd.read_csv(tmp_path / "without" / "predictions.csv", dtype={"image_id": str})
    pd.testing.assert_frame_equal(internal, alone)


def test_finished_run_gains_an_external_set_later(tmp_path, smoke_profile):
    profile = _profile(smoke_profile)
    external = {"synthetic_shifted": load_dataset("synthetic_shifted", 64, synthetic_images=40, synthetic_seed=1)}
    spec = RunSpec(method="drs_channel", dataset="synthetic", profile=profile)
    run(spec, tmp_path / "at_once", device="cpu", progress=False, external=external)
    run(spec, tmp_path / "later", device="cpu", progress=False)

    assert score_external(tmp_path / "later", profile, external, CPU) == ["synthetic_shifted"]
    assert score_external(tmp_path / "later", profile, external, CPU) == []  # once only
    at_once = pd.read_csv(tmp_path / "at_once" / "predictions.csv", dtype={"image_id": str})
    later = pd.read_csv(tmp_path / "later" / "predictions.csv", dtype={"image_id": str})
    np.testing.assert_allclose(later["score"], at_once["score"], rtol=0, atol=1e-6)  # the saved model, rebuilt
    record = json.loads((tmp_path / "later" / "results.json").read_text())
    assert record["external"]["synthetic_shifted"]["auc"] == \
        json.loads((tmp_path / "at_once" / "results.json").read_text())["external"]["synthetic_shifted"]["auc"]


def test_run_on_a_users_folder(tmp_path, capsys):
    """`petl-bench run --dataset folder --data-root DIR` on benign/ + malignant/ PNG files."""
    from benchmark.cli import main
    from fake_datasets import write_folder

    write_folder(tmp_path / "mine", n=40, size=64)
    out = tmp_path / "run"
    assert main(["run", "--method", "feature_extraction", "--dataset", "folder", "--data-root",
                 str(tmp_path / "mine"), "--profile", "smoke", "--out", str(out), "--no-progress"]) == 0
    assert "feature_extraction on folder" in capsys.readouterr().out
    pred = pd.read_csv(out / "predictions.csv", dtype={"image_id": str})
    assert set(pred["dataset"]) == {"folder"} and pred["image_id"].str.match(r"(benign|malignant)/").all()
    assert json.loads((out / "results.json").read_text())["dataset"]["name"] == "folder"
