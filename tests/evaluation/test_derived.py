"""The derived tables and figures, each declared once (benchmark.evaluation.derived, benchmark.reporting.figures):
what refresh rebuilds and when, on a fake run folder (no training)."""
from __future__ import annotations

import json
import os
import warnings

import pandas as pd
import pytest

from benchmark.evaluation import derived
from benchmark.evaluation.derived import DERIVED, refresh
from benchmark.reporting.figures import FIGURES, draw_figures
from benchmark.runfolder import (CALIBRATION_CURVE_FILE, CLAIMS_FILE, FIGURES_DIR, LEADERBOARD_FILE, PARETO_FILE,
                                 PLAN_RECORD_FILE, PREDICTIONS_FILE, RANK_STABILITY_FILE, REPEAT_SPREAD_FILE,
                                 SIGNIFICANCE_FILE, layout)
from fake_runs import make_run_folder


@pytest.fixture()
def run(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_run_folder(tmp_path, methods=("good", "weak"), repeats=2, folds=3, n_images=60, n_malignant=20,
                               n_bootstrap=20)


def _age(run_dir, seconds: float = 100.0) -> None:
    """Every file of the run folder ``seconds`` older (so a file written next is newer than all of them)."""
    for path in run_dir.rglob("*"):
        if path.is_file():
            t = path.stat().st_mtime - seconds
            os.utime(path, (t, t))


def _refresh(run_dir, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return refresh(run_dir, **kwargs)


def test_every_derived_file_is_named_in_the_layout_and_declared_once():
    files = [f for item in DERIVED for f in item.files]
    assert len(files) == len(set(files)), "a file written by two declarations"
    names = {getattr(layout, c) for c in layout.__all__ if isinstance(getattr(layout, c), str)}
    assert set(files) <= names
    sources = {s for item in DERIVED for s in item.inputs} | {s for item in FIGURES for s in item.sources}
    assert sources - {derived.RUNS} <= names


def test_a_fresh_run_folder_gets_every_table_that_applies(run):
    ctx = _refresh(run)
    for name in (LEADERBOARD_FILE, SIGNIFICANCE_FILE, CLAIMS_FILE, PLAN_RECORD_FILE, PARETO_FILE,
                 CALIBRATION_CURVE_FILE, REPEAT_SPREAD_FILE, RANK_STABILITY_FILE):
        assert (run / name).is_file() and name in ctx.built, name
    assert _refresh(run).built == {}, "nothing is stale right after a refresh"


def test_a_newer_input_rebuilds_what_depends_on_it_and_nothing_else(run):
    _refresh(run)
    _age(run)
    before = {p.name: p.stat().st_mtime for p in run.glob("*.csv")}
    (run / PREDICTIONS_FILE).touch()  # the training side wrote new predictions
    built = set(_refresh(run).built)
    assert {LEADERBOARD_FILE, SIGNIFICANCE_FILE, CLAIMS_FILE, REPEAT_SPREAD_FILE, CALIBRATION_CURVE_FILE,
            PARETO_FILE} <= built
    _age(run)
    (run / LEADERBOARD_FILE).touch()  # only what is computed from the leaderboard follows it
    built = set(_refresh(run).built)
    assert built == {CLAIMS_FILE, PARETO_FILE}, built
    _age(run)
    (run / "cost.csv").write_text("method,train_images_per_s\ngood,1.0\nweak,2.0\n")  # the cost changes what shows it
    built = set(_refresh(run).built)
    assert LEADERBOARD_FILE in built and not built & {CALIBRATION_CURVE_FILE, REPEAT_SPREAD_FILE}, built
    assert before.keys() <= {p.name for p in run.glob("*.csv")}


def test_a_table_decided_under_another_plan_is_rebuilt(run):
    _refresh(run)
    record = json.loads((run / PLAN_RECORD_FILE).read_text())
    (run / PLAN_RECORD_FILE).write_text(json.dumps({**record, "sha256": "0" * 64}))
    built = set(_refresh(run).built)
    assert {LEADERBOARD_FILE, SIGNIFICANCE_FILE, CLAIMS_FILE, PLAN_RECORD_FILE} <= built
    assert json.loads((run / PLAN_RECORD_FILE).read_text())["sha256"] == record["sha256"]


def test_a_missing_output_is_rebuilt_from_what_is_on_disk(run):
    _refresh(run)
    claims = pd.read_csv(run / CLAIMS_FILE)
    (run / CLAIMS_FILE).unlink()
    assert set(_refresh(run).built) == {CLAIMS_FILE}
    pd.testing.assert_frame_equal(pd.read_csv(run / CLAIMS_FILE), claims)


def test_a_failing_builder_warns_and_keeps_the_others(run, monkeypatch):
    item = next(i for i in DERIVED if PARETO_FILE in i.files)

    def broken(ctx):
        raise RuntimeError("planted")

    patched = tuple(type(i)(i.files, i.inputs, broken, i.when, i.follows_plan, i.current) if i is item else i
                    for i in DERIVED)
    monkeypatch.setattr(derived, "DERIVED", patched)
    with pytest.warns(UserWarning, match="pareto.csv .* failed: planted"):
        ctx = refresh(run)
    assert PARETO_FILE not in ctx.built and LEADERBOARD_FILE in ctx.built


def test_figures_are_redrawn_only_when_older_than_their_tables(run):
    ctx = _refresh(run)
    drawn = draw_figures(ctx, synthetic=False)
    assert f"{FIGURES_DIR}/auc_vs_parameters.png" in drawn and f"{FIGURES_DIR}/roc.png" in drawn
    ctx = _refresh(run)
    assert draw_figures(ctx, synthetic=False) == {}
    _age(run)
    (run / CALIBRATION_CURVE_FILE).touch()
    again = draw_figures(_refresh(run), synthetic=False)
    assert again and all(name.startswith(f"{FIGURES_DIR}/calibration_") for name in again), again
