"""The Reproduction section: Byra (2021)'s claims tested on a run, recomputed from predictions.csv."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from benchmark.evaluation import CLAIMS, PAPER_METHODS, paper_claims
from benchmark.evaluation.plan import load_plan
from benchmark.stats import holm_correction, nadeau_bengio_ttest
from fake_runs import make_run_folder

SIX = [pm.method for pm in PAPER_METHODS]
STRENGTHS = dict(zip(SIX, [1.0, 1.6, 1.2, 1.6, 2.5, 2.4]))


@pytest.fixture(scope="module", params=[1, 2], ids=["one repeat", "two repeats"])
def paper_run(request, tmp_path_factory):
    """A fake run of the paper's six methods and LoRA, one external set, its leaderboard written; one repeat
    or two; every claim is decided by the method-level corrected t-test."""
    from benchmark.reporting import write_leaderboard

    run = make_run_folder(tmp_path_factory.mktemp("paper"), methods=SIX + ["lora"],
                          strengths={**STRENGTHS, "lora": 0.8}, externals={"ext_a": (120, 40)}, n_images=240,
                          n_malignant=80, repeats=request.param)
    write_leaderboard(run)
    return run


def _pooled(g: pd.DataFrame) -> float:
    """The AUC of a repeat's out-of-fold scores pooled over folds."""
    return roc_auc_score(g["label"], g["score"])


def _fold_stratified(g: pd.DataFrame) -> float:
    """Only malignant-benign pairs scored by one fold model: per-fold AUCs weighted by n_pos * n_neg."""
    w = g.groupby("fold")["label"].agg(lambda y: y.sum() * (len(y) - y.sum()))
    aucs = g.groupby("fold").apply(lambda f: roc_auc_score(f["label"], f["score"]) if f["label"].nunique() == 2
                                   else 0.0, include_groups=False)
    return float((aucs * w).sum() / w.sum())


def _ensemble(g: pd.DataFrame) -> float:
    """External: the AUC of the mean score of a repeat's fold models per image."""
    mean = g.groupby("image_id").agg(label=("label", "first"), score=("score", "mean"))
    return roc_auc_score(mean["label"], mean["score"])


def _per_model(g: pd.DataFrame) -> float:
    """External: the mean over a repeat's fold models of each model's own AUC."""
    return float(g.groupby("fold").apply(lambda f: roc_auc_score(f["label"], f["score"]),
                                         include_groups=False).mean())


def _statistic(pred: pd.DataFrame, dataset: str, method: str, fn) -> float:
    part = pred[(pred["dataset"] == dataset) & (pred["method"] == method)]
    return float(np.mean([fn(g) for _, g in part.groupby("repeat")]))


def _fold_differences(pred: pd.DataFrame, dataset: str, a: str, b: str) -> float:
    """The corrected t-test's estimate: the mean over all (repeat, fold) of the per-fold AUC difference."""
    part = pred[pred["dataset"] == dataset]
    auc = part.groupby(["method", "repeat", "fold"]).apply(lambda f: roc_auc_score(f["label"], f["score"]),
                                                           include_groups=False)
    return float((auc.loc[a] - auc.loc[b]).mean())


@pytest.mark.slow
def test_each_claim_recomputes_from_predictions(paper_run):
    """Each claim's estimate, recomputed here from predictions.csv with scikit-learn (internal and external):
    the method-level test's mean per-fold-model AUC difference (on an external set each fold model's AUC on
    all its images)."""
    pred = pd.read_csv(paper_run / "predictions.csv", dtype={"image_id": str})
    lb = pd.read_csv(paper_run / "leaderboard.csv").set_index("method")
    claims = pd.read_csv(paper_run / "claims.csv")
    assert list(dict.fromkeys(claims["dataset"])) == ["busi", "ext_a"]
    assert len(claims) == 2 * len(CLAIMS) and set(claims["verdict"]) <= {"supported", "contradicted",
                                                                        "not resolved at this size"}
    for dataset, column, candidates in (("busi", "auc", (_fold_stratified, _pooled)),
                                        ("ext_a", "external_ext_a_auc", (_per_model, _ensemble))):
        # the leaderboard's column recomputes with one of its candidate statistics
        assert any(abs(_statistic(pred, dataset, "drs", f) - lb.loc["drs", column]) < 1e-9 for f in candidates)
        for c in claims[claims["dataset"] == dataset].itertuples():
            assert c.test == "nadeau_bengio" and c.ci_low <= c.difference <= c.ci_high
            expected = _fold_differences(pred, dataset, c.method_a, c.method_b)
            assert c.difference == pytest.approx(expected, abs=1e-9), (dataset, c.test, c.claim)
        # the pre-specified family: Holm over the claims of this data set alone
        part = claims[claims["dataset"] == dataset]
        assert np.allclose(part["p_holm"], holm_correction(part["p"].to_numpy()))


MARGIN = load_plan().margin


def _sig(rows, test="nadeau_bengio"):
    """A significance table of method-level rows: (dataset, a, b, difference, ci_low, ci_high, se, df)."""
    frame = pd.DataFrame(rows, columns=["dataset", "method_a", "method_b", "difference", "ci_low", "ci_high", "se",
                                        "df"])
    frame["test"], frame["auc_a"], frame["auc_b"], frame["p"] = test, 0.9, 0.9, np.nan
    frame["primary"] = test == "nadeau_bengio"
    return frame


def _claim(kind):
    return next(c for c in CLAIMS if c.kind == kind)


def _one(kind, difference, ci, se, df=24.0, test="nadeau_bengio"):
    claim = _claim(kind)
    claims = paper_claims(_sig([("busi", claim.method_a, claim.method_b, difference, *ci, se, df)], test), ["busi"])
    return claims[claims["claim"] == claim.text].iloc[0], claims


def test_claims_take_the_method_level_row_in_the_claimed_direction():
    """A pair stored in rank order (b above a) is turned round: estimate and interval change sign. Only the
    method-level row counts, and Holm runs over the claims, not over the table's other pairs."""
    rows = [("busi", c.method_b, c.method_a, 0.05, 0.04, 0.06, 0.005, 24.0) for c in CLAIMS]
    table = pd.concat([_sig(rows), _sig(rows, test="cluster_bootstrap").assign(difference=-0.05),
                       _sig([("busi", "lora", "ssf", 0.1, 0.05, 0.15, 0.01, 24.0)])], ignore_index=True)
    claims = paper_claims(table, ["busi"])
    assert (claims["difference"] == -0.05).all()
    assert np.allclose(claims["ci_low"], -0.06) and np.allclose(claims["ci_high"], -0.04)
    assert (claims["verdict"] == "contradicted").all() and not claims["conditional"].any()
    assert np.allclose(claims["p_holm"], holm_correction(claims["p"].to_numpy()))
    assert (claims["plan"] == load_plan().label).all()


def test_a_model_level_row_never_decides_a_claim():
    """The quick run's case: +0.008 [-0.017, +0.032] from the paired cluster bootstrap (these trained models,
    resampled images) was 'supported'; a claim is about methods, so without a method-level row it is not
    tested."""
    row, _ = _one("matches or beats", 0.008, (-0.017, 0.032), 0.0125, test="cluster_bootstrap")
    assert row["verdict"] == "not tested" and "method-level" in row["reason"]


def test_a_corrected_t_interval_inside_the_margin_supports_matches():
    """25 per-fold differences with mean +0.002 and SD 0.015 have a corrected t interval of about
    [-0.013, +0.017]: inside the margin, so "matches" is supported (it was 'not resolved' when the t-test
    gave no interval)."""
    rng = np.random.default_rng(0)
    d = rng.standard_normal(25)
    d = 0.002 + 0.015 * (d - d.mean()) / d.std(ddof=1)
    res = nadeau_bengio_ttest(d, n_train=500, n_test=0.195 * 500)
    assert res["ci_low"] == pytest.approx(-0.013, abs=5e-4) and res["ci_high"] == pytest.approx(0.017, abs=5e-4)
    row, _ = _one("matches or beats", res["mean_difference"], (res["ci_low"], res["ci_high"]), res["se"], res["df"])
    assert row["verdict"] == "supported" and row["reason"].startswith("matches")
    assert row["prob_a_better"] + row["prob_equivalent"] + row["prob_b_better"] == pytest.approx(1.0)
    assert row["prob_equivalent"] > 0.9


def test_a_significant_loss_within_the_margin_matches_and_is_not_contradicted():
    """-0.008 [-0.014, -0.002] (two-sided p about 0.01) lies within the margin that defines "matches":
    non-inferiority is tested first, so the claim is supported, and the reason says the AUC is lower."""
    row, _ = _one("matches or beats", -0.008, (-0.014, -0.002), 0.006 / 1.96, df=np.inf)
    assert row["verdict"] == "supported" and "lower" in row["reason"]


@pytest.mark.parametrize("kind, difference, se, verdict, reason", [
    ("beats", 0.03, 0.01, "supported", "beats"),
    ("beats", -0.03, 0.01, "contradicted", "worse"),
    ("beats", 0.01, 0.01, "not resolved at this size", "superiority"),
    ("matches or beats", 0.04, 0.01, "supported", "beats: superior after non-inferiority"),
    ("matches or beats", 0.0, MARGIN / 4, "supported", "matches"),
    ("matches or beats", 0.0, MARGIN, "not resolved at this size", "neither"),
    ("matches or beats", -3 * MARGIN, MARGIN / 4, "contradicted", "inferior by more than the margin"),
])
def test_verdicts(kind, difference, se, verdict, reason):
    row, claims = _one(kind, difference, (difference - 2 * se, difference + 2 * se), se)
    assert row["verdict"] == verdict and reason in row["reason"]
    # the other claims have no row in this table: not tested, and they do not enter the Holm family
    assert (claims.drop(row.name)["verdict"] == "not tested").all() and row["p_holm"] == pytest.approx(row["p"])


def test_non_inferiority_p_is_the_one_sided_t_tail_at_the_margin():
    from scipy.stats import t

    row, _ = _one("matches or beats", 0.004, (-0.02, 0.028), 0.01, df=4.0)
    assert row["p"] == pytest.approx(t.sf((0.004 + MARGIN) / 0.01, 4))
    row, _ = _one("beats", 0.004, (-0.02, 0.028), 0.01, df=4.0)
    assert row["p"] == pytest.approx(t.sf(0.004 / 0.01, 4))


@pytest.mark.parametrize("difference, se, flagged, caveat", [
    (0.055, 0.01, "feature_extraction", True),   # BUS-BRA's case: a win over a model below the probe
    (0.055, 0.01, "drs", False),                 # the winner flagged: the win stands as it is
    (-0.055, 0.01, "drs", True),                 # a loss by a model below the probe
    (0.01, 0.03, "feature_extraction", False),   # nothing decided: nothing to qualify
])
def test_decided_verdict_against_a_model_below_the_reference_says_what_it_shows(difference, se, flagged, caveat):
    """A claim decided against a model that falls short of the logistic-regression probe on its own features
    keeps its verdict, and its reason says what the comparison then shows; the flag is the significance
    table's ``b_below_reference``, and only on that data set."""
    ci = (difference - 2 * se, difference + 2 * se)
    table = _sig([("bus_bra", "drs", "feature_extraction", difference, *ci, se, 24.0),
                  ("busi", "drs", "feature_extraction", difference, *ci, se, 24.0),
                  ("bus_bra", "lora", flagged, 0.1, 0.05, 0.15, 0.01, 24.0)])
    table["b_below_reference"] = (table["dataset"] == "bus_bra") & (table["method_b"] == flagged)
    claims = paper_claims(table, ["bus_bra", "busi"]).set_index("dataset")
    row = claims[claims["method_b"] == "feature_extraction"]
    expected = {0.055: "supported", -0.055: "contradicted", 0.01: "not resolved at this size"}[difference]
    assert (row["verdict"] == expected).all()
    assert ("below a logistic-regression probe" in row.loc["bus_bra", "reason"]) == caveat
    assert (flagged in row.loc["bus_bra", "reason"]) == caveat
    assert "probe" not in row.loc["busi", "reason"]  # flagged on bus_bra only
    # read back from significance.csv, the flag is text
    table["b_below_reference"] = table["b_below_reference"].map(str)
    assert paper_claims(table, ["bus_bra"]).equals(paper_claims(table.assign(
        b_below_reference=table["b_below_reference"] == "True"), ["bus_bra"]))


def test_missing_method_is_not_tested_and_says_which():
    claims = paper_claims(_sig([]), ["busi"], ranked=["drs", "feature_extraction"])
    row = claims[claims["method_b"] == "finetune_all"].iloc[0]
    assert row["verdict"] == "not tested" and "finetune_all" in row["reason"]


def test_reproduction_section_opens_leaderboard_md(paper_run):
    md = (paper_run / "leaderboard.md").read_text()
    first_section = md.index("## ")
    assert md[first_section:].startswith("## Reproduction of Byra (2021)")
    assert md.index("## Reproduction") < md.index("## Leaderboard")
    section = md[first_section:md.index("## Leaderboard")]
    for pm in PAPER_METHODS:
        row = next(line for line in section.splitlines() if line.startswith(f"| {pm.label} ({pm.method})"))
        assert f"{pm.paper_auc:.3f}" in row and f"{pm.resnet101_parameters:,}" in row
    for dataset in ("busi", "ext_a"):
        assert f"### The paper's claims on {dataset}" in section
    for claim in CLAIMS:
        assert section.count(f"| {claim.text} |") == 2  # once per data set
    # the secondary tests are counts, not one line per pair
    assert "### Secondary tests" in md and "DeLong" in md
    assert "DeLong p" not in md


@pytest.mark.slow
def test_resnet101_parameter_counts_are_the_suites():
    """The ResNet101 column is what `petl-bench params --backbone resnet101` prints (not copied numbers)."""
    from benchmark.models.build import parameter_table

    table = parameter_table("resnet101", 224, [pm.method for pm in PAPER_METHODS]).set_index("method")
    for pm in PAPER_METHODS:
        assert table.loc[pm.method, "trainable"] == pm.resnet101_parameters, pm.method


def test_console_summary_is_short(paper_run):
    """What `suite` and `report` print: the top of the leaderboard and the claims per data set, not the pages."""
    from benchmark.reporting.console import TOP, console_summary

    lines = console_summary(paper_run)
    assert len(lines) <= TOP + 4
    assert sum(line.startswith("Byra (2021)'s 7 claims on ") for line in lines) == 2
    assert any("drs_finetune_last_block" in line for line in lines)


def test_run_facts_quote_the_verdicts_the_report_wrote(paper_run):
    """scripts/dev/run_facts.py prints what a closing note quotes: the plan, each claim's verdict and Bayesian
    probabilities from claims.csv, the method-level counts from significance.csv."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "dev"))
    try:
        import run_facts
    finally:
        sys.path.pop(0)
    lines = run_facts.verdict_facts(paper_run)
    claims = pd.read_csv(paper_run / "claims.csv")
    assert lines[0] == f"verdicts: {load_plan().label}"
    for c in claims.itertuples():
        line = next(x for x in lines if x.startswith(f"claim ({c.dataset}) {c.method_a} vs {c.method_b} "))
        assert line.endswith(f": {c.verdict}; Bayes {c.prob_a_better:.2f} / {c.prob_equivalent:.2f} / "
                             f"{c.prob_b_better:.2f}") and f"{c.difference:+.3f}" in line
    sig = pd.read_csv(paper_run / "significance.csv")
    n = int(sig[(sig.dataset == "busi") & (sig.test == "nadeau_bengio")]["significant"].sum())
    assert f"significant after Holm, busi, nadeau_bengio: {n} of 21 pairs" in lines
