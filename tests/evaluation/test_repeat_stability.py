"""The spread over repeats, the agreement of disjoint halves of the repeats and the repeats the corrected test
needs, recomputed from predictions.csv with scikit-learn and scipy; written into the run folder and
leaderboard.md by the report when a run has several repeats."""
from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau, rankdata
from sklearn.metrics import roc_auc_score

from benchmark import stats
from benchmark.evaluation import load_run
from benchmark.evaluation.detectable import detectable_differences
from benchmark.evaluation.repeat_stability import (RANK_STABILITY_COLUMNS, disjoint_pairs, rank_stability, repeat_aucs,
                                                   repeat_spread, repeats_needed)
from benchmark.reporting.sections.repeats import repeats_section
from fake_runs import make_run_folder

METHODS = ("good", "weak", "random_a", "random_b")
R = 4  # repeats of the fake run: halves of one and of two repeats


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run_folder(tmp_path_factory.mktemp("repeats"), methods=METHODS, repeats=R, folds=3, n_images=120,
                           n_malignant=45, n_bootstrap=40)


def _fold_stratified(g: pd.DataFrame) -> float:
    weights = [(f.label == 1).sum() * (f.label == 0).sum() for _, f in g.groupby("fold")]
    return float(np.average([roc_auc_score(f.label, f.score) for _, f in g.groupby("fold")], weights=weights))


@pytest.fixture(scope="module")
def per_repeat(run_dir) -> pd.DataFrame:
    pred = pd.read_csv(run_dir / "predictions.csv", dtype={"image_id": str}).query("dataset == 'busi'")
    return pred.groupby(["method", "repeat"]).apply(_fold_stratified, include_groups=False).unstack("repeat")


def test_each_repeats_auc_and_rank(run_dir, per_repeat):
    table = repeat_aucs(load_run(run_dir))
    assert len(table) == len(METHODS) * R
    for r in table.itertuples():
        assert r.auc == pytest.approx(per_repeat.loc[r.method, r.repeat], abs=1e-12)
        assert r.rank == 1 + (per_repeat[r.repeat] > r.auc + 1e-15).sum()


def test_spread_over_repeats(run_dir, per_repeat):
    data = load_run(run_dir)
    spread = repeat_spread(data).set_index("method")
    assert list(spread.index) == list(data.order)  # the leaderboard's order
    for m in METHODS:
        values = per_repeat.loc[m].to_numpy()
        assert spread.loc[m, "auc_mean"] == pytest.approx(values.mean(), abs=1e-12)
        assert spread.loc[m, "auc_sd"] == pytest.approx(values.std(ddof=1), abs=1e-12)
        assert spread.loc[m, "auc_se"] == pytest.approx(values.std(ddof=1) / np.sqrt(R), abs=1e-12)
        assert (spread.loc[m, "auc_min"], spread.loc[m, "auc_max"]) == pytest.approx((values.min(), values.max()))
    from benchmark.evaluation import leaderboard
    lb = leaderboard(data).set_index("method")
    np.testing.assert_allclose(spread["auc_mean"], lb.loc[spread.index, "auc"], atol=1e-12)


def _oracle_pairs(repeats, r):
    """Every unordered pair of disjoint sets of r repeats, by brute force over sets."""
    return {frozenset((a, b)) for a in combinations(repeats, r) for b in combinations(repeats, r)
            if not set(a) & set(b)}


def test_rank_stability_compares_disjoint_halves(run_dir, per_repeat):
    stability = rank_stability(load_run(run_dir))
    assert list(stability.columns) == RANK_STABILITY_COLUMNS
    stability = stability.set_index("repeats_per_half")
    assert list(stability.index) == [1, 2]
    for r in (1, 2):
        pairs = _oracle_pairs(range(R), r)
        assert stability.loc[r, "n_pairs"] == len(pairs) == comb(R, r) * comb(R - r, r) // 2
        taus, moved, move = [], [], 0
        for a, b in (tuple(p) for p in pairs):
            mean_a, mean_b = per_repeat[list(a)].mean(axis=1), per_repeat[list(b)].mean(axis=1)
            taus.append(kendalltau(mean_a, mean_b).statistic)
            rank_a, rank_b = rankdata(-mean_a, method="min"), rankdata(-mean_b, method="min")
            moved.append(int((rank_a != rank_b).sum()))
            move = max(move, int(np.abs(rank_a - rank_b).max()))
        assert stability.loc[r, "kendall_tau"] == pytest.approx(np.mean(taus), abs=1e-12)
        assert stability.loc[r, "rank_changes"] == pytest.approx(np.mean(moved))
        assert stability.loc[r, "max_rank_move"] == move


@pytest.mark.parametrize("n_repeats", range(2, 8))
def test_no_pair_of_halves_shares_a_repeat(n_repeats):
    for r in range(1, n_repeats // 2 + 1):
        pairs = disjoint_pairs(range(n_repeats), r)
        assert all(len(a) == len(b) == r and not set(a) & set(b) for a, b in pairs)
        assert {frozenset(p) for p in pairs} == _oracle_pairs(range(n_repeats), r) and len(set(pairs)) == len(pairs)
        assert disjoint_pairs(range(n_repeats), r, max_pairs=2) == pairs[:2]  # a cap keeps the fixed order
    assert disjoint_pairs(range(2), 1) == [((0,), (1,))]


def test_two_repeats_give_one_pair_of_one_repeat(tmp_path):
    run = make_run_folder(tmp_path, methods=METHODS, repeats=2, folds=2, n_images=60, n_malignant=24,
                          n_bootstrap=20)
    stability = rank_stability(load_run(run))
    wide = repeat_aucs(load_run(run)).pivot(index="method", columns="repeat", values="auc")
    assert stability[["repeats_per_half", "n_pairs"]].values.tolist() == [[1, 1]]
    assert stability.loc[0, "kendall_tau"] == pytest.approx(kendalltau(wide[0], wide[1]).statistic, abs=1e-12)


def test_halves_that_disagree_are_not_hidden_by_the_mean_of_all(monkeypatch):
    """Repeat 1 reverses repeat 0's order with a smaller spread, so the mean of both keeps repeat 0's order: a
    subset against the mean of all (which contains it) averages tau +1 and -1 to 0; two disjoint halves give -1."""
    from benchmark.evaluation import repeat_stability

    planted = pd.DataFrame({"method": list("abcd") * 2, "repeat": [0] * 4 + [1] * 4,
                            "auc": [0.90, 0.80, 0.70, 0.60, 0.70, 0.71, 0.72, 0.73]})
    monkeypatch.setattr(repeat_stability, "repeat_aucs", lambda data: planted)
    row = rank_stability(None).iloc[0]
    assert (row.repeats_per_half, row.n_pairs, row.max_rank_move) == (1, 1, 3)
    assert row.kendall_tau == pytest.approx(-1.0) and row.rank_changes == 4


@pytest.fixture(scope="module")
def detectable_row(run_dir) -> pd.Series:
    return detectable_differences(load_run(run_dir)).iloc[0]


def _power_answer(d) -> int | None:
    return stats.repeats_needed(float(d.neighbour_gap), float(d.sd_paired), int(d.n_folds), float(d.test_over_train),
                                alpha=0.05, power=0.8, n_comparisons=1, max_repeats=100)


def test_repeats_needed_is_the_power_of_the_corrected_test(run_dir, detectable_row):
    d = detectable_row
    assert repeats_needed(load_run(run_dir)) == repeats_needed(d.to_frame().T) == repeats_needed(d) == _power_answer(d)
    floor = stats.detectable_floor(d.sd_paired, d.test_over_train)
    reachable = d.copy()
    reachable["neighbour_gap"] = stats.minimum_detectable_difference(d.sd_paired, int(d.n_folds), 7,
                                                                     d.test_over_train)
    assert repeats_needed(reachable) == _power_answer(reachable) == 7
    below = d.copy()
    below["neighbour_gap"] = 0.99 * floor  # no number of repeats reaches it
    assert repeats_needed(below) is None and _power_answer(below) is None
    coincide = d.copy()
    coincide["neighbour_gap"] = 0.0
    assert repeats_needed(coincide) is None  # neighbours coincide
    assert repeats_needed(detectable_differences(load_run(run_dir)).iloc[:0]) is None  # no row


def _section_with(run_dir, tmp_path, **detectable) -> str:
    """The section's sentences from the run's repeat tables and its ``detectable.csv`` row, changed, in tmp_path."""
    data = load_run(run_dir)
    repeat_spread(data).to_csv(tmp_path / "repeat_spread.csv", index=False)
    rank_stability(data).to_csv(tmp_path / "rank_stability.csv", index=False)
    detectable_differences(data).assign(**detectable).to_csv(tmp_path / "detectable.csv", index=False)
    return " ".join(repeats_section(tmp_path)["sentences"])


def test_the_section_says_how_many_repeats_or_that_none_do(run_dir, detectable_row, tmp_path):
    d = detectable_row
    gap = stats.minimum_detectable_difference(d.sd_paired, int(d.n_folds), 7, d.test_over_train)
    text = _section_with(run_dir, tmp_path, neighbour_gap=gap)
    assert f"needs 7 repeat(s) of {int(d.n_folds)} folds to detect, with 80% power at 5% two-sided, " \
           f"a difference of {gap:.3f}" in text
    assert "Two independent reruns of r repeats each" in text and "r = 2 (3 pairs)" in text
    floor = stats.detectable_floor(d.sd_paired, d.test_over_train)
    text = _section_with(run_dir, tmp_path, neighbour_gap=floor / 2)
    assert f"No number of repeats of this design separates neighbours {floor / 2:.3f} apart" in text
    assert f"the corrected test's limit is {floor:.3f}" in text
    old = pd.read_csv(tmp_path / "rank_stability.csv").rename(columns={"repeats_per_half": "n_repeats"})
    old.to_csv(tmp_path / "rank_stability.csv", index=False)  # a file of the subset-against-all version
    assert "earlier version" in " ".join(repeats_section(tmp_path)["sentences"])


@pytest.mark.slow
def test_the_report_writes_the_tables_and_the_section(run_dir, tmp_path):
    from benchmark.reporting import write_leaderboard

    written = write_leaderboard(run_dir)
    assert {"repeat_spread.csv", "rank_stability.csv"} <= set(written)
    spread = pd.read_csv(run_dir / "repeat_spread.csv")
    md = (run_dir / "leaderboard.md").read_text()
    section = md[md.index("## Over repeats"):md.index("## Which differences")]
    for r in spread.itertuples():
        assert f"| {r.method} | {r.auc_mean:.3f} | {r.auc_sd:.3f} |" in section
    assert "new partition with new training and sampler seeds" in section
    d = pd.read_csv(run_dir / "detectable.csv").iloc[0]
    assert repeats_needed(d) is None  # the fake run's neighbours lie below the corrected test's limit
    assert f"No number of repeats of this design separates neighbours {d.neighbour_gap:.3f} apart" in section
    # one repeat: no tables, no section
    single = make_run_folder(tmp_path, methods=METHODS, folds=3, n_images=90, n_malignant=30, n_bootstrap=30)
    written = write_leaderboard(single)
    assert "repeat_spread.csv" not in written and not (single / "repeat_spread.csv").exists()
    assert "## Over repeats" not in (single / "leaderboard.md").read_text()


@pytest.mark.filterwarnings("ignore:write_analysis")  # a fake run has no trained models to analyse
def test_a_run_folder_made_before_gets_the_tables_and_the_html_section(run_dir):
    """The report treats missing repeat tables as stale outputs: rebuilt, and shown in index.html."""
    from benchmark.reporting import write_report

    for name in ("repeat_spread.csv", "rank_stability.csv"):
        (run_dir / name).unlink(missing_ok=True)
    page = write_report(run_dir).read_text()
    assert (run_dir / "repeat_spread.csv").exists() and (run_dir / "rank_stability.csv").exists()
    section = page[page.index('<section id="repeats">'):]
    section = section[:section.index("</section>")]
    spread = pd.read_csv(run_dir / "repeat_spread.csv")
    for r in spread.itertuples():
        assert f"<td>{r.method}</td><td>{r.auc_mean:.3f}</td><td>{r.auc_sd:.3f}</td>" in section
