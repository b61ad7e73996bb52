"""The train-site x test-site matrix (benchmark.evaluation.sites, benchmark.reporting.pages.sites) on fake run
folders, one trained on "busi" and one on a tiny fake BUS-BRA whose images.csv comes from the real loader
(scanner and BI-RADS subgroups); the counts-only rule of the subgroups at 30; the [sites] profile section."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from benchmark.cli import main
from benchmark.common.profiles import ProfileError, load_profile
from benchmark.data import load_dataset
from benchmark.evaluation import load_run
from benchmark.evaluation.sites import find_site_runs, read_site_run, site_matrix, site_ranks
from benchmark.evaluation.subgroups import MIN_PER_CLASS, subgroup_aucs
from benchmark.reporting.sections.subgroups import subgroup_section
from benchmark.reporting.pages.sites import duplicate_checks, write_sites
from benchmark.training.suite import save_image_table
from fake_runs import make_run_folder
from fake_datasets import edit_csv, fake_busbra

STRENGTHS = {"good": 1.2, "weak": 0.4, "random_a": 0.0}
SETS = ["busi", "bus_bra", "breast_lesions_usg"]


def _fake_bus_bra(root: Path):
    """The fake BUS-BRA layout with 150 patients, scanners and BI-RADS spread over both classes: GE 5 on
    odd patients (two images each: 40 malignant, 80 benign), GE 7 on even ones (one image: 25 malignant),
    Toshiba on every tenth (10 malignant), BI-RADS 4 on half the patients (36 malignant)."""
    fake_busbra(root, n_patients=150)

    def spread(table):
        case = table["Case"].astype(int)
        table["Device"] = np.where(case % 10 == 5, "Toshiba Aplio 300 @12-14 MHz",
                                   np.where(case % 2 == 0, "GE Logiq 7 @10-14MHz", "GE Logiq 5 @10-12MHz"))
        table["BIRADS"] = np.where(case % 4 < 2, 4, 3)

    edit_csv(root / "BUSBRA" / "bus_data.csv", spread)
    return load_dataset("bus_bra", 32, data_root=root)


def _onto(run_dir: Path, data) -> None:
    """Give the fake run's own images the ids, labels and patient groups of ``data`` (label for label),
    each patient in the fold of its first image, and write its images.csv with ``data``'s metadata."""
    pred = pd.read_csv(run_dir / "predictions.csv")
    ours = pred["dataset"] == data.name
    fake = pred[ours].drop_duplicates("image_id")
    mapping = {}
    for label in (0, 1):
        theirs = sorted(fake.loc[fake["label"] == label, "image_id"])
        real = [i for i, y in zip(data.ids, data.labels) if y == label]
        assert len(theirs) == len(real)
        mapping.update(zip(theirs, real))
    group = dict(zip(data.ids, data.groups))
    pred.loc[ours, "image_id"] = pred.loc[ours, "image_id"].map(mapping)
    pred.loc[ours, "group"] = pred.loc[ours, "image_id"].map(group)
    first_fold = pred[ours].groupby(["method", "repeat", "group"])["fold"].transform("first")
    pred.loc[ours, "fold"] = first_fold  # a patient whole in one fold (the fake's scores stay its own)
    pred.loc[ours, "threshold"] = pred[ours].groupby(["method", "repeat", "fold"])["threshold"].transform("first")
    pred.to_csv(run_dir / "predictions.csv", index=False)
    with np.load(run_dir / "test_images.npz") as z:
        arrays = dict(z)
    arrays["ids"] = np.array([mapping[i] for i in arrays["ids"]])
    np.savez_compressed(run_dir / "test_images.npz", **arrays)
    save_image_table(run_dir, [data])


def _external_json(run_dir: Path, train: str, others: list[str], duplicates: int = 0) -> None:
    info = {name: {"title": name, "duplicates_of_training_images": duplicates if i == 0 else 0,
                   "duplicates_of_other_external_sets": {o: 0 for o in others[:i]}}
            for i, name in enumerate(others)}
    (run_dir / "external.json").write_text(json.dumps(info))


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """RUN_DIR with train-busi/ and train-bus_bra/ (three methods each, 3 folds), each scoring the other
    two sets, as run_all.sh --profile sites writes it; the matrix written by write_sites."""
    root = tmp_path_factory.mktemp("sites")
    bus_bra = _fake_bus_bra(root / "fake_busbra")
    n_bra, m_bra = len(bus_bra), int(bus_bra.labels.sum())
    common = dict(methods=tuple(STRENGTHS), folds=3, strengths=STRENGTHS, duplicate_pairs=0, n_bootstrap=200)
    busi = make_run_folder(root / "matrix", name="train-busi", dataset="busi", n_images=150, n_malignant=50,
                           externals={"bus_bra": (n_bra, m_bra), "breast_lesions_usg": (80, 35)}, **common)
    bra = make_run_folder(root / "matrix", name="train-bus_bra", dataset="bus_bra", n_images=n_bra,
                          n_malignant=m_bra, externals={"busi": (120, 45), "breast_lesions_usg": (80, 35)}, **common)
    _onto(bra, bus_bra)
    _external_json(busi, "busi", ["bus_bra", "breast_lesions_usg"], duplicates=2)
    _external_json(bra, "bus_bra", ["busi", "breast_lesions_usg"])
    written = write_sites(root / "matrix")
    return root / "matrix", bus_bra, written


def _per_model_auc(rows: pd.DataFrame) -> float:
    """Each fold model's AUC on its own rows (sklearn), mean over the models, then over repeats."""
    per_model = rows.groupby(["repeat", "fold"])[["label", "score"]].apply(
        lambda g: roc_auc_score(g["label"], g["score"]))
    return float(per_model.groupby(level="repeat").mean().mean())


def _fold_stratified_auc(rows: pd.DataFrame) -> float:
    """The AUC over malignant-benign pairs within one fold model's test images (sklearn per fold,
    weighted by the fold's pairs), mean over repeats."""
    def one(g):
        weights = g.groupby("fold")["label"].agg(lambda y: y.sum() * (len(y) - y.sum()))
        aucs = g.groupby("fold")[["label", "score"]].apply(lambda f: roc_auc_score(f["label"], f["score"]))
        return float((aucs * weights).sum() / weights.sum())
    return float(rows.groupby("repeat").apply(one).mean())


@pytest.mark.slow
def test_matrix_cells_match_an_independent_recompute(sites):
    matrix_dir, _, written = sites
    matrix = pd.read_csv(written["site_matrix.csv"])
    assert len(matrix) == len(STRENGTHS) * 2 * 3  # every method x training set x test set
    for train in ("busi", "bus_bra"):
        pred = pd.read_csv(matrix_dir / f"train-{train}" / "predictions.csv")
        for test in SETS:
            for method in STRENGTHS:
                cell = matrix[(matrix["method"] == method) & (matrix["train_set"] == train)
                              & (matrix["test_set"] == test)].iloc[0]
                rows = pred[(pred["method"] == method) & (pred["dataset"] == test)]
                on_site = test == train
                expected = _fold_stratified_auc(rows) if on_site else _per_model_auc(rows)
                assert cell["auc"] == pytest.approx(expected, abs=1e-9), (method, train, test)
                assert bool(cell["on_site"]) is on_site
                assert cell["ci_low"] <= cell["auc"] <= cell["ci_high"] and cell["ci_high"] - cell["ci_low"] > 0.01
                assert cell["n_images"] == rows["image_id"].nunique()
                assert cell["n_malignant"] == rows.drop_duplicates("image_id")["label"].sum()
    good = matrix[(matrix["method"] == "good") & ~matrix["on_site"]]
    assert (good["auc"] > 0.7).all() and (matrix.loc[matrix["method"] == "random_a", "auc"] < 0.7).all()


def test_ranks_are_the_mean_off_site_auc(sites):
    _, _, written = sites
    matrix, ranks = pd.read_csv(written["site_matrix.csv"]), pd.read_csv(written["site_ranks.csv"])
    assert list(ranks["method"]) == ["good", "weak", "random_a"] and list(ranks["rank"]) == [1, 2, 3]
    for _, row in ranks.iterrows():
        off = matrix[(matrix["method"] == row["method"]) & ~matrix["on_site"]]
        assert len(off) == 4 == row["n_offsite"]
        assert row["mean_offsite_auc"] == pytest.approx(off["auc"].mean())
        assert row["mean_offsite_ci_low"] < row["mean_offsite_auc"] < row["mean_offsite_ci_high"]
        assert row["mean_drop"] == pytest.approx(off["drop"].mean())


def test_a_method_missing_a_cell_is_not_ranked():
    cells = [("a", "x", "y", 0.8), ("a", "y", "x", 0.7), ("b", "x", "y", 0.9)]
    matrix = pd.DataFrame([{"method": m, "train_set": tr, "test_set": te, "on_site": False, "auc": auc,
                            "ci_low": auc - 0.05, "ci_high": auc + 0.05, "drop": 0.1} for m, tr, te, auc in cells])
    ranks = site_ranks(matrix).set_index("method")
    assert ranks.loc["a", "rank"] == 1 and np.isnan(ranks.loc["b", "rank"])
    assert "trained on y, tested on x" in ranks.loc["b", "note"]


def test_run_folders_are_found_and_checked(sites, tmp_path):
    matrix_dir, _, _ = sites
    runs = find_site_runs([matrix_dir])
    assert [p.name for p in runs] == ["train-bus_bra", "train-busi"]
    with pytest.raises(FileNotFoundError, match="neither a run folder"):
        find_site_runs([tmp_path])
    with pytest.raises(ValueError, match="given twice"):
        find_site_runs([matrix_dir, runs[0]])
    run = read_site_run(runs[0])
    with pytest.raises(ValueError, match="were both trained on bus_bra"):
        site_matrix([run, run])


def test_every_pair_of_sets_is_checked_for_duplicates(sites):
    matrix_dir, _, _ = sites
    runs = [read_site_run(p) for p in find_site_runs([matrix_dir])]
    checks = {frozenset((c["a"], c["b"])): c for c in duplicate_checks(runs, SETS)}
    assert len(checks) == 3 and all(c["duplicates"] is not None for c in checks.values())
    assert checks[frozenset(("busi", "bus_bra"))]["duplicates"] == 2
    assert checks[frozenset(("bus_bra", "breast_lesions_usg"))]["checked"] == ["trained on bus_bra", "trained on busi"]
    only_busi = [r for r in runs if r.train_set == "busi"]
    (matrix_dir / "train-busi" / "external.json").rename(matrix_dir / "external.bak")
    try:
        missing = duplicate_checks(only_busi, SETS)
    finally:
        (matrix_dir / "external.bak").rename(matrix_dir / "train-busi" / "external.json")
    assert all(c["duplicates"] is None and not c["checked"] for c in missing)


def test_counts_only_below_30_of_a_class(sites):
    matrix_dir, bus_bra, _ = sites
    data = load_run(matrix_dir / "train-bus_bra")
    malignant = [i for i, y in zip(data.rows()["image_id"], data.rows()["label"]) if y == 1]
    malignant = list(dict.fromkeys(malignant))
    benign = list(dict.fromkeys(data.rows().loc[data.rows()["label"] == 0, "image_id"]))
    groups = {"29 malignant": benign[:60] + malignant[:MIN_PER_CLASS - 1],
              "30 of each": benign[:MIN_PER_CLASS] + malignant[:MIN_PER_CLASS],
              "29 benign": benign[:MIN_PER_CLASS - 1] + malignant[:40]}
    table = subgroup_aucs(data, "bus_bra", groups)
    shown = table[table["method"] != ""]
    assert set(shown["subgroup"]) == {"30 of each"} and len(shown) == len(STRENGTHS)
    counts = table[table["method"] == ""].set_index("subgroup")
    assert counts.loc["29 malignant", "n_malignant"] == 29 and counts.loc["29 benign", "n_benign"] == 29
    assert counts["auc"].isna().all()


def test_bus_bra_subgroups_in_the_report_data(sites):
    matrix_dir, bus_bra, _ = sites
    section = subgroup_section(matrix_dir / "train-bus_bra", load_run(matrix_dir / "train-bus_bra"))
    (ours,) = [s for s in section["sets"] if s["name"] == "bus_bra"]
    assert "Medical Physics" in ours["citation"] and "LICENSE.txt" in ours["licence"]
    shown = {row[0]: row[-1] for row in ours["counts"]}
    assert shown["device: Toshiba Aplio 300 @12-14 MHz"] == "counts only"
    assert shown["device: GE Logiq 7 @10-14MHz"] == "counts only"  # 25 malignant
    assert shown["device: GE Logiq 5 @10-12MHz"] == "AUC" and shown["BI-RADS 4"] == "AUC"
    assert "device: Toshiba Aplio 300 @12-14 MHz" not in ours["header"]
    assert [r[0] for r in ours["rows"]] == ["good", "weak", "random_a"]


def test_page_shows_matrix_heatmaps_subgroups_and_citation(sites):
    matrix_dir, _, written = sites
    page = (matrix_dir / "index.html").read_text()
    assert page.count('<img') >= len(STRENGTHS)  # one heatmap per method
    for needle in ('id="site-matrix-table"', 'id="site-ranks-table"', 'id="site-duplicates"', "Toshiba",
                   "counts only", "doi:10.1002/mp.16812", "BUSBRA/LICENSE.txt", "train-bus_bra-bus-bra-auc"):
        assert needle in page, needle
    assert {f"site_matrix_{m}.png" for m in STRENGTHS} <= set(written)


def test_a_training_set_without_ranked_methods_is_said_blank(sites, tmp_path):
    """Every method failed a fold when trained on busi (as collapsed models do on data without signal):
    no busi cells, and the page says why that row is blank."""
    import shutil

    matrix_dir, _, _ = sites
    shutil.copytree(matrix_dir / "train-bus_bra", tmp_path / "m" / "train-bus_bra")
    make_run_folder(tmp_path / "m", name="train-busi", dataset="busi", methods=tuple(STRENGTHS), folds=3,
                    n_images=90, n_malignant=30, externals={"bus_bra": (40, 15)}, n_bootstrap=50,
                    failed={m: ("1 trial(s): 1 collapsed", [(0, 0)]) for m in STRENGTHS})
    written = write_sites(tmp_path / "m")
    assert set(pd.read_csv(written["site_matrix.csv"])["train_set"]) == {"bus_bra"}
    assert 'id="site-blank-busi"' in (tmp_path / "m" / "index.html").read_text()
    assert 'id="site-blank-bus_bra"' not in (tmp_path / "m" / "index.html").read_text()


def test_cli_builds_the_matrix_and_report_dispatches(sites, capsys):
    matrix_dir, _, _ = sites
    assert main(["report", str(matrix_dir)]) == 0
    out = capsys.readouterr().out
    assert "good" in out.splitlines()[0] and "mean off-site AUC" in out and "site_matrix.csv" in out


@pytest.mark.parametrize("body, message", [
    ('train = ["busi"]\ntest = ["bus_bra"]', "add busi to test"),
    ('train = ["busi", "busi"]\ntest = ["busi"]', "lists busi twice"),
    ('train = ["busi"]', "needs both train"),
    ('train = [3]\ntest = ["busi"]', "must list data-set names"),
    ('training = ["busi"]', "unknown key"),
])
def test_sites_section_errors_name_the_file(tmp_path, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(f"[sites]\n{body}\n")
    with pytest.raises(ProfileError, match=message) as err:
        load_profile(path)
    assert str(path) in str(err.value)


def test_sites_profile_and_its_train_sets(tmp_path, capsys):
    from benchmark.pipeline import site_train_sets

    profile = load_profile("sites")
    assert profile.sites.train == ("busi", "bus_bra") and set(profile.sites.test) == set(SETS)
    assert profile.sites.externals("bus_bra") == ["busi", "breast_lesions_usg"]
    assert site_train_sets(profile) == ["busi", "bus_bra"]
    assert site_train_sets(load_profile("quick")) == []
    path = tmp_path / "p.toml"
    path.write_text('base = "sites"\n[sites]\ntrain = ["busi"]\ntest = ["busi", "nowhere"]\n')
    assert main(["all", "--profile", str(path), "--reports", str(tmp_path / "reports")]) == 2
    assert "unknown data set(s) nowhere" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()  # checked before a run folder is made


def test_external_sets_are_checked_against_each_other(tmp_path, monkeypatch):
    """external.json records, per external set, its duplicates of the training set and of every other
    external set: a folder holding copies of three fake BUS-BRA images has 3 of bus_bra."""
    import shutil

    from benchmark.training.suite import load_external

    fake_busbra(tmp_path / "bra", n_patients=12)
    for label, n in (("benign", 2), ("malignant", 1)):
        (tmp_path / "copies" / label).mkdir(parents=True)
        for image in sorted((tmp_path / "bra" / "BUSBRA" / "Images").glob("*.png"))[3 * n:4 * n]:
            shutil.copy(image, tmp_path / "copies" / label / image.name)
    monkeypatch.setenv("BUS_BRA_ROOT", str(tmp_path / "bra"))
    monkeypatch.setenv("PETL_BENCH_FOLDER_ROOT", str(tmp_path / "copies"))
    profile = load_profile("smoke")
    data = load_dataset("synthetic", 64, synthetic_images=40)
    load_external(tmp_path / "run", profile, data, ["bus_bra", "folder"])
    info = json.loads((tmp_path / "run" / "external.json").read_text())
    assert info["bus_bra"]["duplicates_of_other_external_sets"] == {}
    assert info["folder"]["duplicates_of_other_external_sets"] == {"bus_bra": 3}
    assert info["folder"]["duplicates_of_training_images"] == 0


def test_mean_offsite_interval_treats_cells_of_one_training_set_as_correlated():
    """Two off-site cells of one training set share its fold models: their standard errors add (perfect
    correlation, the conservative bound); a cell of another training set combines in quadrature. Planted
    independence (every cell in quadrature) gives the narrower interval and fails."""
    from benchmark.evaluation.sites import Z95, _mean_interval

    cells = pd.DataFrame({"train_set": ["busi", "busi", "bus_bra"], "auc": [0.80, 0.70, 0.75],
                          "ci_low": [0.80 - Z95 * 0.02, 0.70 - Z95 * 0.03, 0.75 - Z95 * 0.04],
                          "ci_high": [0.80 + Z95 * 0.02, 0.70 + Z95 * 0.03, 0.75 + Z95 * 0.04]})
    low, high = _mean_interval(cells)
    half = Z95 * np.sqrt((0.02 + 0.03) ** 2 + 0.04 ** 2) / 3
    assert (low, high) == pytest.approx((0.75 - half, 0.75 + half), abs=1e-12)
    independent = Z95 * np.sqrt(0.02 ** 2 + 0.03 ** 2 + 0.04 ** 2) / 3
    assert high - low > 2 * independent
