"""The whole suite for one profile: every method on every split seed, into one run folder.

Layout of a run folder (``reports/<timestamp>-<profile>/``)::

    suite.json                      what was asked (profile, dataset, methods), written first
    runs/<method>/seed-<k>/         one finished run each (see benchmark.runner)
    summary.csv                     one row per (method, split seed), rebuilt from runs/

Re-running the same command on the same folder skips the runs that finished.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from .io import write_csv_atomic, write_json_atomic
from .profiles import Profile
from .registry import get_method, list_methods
from .runner import RESULTS_FILE, RunSpec, load_data, run


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
              device: str = "auto", progress: bool = True) -> pd.DataFrame:
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
    bar = tqdm(jobs, desc="suite", unit="run", disable=not progress)
    for method, seed in bar:
        bar.set_postfix(method=method, seed=seed)
        spec = RunSpec(method=method, dataset=dataset, profile=profile, split_seed=seed, data_root=data_root)
        run(spec, run_dir / "runs" / method / f"seed-{seed}", device=device, progress=progress, data=data)
    return summarise(run_dir)


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
