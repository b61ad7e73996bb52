"""What ``petl-bench compare`` refuses before it trains anything (benchmark.compare.check_baseline).

A hand-made published folder's manifest: the smoke profile on synthetic data, with the data's checksum and the
partition's fingerprint as the suite writes them (``save_test_images``: an implementation of the fingerprint
other than the comparison's). Planted, one each: other data (the manifest's checksum), another partition (its
fingerprint), a profile setting this code does not read (and one the
published profile predates, said, not refused), changed training code (the diff function, and the diff itself on
a scratch git repository), other package versions, a run whose code cannot be checked, and a method already published (through the
command line: exit status 2, no run folder made).
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmark import compare as compare_module
from benchmark.cli import main
from benchmark.compare import check_baseline, changed_training_files
from benchmark.runfolder import MANIFEST_FILE, PARTITION_FILE, RESULTS_FILE


@pytest.fixture(scope="module")
def published(tmp_path_factory, smoke_profile):
    from benchmark.training.runner import RunSpec, evaluation_splits, load_data
    from benchmark.training.suite import save_test_images

    root = tmp_path_factory.mktemp("baseline")
    data, _ = load_data(RunSpec(method="feature_extraction", dataset="synthetic", profile=smoke_profile))
    save_test_images(root / "run", data, evaluation_splits(smoke_profile, data))
    folder = root / "published"
    folder.mkdir()
    manifest = {"format": 1, "profile": smoke_profile.as_dict(), "dataset": "synthetic", "external": [],
                "methods": ["feature_extraction"], "code": {"commit": "a" * 40, "dirty": False},
                "data": {"synthetic": {"checksum": data.checksum, "n_images": len(data)}},
                "partition": json.loads((root / "run" / PARTITION_FILE).read_text()),
                "trained": {"date": "2026-12-01"},
                "files": [{"path": f"runs/linear_head/repeat-0/fold-{f}/{RESULTS_FILE}"} for f in (0, 1)]}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    return folder


def _planted(published: Path, tmp_path: Path, change) -> Path:
    folder = Path(shutil.copytree(published, tmp_path / "planted"))
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    change(manifest)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    return folder


@pytest.fixture
def unchanged_code(monkeypatch):
    monkeypatch.setattr(compare_module, "changed_training_files", lambda commit, root=None: [])


def test_the_published_run_as_it_was_passes(published, unchanged_code):
    checked = check_baseline(published, ["bitfit"], log=lambda *_: None)
    assert checked["published"] == ["feature_extraction", "linear_head"]  # the suite's and the studied ones
    assert checked["dataset"] == "synthetic" and checked["profile"].name == "smoke"
    assert checked["code"] == {"checked": True, "changed_files": []}


def test_other_data_are_refused(published, tmp_path, unchanged_code):
    folder = _planted(published, tmp_path, lambda m: m["data"]["synthetic"].update(checksum="0" * 64))
    with pytest.raises(ValueError, match=r"nothing was trained(.|\n)*data: the synthetic images at hand "
                                         r"\(checksum \w{12}\.\.\., 96 images\) are not the published run's "
                                         r"\(000000000000\.\.\."):
        check_baseline(folder, ["bitfit"])


def test_another_partition_is_refused(published, tmp_path, unchanged_code):
    folder = _planted(published, tmp_path, lambda m: m["partition"].update(fingerprint="f" * 64))
    with pytest.raises(ValueError, match=r"partition: this code splits synthetic into other folds than the published "
                                         r"run \(fingerprint \w{12}\.\.\., published ffffffffffff"):
        check_baseline(folder, ["bitfit"])


def test_a_profile_this_code_trains_otherwise_is_refused(published, tmp_path, unchanged_code):
    """A setting the published run had that this code does not know: the new studies would train without it."""
    folder = _planted(published, tmp_path, lambda m: m["profile"]["train"].update(warmup_epochs=2))
    with pytest.raises(ValueError, match=r"nothing was trained(.|\n)*profile: the published run's profile is not one "
                                         r"this code trains with: .*unknown key\(s\) \['warmup_epochs'\] in \[train\]"):
        check_baseline(folder, ["bitfit"])


def test_a_setting_the_published_profile_predates_is_said(published, tmp_path, unchanged_code):
    """Written before a setting existed: the new studies use this code's value, and the comparison says which."""
    folder = _planted(published, tmp_path, lambda m: m["profile"]["search"].pop("keep_trial_predictions"))
    notes = []
    check_baseline(folder, ["bitfit"], log=notes.append)
    assert any("predates [search] keep_trial_predictions; the new studies use" in n for n in notes), notes


def test_changed_training_code_is_refused_unless_allowed(published, monkeypatch):
    monkeypatch.setattr(compare_module, "changed_training_files",
                        lambda commit, root=None: ["benchmark/training/trainer.py"])
    with pytest.raises(ValueError, match=r"training code changed since the published run's commit aaaaaaaaaaaa: "
                                         r"benchmark/training/trainer\.py"):
        check_baseline(published, ["bitfit"])
    notes = []
    checked = check_baseline(published, ["bitfit"], allow_code_change=True, log=notes.append)
    assert checked["code"]["changed_files"] == ["benchmark/training/trainer.py"]
    assert any("trainer.py" in n for n in notes)


def test_other_package_versions_are_refused_unless_allowed(published, tmp_path, unchanged_code):
    """The published run was trained with another peft (a release can compute a method otherwise; docs/usage.md, "The
    training guard"): refused with the package named and the pinned install said; allowed, noted."""
    from benchmark.common.provenance import package_versions

    recorded = {**package_versions(), "peft": "0.0.1"}
    folder = _planted(published, tmp_path, lambda m: m["trained"].update(versions=recorded))
    with pytest.raises(ValueError, match=r"packages: peft \S+ is installed, 0\.0\.1 made it .*-c constraints\.txt"):
        check_baseline(folder, ["bitfit"])
    notes = []
    checked = check_baseline(folder, ["bitfit"], allow_code_change=True, log=notes.append)
    assert checked["code"]["package_differences"] and any("peft" in n for n in notes)
    same = _planted(published, tmp_path / "same", lambda m: m["trained"].update(versions=package_versions()))
    assert "package_differences" not in check_baseline(same, ["bitfit"], log=lambda *_: None)["code"]


def test_code_a_later_commit_reproduced_the_studies_with_passes(published, tmp_path, monkeypatch):
    """The training code changed since the training commit, but commit bbb..., whose training code this checkout has,
    trained published studies again to their predictions (check-published --retrain recorded it): accepted; a
    recorded commit whose code differs from this checkout's is no help."""
    from benchmark.publishing import record_reproduction

    changed = {"a" * 40: ["benchmark/data/masks.py (added)"], "b" * 40: [], "c" * 40: ["benchmark/training/trainer.py"]}
    monkeypatch.setattr(compare_module, "changed_training_files", lambda commit, root=None: changed[commit])
    folder = _planted(published, tmp_path, lambda m: None)
    record_reproduction(folder, "c" * 40, ["feature_extraction repeat 0 fold 0"])
    with pytest.raises(ValueError, match=r"training code changed since .*masks.py.*check-published FOLDER --retrain"):
        check_baseline(folder, ["bitfit"], log=lambda *_: None)
    record_reproduction(folder, "b" * 40, ["feature_extraction repeat 0 fold 0"], date="2026-12-06")
    checked = check_baseline(folder, ["bitfit"], log=lambda *_: None)
    assert checked["code"] == {"checked": True, "changed_files": [], "reproduced_by": "b" * 40,
                               "changed_since_training": ["benchmark/data/masks.py (added)"]}
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert [e["commit"][0] for e in manifest["code"]["reproduced_by"]] == ["c", "b"]
    record_reproduction(folder, "b" * 40, ["lora repeat 0 fold 0"])  # again: replaced, not repeated
    assert len(json.loads((folder / MANIFEST_FILE).read_text())["code"]["reproduced_by"]) == 2


def test_code_that_cannot_be_checked_is_refused_unless_allowed(published, tmp_path):
    """A commit this checkout does not have (here: a made-up one), and a run trained by uncommitted code."""
    with pytest.raises(ValueError, match=r"could not be checked .*git or commit aaaaaaaaaaaa is not available"):
        check_baseline(published, ["bitfit"])
    dirty = _planted(published, tmp_path, lambda m: m["code"].update(dirty=True))
    with pytest.raises(ValueError, match=r"could not be checked .*with uncommitted changes.*--allow-code-change"):
        check_baseline(dirty, ["bitfit"])
    assert check_baseline(dirty, ["bitfit"], allow_code_change=True, log=lambda *_: None)["code"]["checked"] is False


@pytest.mark.skipif(shutil.which("git") is None, reason="no git")
def test_the_diff_names_changed_training_files_and_lets_a_new_plugin_pass(tmp_path):
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    for name in ("benchmark/training/trainer.py", "benchmark/models/build.py", "methods/bitfit.py", "docs/x.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("one\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "published")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert changed_training_files(commit, root=tmp_path) == []
    (tmp_path / "docs/x.md").write_text("two\n")  # not training code
    (tmp_path / "methods/mine.py").write_text("a new plugin\n")  # untracked, then committed: allowed either way
    assert changed_training_files(commit, root=tmp_path) == []
    git("add", ".")
    git("commit", "-q", "-m", "mine")
    assert changed_training_files(commit, root=tmp_path) == []
    (tmp_path / "benchmark/training/trainer.py").write_text("two\n")
    (tmp_path / "methods/bitfit.py").unlink()
    assert changed_training_files(commit, root=tmp_path) == ["benchmark/training/trainer.py",
                                                             "methods/bitfit.py (deleted)"]
    assert changed_training_files("b" * 40, root=tmp_path) is None


def test_a_method_already_published_is_refused_by_the_command(published, tmp_path, unchanged_code, capsys):
    reports = tmp_path / "reports"
    code = main(["compare", "--baseline", str(published), "--methods", "bitfit,feature_extraction",
                 "--reports", str(reports), "--device", "cpu", "--workers", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "petl-bench compare: error: refused to compare with" in err
    assert "methods: feature_extraction is already published in" in err and "compare only methods it lacks" in err
    assert not reports.exists()
