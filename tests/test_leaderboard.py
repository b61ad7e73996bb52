"""benchmark.leaderboard and benchmark.figures on a fake run folder (no training)."""
from __future__ import annotations

import json
import warnings
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.io import write_csv_atomic, write_json_atomic
from benchmark.leaderboard import (
    TESTS,
    leaderboard,
    load_runs,
    paired_bootstrap_resamples,
    significance,
    summary_sentences,
    write_leaderboard,
)
from benchmark.metrics import evaluate_scores, roc_auc
from benchmark.stats import holm_correction

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
METHODS = {  # name: (trainable parameters, without head)
    "good": (150_000, 148_719),
    "random_a": (1_281, 0),
    "random_b": (40_000, 38_719),
    "weak": (2_000_000, 1_998_719),
}
N_TEST, N_POS, N_BOOT = 80, 30, 200


def _scores(method: str, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if method == "good":  # nearly separates the classes
        return labels + rng.normal(0.0, 0.3, labels.size)
    if method == "weak":
        return 0.4 * labels + rng.normal(0.0, 1.0, labels.size)
    return rng.random(labels.size)  # no information


def _write_run(run_dir: Path, method: str, seed: int, labels, ids, scores, synthetic: bool, null_std=False):
    folder = run_dir / "runs" / method / f"seed-{seed}"
    m = evaluate_scores(labels, scores, n_bootstrap=50, seed=seed)
    if null_std:
        m["auc_std"] = None
    trainable, without_head = METHODS.get(method, (1_000, 0))
    record = {
        "config": {"method": method, "split_seed": seed, "lr": 1e-3, "beta1": 0.9},
        "metrics": m,
        "parameters": {"trainable": trainable, "trainable_without_head": without_head,
                       "head": trainable - without_head, "total": 3_372_289},
        "training": {"seconds_per_epoch": 1.5 + seed, "epochs_run": 10, "train_seconds": 15.0 + 10 * seed},
        "dataset": {"name": "synthetic" if synthetic else "busi", "synthetic": synthetic,
                    "checksum": "abc123", "n_images": 400},
        "method": {"description": f"the {method} method", "citation": "Someone et al. 2020"},
    }
    write_csv_atomic(folder / "predictions.csv", pd.DataFrame({"image_id": ids, "label": labels, "score": scores}))
    write_json_atomic(folder / "results.json", record)


def make_run_folder(root: Path, methods=tuple(METHODS), seeds=(0, 1), synthetic=False, shuffle=True,
                    null_std=None) -> Path:
    run_dir = root / "run"
    write_json_atomic(run_dir / "suite.json", {
        "profile": {"name": "quick", "evaluation": {"split_seeds": list(seeds), "n_bootstrap": N_BOOT},
                    "backbone": {"name": "efficientnet_lite0", "image_size": 128}},
        "dataset": "synthetic" if synthetic else "busi", "data_root": None, "methods": list(methods)})
    for seed in seeds:
        rng = np.random.default_rng(100 + seed)
        labels = np.r_[np.ones(N_POS, int), np.zeros(N_TEST - N_POS, int)]
        ids = np.array([f"img_{seed}_{i:03d}" for i in range(N_TEST)])
        for k, method in enumerate(methods):
            scores = _scores(method, labels, np.random.default_rng(1000 * seed + k))
            order = rng.permutation(N_TEST) if shuffle else np.arange(N_TEST)  # file row order differs
            _write_run(run_dir, method, seed, labels[order], ids[order], scores[order], synthetic,
                       null_std=(method, seed) == null_std)
    return run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run_folder(tmp_path_factory.mktemp("lb"), null_std=("weak", 1))


@pytest.fixture(scope="module")
def runs(run_dir):
    return load_runs(run_dir)


@pytest.fixture(scope="module")
def sig(run_dir, runs):
    return significance(run_dir, runs)


def _predictions(run_dir, method, seed):
    return pd.read_csv(run_dir / "runs" / method / f"seed-{seed}" / "predictions.csv")


# ------------------------------------------------------------------------------ load_runs
def test_load_runs_flattens_results(runs):
    assert len(runs) == 8
    assert list(runs[["method", "split_seed"]].itertuples(index=False, name=None))[:2] == [("good", 0), ("good", 1)]
    for col in ("auc", "auc_std", "accuracy_std", "sensitivity", "specificity_std", "threshold", "n",
                "n_positive", "trainable_parameters", "trainable_parameters_without_head", "head_parameters",
                "total_parameters", "seconds_per_epoch", "epochs_run", "train_seconds", "lr", "beta1",
                "dataset", "synthetic", "dataset_checksum", "description", "citation", "run_path"):
        assert col in runs.columns, col
    weak1 = runs[(runs.method == "weak") & (runs.split_seed == 1)].iloc[0]
    assert np.isnan(weak1["auc_std"])  # null in results.json
    assert runs["n"].eq(N_TEST).all() and runs["n_positive"].eq(N_POS).all()
    assert weak1["run_path"] == "runs/weak/seed-1"


def test_unfinished_seed_folder_is_skipped_with_warning(tmp_path):
    run_dir = make_run_folder(tmp_path, methods=("good", "random_a"), seeds=(0,))
    (run_dir / "runs" / "good" / "seed-1").mkdir()  # a run in progress: no results.json yet
    with pytest.warns(UserWarning, match=r"seed-1.*no results\.json"):
        runs = load_runs(run_dir)
    assert len(runs) == 2 and set(runs.split_seed) == {0}


def test_no_finished_run_is_a_clear_error(tmp_path):
    (tmp_path / "empty" / "runs" / "good" / "seed-0").mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FileNotFoundError, match=r"no finished run in .*empty"):
            load_runs(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_runs(tmp_path / "nowhere")


# ---------------------------------------------------------------------------- leaderboard
def test_leaderboard_ranks_and_aggregates(run_dir, runs):
    lb = leaderboard(runs)
    assert list(lb["method"])[0] == "good" and lb.iloc[0]["rank"] == 1
    assert sorted(lb["rank"]) == [1, 2, 3, 4]
    good = lb.set_index("method").loc["good"]
    aucs = [roc_auc(p["label"], p["score"]) for p in (_predictions(run_dir, "good", s) for s in (0, 1))]
    assert good["auc_mean"] == pytest.approx(np.mean(aucs), abs=1e-12)
    assert good["auc_spread"] == pytest.approx(np.std(aucs, ddof=1), abs=1e-12)
    rows = runs[runs.method == "good"]
    assert good["auc_bootstrap_std"] == pytest.approx(rows["auc_std"].mean())
    assert good["accuracy_spread"] == pytest.approx(np.std(rows["accuracy"], ddof=1))
    assert good["trainable_parameters"] == 150_000 and good["trainable_parameters_without_head"] == 148_719
    assert good["seconds_per_epoch"] == pytest.approx(2.0) and good["n_splits"] == 2
    weak = lb.set_index("method").loc["weak"]
    assert weak["auc_bootstrap_std"] == pytest.approx(runs[(runs.method == "weak") & (runs.split_seed == 0)]
                                                      ["auc_std"].iloc[0])  # the null one is left out
    one = leaderboard(runs[runs.split_seed == 0])
    assert one["auc_spread"].isna().all() and one["n_splits"].eq(1).all()


# --------------------------------------------------------------------------- significance
def test_significance_has_every_pair_test_and_seed(sig):
    pairs = {frozenset(p) for p in combinations(METHODS, 2)}
    assert len(sig) == len(pairs) * (3 * 2 + 2)
    for test in TESTS[:3]:
        for seed in (0, 1):
            part = sig[(sig.test == test) & (sig.split_seed == seed)]
            assert {frozenset(p) for p in zip(part.method_a, part.method_b)} == pairs
    across = sig[sig.split_seed.isna()]
    assert set(across.test) == {"paired_splits_wilcoxon", "paired_splits_ttest"} and len(across) == 2 * len(pairs)
    assert (sig["p_holm"] >= sig["p"] - 1e-15).all()
    for (_, _), part in sig.groupby(["test", "split_seed"], dropna=False):
        np.testing.assert_allclose(part["p_holm"], holm_correction(part["p"].to_numpy()))
    assert (sig["significant"] == (sig["p_holm"] < 0.05)).all()
    boot = sig[sig.test == "paired_bootstrap"]
    assert (boot.ci_low <= boot.difference).all() and (boot.difference <= boot.ci_high).all()
    assert np.allclose(sig.difference[sig.test == "delong"], (sig.auc_a - sig.auc_b)[sig.test == "delong"])


def test_significance_finds_the_better_method(run_dir, sig):
    delong = sig[sig.test == "delong"]
    good = delong[(delong.method_a == "good") | (delong.method_b == "good")]
    good_vs_random = good[good.method_b.str.startswith("random")]
    assert good_vs_random["significant"].all() and (good_vs_random["difference"] > 0.2).all()
    rr = delong[delong.method_a.str.startswith("random") & delong.method_b.str.startswith("random")]
    assert len(rr) == 2 and not rr["significant"].any()
    # the paired bootstrap draws enough resamples for its p-value to pass Holm's correction
    boot = sig[(sig.test == "paired_bootstrap") & (sig.method_a == "good") & sig.method_b.str.startswith("random")]
    assert len(boot) == 4 and boot["significant"].all()
    # per-split AUCs are those of the predictions
    r = delong[(delong.method_a == "good") & (delong.split_seed == 1)].iloc[0]
    p = _predictions(run_dir, "good", 1)
    assert r.auc_a == pytest.approx(roc_auc(p["label"], p["score"]))


def test_significance_with_one_split_has_nan_across_split_p(run_dir, runs):
    one = significance(run_dir, runs[runs.split_seed == 0], n_bootstrap=50)
    across = one[one.split_seed.isna()]
    assert len(across) == 2 * 6 and across["p"].isna().all() and not across["significant"].any()
    assert "not computed" in " ".join(summary_sentences(one, tests=["paired_splits_wilcoxon"]))


def test_mismatched_test_images_raise(tmp_path):
    run_dir = make_run_folder(tmp_path, methods=("good", "random_a"), seeds=(0,))
    path = run_dir / "runs" / "random_a" / "seed-0" / "predictions.csv"
    pred = pd.read_csv(path)
    pred.loc[0, "image_id"] = "someone_else"
    pred.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"split seed 0: .* different test images"):
        significance(run_dir, load_runs(run_dir), n_bootstrap=20)


def test_summary_sentences(sig):
    sentences = summary_sentences(sig)
    first = sentences[0]
    assert first.startswith("good vs weak (split 0): AUC 0.") and "DeLong p" in first and "Holm p" in first
    assert first.endswith(": significant")
    nothing = sig[(sig.method_a != "good") & (sig.method_b != "good") & (sig.test == "delong")].copy()
    nothing["significant"] = False
    assert summary_sentences(nothing) == [
        "DeLong: no difference survives Holm correction (0 of 6 comparisons on split seeds 0, 1)."]
    assert "fewer than two methods" in summary_sentences(sig.iloc[0:0])[0]


# ------------------------------------------------------------------------------- reports
def _check_png(path: Path):
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 10_000, path


def test_write_leaderboard_real_data(run_dir):
    write_csv_atomic(run_dir / "cost.csv", pd.DataFrame({"method": list(METHODS), "train_images_per_s": 10.0,
                                                         "infer_images_per_s": [50.0, 60.0, 70.0, 80.0]}))
    written = write_leaderboard(run_dir)
    for name in ("leaderboard.csv", "leaderboard.md", "leaderboard.html", "significance.csv",
                 "figures/roc.png", "figures/auc_vs_parameters.png", "figures/pvalues_delong.png"):
        assert (run_dir / name).is_file(), name
        assert written[name] == run_dir / name
    for name in ("roc.png", "auc_vs_parameters.png", "pvalues_delong.png"):
        _check_png(run_dir / "figures" / name)
    md = (run_dir / "leaderboard.md").read_text()
    assert "SYNTHETIC" not in md
    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(METHODS)
    assert table[1].startswith("| good |") and "150,000" in table[1]
    assert "2,000,000" in md and " ± " in table[1]
    html = (run_dir / "leaderboard.html").read_text()
    assert html.count("data:image/png;base64,") == 3
    assert "SYNTHETIC" not in html and 'class="banner"' not in html
    assert "abc123" in html and "quick" in html  # protocol: checksum, profile
    assert "Holm" in html and "good vs random" in html
    lb = pd.read_csv(run_dir / "leaderboard.csv")
    assert lb.set_index("method").loc["weak", "infer_images_per_s"] == 80.0  # cost.csv merged
    assert "infer img/s" in table[0]
    sig = pd.read_csv(run_dir / "significance.csv")
    assert list(sig.columns) == ["method_a", "method_b", "test", "split_seed", "auc_a", "auc_b", "difference",
                                 "statistic", "ci_low", "ci_high", "p", "p_holm", "significant"]
    assert not [p for p in run_dir.rglob("*.tmp")]


def test_rebuilding_gives_identical_csvs(tmp_path):
    run_dir = make_run_folder(tmp_path, methods=("good", "random_a", "weak"), seeds=(0, 1))
    write_leaderboard(run_dir, n_bootstrap=100)
    first = {n: (run_dir / n).read_bytes() for n in ("leaderboard.csv", "significance.csv", "leaderboard.md")}
    write_leaderboard(run_dir, n_bootstrap=100)
    assert first == {n: (run_dir / n).read_bytes() for n in first}


def test_synthetic_banner_comes_first(tmp_path):
    run_dir = make_run_folder(tmp_path, methods=("good", "random_a"), seeds=(0,), synthetic=True)
    write_leaderboard(run_dir, n_bootstrap=50)
    first_line = (run_dir / "leaderboard.md").read_text().splitlines()[0]
    assert "SYNTHETIC" in first_line and "say nothing about BUSI" in first_line
    html = (run_dir / "leaderboard.html").read_text()
    body = html.split("<body>", 1)[1].lstrip()
    assert body.startswith('<div class="banner"') and "SYNTHETIC" in body.split("</div>", 1)[0]
    _check_png(run_dir / "figures" / "roc.png")


def test_partial_suite_compares_on_common_splits(tmp_path):
    run_dir = make_run_folder(tmp_path, methods=("good", "random_a", "weak"), seeds=(0, 1))
    (run_dir / "runs" / "weak" / "seed-1" / "results.json").unlink()  # still training on split 1
    with pytest.warns(UserWarning, match="weak.*seed-1"):
        runs = load_runs(run_dir)
    lb = leaderboard(runs).set_index("method")
    assert lb.loc["weak", "n_splits"] == 1 and np.isnan(lb.loc["weak", "auc_spread"])
    sig = significance(run_dir, runs, n_bootstrap=50)
    seed1 = sig[(sig.test == "delong") & (sig.split_seed == 1)]
    assert len(seed1) == 1 and {seed1.iloc[0].method_a, seed1.iloc[0].method_b} == {"good", "random_a"}
    across = sig[sig.test == "paired_splits_ttest"].set_index(["method_a", "method_b"])
    assert np.isnan(across.loc[("good", "weak"), "p"]) and not np.isnan(across.loc[("good", "random_a"), "p"])


@pytest.mark.parametrize("n_pairs, n_bootstrap", [(1, 1000), (66, 1000), (66, 50_000), (300, 200)])
def test_paired_bootstrap_resamples_let_holm_pass(n_pairs, n_bootstrap):
    b = paired_bootstrap_resamples(n_pairs, n_bootstrap)
    assert b >= max(10_000, n_bootstrap)
    smallest_holm_p = n_pairs * 2 / (b + 1)  # Holm multiplies the smallest p by the number of pairs
    assert smallest_holm_p <= 0.05 / 10


def test_leaderboard_says_when_studies_shared_the_machine(tmp_path):
    run_dir = make_run_folder(tmp_path, methods=("good", "weak"), seeds=(0,))
    write_leaderboard(run_dir, n_bootstrap=50)
    assert "studies ran at once" not in (run_dir / "leaderboard.md").read_text()
    path = run_dir / "runs" / "good" / "seed-0" / "results.json"
    record = json.loads(path.read_text())
    record["search"] = {"concurrent_studies": 2}
    write_json_atomic(path, record)
    write_leaderboard(run_dir, n_bootstrap=50)
    assert "up to 2 studies ran at once" in (run_dir / "leaderboard.md").read_text()
