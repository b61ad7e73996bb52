"""The Reproduction section: Byra (2021)'s claims tested on a run, recomputed from predictions.csv."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from benchmark.evaluation import CLAIMS, PAPER_METHODS, paper_claims
from benchmark.evaluation.reproduction import MATCH_MARGIN
from benchmark.stats import holm_correction
from fake_runs import make_run_folder

SIX = [pm.method for pm in PAPER_METHODS]
STRENGTHS = dict(zip(SIX, [1.0, 1.6, 1.2, 1.6, 2.5, 2.4]))


@pytest.fixture(scope="module", params=[1, 2], ids=["one repeat", "two repeats"])
def paper_run(request, tmp_path_factory):
    """A fake run of the paper's six methods and LoRA, one external set, its leaderboard written; one repeat
    (the primary test: the paired cluster bootstrap) or two (on the training set: the corrected t-test)."""
    from benchmark.reporting.pages import write_leaderboard

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


def test_each_claim_recomputes_from_predictions(paper_run):
    """Each claim's estimate, recomputed here from predictions.csv with scikit-learn (internal and external):
    under the paired cluster bootstrap, the difference of the leaderboard's ranked statistic between its two
    methods (fold-stratified or pooled; per-model mean or ensemble: the one the leaderboard's own column
    recomputes to); under the corrected repeated k-fold t-test, the mean per-fold AUC difference."""
    pred = pd.read_csv(paper_run / "predictions.csv", dtype={"image_id": str})
    lb = pd.read_csv(paper_run / "leaderboard.csv").set_index("method")
    claims = pd.read_csv(paper_run / "claims.csv")
    assert list(dict.fromkeys(claims["dataset"])) == ["busi", "ext_a"]
    assert len(claims) == 2 * len(CLAIMS) and set(claims["verdict"]) <= {"supported", "contradicted",
                                                                        "not resolved at this size"}
    for dataset, column, candidates in (("busi", "auc", (_fold_stratified, _pooled)),
                                        ("ext_a", "external_ext_a_auc", (_per_model, _ensemble))):
        fn = next(f for f in candidates if abs(_statistic(pred, dataset, "drs", f) - lb.loc["drs", column]) < 1e-9)
        for c in claims[claims["dataset"] == dataset].itertuples():
            if c.test == "nadeau_bengio":
                expected = _fold_differences(pred, dataset, c.method_a, c.method_b)
            else:
                assert c.test == "cluster_bootstrap"
                expected = _statistic(pred, dataset, c.method_a, fn) - _statistic(pred, dataset, c.method_b, fn)
                assert c.ci_low <= c.difference <= c.ci_high
            assert c.difference == pytest.approx(expected, abs=1e-9), (dataset, c.test, c.claim)
        # the pre-specified family: Holm over the claims of this data set alone
        part = claims[claims["dataset"] == dataset]
        assert np.allclose(part["p_holm"], holm_correction(part["p"].to_numpy()))


def _sig(rows):
    frame = pd.DataFrame(rows, columns=["dataset", "method_a", "method_b", "test", "difference", "ci_low",
                                        "ci_high", "p", "auc_a", "auc_b"])
    frame["primary"] = frame["test"] == "cluster_bootstrap"
    return frame


def test_claims_take_the_primary_row_in_the_claimed_direction():
    """A pair stored in rank order (b above a) is turned round: estimate and interval change sign. Only the
    primary test's row counts, and Holm runs over the claims, not over the table's other pairs."""
    rows = []
    for i, c in enumerate(CLAIMS):
        # the table lists each pair with the claim's second method first, i.e. reversed
        rows.append(("busi", c.method_b, c.method_a, "cluster_bootstrap", 0.05, 0.01, 0.09, 0.001 * (i + 1),
                     0.9, 0.85))
        rows.append(("busi", c.method_b, c.method_a, "delong", 0.05, np.nan, np.nan, 0.5, 0.9, 0.85))
    rows.append(("busi", "lora", "ssf", "cluster_bootstrap", 0.1, 0.05, 0.15, 0.0001, 0.9, 0.8))
    claims = paper_claims(_sig(rows), ["busi"])
    assert (claims["difference"] == -0.05).all()
    assert np.allclose(claims["ci_low"], -0.09) and np.allclose(claims["ci_high"], -0.01)
    assert (claims["verdict"] == "contradicted").all()
    assert np.allclose(claims["p_holm"], holm_correction(0.001 * np.arange(1, len(CLAIMS) + 1)))


@pytest.mark.parametrize("kind, difference, ci, p, verdict", [
    ("beats", 0.03, (0.01, 0.05), 0.001, "supported"),
    ("beats", -0.03, (-0.05, -0.01), 0.001, "contradicted"),
    ("beats", 0.01, (-0.01, 0.03), 0.3, "not resolved at this size"),
    ("beats", 0.03, (0.01, 0.05), 0.2, "not resolved at this size"),  # the interval alone is not the test
    ("matches or beats", 0.0, (-MATCH_MARGIN / 2, MATCH_MARGIN / 2), 0.9, "supported"),
    ("matches or beats", 0.0, (-2 * MATCH_MARGIN, MATCH_MARGIN), 0.9, "not resolved at this size"),
])
def test_verdicts(kind, difference, ci, p, verdict):
    claim = next(c for c in CLAIMS if c.kind == kind)
    claims = paper_claims(_sig([("busi", claim.method_a, claim.method_b, "cluster_bootstrap", difference, *ci, p,
                                 0.9, 0.9)]), ["busi"])
    row = claims[claims["claim"] == claim.text].iloc[0]
    assert row["verdict"] == verdict
    # the other claims have no row in this table: not tested, and they do not enter the Holm family
    assert (claims.drop(row.name)["verdict"] == "not tested").all() and row["p_holm"] == pytest.approx(p)


@pytest.mark.parametrize("difference, ci, p, flagged, caveat", [
    (0.055, (0.029, 0.083), 0.001, "feature_extraction", True),   # BUS-BRA's case: a win over a model below the probe
    (0.055, (0.029, 0.083), 0.001, "drs", False),                 # the winner flagged: the win stands as it is
    (-0.055, (-0.083, -0.029), 0.001, "drs", True),               # a loss by a model below the probe
    (0.01, (-0.03, 0.05), 0.3, "feature_extraction", False),      # nothing significant: nothing to qualify
])
def test_significant_verdict_against_a_model_below_the_reference_says_so(difference, ci, p, flagged, caveat):
    """A claim decided against a model that falls short of the logistic-regression probe on its own features
    keeps its verdict, but its reason says the difference is no evidence about the methods; the flag is the
    significance table's ``b_below_reference``, and only on that data set."""
    table = _sig([("bus_bra", "drs", "feature_extraction", "cluster_bootstrap", difference, *ci, p, 0.83, 0.78),
                  ("busi", "drs", "feature_extraction", "cluster_bootstrap", difference, *ci, p, 0.83, 0.78),
                  ("bus_bra", "lora", flagged, "cluster_bootstrap", 0.1, 0.05, 0.15, 0.0001, 0.9, 0.8)])
    table["b_below_reference"] = (table["dataset"] == "bus_bra") & (table["method_b"] == flagged)
    claims = paper_claims(table, ["bus_bra", "busi"]).set_index("dataset")
    row = claims[claims["method_b"] == "feature_extraction"]
    expected = "supported" if difference > 0 and p < 0.05 else (
        "contradicted" if p < 0.05 else "not resolved at this size")
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


def test_conditional_note_names_only_the_data_sets_whose_test_leaves_out_the_rerun_variance():
    """With repeats, the training set's claims are tested with the run-to-run variance and an external set's are
    not: the note must name the external set, not call every verdict conditional ("with one repeat")."""
    from benchmark.reporting.reproduction import _conditional_note

    def claims(flags):
        return pd.DataFrame({"dataset": ["busi", "busi", "clinic_b", "clinic_b"], "conditional": flags})

    mixed = _conditional_note(claims([False, False, True, True]))
    assert len(mixed) == 1 and "verdicts on clinic_b are conditional" in mixed[0] and "busi" not in mixed[0]
    every = _conditional_note(claims([True] * 4))
    assert len(every) == 1 and "These verdicts are conditional" in every[0] and "petl-bench spread" in every[0]
    assert _conditional_note(claims([False] * 4)) == []
