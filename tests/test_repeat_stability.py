"""The spread over repeats and the rank stability, recomputed from predictions.csv with scikit-learn and
scipy; written into the run folder and leaderboard.md by the report when a run has several repeats."""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau
from sklearn.metrics import roc_auc_score

from benchmark.evaluation import load_run
from benchmark.evaluation.repeat_stability import rank_stability, repeat_aucs, repeat_spread, repeats_needed
from fake_runs import make_run_folder

METHODS = ("good", "weak", "random_a", "random_b")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run_folder(tmp_path_factory.mktemp("repeats"), methods=METHODS, repeats=3, folds=3, n_images=120,
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
    assert len(table) == len(METHODS) * 3
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
        assert spread.loc[m, "auc_se"] == pytest.approx(values.std(ddof=1) / np.sqrt(3), abs=1e-12)
        assert (spread.loc[m, "auc_min"], spread.loc[m, "auc_max"]) == pytest.approx((values.min(), values.max()))
    from benchmark.evaluation import leaderboard
    lb = leaderboard(data).set_index("method")
    np.testing.assert_allclose(spread["auc_mean"], lb.loc[spread.index, "auc"], atol=1e-12)


def test_rank_stability_against_every_subset(run_dir, per_repeat):
    stability = rank_stability(load_run(run_dir)).set_index("n_repeats")
    assert list(stability.index) == [1, 2, 3] and list(stability["n_subsets"]) == [3, 3, 1]
    full = per_repeat.mean(axis=1)
    full_order = list(full.sort_values(ascending=False).index)
    for r in (1, 2, 3):
        taus, moved, move, shift = [], [], 0, 0.0
        for subset in combinations(range(3), r):
            mean = per_repeat[list(subset)].mean(axis=1)
            taus.append(kendalltau(mean.loc[full.index], full).statistic)
            order = list(mean.sort_values(ascending=False).index)
            moved.append(sum(a != b for a, b in zip(order, full_order)))
            move = max(move, max(abs(order.index(m) - full_order.index(m)) for m in full_order))
            shift = max(shift, (mean - full).abs().max())
        assert stability.loc[r, "kendall_tau"] == pytest.approx(np.mean(taus))
        assert stability.loc[r, "rank_changes"] == pytest.approx(np.mean(moved))
        assert stability.loc[r, "max_rank_move"] == move
        assert stability.loc[r, "max_shift"] == pytest.approx(shift, abs=1e-12)
    assert stability.loc[3, "kendall_tau"] == 1 and stability.loc[3, "rank_changes"] == 0
    assert stability.loc[1, "max_shift"] > 0


def test_repeats_needed_is_the_profiles_rule():
    spread = pd.DataFrame({"auc_mean": [0.90, 0.89, 0.87, 0.86], "auc_sd": [0.02, 0.01, 0.03, 0.02]})
    # median SD 0.02, median neighbour gap 0.01: (0.02 / 0.01)^2 = 4
    assert repeats_needed(spread) == 4
    assert repeats_needed(spread.assign(auc_sd=0.001)) == 1
    assert repeats_needed(spread.assign(auc_sd=np.nan)) is None  # one repeat: no SD
    assert repeats_needed(spread.assign(auc_mean=0.9)) is None


def test_the_report_writes_the_tables_and_the_section(run_dir, tmp_path):
    from benchmark.reporting.pages import write_leaderboard

    written = write_leaderboard(run_dir)
    assert {"repeat_spread.csv", "rank_stability.csv"} <= set(written)
    spread = pd.read_csv(run_dir / "repeat_spread.csv")
    md = (run_dir / "leaderboard.md").read_text()
    section = md[md.index("## Over repeats"):md.index("## Which differences")]
    for r in spread.itertuples():
        assert f"| {r.method} | {r.auc_mean:.3f} | {r.auc_sd:.3f} |" in section
    assert "new partition with new training and sampler seeds" in section
    # one repeat: no tables, no section
    single = make_run_folder(tmp_path, methods=METHODS, folds=3, n_images=90, n_malignant=30, n_bootstrap=30)
    written = write_leaderboard(single)
    assert "repeat_spread.csv" not in written and not (single / "repeat_spread.csv").exists()
    assert "## Over repeats" not in (single / "leaderboard.md").read_text()


@pytest.mark.filterwarnings("ignore:write_analysis")  # a fake run has no trained models to analyse
def test_a_run_folder_made_before_gets_the_tables_and_the_html_section(run_dir):
    """The report treats missing repeat tables as stale outputs: rebuilt, and shown in index.html."""
    from benchmark.reporting.report import write_report

    for name in ("repeat_spread.csv", "rank_stability.csv"):
        (run_dir / name).unlink(missing_ok=True)
    page = write_report(run_dir).read_text()
    assert (run_dir / "repeat_spread.csv").exists() and (run_dir / "rank_stability.csv").exists()
    section = page[page.index('<section id="repeats">'):]
    section = section[:section.index("</section>")]
    spread = pd.read_csv(run_dir / "repeat_spread.csv")
    for r in spread.itertuples():
        assert f"<td>{r.method}</td><td>{r.auc_mean:.3f}</td><td>{r.auc_sd:.3f}</td>" in section
