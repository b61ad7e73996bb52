"""The whole suite for one profile: every method on every fold of every repeat, into one run folder.

Layout of a run folder (``reports/<timestamp>-<profile>/``)::

    suite.json                      what was asked (profile, dataset, methods, external sets), written first
    optuna.db                       the Optuna studies (unless --storage names another)
    runs/<method>/repeat-<r>/fold-<f>/  one study each: the selected-and-tested run (results.json,
                                    predictions.csv, trained_state.pt), or failed.json (see benchmark.training.search);
                                    with [data] train_sizes, fold-<f>-size-<n>/ for each size n below "all"
    train_subsets.csv               with [data] train_sizes: each fold's training images at each size
    predictions.csv, studies.csv    the tidy tables of benchmark.runfolder, rebuilt from runs/
    test_images.npz                 the data set's images and each repeat's folds, for the report
    partition.json                  the partition's fingerprint (ids, labels, each image's test fold per repeat)
    images.csv                      every image of the data set and the external sets: group, label, metadata
    external.json                   each external data set: size, checksum, duplicates of training images
    summary.csv                     one row per (method, repeat, fold), rebuilt from runs/
    failures.json                   studies that found no working configuration, if any
    reference_predictions.csv       the logistic-regression reference on the frozen features (benchmark.training.reference),
    reference.json                  and its protocol, partition fingerprint, each fold's C and threshold

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
import pandas as pd
import torch
from tqdm.auto import tqdm

from benchmark.data import load_dataset
from benchmark.common.io import write_atomic, write_csv_atomic, write_json_atomic
from benchmark.common.profiles import Profile
from benchmark.common.provenance import CONSTRAINTS_FILE, version_differences
from benchmark.runfolder import (EXTERNAL_FILE, FAILURES_FILE, IMAGES_FILE, PARTITION_FILE, RESULTS_FILE, RUNS_DIR,
                                 STATE_FILE, SUITE_FILE, SUMMARY_FILE, TEST_IMAGES_FILE, TRAIN_SUBSETS_FILE, collect,
                                 partition_info, study_folders)
from benchmark.common.train_sizes import ALL
from benchmark.plugins.registry import get_method, method_set
from benchmark.training.runner import Fold, RunSpec, evaluation_splits, load_data, sized_folds
from benchmark.training.search import finished_search, run_search
from benchmark.training.search_space import study_fingerprint, study_name
from benchmark.training.study_storage import DEFAULT_HEARTBEAT, default_storage, open_storage


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


def resolve_methods(names: str | None, default: tuple[str, ...] = ("all",)) -> list[str]:
    """The methods to run: ``names`` (``--methods``: comma-separated names and sets), else ``default``
    (a profile's ``methods``); sets are "all", "core" and the sources (``registry.method_set``)."""
    return method_set(names or list(default))


def _check_resumed_versions(run_dir: Path, finished: list[tuple[str, Fold]]) -> None:
    """Refuse to resume a run folder whose finished studies were made with other versions of the packages that
    compute the numbers than the installed ones: the run would mix them (a study records them in its results)."""
    for method, fold in finished:
        record = run_dir / RUNS_DIR / method / fold.folder / RESULTS_FILE
        try:
            versions = json.loads(record.read_text()).get("provenance", {}).get("versions")
        except (OSError, ValueError):
            continue
        if differences := version_differences(versions):
            raise ValueError(f"{run_dir} holds studies made with other package versions ({'; '.join(differences)}; "
                             f"{record}): resuming would mix them in one run. Install the versions they record "
                             f"(pip install -e . -c {CONSTRAINTS_FILE} where those are the pinned ones), or give a "
                             f"new --run-dir")


def run_suite(profile: Profile, dataset: str, run_dir: Path, methods: list[str], data_root=None,
              device: str = "auto", progress: bool = True, storage: str | None = None,
              parallel_trials: int | None = None, workers: int | str = 1,
              external: list[str] | tuple[str, ...] = (), artifacts: str | Path | None = None,
              heartbeat: int = DEFAULT_HEARTBEAT) -> pd.DataFrame:
    """Search, select and test every method on every fold; returns :func:`summarise`.

    ``external`` names data sets (besides the profile's ``[evaluation] external`` and its ``[sites]
    test`` sets other than ``dataset``) that every
    selected model scores once after selection; nothing about them influences training,
    search or selection. ``workers`` > 1 (or "auto", see :func:`resolve_workers`) runs that many
    studies at once, each in its own process with an equal share of torch's threads. On a small
    CPU that keeps the cores busier than one study with all the threads. Each study is seeded on
    its own, so its result does not depend on which worker runs it, but it can differ in the last
    digits from a run with another number of threads per process.

    Several suite processes, on one machine or many, can share one search: give each the same
    ``storage`` URL (PostgreSQL) and ``artifacts`` folder (trained states; default the run
    folder's ``artifacts/``). Each takes trials from the studies' queues (see
    ``benchmark.training.search``): a first pass over the studies takes what is queued without waiting,
    a second waits for the trials other processes still run, then tests and records every
    study, so each process ends with the complete results in its own run folder.
    """
    workers = resolve_workers(workers, device)
    external = list(dict.fromkeys([*profile.evaluation.external, *profile.sites.externals(dataset), *external]))
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / SUITE_FILE, {"profile": profile.as_dict(), "dataset": dataset,
                                               "data_root": data_root, "methods": methods,
                                               "workers": int(workers), "external": external})
    first = RunSpec(method=methods[0], dataset=dataset, profile=profile, data_root=data_root)
    data, load_seconds = load_data(first)
    if data.synthetic:
        print("NOTE: SYNTHETIC DATA - these results say nothing about BUSI.")
    skipped = f", {len(data.skipped_pairs)} curated pairs skipped (an image absent)" if data.skipped_pairs else ""
    print(f"data: {data.name}, {len(data)} images at {profile.backbone.image_size} px "
          f"({len(data.excluded)} excluded{skipped}), loaded in {load_seconds:.1f} s")
    external_sets = load_external(run_dir, profile, data, external)
    folds = evaluation_splits(profile, data)
    save_test_images(run_dir, data, folds)
    save_image_table(run_dir, [data, *external_sets.values()])
    folds = sized_folds(profile, data, folds)  # each fold once per [data] train_sizes size
    if profile.data.train_sizes:
        save_train_subsets(run_dir, data, folds)
    common = dict(profile=profile, dataset=dataset, data=data, run_dir=run_dir, storage=storage, device=device,
                  parallel_trials=parallel_trials, external=external_sets, artifacts=artifacts,
                  heartbeat=heartbeat)
    pending = [(m, f) for m in methods for f in folds if finished_search(
        run_dir / RUNS_DIR / m / f.folder,
        study_name(m, profile.backbone.name, f.repeat, f.fold,
                   study_fingerprint(profile, get_method(m), data.checksum), f.train_size)) is None]
    workers = max(1, min(workers, len(pending)))
    n_studies = len(methods) * len(folds)
    if len(pending) < n_studies:
        waiting = {(m, id(f)) for m, f in pending}
        _check_resumed_versions(run_dir, [(m, f) for m in methods for f in folds if (m, id(f)) not in waiting])
        print(f"suite: {n_studies - len(pending)} of {n_studies} studies already finished in {run_dir}; "
              f"{len(pending)} to run", flush=True)
    try:
        for wait in (False, True):  # first take what is queued, then wait for other processes' trials
            if not pending:  # every study finished (the second round only waits for other processes')
                break
            if workers == 1:
                left = []
                bar = tqdm(pending, desc="suite", unit="study", disable=not progress)
                for method, fold in bar:
                    bar.set_postfix(method=method, repeat=fold.repeat, fold=fold.fold)
                    if _run_study(method, fold, progress=progress, wait=wait, **common) is None:
                        left.append((method, fold))
            else:
                left = _run_studies_in_workers(pending, workers, common, wait)
            if left:
                print(f"suite: {len(left)} studies have trials running elsewhere; waiting for them", flush=True)
            pending = left
        if external_sets:
            _score_finished_runs(run_dir, profile, methods, folds, external_sets, device)
        from benchmark.training.reference import reference_is_current, write_reference

        if not reference_is_current(run_dir):  # none yet, or of another partition or protocol
            print("suite: the logistic-regression reference on the frozen features", flush=True)
            write_reference(run_dir, device, progress=progress)
    finally:
        _, studies = collect(run_dir)  # whatever finished, also when a study raised
        failed = studies[studies["status"] != "ok"]
        if not failed.empty:
            write_json_atomic(run_dir / FAILURES_FILE, failed.to_dict(orient="records"))
        else:
            (run_dir / FAILURES_FILE).unlink(missing_ok=True)
    return summarise(run_dir)


def _score_finished_runs(run_dir: Path, profile: Profile, methods, folds, external_sets: dict, device) -> None:
    """Finished runs that have not scored an external set yet (a run folder resumed with a new
    ``--external``) score it now, from their saved models."""
    from benchmark.training.runner import score_external
    from benchmark.training.device import resolve_device

    dev = resolve_device(device)
    for method in methods:
        for fold in folds:
            folder = run_dir / RUNS_DIR / method / fold.folder
            if (folder / RESULTS_FILE).is_file() and (folder / STATE_FILE).is_file():
                scored = score_external(folder, profile, external_sets, dev)
                if scored:
                    print(f"external: {method}, repeat {fold.repeat}, fold {fold.fold} scored {', '.join(scored)}",
                          flush=True)


EXTERNAL_SEED_OFFSET = 1  # a generated external set is drawn from the profile's synthetic_seed + this


def load_external_set(profile: Profile, name: str):
    """External data set ``name`` as every run loads it: the profile's image size, no normal images, a
    generated set from its own seed (``[data] synthetic_seed`` + :data:`EXTERNAL_SEED_OFFSET`)."""
    return load_dataset(name, profile.backbone.image_size, synthetic_images=profile.data.synthetic_images,
                        synthetic_seed=profile.data.synthetic_seed + EXTERNAL_SEED_OFFSET, include_normal=False)


def load_external(run_dir: Path, profile: Profile, data, names) -> dict:
    """The external data sets at the profile's image size, and ``external.json``: their size,
    checksum, licence, and how many of their images duplicate an image of the training set."""
    from benchmark.data import cross_duplicates, dataset_info

    sets, info = {}, {}
    for name in names:
        if name == data.name:
            raise ValueError(f"--external {name}: the external data set must differ from the training "
                             f"data set ({data.name})")
        ext = load_external_set(profile, name)
        pairs = cross_duplicates(data, ext)
        sets[name] = ext
        info[name] = {**dataset_info(name), "n_images": len(ext), "n_malignant": int(ext.labels.sum()),
                      "checksum": ext.checksum, "n_excluded": len(ext.excluded),
                      "duplicates_of_training_images": len(pairs),
                      "duplicate_pairs": [list(p) for p in pairs[:50]]}
        print(f"external: {name}, {len(ext)} images; {len(pairs)} duplicate(s) of {data.name} images")
    for i, (name, ext) in enumerate(sets.items()):  # every pair of external sets too (the site matrix's pairs)
        info[name]["duplicates_of_other_external_sets"] = {
            other: len(cross_duplicates(sets[other], ext)) for other in list(sets)[:i]}
    write_json_atomic(run_dir / EXTERNAL_FILE, info)
    return sets


def resolve_workers(workers: str | int, device: str = "auto") -> int:
    """``--workers``: a count, or "auto": 2 on a CPU with at least 2 threads, else 1."""
    if str(workers) == "auto":
        from benchmark.training.device import resolve_device

        return 2 if resolve_device(device).type == "cpu" and torch.get_num_threads() >= 2 else 1
    try:
        n = int(workers)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"--workers {workers}: give a number of studies at a time (1 or more) or auto")
    return n


def _run_study(method: str, fold: Fold, profile: Profile, dataset: str, data, run_dir: Path, storage, device,
               parallel_trials, progress: bool, external: dict, artifacts, heartbeat: int, wait: bool = True,
               concurrent_studies: int = 1) -> dict | None:
    """One study; its record (results.json's, or failed.json's when no trial worked), or None
    when ``wait`` is False and other processes still run its trials."""
    return run_search(method, profile, dataset, data, fold, run_dir / RUNS_DIR / method / fold.folder,
                      run_dir, storage=storage, device=device, progress=progress, parallel_trials=parallel_trials,
                      concurrent_studies=concurrent_studies, external=external, artifacts=artifacts,
                      wait=wait, heartbeat=heartbeat)


_WORKER_DATA = None  # the data sets, sent once to each worker process


def _init_worker(threads: int, data) -> None:
    """A study worker: its share of the threads and the data sets. On Linux it dies with the
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


def _run_study_in_worker(method: str, fold: Fold, **common) -> str | None:
    data, external = _WORKER_DATA
    record = _run_study(method, fold, data=data, external=external, progress=False, **common)
    return None if record is None else record.get("status", "ok")


def _run_studies_in_workers(jobs: list[tuple[str, Fold]], workers: int, common: dict,
                            wait: bool = True) -> list[tuple[str, Fold]]:
    """The studies in ``workers`` spawned processes, torch's threads shared out among them.
    Returns those left waiting for other processes' trials (only when ``wait`` is False)."""
    url = common["storage"] or default_storage(common["run_dir"])
    if not url.startswith("journal"):  # create the schema once, before the workers race to
        open_storage(url, common["heartbeat"])  # an RDBStorage: creates the tables, and checks the URL
    threads = max(1, torch.get_num_threads() // workers)
    print(f"suite: {len(jobs)} studies in {workers} worker processes, {threads} thread(s) each", flush=True)
    shared = {k: v for k, v in common.items() if k not in ("data", "external")}
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                               initargs=(threads, (common["data"], common["external"])))
    try:
        futures = {pool.submit(_run_study_in_worker, m, f, concurrent_studies=workers, wait=wait, **shared): (m, f)
                   for m, f in jobs}
        left = []
        for done, future in enumerate(as_completed(futures), start=1):
            method, fold = futures[future]
            status = future.result()
            if status is None:
                left.append((method, fold))
                continue
            note = "" if status == "ok" else f" ({status})"
            print(f"suite: [{done}/{len(jobs)}] {method}, repeat {fold.repeat}, fold {fold.fold} finished{note}",
                  flush=True)
    except BaseException:
        # an error in one study, or Ctrl-C: stop the other studies now (a pool would wait for
        # them at exit); a rerun of the same command redoes only the trials they left running
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return left





def save_test_images(run_dir: Path, data, folds: list[Fold]) -> Path:
    """The data set's images (uint8, the profile's size), labels, ids and groups, and for every
    repeat the test fold of each image (``test_fold_<r>``; -1: not tested in that repeat) and each
    fold's parts (``parts_<r>``, folds x images: 0 training, 1 validation, 2 test, -1 none), for the
    report, the analysis and the reference; and ``partition.json``, the partition's fingerprint
    (benchmark.runfolder.partition)."""
    arrays = {"images": data.images, "labels": data.labels, "ids": np.array(data.ids),
              "groups": np.asarray(data.groups)}
    n_folds = {r: 1 + max(f.fold for f in folds if f.repeat == r) for r in {f.repeat for f in folds}}
    for f in folds:
        key = f"test_fold_{f.repeat}"
        if key not in arrays:
            arrays[key] = np.full(len(data), -1, dtype=np.int64)
            arrays[f"parts_{f.repeat}"] = np.full((n_folds[f.repeat], len(data)), -1, dtype=np.int8)
        arrays[key][f.split["test"]] = f.fold
        for part, name in enumerate(("train", "val", "test")):
            arrays[f"parts_{f.repeat}"][f.fold, f.split[name]] = part

    def write(path: Path) -> None:
        with open(path, "wb") as fh:  # a file object: numpy would append .npz to a name
            np.savez_compressed(fh, **arrays)

    written = write_atomic(run_dir / TEST_IMAGES_FILE, write)
    test_folds = {int(k.rsplit("_", 1)[1]): v for k, v in arrays.items() if k.startswith("test_fold_")}
    write_json_atomic(run_dir / PARTITION_FILE, partition_info(data.ids, data.labels, test_folds))
    return written


def save_train_subsets(run_dir: Path, data, folds: list[Fold]) -> Path:
    """``train_subsets.csv``: the training images of every fold at every size (``[data] train_sizes``):
    ``repeat, fold, train_size, image_id``; a smaller size's images are among every larger one's."""
    frame = pd.DataFrame([{"repeat": f.repeat, "fold": f.fold, "train_size": f.train_size or ALL,
                           "image_id": data.ids[i]} for f in folds for i in f.split["train"]])
    return write_csv_atomic(run_dir / TRAIN_SUBSETS_FILE, frame)


def save_image_table(run_dir: Path, sets) -> Path:
    """``images.csv``: one row per image of ``sets`` (ImageSets), with their metadata columns."""
    table = pd.concat([pd.DataFrame(s.image_table()) for s in sets], ignore_index=True)
    return write_csv_atomic(run_dir / IMAGES_FILE, table.convert_dtypes())  # integers stay integers beside blanks


def summarise(run_dir: Path) -> pd.DataFrame:
    """One row per finished study, from the run records on disk alone."""
    rows = []
    for path in [folder / RESULTS_FILE for folder in study_folders(run_dir) if (folder / RESULTS_FILE).is_file()]:
        r = json.loads(path.read_text())
        m = r["metrics"]
        rows.append({"method": r["config"]["method"], "repeat": r["config"]["repeat"], "fold": r["config"]["fold"],
                     "auc": m["auc"], "val_threshold": m.get("validation_threshold"),
                     "lr": r["config"]["lr"], "method_params": json.dumps(r["config"].get("method_params") or {}),
                     "trainable_parameters": r["parameters"]["trainable"],
                     "epochs": r["training"]["epochs_run"],
                     "seconds_per_epoch": r["training"]["seconds_per_epoch"],
                     "synthetic": r["dataset"]["synthetic"],
                     **({"train_size": r["config"]["train_size"]} if "train_size" in r["config"] else {})})
    frame = pd.DataFrame(rows)
    if "train_size" in frame.columns:  # [data] train_sizes: the studies without one trained on all
        frame["train_size"] = frame["train_size"].fillna(ALL)
    if not frame.empty:
        write_csv_atomic(run_dir / SUMMARY_FILE, frame)
    return frame
