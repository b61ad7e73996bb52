"""The whole suite for one profile, step by step: what ``petl-bench all`` (and ``run_all.sh``) runs.

Each step is also a command of its own, which calls the same function here: ``train`` (the
``suite`` command: search, select, test, leaderboard), ``bench`` (cost), ``report`` (analysis
and index.html) and ``site_matrix`` (``sites``). :func:`run_all` runs them in order into one
run folder named by :func:`start_run_dir`:

- a profile without ``[sites]`` trains on ``--dataset``, else on BUSI where the data-set
  registry finds it (``--data-root``, ``$BUSI_ROOT``, ``datasets/busi``,
  ``../shared/datasets/busi``), else on synthetic data with a warning; then bench (5 timed
  steps) and the report;
- a ``[sites]`` profile trains once per ``[sites] train`` set into ``RUN_DIR/train-<set>/``
  (each set found where ``petl-bench datasets`` says), measures the cost once (it depends on
  backbone, size and method, not on the data) and copies it, reports each, then writes the
  train-site x test-site matrix.

A resumed run (``--run-dir``) skips the studies it finished and keeps a ``cost.csv`` that already
measures every method without error (:func:`measured_methods`).

Imports of torch and the rest happen inside the steps, so importing this module is cheap.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from benchmark.runfolder import COST_FILE, LEADERBOARD_PAGES, REPORT_FILE, SITE_RUN_PREFIX

BENCH_STEPS = 5  # timed training steps per method in `all` (the bench command's own default is 10)
NO_DATA_WARNING = "no BUSI data found: running on SYNTHETIC data (results say nothing about BUSI)"


# -- where things are -------------------------------------------------------------------------
def start_run_dir(reports: str | Path, profile, run_dir: str | Path | None = None) -> Path:
    """``run_dir`` when given (resume or write it), else a new ``reports/<YYYYmmdd-HHMMSS>-<profile
    name>`` (``suite.new_run_dir``), created and pointed at by ``reports/latest``."""
    if run_dir:
        return Path(run_dir)
    from benchmark.training.suite import new_run_dir, point_latest

    reports = Path(reports)
    folder = new_run_dir(reports, profile)
    reports.mkdir(parents=True, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    point_latest(reports, folder)
    return folder


def training_data(dataset: str | None, data_root: str | None, warn=print) -> tuple[str, str | None]:
    """(data set, its folder or None) to train on: ``dataset`` as given, else BUSI where the
    registry finds it (``DatasetSpec.locate``), else "synthetic" after ``warn``-ing once."""
    if dataset:
        return dataset, data_root
    from benchmark.data import get_dataset

    found = get_dataset("busi").locate(data_root)
    if found.root is not None:
        return "busi", str(found.root)
    tried = "".join(f"\n  tried {path} ({how}): {why}" for path, how, why in found.tried)
    warn(NO_DATA_WARNING + tried)
    return "synthetic", None


def site_train_sets(profile) -> list[str]:
    """A ``[sites]`` profile's training sets (empty for any other profile); ValueError when it
    names a data set that is not registered."""
    if not profile.sites.train and not profile.sites.test:
        return []
    from benchmark.data import DATASETS

    unknown = [n for n in (*profile.sites.train, *profile.sites.test) if n not in DATASETS]
    if unknown:
        raise ValueError(f"{profile.source}: [sites] names unknown data set(s) {', '.join(unknown)}; "
                         f"registered: {', '.join(DATASETS)}")
    return list(profile.sites.train)


# -- the steps --------------------------------------------------------------------------------
def train(profile, dataset: str, run_dir: Path, methods: str | None = None, **suite_options) -> bool:
    """Search, select and test the profile's methods (or ``methods``) into ``run_dir``, then
    write the leaderboard and print its summary; False when nothing finished."""
    from benchmark.training.suite import resolve_methods, run_suite

    frame = run_suite(profile, dataset, run_dir, resolve_methods(methods, profile.methods), **suite_options)
    if frame.empty:
        return False
    from benchmark.reporting.console import console_summary
    from benchmark.reporting import write_leaderboard

    write_leaderboard(run_dir)
    print("\n".join(console_summary(run_dir)))
    print(f"the leaderboard: {run_dir / LEADERBOARD_PAGES[0]} (and .html, .csv)")
    return True


def bench(options: argparse.Namespace) -> int:
    """The cost of every method (``petl-bench bench``'s options, :func:`bench_settings`)."""
    from benchmark.cost.bench import run_bench

    return run_bench(bench_settings(options))


def bench_settings(options: argparse.Namespace) -> argparse.Namespace:
    """``petl-bench bench``'s options with ``--profile``'s backbone, image size, inference precision and
    methods (unless given) filled in."""
    if not options.profile:
        return options
    from benchmark.common.profiles import load_profile

    profile = load_profile(options.profile)
    return argparse.Namespace(**{
        **vars(options), "backbone": profile.backbone.name, "image_size": profile.backbone.image_size,
        "inference_precision": options.inference_precision or profile.train.inference_precision,
        "methods": options.methods or ",".join(profile.methods)})


def measured_methods(cost_file: Path, options: argparse.Namespace) -> list[str]:
    """The methods bench ``options`` would measure, when ``cost_file`` already has a row without
    error for each at the same backbone, image size and device; else an empty list."""
    import pandas as pd

    from benchmark.training.device import resolve_device
    from benchmark.training.suite import resolve_methods

    if not cost_file.is_file():
        return []
    settings = bench_settings(options)
    methods = resolve_methods(settings.methods)
    table = pd.read_csv(cost_file, keep_default_na=False)
    if not {"method", "backbone", "image_size", "device", "error"} <= set(table.columns):
        return []
    ok = table[(table["error"].astype(str) == "") & (table["backbone"] == settings.backbone)
               & (table["image_size"].astype(int) == int(settings.image_size))
               & (table["device"].astype(str) == str(resolve_device(settings.device)))]
    return methods if set(methods) <= set(ok["method"]) else []


def report(run_dir: Path, rebuild: bool = False, full: bool = False) -> None:
    """index.html, the leaderboard, significance tests, figures and analysis of ``run_dir``."""
    from benchmark.reporting.console import console_summary
    from benchmark.reporting import write_report

    page = write_report(run_dir, rebuild=rebuild, analyse=_analyse)
    if full:
        print((run_dir / LEADERBOARD_PAGES[0]).read_text())
    else:
        print("\n".join(console_summary(run_dir)))
    print(f"wrote {page} (open it in a browser; the leaderboard, significance, claims, figures and analysis are "
          f"beside it{'' if full else '; --full prints leaderboard.md here'})")


def _analyse(run_dir: Path) -> None:
    """The model analysis (``benchmark.analysis``: it runs torch models), when the report lacks its tables."""
    from benchmark.analysis import write_analysis

    write_analysis(run_dir)


def site_matrix(run_dirs: list[Path], out: Path | None = None) -> None:
    """The train-site x test-site matrix of ``run_dirs`` (a sites folder, or one run folder per
    training set): site_matrix.csv, site_ranks.csv, heatmaps and index.html."""
    import pandas as pd

    from benchmark.runfolder import SITE_RANKS_FILE
    from benchmark.reporting import write_sites

    written = write_sites(run_dirs, out)
    for _, row in pd.read_csv(written[SITE_RANKS_FILE]).iterrows():
        rank = "-" if pd.isna(row["rank"]) else str(int(row["rank"]))
        print(f"{rank:>3}  {row['method']:<24} mean off-site AUC {row['mean_offsite_auc']:.3f} "
              f"[{row['mean_offsite_ci_low']:.3f}, {row['mean_offsite_ci_high']:.3f}] over {row['n_offsite']} "
              f"cell(s)")
    print(f"wrote {', '.join(str(p) for p in written.values() if p.suffix != '.png')} and "
          f"{sum(p.suffix == '.png' for p in written.values())} heatmap(s)")


# -- all of it --------------------------------------------------------------------------------
def run_all(profile_name: str, bench_options: argparse.Namespace, dataset: str | None = None,
            data_root: str | None = None, methods: str | None = None, device: str = "auto",
            reports: str = "reports", run_dir: str | None = None, **suite_options) -> Path:
    """Train, bench and report ``profile_name`` (see the module docstring) into one run folder;
    returns it. ``bench_options``: the bench command's options (``--out`` is set per folder);
    ``suite_options``: run_suite's (workers, external, storage, artifacts). ValueError, before
    anything runs, when a [sites] profile is given ``dataset`` or ``data_root``."""
    from benchmark.common.profiles import load_profile

    profile = load_profile(profile_name)
    sites = site_train_sets(profile)
    if sites and (dataset or data_root):
        raise ValueError(f"--profile {profile_name} trains on its [sites] sets ({' '.join(sites)}), each found "
                         "where `petl-bench datasets` says: leave out --dataset and --data-root")
    if not sites:
        dataset, data_root = training_data(dataset, data_root,
                                           warn=lambda text: print(f"petl-bench all: {text}", file=sys.stderr))
    folder = start_run_dir(reports, profile, run_dir)
    started = time.time()
    common = dict(methods=methods, device=device, **suite_options)
    if sites:
        cost_from = None
        for name in sites:
            sub = folder / f"{SITE_RUN_PREFIX}{name}"
            print(f"== trained on {name} (every selected model scores the other sets): {sub}", flush=True)
            _train_step(profile, name, sub, None, **common)
            if cost_from is None:
                print("== cost of every method", flush=True)
                _bench_step(bench_options, sub)
                cost_from = sub
            else:
                shutil.copyfile(cost_from / COST_FILE, sub / COST_FILE)
            report(sub)
        print("== the train-site x test-site matrix", flush=True)
        site_matrix([folder])
    else:
        print(f"== 1/3 search, select, test: {folder}", flush=True)
        _train_step(profile, dataset, folder, data_root, **common)
        print("== 2/3 cost of every method", flush=True)
        _bench_step(bench_options, folder)
        print("== 3/3 analysis and report", flush=True)
        report(folder)
    print(f"petl-bench all: done in {int(time.time() - started)} s; open {folder / REPORT_FILE}")
    return folder


def _train_step(profile, dataset: str, run_dir: Path, data_root: str | None, **options) -> None:
    train(profile, dataset, run_dir, data_root=data_root, **options)
    print(f"run folder: {run_dir}", flush=True)


def _bench_step(options: argparse.Namespace, out: Path) -> None:
    """Measure the cost into ``out``, unless a resumed run's ``cost.csv`` already has a row without
    error for every method, backbone and size this step would measure (``petl-bench bench --out
    RUN_DIR`` measures again)."""
    measured = measured_methods(out / COST_FILE, options)
    if measured:
        print(f"== cost: {out / COST_FILE} already measures these {len(measured)} methods; "
              f"`petl-bench bench --profile P --out {out}` measures them again", flush=True)
        return
    code = bench(argparse.Namespace(**{**vars(options), "out": str(out)}))
    if code:
        raise RuntimeError(f"bench exited with status {code}")
