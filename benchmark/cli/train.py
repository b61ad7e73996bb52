"""Training: ``run`` (one method, one split), ``suite`` (every method, every fold) and ``reference``."""
from __future__ import annotations

import json
from pathlib import Path

from benchmark.cli.options import run_dir_argument, shared


def add_commands(sub) -> None:
    p = sub.add_parser("run", help="train and test one method on one split",
                       parents=[shared("run", "profile", "dataset", "data_root", "device", "external", "no_progress")])
    p.add_argument("--method", required=True, help="a registered method (see `petl-bench methods`)")
    p.add_argument("--repeat", type=int, default=0,
                   help="which repeat of the profile's scheme: the index of its split seed (default 0)")
    p.add_argument("--fold", type=int, default=0, help="which fold of a kfold profile (default 0)")
    p.add_argument("--train-seed", type=int, default=None, help="training seed (default: one of the fold's)")
    p.add_argument("--weights", default=None,
                   help="backbone weights: a state-dict file, or 'random' (default: the profile's / pretrained)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the profile's)")
    p.add_argument("--beta1", type=float, default=None, help="Adam beta1 (default: the profile's)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a method hyper-parameter, repeatable")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--force", action="store_true", help="rerun even if OUT holds the same finished run")
    p.set_defaults(func=run)

    p = sub.add_parser("suite", help="every method (or --methods) on every fold of a profile",
                       parents=[shared("suite", "profile", "dataset", "data_root", "methods", "device", "reports",
                                       "run_dir", "workers", "external", "storage", "artifacts", "no_progress")])
    p.add_argument("--heartbeat", type=int, default=60,
                   help="seconds between a running trial's heartbeats on shared storage; a trial silent for 3 "
                        "intervals (its host died) is failed and run again by another process (default 60)")
    p.add_argument("--parallel-trials", type=int, default=None,
                   help="trials at once on one device (default: the profile's; for a GPU)")
    p.set_defaults(func=suite)

    p = sub.add_parser("reference", help="(re)compute a run folder's reference: scikit-learn's logistic "
                                         "regression on the frozen backbone's features, on the run's folds",
                       parents=[shared("reference", "device")])
    run_dir_argument(p)
    p.add_argument("--protocol", action="store_true",
                   help="print the probe's AUC as the reference (training images, C by inner CV), fitted on the "
                        "training and validation images, and with C chosen on the validation images; writes nothing")
    p.set_defaults(func=reference)


def run(args) -> int:
    from benchmark.common.profiles import load_profile
    from benchmark.training.runner import RunSpec, finished_run, run as run_one

    profile = load_profile(args.profile)
    params = dict(_parse_param(p) for p in args.param)
    spec = RunSpec(method=args.method, dataset=args.dataset, profile=profile, repeat=args.repeat, fold=args.fold,
                   train_seed=args.train_seed, data_root=args.data_root, weights=args.weights,
                   lr=args.lr, beta1=args.beta1, params=params)
    if not args.force and finished_run(Path(args.out), spec) is not None:
        print(f"not run again: {args.out} holds a finished run of the same configuration (its results below; "
              "--force reruns it)")
    external = _external_sets(args.external, profile)
    record = run_one(spec, args.out, device=args.device, progress=not args.no_progress, force=args.force,
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


def _parse_param(text: str):
    if "=" not in text:
        raise SystemExit(f"--param {text!r}: write NAME=VALUE, e.g. --param rank=8")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def suite(args) -> int:
    from benchmark import pipeline
    from benchmark.common.profiles import load_profile

    profile = load_profile(args.profile)
    run_dir = pipeline.start_run_dir(args.reports, profile, args.run_dir)
    finished = pipeline.train(profile, args.dataset, run_dir, args.methods, data_root=args.data_root,
                              device=args.device, progress=not args.no_progress, storage=args.storage,
                              parallel_trials=args.parallel_trials, workers=args.workers, external=args.external,
                              artifacts=args.artifacts, heartbeat=args.heartbeat)
    if finished:
        print(f"next: `petl-bench bench --profile {args.profile} --out {run_dir}` (cost columns), "
              f"`petl-bench report {run_dir}` (index.html)")
    print(f"run folder: {run_dir}")
    return 0


def reference(args) -> int:
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
