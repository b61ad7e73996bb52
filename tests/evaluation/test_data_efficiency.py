"""Data-efficiency runs ([data] train_sizes) and the cost-aware summary: the Pareto front, the learning
curve recomputed with independent code, the report's section, and a tiny suite run at two sizes."""
from __future__ import annotations

import json
import re
import shutil
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from benchmark.evaluation import leaderboard, load_run
from benchmark.evaluation.learning_curve import LEARNING_CURVE_COLUMNS, learning_curve
from benchmark.evaluation.pareto import pareto_front, pareto_table
from benchmark.runfolder import load_predictions, load_runs, load_studies

from fake_runs import make_run_folder  # noqa: E402


# ------------------------------------------------------------------------------- Pareto front
def test_pareto_front_on_a_hand_example():
    #            a     b     c     d     e     f (tie with b)  g (NaN)
    auc = [0.80, 0.90, 0.85, 0.95, 0.70, 0.90, np.nan]
    cost = [10, 100, 200, 1000, 5, 100, 1]
    # c is dominated by b (lower AUC, higher cost); b and f are equal: both on the front
    assert pareto_front(auc, cost).tolist() == [True, True, False, True, True, True, False]
    assert pareto_front([0.9, 0.9], [1, 2]).tolist() == [True, False]  # equal AUC, higher cost: dominated
    assert pareto_front([0.8, 0.9], [1, 1]).tolist() == [False, True]  # equal cost, lower AUC: dominated
    with pytest.raises(ValueError, match="same shape"):
        pareto_front([0.1, 0.2], [1])


def test_pareto_table_marks_the_front_per_cost_from_the_leaderboard_and_runs():
    lb = pd.DataFrame({"method": ["a", "b", "c", "logistic_regression_probe", "broken"],
                       "rank": [1, 2, 3, None, None], "auc": [0.9, 0.85, 0.8, 0.88, None],
                       "auc_ci_low": [0.85, 0.8, 0.75, 0.83, None], "auc_ci_high": [0.95, 0.9, 0.85, 0.93, None],
                       "trainable_parameters": [1000, 10, 100, 1281, None]})
    runs = pd.DataFrame({"method": ["a", "a", "b", "c"], "train_seconds": [10.0, 30.0, np.nan, 5.0],
                         "seconds_per_epoch": [1, 1, 4.0, 1], "epochs_run": [10, 30, 5, 5]})
    table = pareto_table(lb, runs)
    assert set(table["method"]) == {"a", "b", "c"}  # ranked methods only: no reference, no unranked
    params = table[table["cost"] == "trainable_parameters"].set_index("method")
    seconds = table[table["cost"] == "training_seconds"].set_index("method")
    assert params["on_front"].to_dict() == {"a": True, "b": True, "c": False}
    assert seconds["cost_value"].to_dict() == {"a": 20.0, "b": 20.0, "c": 5.0}  # b: 4 s x 5 epochs (no train_seconds)
    assert seconds["on_front"].to_dict() == {"a": True, "b": False, "c": True}


# ------------------------------------------------------------------------ a fake sized run folder
SMALL = "20"


def _sized_run(root: Path, externals=None) -> Path:
    """A fake run folder at two training-set sizes: "all" (the fake methods' strengths) and "20" (weaker)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = make_run_folder(root, folds=5, name="full", externals=externals)
        small = make_run_folder(root, folds=5, name="small", externals=externals,
                                strengths={"good": 1.0, "random_a": 0.0, "random_b": 0.3, "weak": 0.2})
    run_dir = root / "run"
    shutil.copytree(full, run_dir)
    for results in (small / "runs").glob("*/repeat-*/fold-*/results.json"):
        record = json.loads(results.read_text())
        record["config"]["train_size"] = SMALL
        record["dataset"]["split_sizes"]["train"] = 20
        record["parameters"]["trainable"] = 1  # a size's runs must not leak into the leaderboard's
        folder = run_dir / results.parent.relative_to(small).parent / f"{results.parent.name}-size-{SMALL}"
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps(record))
    runs = [json.loads(p.read_text()) for p in (full / "runs").glob("*/repeat-*/fold-*/results.json")]
    n_all = {(r["config"]["method"], r["config"]["fold"]): r["dataset"]["split_sizes"]["train"] for r in runs}
    pred_all = pd.read_csv(full / "predictions.csv", dtype={"image_id": str})
    pred_all = pred_all.assign(train_size="all", n_train=[n_all[(m, f)] for m, f in zip(pred_all.method,
                                                                                          pred_all.fold)])
    pred_small = pd.read_csv(small / "predictions.csv", dtype={"image_id": str}).assign(train_size=SMALL, n_train=20)
    pd.concat([pred_small, pred_all]).to_csv(run_dir / "predictions.csv", index=False)
    studies = pd.concat([pd.read_csv(small / "studies.csv").assign(train_size=SMALL),
                         pd.read_csv(full / "studies.csv").assign(train_size="all")])
    studies.to_csv(run_dir / "studies.csv", index=False)
    return run_dir


@pytest.fixture(scope="module")
def sized_run(tmp_path_factory):
    return _sized_run(tmp_path_factory.mktemp("sized"), externals={"ext": (60, 20)})


def _fold_stratified(frame: pd.DataFrame) -> float:
    """Independent: per-fold AUCs (scikit-learn) weighted by each fold's malignant x benign pairs."""
    aucs, weights = [], []
    for _, g in frame.groupby("fold"):
        aucs.append(roc_auc_score(g["label"], g["score"]))
        weights.append(int(g["label"].sum()) * int((1 - g["label"]).sum()))
    return float(np.average(aucs, weights=weights))


def _per_model(frame: pd.DataFrame) -> float:
    return float(np.mean([roc_auc_score(g["label"], g["score"]) for _, g in frame.groupby(["repeat", "fold"])]))


def test_tables_of_a_sized_run_read_one_size_and_the_leaderboard_reads_all(sized_run):
    every = load_predictions(sized_run, every_size=True)
    assert sorted(every["train_size"].unique()) == ["20", "all"]
    assert set(load_predictions(sized_run)["train_size"]) == {"all"}  # the leaderboard's size by default
    assert set(load_predictions(sized_run, train_size=SMALL)["train_size"]) == {SMALL}
    assert set(load_studies(sized_run, train_size=SMALL)["train_size"]) == {SMALL}
    assert set(load_runs(sized_run)["trainable_parameters"]) != {1} and \
        set(load_runs(sized_run, train_size=SMALL)["trainable_parameters"]) == {1}
    with pytest.raises(ValueError, match="has no training-set size '7'"):
        load_predictions(sized_run, train_size="7")
    data = load_run(sized_run)
    assert data.train_size == "all" and not (data.predictions["train_size"] != "all").any()


def test_learning_curve_recomputed_from_predictions_with_independent_code(sized_run):
    curve = learning_curve(sized_run, n_bootstrap=200)
    assert list(curve.columns) == LEARNING_CURVE_COLUMNS
    pred = pd.read_csv(sized_run / "predictions.csv", dtype={"image_id": str, "train_size": str})
    methods = sorted(pred["method"].unique())
    assert len(curve) == len(methods) * 2 * 2  # methods x sizes x (busi, ext)
    for r in curve.itertuples():
        rows = pred[(pred.dataset == r.dataset) & (pred.method == r.method) & (pred.train_size == r.train_size)]
        expected = _fold_stratified(rows) if r.dataset == "busi" else _per_model(rows)
        assert r.auc == pytest.approx(expected, abs=1e-9), (r.dataset, r.method, r.train_size)
        assert r.ci_low <= r.auc <= r.ci_high and r.n_folds == 5 and r.status == "ok"
        assert r.n_train_images == pytest.approx(rows.drop_duplicates("fold")["n_train"].mean())
    good = curve[(curve.dataset == "busi") & (curve.method == "good")].set_index("train_size")
    assert good.loc[SMALL, "auc"] < good.loc["all", "auc"]  # the fake method is weaker on fewer images
    # at the leaderboard's size the curve repeats the leaderboard, interval included
    lb = leaderboard(load_run(sized_run, n_bootstrap=200)).set_index("method")
    at_all = curve[(curve.train_size == "all") & (curve.dataset == "busi")].set_index("method")
    for m in methods:
        assert (at_all.loc[m, "auc"], at_all.loc[m, "ci_low"], at_all.loc[m, "ci_high"]) == pytest.approx(
            (lb.loc[m, "auc"], lb.loc[m, "auc_ci_low"], lb.loc[m, "auc_ci_high"]), abs=1e-12)
        ext = curve[(curve.train_size == "all") & (curve.dataset == "ext")].set_index("method")
        assert ext.loc[m, "auc"] == pytest.approx(lb.loc[m, "external_ext_auc"], abs=1e-12)


def test_lead_at_the_smallest_size_is_the_primary_test_of_that_size(sized_run):
    """size_lead: the leader at the smallest size against each other method, with the p-values significance()
    gives at that size (the same Holm family: every pair of ranked methods under the primary test)."""
    from benchmark.evaluation.learning_curve import LEAD_COLUMNS, size_lead
    from benchmark.evaluation.pairwise import significance

    lead = size_lead(sized_run, n_bootstrap=200)
    assert list(lead.columns) == LEAD_COLUMNS and set(lead["train_size"]) == {SMALL}
    curve = learning_curve(sized_run, n_bootstrap=200)
    small = curve[(curve.dataset == "busi") & (curve.train_size == SMALL)].set_index("method")["auc"]
    assert set(lead["leader"]) == {small.idxmax()} == {"good"}
    assert list(lead["method"]) == list(small.drop("good").sort_values(ascending=False).index)  # runner-up first
    np.testing.assert_allclose(lead["difference"], lead["auc_leader"] - lead["auc_method"], atol=1e-12)
    sig = significance(load_run(sized_run, n_bootstrap=200, train_size=SMALL))
    sig = sig[sig.primary & (sig.dataset == "busi") & (sig.method_a == "good")].set_index("method_b")
    # the method-level row of that size: mean per-fold-model AUCs, their difference, interval and Holm p
    for col, own in (("auc_method", "auc_b"), ("difference", "difference"), ("ci_low", "ci_low"),
                     ("p_holm", "p_holm")):
        np.testing.assert_allclose(lead[col], sig.loc[lead["method"], own].to_numpy(), atol=1e-12)
    assert (lead["significant"] == (lead["p_holm"] < 0.05)).all()
    assert lead.set_index("method").loc["random_b", "significant"]  # 1.0 against 0.3 strength: a clear lead
    assert size_lead(sized_run, train_size="all", n_bootstrap=200)["train_size"].eq("all").all()


def _with_reference(sized_run: Path, root: Path, stand_in: str = "weak") -> Path:
    """A copy of the sized run whose reference, at each size, scored the test images exactly as ``stand_in`` did."""
    from benchmark.runfolder import REFERENCE_FILE, REFERENCE_METHOD

    run_dir = Path(shutil.copytree(sized_run, root / "with-reference"))
    pred = pd.read_csv(run_dir / "predictions.csv", dtype={"image_id": str, "train_size": str})
    reference = pred[(pred.method == stand_in) & (pred.dataset == "busi")].assign(method=REFERENCE_METHOD)
    reference.to_csv(run_dir / REFERENCE_FILE, index=False)
    return run_dir


def test_the_reference_has_its_own_row_at_every_size_and_the_leader_is_held_against_it(sized_run, tmp_path):
    """With a reference per size, learning_curve.csv has its row at each size (its AUC recomputed with
    scikit-learn from its own rows of that size), and the lead's last row is the leader against it: a reference
    that scored exactly as 'weak' did gives weak's AUC and the leader's difference to weak, at each size."""
    from benchmark.evaluation.learning_curve import REFERENCE_STATUS, size_lead
    from benchmark.runfolder import REFERENCE_FILE, REFERENCE_METHOD

    run_dir = _with_reference(sized_run, tmp_path)
    curve = learning_curve(run_dir, n_bootstrap=200)
    reference = pd.read_csv(run_dir / REFERENCE_FILE, dtype={"image_id": str, "train_size": str})
    rows = curve[curve.method == REFERENCE_METHOD].set_index("train_size")
    assert list(rows.index) == [SMALL, "all"] and set(rows["status"]) == {REFERENCE_STATUS}
    assert set(rows["dataset"]) == {"busi"}  # it scored no external set: no row there
    weak = curve[(curve.method == "weak") & (curve.dataset == "busi")].set_index("train_size")
    for size in (SMALL, "all"):
        own = reference[reference.train_size == size]
        assert rows.loc[size, "auc"] == pytest.approx(_fold_stratified(own), abs=1e-9)
        assert rows.loc[size, "auc"] == pytest.approx(weak.loc[size, "auc"], abs=1e-12)
        assert rows.loc[size, "n_train_images"] == pytest.approx(own.drop_duplicates("fold")["n_train"].mean())
    assert rows.loc[SMALL, "auc"] != pytest.approx(rows.loc["all", "auc"])  # each size its own reference
    lead = size_lead(run_dir, n_bootstrap=200)
    assert list(lead["method"])[-1] == REFERENCE_METHOD and REFERENCE_METHOD not in list(lead["method"])[:-1]
    last, versus_weak = lead.iloc[-1], lead.set_index("method").loc["weak"]
    # the method-level estimate: the reference's mean per-fold AUC, as the test compares them
    assert last["auc_method"] == pytest.approx(_per_model(reference[reference.train_size == SMALL]), abs=1e-12)
    assert (last["difference"], last["ci_low"], last["ci_high"]) == pytest.approx(
        (versus_weak["difference"], versus_weak["ci_low"], versus_weak["ci_high"]), abs=1e-12)
    assert last["significant"] == (last["p_holm"] < 0.05)


def test_a_reference_written_before_sizes_is_used_only_at_the_whole_training_part(sized_run, tmp_path):
    """An old reference (no train_size column) was fitted on every training image: it belongs at size "all",
    never at a smaller size, where it would hold a 20-image method against a probe that saw every image."""
    from benchmark.runfolder import REFERENCE_FILE, REFERENCE_METHOD, load_reference

    run_dir = _with_reference(sized_run, tmp_path)
    reference = pd.read_csv(run_dir / REFERENCE_FILE, dtype={"image_id": str, "train_size": str})
    reference[reference.train_size == "all"].drop(columns=["train_size", "n_train"]).to_csv(
        run_dir / REFERENCE_FILE, index=False)
    assert load_reference(run_dir, SMALL) is None and len(load_reference(run_dir, "all"))
    curve = learning_curve(run_dir, n_bootstrap=200)
    assert list(curve.loc[curve.method == REFERENCE_METHOD, "train_size"]) == ["all"]


def test_a_run_without_sizes_has_no_learning_curve(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_dir = make_run_folder(tmp_path, folds=2)
    assert learning_curve(run_dir) is None
    assert "train_size" not in load_predictions(run_dir).columns


@pytest.fixture
def no_analysis(monkeypatch):
    monkeypatch.setitem(sys.modules, "benchmark.analysis", None)


@pytest.mark.slow
def test_report_writes_the_tables_and_shows_the_figures(sized_run, tmp_path, no_analysis):
    from benchmark.reporting import write_report

    run_dir = Path(shutil.copytree(sized_run, tmp_path / "run"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        page = write_report(run_dir).read_text()
    for name in ("learning_curve.csv", "pareto.csv", "figures/learning_curve.png", "figures/pareto.png"):
        assert (run_dir / name).is_file(), name
    pareto = pd.read_csv(run_dir / "pareto.csv")
    lb = pd.read_csv(run_dir / "leaderboard.csv")
    assert set(pareto["on_front"].astype(str)) <= {"True", "False"} and pareto["on_front"].any()
    assert set(pareto["method"]) == set(lb.loc[lb["rank"].notna(), "method"])
    assert 'id="data-efficiency"' in page and 'id="cost-summary"' in page
    assert "AUC [95% CI] by training-set size" in page and "at training-set size <code>all</code>" in page
    assert "At the smallest size (20: 20 training images per fold on average) good ranks first" in page
    assert "The probability of being the best method at that size" in page
    assert (run_dir / "learning_curve_lead.csv").is_file()
    assert page.index('id="cost-summary"') < page.index('id="data-efficiency"') < page.index('id="cost"')


@pytest.mark.slow
def test_report_holds_the_leader_at_the_smallest_size_against_the_reference_of_that_size(sized_run, tmp_path,
                                                                                         no_analysis):
    from benchmark.reporting import write_report
    from benchmark.runfolder import REFERENCE_METHOD

    run_dir = _with_reference(sized_run, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        page = write_report(run_dir).read_text()
    lead = pd.read_csv(run_dir / "learning_curve_lead.csv")
    assert lead["method"].iloc[-1] == REFERENCE_METHOD
    # the probability of being best covers the 4 ranked methods and the probe, and sums to one
    probs = [lead["prob_best_leader"].iloc[0]] + list(lead["prob_best"])
    assert len(probs) == 5 and sum(probs) == pytest.approx(1.0)
    assert f"is {lead['prob_best_leader'].iloc[0]:.2f} for good" in page and "the probe included" in page
    assert ("Against the logistic-regression probe on the frozen features, fitted on the same 20 images per fold "
            "(AUC") in page
    verdict = "significantly above" if lead["significant"].iloc[-1] else "not significantly different from"
    assert f"good is {verdict} it" in page
    curve = pd.read_csv(run_dir / "learning_curve.csv", dtype={"train_size": str})
    assert (curve.method == REFERENCE_METHOD).sum() == 2


@pytest.mark.slow
def test_wins_at_the_smallest_size_over_methods_below_the_probe_are_not_evidence(sized_run, tmp_path, no_analysis):
    """The suite's rule at every size: a significant win over a method that is significantly below the
    logistic-regression probe of that size shows that the loser fell short, not that the winner adds anything. A probe that scored as well as the
    leader 'good' did at 20 images leaves the weak methods below it: the lead's below_reference column is the
    reference comparison's verdict at that size, and the report's sentence names them. Planted: the column
    always False: the flags differ and no method is named."""
    from benchmark.evaluation import load_run, reference_comparison
    from benchmark.evaluation.learning_curve import size_lead
    from benchmark.reporting import write_report
    from benchmark.runfolder import REFERENCE_METHOD

    run_dir = _with_reference(sized_run, tmp_path, stand_in="good")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lead = size_lead(run_dir, n_bootstrap=200)
        below = reference_comparison(load_run(run_dir, 200, train_size=SMALL)).set_index("method")["below"]
        page = write_report(run_dir).read_text()
    methods = lead[lead["method"] != REFERENCE_METHOD].set_index("method")
    assert methods["below_reference"].to_dict() == below.drop("good").to_dict()
    named = methods[methods["significant"] & methods["below_reference"]].index.tolist()
    assert named, methods  # the fixture must have such a win for the test to mean anything
    assert (f"{len(named)} ({', '.join(named)}) {'is' if len(named) == 1 else 'are'} over methods significantly "
            "below the logistic-regression probe at that size: they show that those methods fell short here, not "
            "that good adds anything over the probe.") in page


# ------------------------------------------------------------------------ a tiny suite at two sizes
@pytest.mark.slow
def test_suite_trains_every_method_at_every_size_and_resumes(tmp_path, smoke_profile, capsys):
    """The smoke protocol (2 folds, 1 trial) on 96 synthetic images at 16 training images and all of them."""
    from benchmark.training.suite import run_suite

    profile = replace(smoke_profile, data=replace(smoke_profile.data, train_sizes=("16", "all")))
    run_dir = tmp_path / "run"
    run_suite(profile, "synthetic", run_dir, ["feature_extraction"], device="cpu", progress=False)
    pred = load_predictions(run_dir, every_size=True)
    assert sorted(pred["train_size"].unique()) == ["16", "all"]
    small, full = pred[pred.train_size == "16"], pred[pred.train_size == "all"]
    assert set(small["n_train"]) == {16} and full["n_train"].min() > 16
    # the same test images at both sizes; the validation set unchanged
    assert small.groupby("fold")["image_id"].apply(set).equals(full.groupby("fold")["image_id"].apply(set))
    subsets = pd.read_csv(run_dir / "train_subsets.csv", dtype={"train_size": str, "image_id": str})
    for fold in (0, 1):
        part = subsets[subsets.fold == fold]
        assert set(part.loc[part.train_size == "16", "image_id"]) < set(part.loc[part.train_size == "all", "image_id"])
        small_run = json.loads((run_dir / f"runs/feature_extraction/repeat-0/fold-{fold}-size-16/results.json")
                               .read_text())
        full_run = json.loads((run_dir / f"runs/feature_extraction/repeat-0/fold-{fold}/results.json").read_text())
        assert small_run["config"]["train_size"] == "16" and "train_size" not in full_run["config"]
        assert small_run["dataset"]["split_sizes"]["train"] == 16
        assert small_run["dataset"]["split_sizes"]["val"] == full_run["dataset"]["split_sizes"]["val"]
        assert small_run["search"]["study_name"] != full_run["search"]["study_name"]
    studies = pd.read_csv(run_dir / "studies.csv", dtype={"train_size": str})
    assert len(studies) == 4 and set(studies["status"]) == {"ok"}
    _check_reference_fitted_on_each_subset(run_dir, subsets)
    curve = learning_curve(run_dir)
    trained = curve[curve.method == "feature_extraction"]
    assert list(trained["train_size"]) == ["16", "all"] and curve["auc"].notna().all()
    capsys.readouterr()
    run_suite(profile, "synthetic", run_dir, ["feature_extraction"], device="cpu", progress=False)
    assert "4 of 4 studies already finished" in capsys.readouterr().out


def _check_reference_fitted_on_each_subset(run_dir: Path, subsets: pd.DataFrame) -> None:
    """The suite's reference at each size is the probe fitted on that fold's subset of train_subsets.csv, and
    only on it: its test scores equal a probe fitted here on the images the subset names."""
    from benchmark.runfolder import REFERENCE_FILE, TEST_IMAGES_FILE
    from benchmark.training.reference import frozen_features, probe_fold

    reference = pd.read_csv(run_dir / REFERENCE_FILE, dtype={"image_id": str, "train_size": str})
    assert sorted(reference["train_size"].unique()) == ["16", "all"]
    suite = json.loads((run_dir / "suite.json").read_text())
    backbone = suite["profile"]["backbone"]
    with np.load(run_dir / TEST_IMAGES_FILE) as z:
        images, labels, ids, groups = z["images"], z["labels"], z["ids"].astype(str), z["groups"]
    x = frozen_features(backbone["name"], int(backbone["image_size"]), backbone.get("weights"), images, "cpu")
    for (fold, size), part in reference.groupby(["fold", "train_size"]):
        chosen = set(subsets.loc[(subsets.fold == fold) & (subsets.train_size == size), "image_id"])
        assert set(part["n_train"]) == {len(chosen)}
        model, threshold = probe_fold(x, labels, groups, np.isin(ids, list(chosen)), seed=0)
        where = {i: k for k, i in enumerate(ids)}
        expected = model.predict_proba(x[[where[i] for i in part["image_id"]]])[:, 1]
        np.testing.assert_allclose(part["score"], expected, atol=1e-9, err_msg=f"fold {fold}, size {size}")
        assert part["threshold"].iloc[0] == pytest.approx(threshold)
    curve = learning_curve(run_dir)
    assert list(curve.loc[curve.status == "reference", "train_size"]) == ["16", "all"]


def test_the_probe_uses_fewer_inner_folds_on_a_small_subset_and_refuses_one_group_of_a_class():
    from benchmark.training.reference import probe_fold

    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(12, int), np.ones(3, int)]
    x = rng.normal(size=(15, 4)) + labels[:, None]
    model, _ = probe_fold(x, labels, np.arange(15), np.ones(15, bool))  # 3 malignant groups: 3 inner folds
    assert model.cv.get_n_splits() == 3 and np.isfinite(model.best_score_)
    groups = np.r_[np.arange(12), 12, 12, 12]  # the three malignant images are one lesion
    with pytest.raises(ValueError, match="at least 2 duplicate groups of each class among its 15 training images"):
        probe_fold(x, labels, groups, np.ones(15, bool))


def test_run_facts_recomputes_every_learning_curve_cell_and_catches_a_wrong_one(sized_run, tmp_path, capsys):
    """scripts/dev/run_facts.py recomputes learning_curve.csv from the predictions with scikit-learn (the closing
    notes quote it): the table written from a run agrees to rounding; one cell moved by 0.01 is caught."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "dev"))
    try:
        import run_facts
    finally:
        sys.path.pop(0)
    run_dir = _with_reference(sized_run, tmp_path)
    curve = learning_curve(run_dir, n_bootstrap=50)
    curve.to_csv(run_dir / "learning_curve.csv", index=False)
    assert run_facts.main([str(run_dir)]) == 0
    out = capsys.readouterr().out
    checked = int(re.search(r"learning_curve.csv: (\d+) cells recomputed", out).group(1))
    assert checked == curve["auc"].notna().sum() and checked >= 10
    assert float(re.search(r"largest difference (\S+)", out).group(1)) < 1e-12
    assert "busi: narrowest score range of a fold model" in out and "ext: narrowest score range" in out
    curve.loc[curve.index[-1], "auc"] += 0.01
    curve.to_csv(run_dir / "learning_curve.csv", index=False)
    run_facts.main([str(run_dir)])
    assert float(re.search(r"largest difference (\S+)", capsys.readouterr().out).group(1)) == pytest.approx(0.01)


def test_probability_of_being_best_is_the_correlated_t_posterior(sized_run):
    """With two methods, P(A best) is the correlated Bayesian t-test's P(difference > 0) (within Monte Carlo
    error); over all candidates the probabilities sum to one, and size_lead reports them for every row."""
    from scipy.stats import t as student_t

    from benchmark.evaluation.learning_curve import size_lead
    from benchmark.evaluation.method_level import probability_best
    from benchmark.stats import nadeau_bengio_ttest

    data = load_run(sized_run, n_bootstrap=200, train_size=SMALL)
    pred = pd.read_csv(sized_run / "predictions.csv", dtype={"image_id": str, "train_size": str})
    part = pred[(pred.dataset == "busi") & (pred.train_size == SMALL)]
    auc = {k: roc_auc_score(g.label, g.score) for k, g in part.groupby(["method", "repeat", "fold"])}
    keys = sorted({(r, f) for _, r, f in auc})
    diffs = np.array([auc[("weak", *k)] - auc[("random_b", *k)] for k in keys])
    from benchmark.evaluation import nadeau_bengio_sizes

    n_train, n_test, _ = nadeau_bengio_sizes(data)
    res = nadeau_bengio_ttest(diffs, n_train, n_test)
    expected = student_t.sf(0, res["df"], loc=res["mean_difference"], scale=res["se"])
    got = probability_best(data, ["weak", "random_b"], n_draws=40_000)
    assert got["weak"] == pytest.approx(expected, abs=0.01) and got.sum() == pytest.approx(1.0)
    lead = size_lead(sized_run, n_bootstrap=200)
    every = probability_best(data, data.order)
    assert lead["prob_best_leader"].iloc[0] == pytest.approx(every[lead["leader"].iloc[0]])
    assert lead["prob_best"].sum() + lead["prob_best_leader"].iloc[0] == pytest.approx(1.0)
