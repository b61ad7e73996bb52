"""The whole suite for one profile: every method on every split seed, into one run folder.

Layout of a run folder (``reports/<timestamp>-<profile>/``)::

    suite.json                      what was asked (profile, dataset, methods), written first
    optuna.db                       the Optuna studies (unless --storage names another)
    runs/<method>/seed-<k>/         one selected-and-tested run each (see benchmark.search)
    summary.csv                     one row per (method, split seed), rebuilt from runs/
    failures.json                   searches in which no trial completed, if any

Re-running the same command on the same folder resumes: finished studies are not rerun and
finished trials of an interrupted study are kept.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .data.split import stratified_group_split
from .io import write_atomic, write_csv_atomic, write_json_atomic
from .profiles import Profile
from .registry import get_method, list_methods
from .runner import RESULTS_FILE, RunSpec, load_data
from .search import SearchFailed, run_search


def new_run_dir(reports: Path, profile: Profile) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return reports / f"{stamp}-{profile.name}"


def point_latest(reports: Path, run_dir: Path) -> None:
    """Make ``reports/latest`` a symbolic link to ``run_dir`` (replaced atomically)."""
    link = reports / "latest"
    tmp = reports / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, link)


def resolve_methods(names: str | None) -> list[str]:
    if not names:
        return [m.name for m in list_methods()]
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    for n in chosen:
        get_method(n)  # raises with the list of registered methods
    return chosen


def run_suite(profile: Profile, dataset: str, run_dir: Path, methods: list[str], data_root=None,
              device: str = "auto", progress: bool = True, storage: str | None = None,
              parallel_trials: int | None = None) -> pd.DataFrame:
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / "suite.json", {"profile": profile.as_dict(), "dataset": dataset,
                                               "data_root": data_root, "methods": methods})
    first = RunSpec(method=methods[0], dataset=dataset, profile=profile, data_root=data_root)
    data, load_seconds = load_data(first)
    if data.synthetic:
        print("NOTE: SYNTHETIC DATA - these results say nothing about BUSI.")
    print(f"data: {data.name}, {len(data)} images at {profile.backbone.image_size} px "
          f"({len(data.excluded)} excluded), loaded in {load_seconds:.1f} s")
    jobs = [(m, s) for m in methods for s in profile.evaluation.split_seeds]
    save_test_images(run_dir, data, profile.evaluation.split_seeds)
    failures = []
    bar = tqdm(jobs, desc="suite", unit="study", disable=not progress)
    for method, seed in bar:
        bar.set_postfix(method=method, seed=seed)
        try:
            run_search(method, profile, dataset, data, seed, run_dir / "runs" / method / f"seed-{seed}",
                       run_dir, storage=storage, device=device, progress=progress,
                       parallel_trials=parallel_trials)
        except SearchFailed as exc:
            print(f"WARNING: {exc}")
            failures.append({"method": method, "split_seed": seed, "error": str(exc)})
    if failures:
        write_json_atomic(run_dir / "failures.json", failures)
    return summarise(run_dir)


TEST_IMAGES_FILE = "test_images.npz"


def save_test_images(run_dir: Path, data, split_seeds) -> Path:
    """The test images of every split (uint8, the profile's size), for the report and analysis."""
    arrays = {}
    for seed in split_seeds:
        test = stratified_group_split(data.labels, data.groups, seed=seed)["test"]
        arrays[f"images_{seed}"] = data.images[test]
        arrays[f"labels_{seed}"] = data.labels[test]
        arrays[f"ids_{seed}"] = np.array([data.ids[i] for i in test])

    def write(path: Path) -> None:
        with open(path, "wb") as f:  # a file object: numpy would append .npz to a name
            np.savez_compressed(f, **arrays)

    return write_atomic(run_dir / TEST_IMAGES_FILE, write)


def load_test_images(run_dir: Path, split_seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(images, labels, ids) of a split's test set, as the suite saved them."""
    path = Path(run_dir) / TEST_IMAGES_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: rebuild it with "
                                f"`petl-bench suite --run-dir {run_dir}` (finished runs are not redone)")
    with np.load(path) as z:
        return z[f"images_{split_seed}"], z[f"labels_{split_seed}"], [str(i) for i in z[f"ids_{split_seed}"]]


def summarise(run_dir: Path) -> pd.DataFrame:
    """One row per finished run, from the run records on disk alone."""
    rows = []
    for path in sorted((run_dir / "runs").glob(f"*/seed-*/{RESULTS_FILE}")):
        r = json.loads(path.read_text())
        m = r["metrics"]
        rows.append({"method": r["config"]["method"], "split_seed": r["config"]["split_seed"],
                     "auc": m["auc"], "auc_std": m["auc_std"], "accuracy": m["accuracy"],
                     "sensitivity": m["sensitivity"], "specificity": m["specificity"],
                     "trainable_parameters": r["parameters"]["trainable"],
                     "epochs": r["training"]["epochs_run"],
                     "seconds_per_epoch": r["training"]["seconds_per_epoch"],
                     "synthetic": r["dataset"]["synthetic"]})
    frame = pd.DataFrame(rows)
    if not frame.empty:
        write_csv_atomic(run_dir / "summary.csv", frame)
    return frame
