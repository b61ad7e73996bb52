"""`petl-bench spread`: each method's fold-stratified (or pooled) AUC across run folders on the same folds."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from benchmark.cli import main
from benchmark.evaluation.run_spread import run_labels, run_spread, spread_sentences
from benchmark.runfolder import REFERENCE_METHOD
from fake_runs import make_run_folder

SMALL = dict(n_images=90, n_malignant=30, duplicate_pairs=10, folds=3, repeats=2, fold_offsets=1.0)


def _set_seed(run_dir, seed: int) -> None:
    path = run_dir / "suite.json"
    suite = json.loads(path.read_text())
    suite["profile"]["search"]["seed"] = seed
    path.write_text(json.dumps(suite))


@pytest.fixture
def two_runs(tmp_path):
    """Two runs on the same folds: "weak" differs (another strength), "good" is the same model."""
    a = make_run_folder(tmp_path, methods=("good", "weak"), name="seed0", reference=1.5, **SMALL)
    b = make_run_folder(tmp_path, methods=("good", "weak"), name="seed1", reference=1.5,
                        strengths={"weak": 1.2}, **SMALL)
    _set_seed(a, 0)
    _set_seed(b, 1)
    return a, b


def _pooled_auc(run_dir, method: str, file: str = "predictions.csv") -> float:
    """The pooled out-of-fold AUC recomputed with scikit-learn, mean over repeats."""
    frame = pd.read_csv(run_dir / file)
    frame = frame[(frame["dataset"] == "busi") & (frame["method"] == method)]
    return float(np.mean([roc_auc_score(g["label"], g["score"]) for _, g in frame.groupby("repeat")]))


def _stratified_auc(run_dir, method: str, file: str = "predictions.csv") -> float:
    """The leaderboard's statistic recomputed with scikit-learn: per-fold AUCs weighted by n_malignant * n_benign,
    mean over repeats."""
    frame = pd.read_csv(run_dir / file)
    frame = frame[(frame["dataset"] == "busi") & (frame["method"] == method)]
    out = []
    for _, rep in frame.groupby("repeat"):
        w = [(g.label == 1).sum() * (g.label == 0).sum() for _, g in rep.groupby("fold")]
        out.append(np.average([roc_auc_score(g.label, g.score) for _, g in rep.groupby("fold")], weights=w))
    return float(np.mean(out))


@pytest.mark.parametrize("statistic, auc", [("fold_stratified", _stratified_auc), ("pooled", _pooled_auc)])
def test_spread_recomputes_each_runs_auc_and_range(two_runs, statistic, auc):
    """The spread shows the leaderboard's fold-stratified AUC (or, asked, the pooled one), recomputed with sklearn."""
    a, b = two_runs
    table, differences = run_spread([a, b], statistic)
    rows = table.set_index("method")
    assert list(table["method"])[-1] == REFERENCE_METHOD
    for method in ("good", "weak"):
        assert rows.loc[method, "auc_seed0"] == pytest.approx(auc(a, method), abs=1e-12)
        assert rows.loc[method, "auc_seed1"] == pytest.approx(auc(b, method), abs=1e-12)
    assert rows.loc["good", "auc_range"] == pytest.approx(0.0, abs=1e-12)  # the same model in both runs
    assert abs(_stratified_auc(a, "weak") - _pooled_auc(a, "weak")) > 0.01  # the two statistics differ here
    expected = abs(auc(a, "weak") - auc(b, "weak"))
    assert expected > 0.05
    assert rows.loc["weak", "auc_range"] == pytest.approx(expected, abs=1e-12)
    assert rows.loc[REFERENCE_METHOD, "auc_seed0"] == pytest.approx(auc(a, REFERENCE_METHOD,
                                                                        "reference_predictions.csv"))
    assert rows.loc[REFERENCE_METHOD, "auc_range"] == pytest.approx(0.0, abs=1e-12)
    assert differences == ["search.seed: 0, 1"]
    text = " ".join(spread_sentences(table, differences, statistic))
    assert "search.seed: 0, 1" in text and f"largest {expected:.3f} (weak" in text
    assert text.count("Fold-stratified AUC range" if statistic == "fold_stratified" else "Pooled out-of-fold AUC") == 1


def test_spread_ranks_follow_each_run(tmp_path):
    a = make_run_folder(tmp_path, methods=("good", "weak"), name="a", strengths={"good": 1.0}, **SMALL)
    b = make_run_folder(tmp_path, methods=("good", "weak"), name="b", strengths={"good": 1.0, "weak": 2.0},
                        **SMALL)
    table, _ = run_spread([a, b])
    rows = table.set_index("method")
    assert (rows.loc["good", "rank_a"], rows.loc["weak", "rank_a"]) == (1, 2)
    assert (rows.loc["good", "rank_b"], rows.loc["weak", "rank_b"]) == (2, 1)
    assert "2 of 2 methods" in " ".join(spread_sentences(table, []))


def test_a_method_ranked_in_one_run_only(tmp_path):
    a = make_run_folder(tmp_path, methods=("good", "weak"), name="a", **SMALL)
    b = make_run_folder(tmp_path, methods=("good", "weak"), name="b", failed={"weak": ("collapsed", None)}, **SMALL)
    table, differences = run_spread([a, b])
    rows = table.set_index("method")
    assert np.isnan(rows.loc["weak", "auc_b"]) and rows.loc["weak", "n_runs"] == 1
    assert rows.loc["good", "n_runs"] == 2
    assert REFERENCE_METHOD not in rows.index  # neither run has a reference
    text = " ".join(spread_sentences(table, differences))
    assert "Not ranked in every run" in text and "weak" in text
    assert "differ in nothing" in text


def test_runs_on_other_folds_are_refused(tmp_path):
    a = make_run_folder(tmp_path, methods=("good",), name="a", **SMALL)
    b = make_run_folder(tmp_path, methods=("good",), name="b", **{**SMALL, "n_images": 96})
    with pytest.raises(ValueError, match=r"b/predictions.csv scores other images or folds"):
        run_spread([a, b])
    with pytest.raises(ValueError, match="at least two run folders"):
        run_spread([a])


def test_labels_are_unique(tmp_path):
    (tmp_path / "x" / "run").mkdir(parents=True)
    (tmp_path / "y" / "run").mkdir(parents=True)
    assert run_labels([tmp_path / "x" / "run", tmp_path / "y" / "run"]) == ["run#1", "run#2"]


def test_cli_prints_the_table_and_writes_the_csv(two_runs, tmp_path, capsys):
    a, b = two_runs
    out = tmp_path / "spread.csv"
    assert main(["spread", str(a), str(b), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| method | seed0 | seed1 | range |" in printed and "Fold-stratified AUC per run" in printed
    assert main(["spread", str(a), str(b), "--pooled"]) == 0
    assert "Pooled out-of-fold AUC per run" in capsys.readouterr().out
    assert "search.seed: 0, 1" in printed
    written = pd.read_csv(out)
    assert list(written["method"])[-1] == REFERENCE_METHOD
    assert set(written["method"]) == {"good", "weak", REFERENCE_METHOD}
    assert main(["spread", str(a), str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
