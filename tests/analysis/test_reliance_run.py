"""`petl-bench reliance` on a real (smoke, synthetic) run folder: every study scored under every
condition, resumable, the original scores equal to predictions.csv, the derived tables and the
report's section built from the files it wrote."""
from __future__ import annotations

import json
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from benchmark.analysis.reliance import write_reliance
from benchmark.analysis.reliance.shifts import SHIFTS, STRENGTHS
from benchmark.runfolder import (ANALYSIS_DIR, REGION_EXAMPLES_FILE, RELIANCE_AUC_FILE, RELIANCE_NOTES_FILE,
                                 RELIANCE_SCORES_FILE, SALIENCY_FILE, SALIENCY_GALLERY_FILE, SALIENCY_SUMMARY_FILE,
                                 SHIFT_ROBUSTNESS_FILE)

METHODS = ["feature_extraction", "bitfit"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, smoke_profile):
    from benchmark.training.suite import run_suite

    run_dir = tmp_path_factory.mktemp("reliance") / "run"
    profile = replace(smoke_profile, data=replace(smoke_profile.data, synthetic_images=64),
                      train=replace(smoke_profile.train, max_epochs=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_suite(profile, "synthetic", run_dir, METHODS, device="cpu", progress=False, workers=1,
                  external=["synthetic_shifted"])
        written = write_reliance(run_dir, progress=lambda message: None)
    return run_dir, written


def test_every_study_is_scored_under_every_condition(run):
    run_dir, written = run
    scores = pd.read_csv(run_dir / ANALYSIS_DIR / RELIANCE_SCORES_FILE, dtype={"image_id": str})
    internal = scores[scores["dataset"] == "synthetic"]
    conditions = set(zip(internal["condition"], internal["strength"]))
    expected = {("original", 0.0), ("lesion_only", 0.0), ("context_only", 0.0)} | {
        (s, float(k)) for s in SHIFTS for k in STRENGTHS[1:]}
    assert conditions == expected
    external = scores[scores["dataset"] == "synthetic_shifted"]
    assert set(external["condition"]) == {"original", "lesion_only", "context_only"}
    per_study = scores.groupby(["method", "fold", "dataset", "condition", "strength"]).size()
    assert per_study.groupby(["dataset", "condition", "strength"]).nunique().eq(1).all()  # same images each study
    assert set(scores["method"]) == set(METHODS) and scores["fold"].nunique() == 2
    for name in (SALIENCY_FILE, SALIENCY_GALLERY_FILE, REGION_EXAMPLES_FILE, RELIANCE_NOTES_FILE):
        assert f"{ANALYSIS_DIR}/{name}" in written


def test_the_original_condition_is_the_runs_own_scores(run):
    """Scored again with the trainer's scoring, the untouched images give predictions.csv exactly: so a
    shift at strength 0 (the images themselves) gives the original scores too."""
    run_dir, _ = run
    notes = json.loads((run_dir / ANALYSIS_DIR / RELIANCE_NOTES_FILE).read_text())
    check = notes["original_vs_predictions"]
    n_expected = len(pd.read_csv(run_dir / "predictions.csv"))
    assert check["rows"] == n_expected and check["max_abs_difference"] == 0.0


def test_a_second_run_resumes_and_scores_nothing_again(run):
    run_dir, _ = run
    write_reliance(run_dir, progress=lambda message: None)
    notes = json.loads((run_dir / ANALYSIS_DIR / RELIANCE_NOTES_FILE).read_text())
    assert notes["studies_scored_now"] == 0 and notes["studies_scored"] == 4


def test_the_derived_tables_and_the_report_section(run):
    from benchmark.evaluation.derived import refresh
    from benchmark.reporting import write_report

    run_dir, _ = run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refresh(run_dir)
        page = write_report(run_dir).read_text()
    auc = pd.read_csv(run_dir / RELIANCE_AUC_FILE)
    assert set(auc["method"]) == set(METHODS)
    original = auc[(auc["condition"] == "original") & (auc["dataset"] == "synthetic")]
    assert np.allclose(original["change"], 0.0)
    assert auc["auc"].between(0, 1).all() and (auc["ci_low"] <= auc["auc"]).all()
    robustness = pd.read_csv(run_dir / SHIFT_ROBUSTNESS_FILE)
    assert set(robustness["shift"]) == set(SHIFTS) and len(robustness) == len(SHIFTS) * len(METHODS)
    saliency = pd.read_csv(run_dir / SALIENCY_SUMMARY_FILE)
    assert saliency["share_in_lesion"].between(0, 1).all()
    assert 'id="reliance"' in page and "What the models rely on" in page
    for figure in ("AUC against the strength of each shift", "Examples: the lesion region outlined",
                   "The same images under every method"):
        assert figure in page


def test_shifts_predict_the_drop_only_after_holm_over_the_external_sets():
    """rho across methods between the AUC lost under the shifts and each set's drop; 'predicts' needs the
    Holm-adjusted p (over the sets) under 0.05 and a positive rho."""
    from benchmark.evaluation.reliance import shifts_against_sites

    methods = [f"m{i}" for i in range(8)]
    lost = pd.DataFrame({"method": methods, "shift": "blur", "auc_lost": np.linspace(0.01, 0.08, 8)})
    same = pd.Series(np.linspace(0.1, 0.2, 8), index=methods)  # rho 1
    weak = pd.Series([0.1, 0.14, 0.11, 0.12, 0.17, 0.13, 0.2, 0.15], index=methods)  # rho 0.71, p 0.047
    flat = pd.Series([0.15, 0.1, 0.2, 0.12, 0.1, 0.18, 0.13, 0.14], index=methods)  # no relation
    one = shifts_against_sites(lost, {"weak": weak})
    assert one["weak"]["p"] < 0.05 and one["weak"]["predicts"] and one["weak"]["p_holm"] == one["weak"]["p"]
    two = shifts_against_sites(lost, {"weak": weak, "flat": flat})
    assert two["flat"]["p"] > 0.3 and two["weak"]["p_holm"] == pytest.approx(2 * one["weak"]["p"])
    assert not two["weak"]["predicts"]  # 0.047 x 2 after Holm over the two sets
    signs = shifts_against_sites(lost, {"same": same, "reverse": -same})
    assert signs["same"]["predicts"] and not signs["reverse"]["predicts"]  # a negative rho never "predicts"
    assert shifts_against_sites(lost, {"few": same.iloc[:3]}) == {}
