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
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import torch
from tqdm.auto import tqdm

from .data.split import stratified_group_split
from .io import write_atomic, write_csv_atomic, write_json_atomic
from .profiles import Profile
from .registry import get_method, list_methods
from .runner import RESULTS_FILE, RunSpec, load_data
from .search import SearchFailed, default_storage, finished_search, run_search, study_name


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
              parallel_trials: int | None = None, workers: int | str = 1) -> pd.DataFrame:
    """Search, select and test every method on every split seed; returns :func:`summarise`.

    ``workers`` > 1 (or "auto", see :func:`resolve_workers`) runs that many studies at once, each in its own process with an equal
    share of torch's threads. On a small CPU that keeps the cores busier than one study with
    all the threads: the many small operations of a training step of these networks do not
    parallelise well. Each study is seeded on its own, so its result does not depend on which
    worker runs it, but it can differ in the last digits from a run with another number of
    threads per process (floating-point sums in another order).
    """
    workers = resolve_workers(workers, device)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / "suite.json", {"profile": profile.as_dict(), "dataset": dataset,
                                               "data_root": data_root, "methods": methods,
                                               "workers": int(workers)})
    first = RunSpec(method=methods[0], dataset=dataset, profile=profile, data_root=data_root)
    data, load_seconds = load_data(first)
    if data.synthetic:
        print("NOTE: SYNTHETIC DATA - these results say nothing about BUSI.")
    print(f"data: {data.name}, {len(data)} images at {profile.backbone.image_size} px "
          f"({len(data.excluded)} excluded), loaded in {load_seconds:.1f} s")
    jobs = [(m, s) for m in methods for s in profile.evaluation.split_seeds]
    save_test_images(run_dir, data, profile.evaluation.split_seeds)
    common = dict(profile=profile, dataset=dataset, data=data, run_dir=run_dir, storage=storage, device=device,
                  parallel_trials=parallel_trials)
    pending = [(m, s) for m, s in jobs if finished_search(
        run_dir / "runs" / m / f"seed-{s}", study_name(m, profile.backbone.name, s)) is None]
    workers = max(1, min(workers, len(pending)))
    failures: list[dict] = []  # studies in which no trial completed; kept even if a later one raises
    try:
        if workers == 1:
            bar = tqdm(pending, desc="suite", unit="study", disable=not progress)
            for method, seed in bar:
                bar.set_postfix(method=method, seed=seed)
                failures += _run_study(method, seed, progress=progress, **common)
        else:
            _run_studies_in_workers(pending, workers, common, failures)
    finally:
        if failures:
            write_json_atomic(run_dir / "failures.json", failures)
    return summarise(run_dir)


def resolve_workers(workers: str | int, device: str = "auto") -> int:
    """``--workers``: a count, or "auto": 2 on a CPU with at least 2 threads, else 1."""
    if str(workers) == "auto":
        from .trainer import resolve_device

        return 2 if resolve_device(device).type == "cpu" and torch.get_num_threads() >= 2 else 1
    try:
        n = int(workers)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"--workers {workers}: give a number of studies at a time (1 or more) or auto")
    return n


def _run_study(method: str, seed: int, profile: Profile, dataset: str, data, run_dir: Path, storage, device,
               parallel_trials, progress: bool, concurrent_studies: int = 1) -> list[dict]:
    """One study; a search in which no trial completed is returned as a failure, not raised."""
    try:
        run_search(method, profile, dataset, data, seed, run_dir / "runs" / method / f"seed-{seed}",
                   run_dir, storage=storage, device=device, progress=progress, parallel_trials=parallel_trials,
                   concurrent_studies=concurrent_studies)
    except SearchFailed as exc:
        print(f"WARNING: {exc}", flush=True)
        return [{"method": method, "split_seed": seed, "error": str(exc)}]
    return []


_WORKER_DATA = None  # the data set, sent once to each worker process


def _init_worker(threads: int, data) -> None:
    """A study worker: its share of the threads and the data set. On Linux it dies with the
    suite's process, so a killed suite leaves no orphan training (a rerun redoes the trials it
    left running)."""
    global _WORKER_DATA
    _WORKER_DATA = data
    torch.set_num_threads(threads)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _run_study_in_worker(method: str, seed: int, **common) -> list[dict]:
    return _run_study(method, seed, data=_WORKER_DATA, progress=False, **common)


def _run_studies_in_workers(jobs: list[tuple[str, int]], workers: int, common: dict, failures: list) -> None:
    """The studies in ``workers`` spawned processes, torch's threads shared out among them;
    ``failures`` gets the studies in which no trial completed, as they finish."""
    url = common["storage"] or default_storage(common["run_dir"])
    if not url.startswith("journal"):  # create the schema once, before the workers race to
        optuna.storages.RDBStorage(url)
    threads = max(1, torch.get_num_threads() // workers)
    print(f"suite: {len(jobs)} studies in {workers} worker processes, {threads} thread(s) each", flush=True)
    shared = {k: v for k, v in common.items() if k != "data"}
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                               initargs=(threads, common["data"]))
    try:
        futures = {pool.submit(_run_study_in_worker, m, s, concurrent_studies=workers, **shared): (m, s)
                   for m, s in jobs}
        for done, future in enumerate(as_completed(futures), start=1):
            method, seed = futures[future]
            failures += future.result()
            print(f"suite: [{done}/{len(jobs)}] {method}, split seed {seed} finished", flush=True)
    except BaseException:
        # an error in one study, or Ctrl-C: stop the other studies now (a pool would wait for
        # them at exit); a rerun of the same command redoes only the trials they left running
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


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
