"""The training guard (benchmark.training.reproduce): a published study, trained again, gives the published scores.

On synthetic data (the smoke profile, feature extraction, 2 folds): a suite's study is trained again from its
run folder's suite.json and record and reproduces its test scores to float32 precision; planted one-line
changes to what reaches the training loop (the loss's class weights, the training labels' order of batches)
move them and the guard says "NOT reproduced"; other data are refused with the checksum named. On the
published quick run (``results/quick-busi``, when it and BUSI are at hand): two folds of feature extraction and
of BitFit, with the profile's own settings and the frozen-prefix cache, reproduce the published scores; so does
one study of every method a contributor added to a published folder (``code.contributed`` of its manifest).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from benchmark.training.reproduce import SCORE_TOLERANCE, arithmetic_difference, published_profile, retrain_study

pytestmark = pytest.mark.slow  # tiny suites and studies trained again: about a minute on a 2-core CPU

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "results" / "quick-busi"
CONTRIBUTED = [(folder, method) for folder in sorted((ROOT / "results").glob("*/MANIFEST.json"))
               for entry in json.loads(folder.read_text())["code"].get("contributed", [])
               for method in entry["methods"]]
METHOD = "feature_extraction"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, smoke_profile):
    from benchmark.training.suite import run_suite

    run_dir = tmp_path_factory.mktemp("guard") / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_suite(smoke_profile, "synthetic", run_dir, [METHOD], device="cpu", progress=False, workers=1)
    return run_dir


def _again(run_dir: Path, fold: int = 0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return retrain_study(run_dir, METHOD, 0, fold)


def test_a_study_trained_again_gives_its_scores(tiny_run):
    result = _again(tiny_run)
    assert result.same_images and result.n_images > 0
    assert result.max_score_difference <= SCORE_TOLERANCE and result.reproduced, str(result)
    assert result.selected_trial_again == result.selected_trial_published
    profile, dataset = published_profile(tiny_run)
    assert dataset == "synthetic" and profile.train.class_weights == "none"


@pytest.mark.parametrize("plant", ["class_weights", "batch_order"])
def test_a_changed_training_input_is_caught(tiny_run, monkeypatch, plant):
    """Planted: the loss weighted by class after all, or the batches drawn in another order."""
    from benchmark.training import trainer

    if plant == "class_weights":
        original = trainer.class_weights
        monkeypatch.setattr(trainer, "class_weights", lambda labels, scheme: original(labels, "balanced"))
    else:
        original_randperm = trainer.torch.randperm
        monkeypatch.setattr(trainer.torch, "randperm", lambda n, generator=None: original_randperm(n).flip(0))
    result = _again(tiny_run)
    assert result.same_images and not result.reproduced, str(result)
    assert result.max_score_difference > 100 * SCORE_TOLERANCE


def test_other_data_are_refused(tiny_run, tmp_path):
    import shutil

    copy = Path(shutil.copytree(tiny_run, tmp_path / "copy", ignore=shutil.ignore_patterns("*.pt", "artifacts")))
    record_path = copy / "runs" / METHOD / "repeat-0" / "fold-0" / "results.json"
    record = json.loads(record_path.read_text())
    record["dataset"]["checksum"] = "0" * 64
    record_path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="are not the ones .* trained on"):
        _again(copy)
    with pytest.raises(FileNotFoundError, match="no such study"):
        retrain_study(copy, METHOD, 0, 7)


@pytest.mark.skipif(not (PUBLISHED / "suite.json").is_file(),
                    reason="results/quick-busi is not published yet (petl-bench publish, docs/usage.md)")
@pytest.mark.parametrize("method,fold", [("feature_extraction", 0), ("feature_extraction", 1), ("bitfit", 0),
                                         ("bitfit", 1)])
def test_the_published_quick_run_is_the_codes(method, fold):
    """Two folds of feature extraction (its frozen-prefix cache) and of BitFit trained again on BUSI give the
    published test scores; a change to training, data or search code that moves them fails here until the
    quick run is published again (docs/usage.md, "Published results").

    Feature extraction (a linear head on frozen features) reproduces on any CPU. BitFit trains through the
    backbone, which amplifies a last-bit difference of another CPU's kernels (measured: docs/usage.md, "The
    training guard"), so its check runs where the CPU is the published study's, and says so elsewhere."""
    from locations import dataset_root  # tests/support

    if not dataset_root("busi").is_dir():
        pytest.skip("BUSI is not at hand ($BUSI_ROOT or ../shared/datasets/busi)")
    if method != "feature_extraction" and (why := arithmetic_difference(PUBLISHED, method, 0, fold)):
        pytest.skip(f"{why}: training through the backbone reproduces exactly only on the same CPU arithmetic "
                    "(feature extraction's folds are checked on any)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = retrain_study(PUBLISHED, method, 0, fold)
    assert result.reproduced, str(result)


@pytest.mark.parametrize("manifest,method", CONTRIBUTED or [pytest.param(None, None, marks=pytest.mark.skip(
    reason="no published folder lists a contributed method yet (CONTRIBUTING.md, \"A method with its results\"; "
           "the mechanism is tested on synthetic data in tests/publishing/test_compare_published.py)"))],
    ids=lambda v: v if isinstance(v, str) else (v.parent.name if v is not None else "none"))
def test_a_contributed_method_trains_again_to_its_published_scores(manifest, method):
    """A method added to a published folder by a comparison (`petl-bench compare`, then `petl-bench publish`) trains
    its repeat 0, fold 0 study again to the published scores: the plugin in the repository is the one that made them."""
    from locations import dataset_root  # tests/support

    dataset = json.loads(manifest.read_text())["dataset"]
    if dataset != "synthetic" and not dataset_root(dataset).is_dir():
        pytest.skip(f"{dataset} is not at hand (docs/datasets.md)")
    if why := arithmetic_difference(manifest.parent, method, 0, 0):
        pytest.skip(f"{why}: a method that trains through the backbone reproduces exactly only on the same CPU "
                    "arithmetic (the published quick run's feature extraction is checked on any)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = retrain_study(manifest.parent, method, 0, 0)
    assert result.reproduced, str(result)


def test_the_cpu_arithmetic_of_a_published_study_is_compared_with_this_machines(tmp_path):
    from benchmark.common.provenance import cpu_arithmetic

    study = tmp_path / "runs" / "bitfit" / "repeat-0" / "fold-0"
    study.mkdir(parents=True)

    def recorded(machine):
        (study / "results.json").write_text(json.dumps({"provenance": {"machine": machine}}))
        return arithmetic_difference(tmp_path, "bitfit", 0, 0)

    assert "does not record its CPU" in recorded({"device": "cpu"})  # published before the record was kept
    assert recorded({"device": "cpu", **cpu_arithmetic()}) is None
    other = {**cpu_arithmetic(), "cpu_capability": "DEFAULT" if cpu_arithmetic()["cpu_capability"] != "DEFAULT"
             else "AVX2"}
    assert "was trained on" in recorded({"device": "cpu", **other})


def test_a_study_made_with_other_package_versions_says_which_when_it_does_not_reproduce():
    """The record's versions against the installed ones: a differing numeric package is named with the pinned
    install (docs/usage.md, "The training guard": a version difference reads as a training change otherwise)."""
    from benchmark.common import provenance
    from benchmark.training.reproduce import Reproduction

    installed = provenance.package_versions()
    assert provenance.version_differences(installed) == []
    assert provenance.version_differences({**installed, "petl-bench": "0.0.0", "python": "3.9.0"}) == []
    assert provenance.version_differences({"peft": "0.0.1"}) == [f"peft {installed['peft']} is installed, 0.0.1 made it"]
    moved = Reproduction("oft", 0, 0, 127, 0.216, True, 0, 0, ("peft 0.22.0 is installed, 0.21.2 made it",))
    assert "NOT reproduced" in str(moved) and "peft 0.22.0 is installed, 0.21.2 made it" in str(moved)
    assert "-c constraints.txt" in str(moved)
    assert "installed packages" not in str(Reproduction("oft", 0, 0, 127, 0.0, True, 0, 0))
