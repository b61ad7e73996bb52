"""New methods against a published run (``petl-bench compare``): train only them, rank them among the published ones.

A published folder (``results/<profile>-<dataset>/``, :mod:`benchmark.publishing`) holds every study's
predictions and records, the partition's fingerprint, the profile as run and the training code's commit.
:func:`compare` checks that the new studies would be trained as the published ones were, and refuses with
a ``ValueError`` naming each difference before anything is written or trained:

- the data at hand (the training set and the external sets, loaded as the suite loads them) have the
  manifest's checksums;
- the partition this checkout computes for the profile (``runner.evaluation_splits``) has the published
  fingerprint;
- the profile as run (``profile_from_dict`` of the manifest's) is the one the new studies will use, setting
  by setting;
- the training code (:data:`TRAINING_PATHS`) is the published run's commit's: ``git diff`` against it names the
  changed files (a new file under ``methods/``, a new plugin, is allowed); a change, a run trained by
  uncommitted code or a checkout without git or that commit is refused unless ``allow_code_change``, or unless
  a later commit whose training code this checkout has unchanged trained published studies again to their
  predictions (the manifest's ``code.reproduced_by``, written by ``petl-bench check-published --retrain``);
- the installed numeric packages (:data:`benchmark.common.provenance.NUMERIC_PACKAGES`) are the versions that
  trained the published run (its manifest's ``trained.versions``): another release can compute a method
  otherwise; refused unless ``allow_code_change``;
- no new method is already published.

It then unpacks the folder into a new run folder (``reports/<timestamp>-compare-<profile>``), trains only the
new methods there with ``run_suite`` (the same folds, seeds and repeats; the external sets the published run
scored), lists every method in ``suite.json``, records which rows were published in ``baseline.json``
(:data:`benchmark.runfolder.BASELINE_FILE`, shown in the report's provenance) and builds the report as
``petl-bench report`` does.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from benchmark import pipeline
from benchmark.common.io import read_json, write_csv_atomic, write_json_atomic
from benchmark.common.profiles import ProfileError, profile_from_dict
from benchmark.common.provenance import CONSTRAINTS_FILE, git_commit, version_differences
from benchmark.publishing import read_manifest, unpack
from benchmark.runfolder import (BASELINE_FILE, MANIFEST_FILE, RUNS_DIR, STUDIES_FILE, SUITE_FILE,
                                 TRIAL_PREDICTION_COLUMNS, TRIAL_PREDICTIONS_FILE, partition_info)

__all__ = ["compare", "check_baseline", "changed_training_files", "published_methods", "TRAINING_PATHS"]

ROOT = Path(__file__).resolve().parents[1]  # the checkout (when the suite runs from one)
# what decides how a study trains: a change here since the published run's commit is refused
TRAINING_PATHS = ("benchmark/training", "benchmark/models", "benchmark/data", "benchmark/plugins", "methods")
NEW_PLUGINS = "methods/"  # an added file here is a new method's plugin: allowed


def _git(*args: str, root: Path = ROOT) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None


def changed_training_files(commit: str, root: Path = ROOT) -> list[str] | None:
    """The files of :data:`TRAINING_PATHS` that differ between ``commit`` and the working tree (added files under
    ``methods/`` left out), or None when git or the commit is not available here."""
    known = _git("cat-file", "-e", f"{commit}^{{commit}}", root=root)
    if known is None or known.returncode != 0:
        return None
    diff = _git("diff", "--no-renames", "--name-status", commit, "--", *TRAINING_PATHS, root=root)
    if diff is None or diff.returncode != 0:
        return None
    changed = []
    for line in diff.stdout.splitlines():
        status, _, name = line.partition("\t")
        if status == "A" and name.startswith(NEW_PLUGINS):
            continue
        how = {"M": "", "A": " (added)", "D": " (deleted)"}.get(status, f" ({status})")
        changed.append(f"{name}{how}")
    return changed


def published_methods(manifest: dict) -> list[str]:
    """The methods of a published folder: its suite's, and any other that has study files in it."""
    studied = [f["path"].split("/")[1] for f in manifest.get("files") or [] if f["path"].startswith(f"{RUNS_DIR}/")]
    return list(dict.fromkeys([*(manifest.get("methods") or []), *studied]))


def _flat(values: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _setting(key: str) -> str:
    section, _, name = key.rpartition(".")
    return f"[{section}] {name}" if section else name


def profile_differences(published: dict, profile) -> tuple[list[str], list[str]]:
    """(differences, notes) between the published profile as run and ``profile`` as this checkout reads it: a
    setting whose value differs is a difference; one the published profile predates is a note (its default,
    which the training-code check covers: a setting this code reads is code the published run lacked)."""
    was = _flat(json.loads(json.dumps({k: v for k, v in published.items() if k != "source"})))
    now = _flat(json.loads(json.dumps({k: v for k, v in profile.as_dict().items() if k != "source"})))
    differences = [f"profile: {_setting(k)} is {was[k]!r} in the published run, {now[k]!r} as this code reads it"
                   for k in was if k in now and was[k] != now[k]]
    differences += [f"profile: {_setting(k)} = {was[k]!r} in the published run is unknown to this code"
                    for k in was if k not in now]
    notes = [f"the published profile predates {_setting(k)}; the new studies use {now[k]!r}" for k in now
             if k not in was]
    return differences, notes


def _reproduced_by(code: dict) -> str | None:
    """A commit that trained the published studies again to their predictions (``petl-bench check-published
    --retrain``, :func:`benchmark.publishing.record_reproduction`) whose training code this checkout has unchanged."""
    for entry in reversed(code.get("reproduced_by") or []):
        if changed_training_files(entry["commit"]) == []:
            return entry["commit"]
    return None


def _code_problems(manifest: dict, allow_code_change: bool) -> tuple[list[str], dict]:
    """The training code's check: (refusals, what baseline.json records of it). Code that differs from the training
    commit's passes when a later commit with this training code reproduced the published studies."""
    code = manifest.get("code") or {}
    commit, dirty = code.get("commit"), code.get("dirty")
    changed = None if not commit or dirty or dirty is None else changed_training_files(commit)
    if changed:
        again = _reproduced_by(code)
        if again is not None:
            return [], {"checked": True, "changed_files": [], "reproduced_by": again,
                        "changed_since_training": changed}
    if changed is None:
        why = ("its studies were trained by several commits" if not commit else
               f"it was trained by {commit[:12]} with uncommitted changes" if dirty or dirty is None else
               f"git or commit {commit[:12]} is not available here")
        record = {"checked": False, "reason": why}
        text = (f"the training code could not be checked against the published run's ({why}); pass "
                f"--allow-code-change to compare anyway")
    else:
        record = {"checked": True, "changed_files": changed}
        text = (f"the training code changed since the published run's commit {commit[:12]}: {', '.join(changed)} "
                f"(a changed trainer trains the new method otherwise than the published ones; train published studies "
                f"again with this code, `petl-bench check-published FOLDER --retrain`, and commit the manifest it "
                f"updates, or publish the baseline again, or pass --allow-code-change)") if changed else None
    return ([text] if text and not allow_code_change else []), record


def _partition_fingerprint(profile, data) -> str:
    """The fingerprint of the partition this checkout computes (each image's test fold in every repeat)."""
    from benchmark.training.runner import evaluation_splits

    test_folds: dict[int, np.ndarray] = {}
    for f in evaluation_splits(profile, data):
        test_folds.setdefault(f.repeat, np.full(len(data), -1, dtype=np.int64))[f.split["test"]] = f.fold
    return partition_info(data.ids, data.labels, test_folds)["fingerprint"]


def _data_problems(profile, manifest: dict, method: str, data_root) -> list[str]:
    """The training set's and the external sets' checksums, and the partition's fingerprint, against the manifest."""
    from benchmark.training.runner import RunSpec, load_data
    from benchmark.training.suite import load_external

    dataset, published = manifest["dataset"], manifest.get("data") or {}
    data, _ = load_data(RunSpec(method=method, dataset=dataset, profile=profile, data_root=data_root))
    with tempfile.TemporaryDirectory(prefix="compare-") as tmp:  # loaded as the suite loads them
        sets = {dataset: data, **load_external(Path(tmp), profile, data, manifest.get("external") or [])}
    problems = []
    for name, images in sets.items():
        want = (published.get(name) or {}).get("checksum")
        if want != images.checksum:
            problems.append(f"data: the {name} images at hand (checksum {images.checksum[:12]}..., {len(images)} "
                            f"images) are not the published run's ({str(want)[:12]}..., "
                            f"{(published.get(name) or {}).get('n_images')} images): point --data-root at that copy")
    published_fingerprint = (manifest.get("partition") or {}).get("fingerprint")
    if not published_fingerprint:
        return problems + [f"partition: the published folder records no partition fingerprint ({MANIFEST_FILE}'s "
                           f"partition): its folds cannot be checked; publish it again with this code"]
    fingerprint = _partition_fingerprint(profile, data) if not problems else published_fingerprint
    if fingerprint != published_fingerprint:  # (other data split otherwise anyway: said once, above)
        problems.append(f"partition: this code splits {dataset} into other folds than the published run "
                        f"(fingerprint {fingerprint[:12]}..., published {str(published_fingerprint)[:12]}...): "
                        f"the splitting code or the profile's [evaluation] differ")
    return problems


def check_baseline(folder, new: list[str], data_root=None, allow_code_change: bool = False, log=print) -> dict:
    """Check that ``new`` methods can be compared against the published ``folder`` (see the module's docstring);
    ValueError naming every difference, else what the comparison needs (profile, data set, methods, code)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    try:
        profile = profile_from_dict(manifest["profile"], source=f"{folder / MANIFEST_FILE} (profile as run)")
    except ProfileError as exc:  # a setting this code does not read (or reads otherwise): nothing else to check
        raise ValueError(f"refused to compare with {folder} (nothing was trained):\n  profile: the published run's "
                         f"profile is not one this code trains with: {exc}") from None
    published = published_methods(manifest)
    problems = []
    again = [m for m in new if m in published]
    if again:
        problems.append(f"methods: {', '.join(again)} {'is' if len(again) == 1 else 'are'} already published in "
                        f"{folder} (published: {', '.join(published)}); compare only methods it lacks")
    differences, notes = profile_differences(manifest["profile"], profile)
    code_refusals, code = _code_problems(manifest, allow_code_change)
    problems += differences + code_refusals
    packages = version_differences((manifest.get("trained") or {}).get("versions"))
    if packages and not allow_code_change:
        problems.append(f"packages: {'; '.join(packages)} (the published methods were trained with the pinned "
                        f"versions: install them, pip install -e . -c {CONSTRAINTS_FILE}, or pass "
                        f"--allow-code-change)")
    problems += _data_problems(profile, manifest, new[0], data_root)
    if problems:
        raise ValueError(f"refused to compare with {folder} (nothing was trained):\n  " + "\n  ".join(problems))
    if not code["checked"]:
        notes.append(f"the training code was not checked: {code['reason']} (--allow-code-change)")
    elif code["changed_files"]:
        notes.append(f"the training code changed since the published run (--allow-code-change): "
                     f"{', '.join(code['changed_files'])}")
    if packages:
        notes.append(f"the installed packages are not the published run's (--allow-code-change): {'; '.join(packages)}")
        code = {**code, "package_differences": packages}
    for note in notes:
        log(f"compare: {note}")
    return {"manifest": manifest, "profile": profile, "dataset": manifest["dataset"], "published": published,
            "code": code}


def _manifest_sha256(folder: Path) -> str:
    return hashlib.sha256((folder / MANIFEST_FILE).read_bytes()).hexdigest()


def _study_trial_predictions(run_dir: Path) -> None:
    """The published run's ``trial_predictions.csv`` back into its studies' folders, where the suite collects the
    table from (else the published methods' trial rows would leave it when the new studies are collected)."""
    import pandas as pd

    path = run_dir / TRIAL_PREDICTIONS_FILE
    if not path.is_file() or not (run_dir / STUDIES_FILE).is_file():
        return
    table = pd.read_csv(path, dtype={"image_id": str, "train_size": str})
    studies = pd.read_csv(run_dir / STUDIES_FILE, dtype={"train_size": str})
    keys = [k for k in ("method", "repeat", "fold", "train_size") if k in table.columns and k in studies.columns]
    for key, rows in table.groupby(keys):
        match = studies
        for k, v in zip(keys, key):
            match = match[match[k] == v]
        if len(match) == 1 and (run_dir / match["run_path"].iloc[0]).is_dir():
            write_csv_atomic(run_dir / match["run_path"].iloc[0] / TRIAL_PREDICTIONS_FILE, rows[TRIAL_PREDICTION_COLUMNS])


def _start(folder: Path, checked: dict, reports, run_dir) -> Path:
    """The comparison's run folder: ``run_dir`` (a new one, or one this comparison began: resumed), else
    ``reports/<timestamp>-compare-<profile>``."""
    if run_dir is not None and Path(run_dir).is_dir() and any(Path(run_dir).iterdir()):
        mark = Path(run_dir) / BASELINE_FILE
        if not mark.is_file() or read_json(mark).get("manifest_sha256") != _manifest_sha256(folder):
            raise ValueError(f"{run_dir} holds files but no comparison with {folder}: give a new --run-dir (or the "
                             f"folder a comparison with it began, to resume it)")
    profile = checked["profile"]
    return pipeline.start_run_dir(reports, replace(profile, name=f"compare-{profile.name}"), run_dir)


def compare(baseline, methods: str | list[str], run_dir=None, reports="reports", data_root=None,
            device: str = "auto", workers: int | str = 1, allow_code_change: bool = False,
            progress: bool = True, log=print) -> Path:
    """Train ``methods`` on the published ``baseline``'s folds and report them among its methods; the run folder."""
    from benchmark.training.suite import resolve_methods, run_suite

    folder = Path(baseline)
    new = resolve_methods(",".join(methods) if isinstance(methods, (list, tuple)) else methods)
    checked = check_baseline(folder, new, data_root, allow_code_change, log)
    manifest, profile = checked["manifest"], checked["profile"]
    run_dir = _start(folder, checked, reports, run_dir)
    unpack(folder, run_dir)
    _study_trial_predictions(run_dir)
    trained = manifest.get("trained") or {}
    write_json_atomic(run_dir / BASELINE_FILE, {
        "baseline": str(folder), "manifest_sha256": _manifest_sha256(folder),
        "published": {"methods": checked["published"], "commit": (manifest.get("code") or {}).get("commit"),
                      "dirty": (manifest.get("code") or {}).get("dirty"), "date": trained.get("date"),
                      "source": manifest.get("source")},
        "published_code": manifest.get("code") or {},  # carried into a publication of this comparison
        "trained_here": {"methods": new, **git_commit(),
                         "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")},
        "code_check": checked["code"]})
    log(f"compare: {', '.join(new)} on the folds of {folder} ({', '.join(checked['published'])} published) -> "
        f"{run_dir}")
    run_suite(profile, checked["dataset"], run_dir, new, data_root=data_root, device=device, progress=progress,
              workers=workers, external=list(manifest.get("external") or []))
    suite = read_json(run_dir / SUITE_FILE)  # run_suite wrote the new methods alone: the report ranks them all
    write_json_atomic(run_dir / SUITE_FILE, {**suite, "methods": list(dict.fromkeys([*checked["published"], *new]))})
    pipeline.report(run_dir)
    return run_dir
