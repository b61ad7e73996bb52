"""The analysis plan: one file of numbers, its page, the hash every report records, and a rebuild when they differ."""
from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path

import pytest

from benchmark.evaluation.plan import PLAN_FILE, load_plan, sensitivity_margin
from fake_runs import make_run_folder

DOC = Path(__file__).resolve().parents[2] / "docs" / "analysis-plan.md"


def test_the_page_states_the_files_version_margin_and_claims():
    plan, text = load_plan(), DOC.read_text()
    assert text.startswith(f"# Analysis plan, version {plan.version}\n")
    assert f"`margin = {plan.margin}`" in text and f"`power = {plan.power}`" in text
    rows = [line for line in text.splitlines() if re.match(r"^\| [A-Z].* \| \w+ \| \w+ \| (beats|matches or beats) \|$",
                                                             line)]
    assert [tuple(c.strip() for c in r.strip("|").split("|"))[1:] for r in rows] == \
        [(c.method_a, c.method_b, c.kind) for c in plan.claims]


def test_the_plans_primary_test_is_the_one_the_tables_mark_primary():
    from benchmark.evaluation import PRIMARY_TEST

    assert load_plan().primary_test == PRIMARY_TEST


def test_the_margin_is_the_stated_clinical_translation():
    """5 points of sensitivity at 80% specificity near AUC 0.88, binormal with equal variances."""
    assert sensitivity_margin() == pytest.approx(load_plan().margin, abs=5e-4)
    assert sensitivity_margin(sensitivity_loss=0.10) > 2 * sensitivity_margin() * 0.9  # about linear


def test_the_label_carries_the_hash_of_the_files_bytes():
    plan = load_plan()
    assert plan.sha256 == hashlib.sha256(PLAN_FILE.read_bytes()).hexdigest()
    assert plan.label == f"analysis plan v{plan.version} (sha256 {plan.sha256[:12]})"
    assert plan.one_sided_alpha == pytest.approx((1 - plan.confidence) / 2)


def test_a_changed_plan_has_another_hash_and_bad_plans_name_file_and_field(tmp_path):
    other = tmp_path / "plan.toml"
    other.write_text(PLAN_FILE.read_text().replace("margin = 0.025", "margin = 0.05"))
    changed = load_plan(other)
    assert changed.margin == 0.05 and changed.sha256 != load_plan().sha256
    bad = tmp_path / "bad.toml"
    bad.write_text(PLAN_FILE.read_text().replace('kind = "beats"', 'kind = "wins"', 1))
    with pytest.raises(ValueError, match=r"bad\.toml: claim 4 has kind 'wins'"):
        load_plan(bad)
    bad.write_text(PLAN_FILE.read_text().replace("margin = 0.025", "margin = -0.1"))
    with pytest.raises(ValueError, match=r"bad\.toml: margin must be a positive AUC difference"):
        load_plan(bad)
    bad.write_text(PLAN_FILE.read_text().replace("power = 0.8", ""))
    with pytest.raises(ValueError, match=r"bad\.toml: the analysis plan lacks power"):
        load_plan(bad)


def test_a_report_records_the_plan_and_is_rebuilt_under_another(tmp_path):
    """The tables record the plan's version and hash; a run folder whose verdicts were decided under another plan
    (another hash) is rebuilt by the next refresh, not shown with the old verdicts."""
    from benchmark.evaluation.derived import refresh

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_dir = make_run_folder(tmp_path, methods=("good", "weak"), folds=3, n_images=60, n_malignant=20,
                                  n_bootstrap=20)
        refresh(run_dir)
    record = json.loads((run_dir / "analysis_plan.json").read_text())
    plan = load_plan()
    assert record == {"version": plan.version, "sha256": plan.sha256, "margin": plan.margin, "label": plan.label}
    claims = (run_dir / "claims.csv").read_text()
    assert plan.label in claims
    (run_dir / "analysis_plan.json").write_text(json.dumps({**record, "sha256": "0" * 64}))
    (run_dir / "claims.csv").write_text("stale\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refresh(run_dir)
    assert json.loads((run_dir / "analysis_plan.json").read_text())["sha256"] == plan.sha256
    assert (run_dir / "claims.csv").read_text() != "stale\n"
