"""Subgroup AUCs (benchmark.evaluation.subgroups) on a fake run folder with per-image metadata."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.evaluation import fold_stratified_aucs, load_run
from benchmark.evaluation.subgroups import clinical_subgroups, subgroup_aucs
from benchmark.runfolder import load_image_table
from fake_runs import make_run_folder


def _device(i: int) -> str:
    return "A" if i % 10 < 6 else "B" if i % 10 < 9 else "C"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A bus_bra run of two methods on 400 images, three scanners (C: 40 images), BI-RADS 4 on even
    images; "good" scores scanner B's images at random."""
    run_dir = make_run_folder(tmp_path_factory.mktemp("sub"), methods=("good", "weak"), n_images=400,
                              n_malignant=150, dataset="bus_bra", externals={"busi": (120, 50)},
                              strengths={"good": 1.5})
    pred = pd.read_csv(run_dir / "predictions.csv")
    index = pred["image_id"].str.split("_").str[1].astype(int)
    on_b = (pred["dataset"] == "bus_bra") & (pred["method"] == "good") & (index.map(_device) == "B")
    pred.loc[on_b, "score"] = np.random.default_rng(0).random(int(on_b.sum()))
    pred.to_csv(run_dir / "predictions.csv", index=False)
    ours = pred[pred["dataset"] == "bus_bra"].drop_duplicates("image_id").sort_values("image_id")
    number = ours["image_id"].str.split("_").str[1].astype(int)
    images = pd.DataFrame({"dataset": "bus_bra", "image_id": ours["image_id"], "group": ours["group"],
                           "label": ours["label"], "device": number.map(_device),
                           "birads": np.where(number % 2 == 0, 4, 3)})
    busi = pred[pred["dataset"] == "busi"].drop_duplicates("image_id")[["dataset", "image_id", "group", "label"]]
    pd.concat([images, busi]).to_csv(run_dir / "images.csv", index=False)
    return run_dir, pred


def test_subgroups_come_from_the_metadata(run):
    run_dir, _ = run
    images = pd.read_csv(run_dir / "images.csv")
    groups = clinical_subgroups(images, "bus_bra")
    assert list(groups) == ["device: A", "device: B", "device: C", "BI-RADS 4"]
    assert len(groups["device: C"]) == 40 and len(groups["BI-RADS 4"]) == 200
    assert clinical_subgroups(images, "busi") == {}


def test_subgroup_auc_is_the_leaderboard_statistic_on_the_subgroup_with_an_interval(run):
    run_dir, pred = run
    data = load_run(run_dir)
    table = subgroup_aucs(data)
    got = table.set_index(["subgroup", "method"])
    for name, ids in clinical_subgroups(pd.read_csv(run_dir / "images.csv"), "bus_bra").items():
        if name == "device: C":
            continue
        rows = data.rows()[data.rows()["image_id"].isin(ids)]
        expected = fold_stratified_aucs(rows).groupby(level="method").mean()
        for method in ("good", "weak"):
            row = got.loc[(name, method)]
            assert row["auc"] == pytest.approx(expected[method]) and row["statistic"] == "fold_stratified"
            assert row["ci_low"] < row["auc"] < row["ci_high"] and row["n_images"] == len(ids)
    assert got.loc[("device: A", "good"), "auc"] > 0.85 and 0.3 < got.loc[("device: B", "good"), "auc"] < 0.7
    assert got.loc[("device: B", "good"), "ci_high"] < got.loc[("device: A", "good"), "ci_low"]
    small = table[table["subgroup"] == "device: C"]
    assert len(small) == 1 and small["method"].iloc[0] == "" and np.isnan(small["auc"].iloc[0])
    assert small["n_malignant"].iloc[0] < 30 and "counts only" in small["note"].iloc[0]
    assert small["n_benign"].iloc[0] + small["n_malignant"].iloc[0] == 40


def test_external_subgroups_use_the_per_model_auc(run):
    run_dir, pred = run
    data = load_run(run_dir)
    ids = sorted(pred.loc[pred["dataset"] == "busi", "image_id"].unique())
    table = subgroup_aucs(data, "busi", {"all": ids, "tiny": ids[:10]}).set_index(["subgroup", "method"])
    assert table.loc[("all", "good"), "statistic"] == "per_model" and table.loc[("all", "good"), "n_images"] == 120
    assert "counts only" in table.loc[("tiny", ""), "note"]
    with pytest.raises(ValueError, match="images.csv is missing"):
        (run_dir / "images.csv").rename(run_dir / "images.bak")
        try:
            subgroup_aucs(load_run(run_dir))
        finally:
            (run_dir / "images.bak").rename(run_dir / "images.csv")


def test_overlay_flags_give_annotated_and_clean_subgroups(tmp_path):
    """BUSI's ``overlay`` column (burnt-in annotations): 1 annotated, 0 clean, an image without a flag in neither."""
    images = pd.DataFrame({"dataset": ["busi"] * 5 + ["bus_bra"], "image_id": list("abcdef"), "group": range(6),
                           "label": [0, 1, 0, 1, 0, 1], "overlay": [1, 0, None, 1, 0, None]})
    assert clinical_subgroups(images, "busi") == {"annotated": ["a", "d"], "clean": ["b", "e"]}
    assert clinical_subgroups(images, "bus_bra") == {}
    images.to_csv(tmp_path / "images.csv", index=False)  # as the run folder's images.csv is read back
    assert clinical_subgroups(load_image_table(tmp_path), "busi") == {"annotated": ["a", "d"], "clean": ["b", "e"]}
