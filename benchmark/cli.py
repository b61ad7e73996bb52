"""The command line: ``petl-bench`` (or ``python -m benchmark``)."""
from __future__ import annotations

import argparse
import json
import sys

from benchmark import __version__


def _cmd_methods(args) -> int:
    from benchmark.common.profiles import load_profile
    from benchmark.models.registry import SOURCES, list_methods
    from benchmark.training.search_space import describe_space, first_point

    methods = list_methods()
    profile = load_profile(args.profile)
    if args.json:
        print(json.dumps([{"name": m.name, "family": m.family, "source": m.source,
                           "description": m.description, "citation": m.citation,
                           "identity_at_init": m.identity_at_init, "mergeable": m.merge is not None,
                           "components": list(m.components), "bn_running_stats": m.bn_stats,
                           "lr_range": list(m.lr), "search_space": describe_space(profile, m),
                           "first_trial": first_point(profile, m) if profile.search.sampler == "tpe" else None}
                          for m in methods], indent=2))
        return 0
    width = max(len(m.name) for m in methods)
    fam = max(len(m.family) for m in methods)
    src = max(len(m.source) for m in methods)
    print(f"{'method':<{width}}  {'family':<{fam}}  {'source':<{src}}  description")
    for m in sorted(methods, key=lambda m: (SOURCES.index(m.source), m.family, m.name)):
        print(f"{m.name:<{width}}  {m.family:<{fam}}  {m.source:<{src}}  {m.description}")
        if args.verbose:
            pad = " " * (width + 2)
            print(f"{pad}search space ({profile.name}, {profile.search.sampler}): {describe_space(profile, m)}")
            if profile.search.sampler == "tpe":
                print(f"{pad}first trial: {first_point(profile, m)}")
    return 0


def _cmd_datasets(args) -> int:
    from benchmark.data.registry import failed_plugins, list_datasets

    rows = []
    for spec in list_datasets():
        found = spec.locate()
        if not spec.needs_root:
            where = "generated"
        elif found.root is not None:
            where = f"found: {found.root}"
        else:
            where = "not found" + ("" if found.tried else " (give --data-root)")
        rows.append((spec, found, where))
    if args.json:
        print(json.dumps([{**spec.info(), "root": str(found.root) if found.root else None,
                           "root_source": found.source,
                           "tried": [{"path": str(p), "how": how, "why": why} for p, how, why in found.tried]}
                          for spec, found, _ in rows], indent=2, ensure_ascii=False))
        return 0
    width = max(len(spec.name) for spec, _, _ in rows)
    where_width = max(len(where) for _, _, where in rows)
    for spec, found, where in rows:
        print(f"{spec.name:<{width}}  {where:<{where_width}}  {spec.description}")
        if args.verbose:
            pad = " " * (width + 2)
            print(f"{pad}licence: {spec.licence}")
            print(f"{pad}citation: {spec.citation}")
            if spec.root_env:
                print(f"{pad}environment variable: {spec.root_env}")
            if found.root is not None:
                print(f"{pad}found through: {found.source}")
            for path, how, why in found.tried:
                print(f"{pad}tried {path} ({how}): {why}")
    for name, error in failed_plugins().items():
        print(f"plugin {name!r} (entry point group petl_bench.datasets) failed to load: {error}")
    return 0


def _cmd_run(args) -> int:
    from benchmark.common.profiles import load_profile
    from pathlib import Path

    from benchmark.training.runner import RunSpec, finished_run, run

    profile = load_profile(args.profile)
    params = dict(_parse_param(p) for p in args.param)
    spec = RunSpec(method=args.method, dataset=args.dataset, profile=profile, repeat=args.repeat, fold=args.fold,
                   train_seed=args.train_seed, data_root=args.data_root, weights=args.weights,
                   lr=args.lr, beta1=args.beta1, params=params)
    if not args.force and finished_run(Path(args.out), spec) is not None:
        print(f"not run again: {args.out} holds a finished run of the same configuration (its results below; "
              "--force reruns it)")
    external = _external_sets(args.external, profile)
    record = run(spec, args.out, device=args.device, progress=not args.no_progress, force=args.force,
                 external=external)
    m = record["metrics"]
    at_val = m.get("at_validation_threshold") or {}
    synthetic = " (SYNTHETIC DATA)" if record["dataset"]["synthetic"] else ""
    operating = (f"at the threshold chosen on validation data: accuracy {at_val['accuracy']:.3f}, "
                 f"sensitivity {at_val['sensitivity']:.3f}, specificity {at_val['specificity']:.3f}"
                 if at_val else f"at the test set's ROC corner (optimistic): accuracy {m['accuracy']:.3f}, "
                 f"sensitivity {m['sensitivity']:.3f}, specificity {m['specificity']:.3f}")
    print(f"{record['config']['method']} on {record['dataset']['name']}{synthetic}: "
          f"AUC {m['auc']:.3f} ± {m['auc_std']:.3f}, {operating}; "
          f"{record['parameters']['trainable']:,} trainable parameters; "
          f"{record['training']['epochs_run']} epochs; data load {record['dataset']['load_seconds']:.1f} s; "
          f"wall {record['wall_seconds']:.1f} s -> {args.out}")
    for name, ext in record.get("external", {}).items():
        print(f"external {name}: AUC {ext['auc']:.3f} on {ext['n_images']} images")
    return 0


def _external_sets(names: list[str], profile) -> dict:
    from benchmark.data import load_dataset

    return {name: load_dataset(name, profile.backbone.image_size, synthetic_images=profile.data.synthetic_images,
                               synthetic_seed=profile.data.synthetic_seed + 1) for name in names}


def _workers_arg(text: str) -> str:
    """``--workers``, checked by ``suite.resolve_workers`` before a run folder is made."""
    from benchmark.training.suite import resolve_workers

    try:
        resolve_workers(text, "cpu")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def _cmd_suite(args) -> int:
    from pathlib import Path

    from benchmark.common.profiles import load_profile
    from benchmark.training.suite import new_run_dir, point_latest, resolve_methods, run_suite

    profile = load_profile(args.profile)
    methods = resolve_methods(args.methods, profile.methods)
    reports = Path(args.reports)
    run_dir = Path(args.run_dir) if args.run_dir else new_run_dir(reports, profile)
    if not args.run_dir:
        reports.mkdir(parents=True, exist_ok=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        point_latest(reports, run_dir)
    frame = run_suite(profile, args.dataset, run_dir, methods, data_root=args.data_root,
                      device=args.device, progress=not args.no_progress, storage=args.storage,
                      parallel_trials=args.parallel_trials, workers=args.workers, external=args.external,
                      artifacts=args.artifacts, heartbeat=args.heartbeat)
    if not frame.empty:
        from benchmark.reporting.console import console_summary
        from benchmark.reporting.pages import write_leaderboard

        write_leaderboard(run_dir)
        print("\n".join(console_summary(run_dir)))
        print(f"the leaderboard: {run_dir / 'leaderboard.md'} (and .html, .csv)")
        print(f"next: `petl-bench bench --profile {args.profile} --out {run_dir}` (cost columns), "
              f"`petl-bench report {run_dir}` (index.html)")
    print(f"run folder: {run_dir}")
    return 0


def _cmd_params(args) -> int:
    from benchmark.models.build import PARAMETER_NOTES, parameter_table

    table = parameter_table(args.backbone, args.image_size)
    if args.json:
        print(json.dumps({"backbone": args.backbone, "image_size": args.image_size,
                          "methods": table.to_dict(orient="records"), "notes": list(PARAMETER_NOTES)},
                         indent=2))
        return 0
    print(f"Trainable parameters, {args.backbone} at {args.image_size} px")
    shown = table.copy()
    for col in ("trainable_without_head", "head", "trainable", "total"):
        shown[col] = shown[col].map("{:,}".format)
    shown["trainable_percent"] = table["trainable_percent"].map("{:.3f}".format)
    print(shown.to_string(index=False))
    print()
    for note in PARAMETER_NOTES:
        print(f"- {note}")
    return 0


def _cmd_report(args) -> int:
    from pathlib import Path

    from benchmark.reporting.report import write_report

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist (see reports/ for run folders)")
    from benchmark.reporting.sites import is_sites_folder

    if is_sites_folder(run_dir):  # run_all.sh --profile sites: train-<set>/ run folders and the matrix
        args.run_dirs, args.out, args.train_sets = [run_dir], None, None
        return _cmd_sites(args)
    page = write_report(run_dir, rebuild=args.rebuild)
    if args.full:
        print((run_dir / "leaderboard.md").read_text())
    else:
        from benchmark.reporting.console import console_summary

        print("\n".join(console_summary(run_dir)))
    print(f"wrote {page} (open it in a browser; the leaderboard, significance, claims, figures and analysis are "
          f"beside it{'' if args.full else '; --full prints leaderboard.md here'})")
    return 0


def _cmd_sites(args) -> int:
    from benchmark.common.profiles import load_profile

    if args.train_sets:
        from benchmark.data import DATASETS

        profile = load_profile(args.train_sets)
        if not profile.sites.train and not profile.sites.test:
            return 0  # not a sites profile: nothing to print (run_all.sh then runs one suite)
        unknown = [n for n in (*profile.sites.train, *profile.sites.test) if n not in DATASETS]
        if unknown:
            raise ValueError(f"{profile.source}: [sites] names unknown data set(s) {', '.join(unknown)}; "
                             f"registered: {', '.join(DATASETS)}")
        print("\n".join(profile.sites.train))
        return 0
    if not args.run_dirs:
        raise ValueError("give the folder `run_all.sh --profile sites` wrote (or one run folder per training "
                         "set), or --train-sets PROFILE")
    import pandas as pd

    from benchmark.evaluation.sites import SITE_RANKS_FILE
    from benchmark.reporting.sites import write_sites

    written = write_sites(args.run_dirs, args.out)
    for _, row in pd.read_csv(written[SITE_RANKS_FILE]).iterrows():
        rank = "-" if pd.isna(row["rank"]) else str(int(row["rank"]))
        print(f"{rank:>3}  {row['method']:<24} mean off-site AUC {row['mean_offsite_auc']:.3f} "
              f"[{row['mean_offsite_ci_low']:.3f}, {row['mean_offsite_ci_high']:.3f}] over {row['n_offsite']} "
              f"cell(s)")
    print(f"wrote {', '.join(str(p) for p in written.values() if p.suffix != '.png')} and "
          f"{sum(p.suffix == '.png' for p in written.values())} heatmap(s)")
    return 0


def _cmd_bench(args) -> int:
    from benchmark.cost.bench import run_bench

    if args.profile:
        from benchmark.common.profiles import load_profile

        profile = load_profile(args.profile)
        args.backbone, args.image_size = profile.backbone.name, profile.backbone.image_size
        args.inference_precision = args.inference_precision or profile.train.inference_precision
        args.methods = args.methods or ",".join(profile.methods)
    return run_bench(args)


def _parse_param(text: str):
    if "=" not in text:
        raise SystemExit(f"--param {text!r}: write NAME=VALUE, e.g. --param rank=8")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _cmd_reference(args) -> int:
    from benchmark.training.reference import reference_summary, write_reference

    if args.protocol:
        from benchmark.training.reference import protocol_probe_aucs

        aucs = protocol_probe_aucs(args.run_dir, args.device, progress=True)
        print(f"{args.run_dir}: the logistic-regression probe on the frozen features, pooled out-of-fold AUC")
        for name, auc in aucs.items():
            print(f"  {name:<46} {auc:.3f}")
        return 0
    path = write_reference(args.run_dir, args.device, progress=True)
    print("\n".join(reference_summary(path)))
    print(f"wrote {path}; `petl-bench report {args.run_dir} --rebuild` shows it in the report")
    return 0


def _cmd_spread(args) -> int:
    from benchmark.common.io import write_csv_atomic
    from benchmark.evaluation.run_spread import (SPREAD_STATISTICS, run_labels, run_spread, spread_markdown,
                                                 spread_sentences)

    statistic = "pooled" if args.pooled else "fold_stratified"
    table, differences = run_spread(args.run_dirs, statistic)
    print("\n".join(spread_markdown(table, run_labels(args.run_dirs))))
    print(f"\n{SPREAD_STATISTICS[statistic][1]} per run (its rank in that run).")
    for sentence in spread_sentences(table, differences, statistic):
        print(sentence)
    if args.out:
        write_csv_atomic(args.out, table)
        print(f"wrote {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="petl-bench", description=__doc__)
    parser.add_argument("--version", action="version", version=f"petl-bench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("methods", help="list the registered transfer methods")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--verbose", "-v", action="store_true", help="also each method's search space")
    p.add_argument("--profile", default="quick", help="the profile whose search spaces --verbose shows")
    p.set_defaults(func=_cmd_methods)

    p = sub.add_parser("datasets", help="list the registered data sets and whether each is found here")
    p.add_argument("--verbose", "-v", action="store_true", help="add licence, citation and the places tried")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_datasets)

    from benchmark.data import DATASETS

    p = sub.add_parser("run", help="train and test one method on one split")
    p.add_argument("--method", required=True, help="a registered method (see `petl-bench methods`)")
    p.add_argument("--dataset", choices=DATASETS, default="busi", help="a registered data set")
    p.add_argument("--data-root", default=None, help="the data set's folder (default: its environment variable, datasets/<name>, ../shared/datasets/<dir>; see `petl-bench datasets`)")
    p.add_argument("--profile", default="smoke", help="smoke, quick, paper, or the path of a TOML profile")
    p.add_argument("--repeat", type=int, default=0,
                   help="which repeat of the profile's scheme: the index of its split seed (default 0)")
    p.add_argument("--fold", type=int, default=0, help="which fold of a kfold profile (default 0)")
    p.add_argument("--train-seed", type=int, default=None, help="training seed (default: one of the fold's)")
    p.add_argument("--external", action="append", default=[], metavar="NAME",
                   help="also score this data set once (external validation); repeatable")
    p.add_argument("--weights", default=None,
                   help="backbone weights: a state-dict file, or 'random' (default: the profile's / pretrained)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the profile's)")
    p.add_argument("--beta1", type=float, default=None, help="Adam beta1 (default: the profile's)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a method hyper-parameter, repeatable")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--force", action="store_true", help="rerun even if OUT holds the same finished run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("params", help="trainable parameters of every method (the paper's Table 1)")
    p.add_argument("--backbone", default="resnet101", help="resnet18..152, efficientnet_lite0..2")
    p.add_argument("--image-size", type=int, default=224, help="input size in pixels (DRS depends on it)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_params)

    p = sub.add_parser("report", help="rebuild index.html, the leaderboard, significance tests, figures "
                                      "and analysis of a run folder")
    p.add_argument("run_dir", help="a run folder written by `petl-bench suite` (e.g. reports/latest)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the leaderboard files even if up to date")
    p.add_argument("--full", action="store_true", help="print the whole leaderboard.md, not a short summary")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("reference", help="(re)compute a run folder's reference: scikit-learn's logistic "
                                         "regression on the frozen backbone's features, on the run's folds")
    p.add_argument("run_dir", help="a run folder written by `petl-bench suite` (e.g. reports/latest)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps (the features' forward passes)")
    p.add_argument("--protocol", action="store_true",
                   help="print the probe's AUC as the reference (training images, C by inner CV), fitted on the "
                        "training and validation images, and with C chosen on the validation images; writes nothing")
    p.set_defaults(func=_cmd_reference)

    p = sub.add_parser("spread", help="how far each method's fold-stratified AUC (the leaderboard's) moves between "
                                      "run folders on the same folds (e.g. profiles that differ only in [search] seed)")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="two or more run folders written by `petl-bench suite`")
    p.add_argument("--out", default=None, help="also write the table to this CSV file")
    p.add_argument("--pooled", action="store_true", help="the pooled out-of-fold AUC instead of the fold-stratified one")
    p.set_defaults(func=_cmd_spread)

    p = sub.add_parser("sites", help="the train-site x test-site matrix of run folders trained on different data "
                                     "sets (run_all.sh --profile sites): site_matrix.csv, site_ranks.csv, a heatmap "
                                     "per method and index.html")
    p.add_argument("run_dirs", nargs="*", metavar="RUN_DIR",
                   help="the folder run_all.sh --profile sites wrote (its train-<set>/ run folders), or one run "
                        "folder per training set")
    p.add_argument("--out", default=None, help="where the matrix goes (default: the one folder given)")
    p.add_argument("--train-sets", default=None, metavar="PROFILE",
                   help="print the [sites] train data sets of this profile, one a line (nothing when it has no [sites]), "
                        "and stop (run_all.sh)")
    p.set_defaults(func=_cmd_sites)

    from benchmark.cost.bench import add_bench_parser

    p = add_bench_parser(sub)
    p.add_argument("--profile", default=None,
                   help="take --backbone and --image-size from this profile (smoke, quick, paper, or a file)")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("suite", help="every method (or --methods) on every fold of a profile")
    p.add_argument("--external", action="append", default=[], metavar="NAME",
                   help="a data set every selected model also scores once (external validation), besides the "
                        "profile's [evaluation] external; repeatable (see `petl-bench datasets`)")
    p.add_argument("--profile", default="quick", help="smoke, quick, paper, or the path of a TOML profile")
    p.add_argument("--dataset", choices=DATASETS, default="busi", help="the data set to train and test on")
    p.add_argument("--data-root", default=None, help="the data set's folder (default: its environment variable, datasets/<name>, ../shared/datasets/<dir>; see `petl-bench datasets`)")
    p.add_argument("--methods", default=None, help="comma-separated method names or sets: all, core, paper, peft, "
                                                    "literature (default: the profile's methods)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    p.add_argument("--reports", default="reports", help="folder for run folders (default: reports)")
    p.add_argument("--run-dir", default=None, help="resume or write this run folder instead of a new one")
    p.add_argument("--storage", default=None,
                   help="Optuna storage URL, SQLAlchemy's form, e.g. postgresql+psycopg://USER@HOST:PORT/DB "
                        "(psycopg 3: pip install -e \".[postgres]\"): several suite processes, on this machine or "
                        "others, given the same URL and --artifacts share the search (default: SQLite optuna.db in "
                        "the run folder)")
    p.add_argument("--artifacts", default=None,
                   help="folder for the trials' trained states (Optuna's artifact store); hosts that share a "
                        "--storage must see the same folder (default: RUN_DIR/artifacts)")
    p.add_argument("--heartbeat", type=int, default=60,
                   help="seconds between a running trial's heartbeats on shared storage; a trial silent for 3 "
                        "intervals (its host died) is failed and run again by another process (default 60)")
    p.add_argument("--parallel-trials", type=int, default=None,
                   help="trials at once on one device (default: the profile's; for a GPU)")
    p.add_argument("--workers", default="1", type=_workers_arg,
                   help="studies at once, each in its own process with a share of the threads: a number, or "
                        "auto (2 on a CPU, 1 on a GPU; what run_all.sh uses); default 1")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_suite)
    for command in sub.choices.values():
        _show_defaults(command)
    return parser


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """Every option's help ends with its default (``--help`` hides none), unless it already names it."""
    for action in parser._actions:
        if (action.option_strings and action.help not in (None, argparse.SUPPRESS) and "default" not in action.help
                and action.default not in (None, False, [], argparse.SUPPRESS) and action.nargs != 0):
            action.help += " (default: %(default)s)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.models.backbones import BackboneWeightsError
    from benchmark.common.profiles import ProfileError

    try:
        return args.func(args)
    except (ProfileError, BackboneWeightsError, FileNotFoundError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"petl-bench {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
