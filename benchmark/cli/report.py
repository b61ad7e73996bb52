"""What is made of run folders: ``report``, ``reliance``, ``sites``, ``spread`` and ``bench`` (cost)."""
from __future__ import annotations

from pathlib import Path

from benchmark.cli.options import run_dir_argument, shared


def add_commands(sub) -> None:
    p = sub.add_parser("report", help="rebuild index.html, the leaderboard, significance tests, figures "
                                      "and analysis of a run folder")
    run_dir_argument(p)
    p.add_argument("--rebuild", action="store_true", help="rebuild the leaderboard files even if up to date")
    p.add_argument("--full", action="store_true", help="print the whole leaderboard.md, not a short summary")
    p.set_defaults(func=report)

    p = sub.add_parser("reliance", help="score every trained study of a run folder on lesion-only and context-only "
                                        "images, under acquisition shifts, and with class-activation maps (analysis/reliance_scores.csv, "
                                        "analysis/saliency.csv), then rebuild the report; resumes study by study")
    run_dir_argument(p)
    p.add_argument("--only", default=None, metavar="METHOD,...",
                   help="score only these methods' studies (comma-separated; default: every method of the run)")
    p.set_defaults(func=reliance)

    p = sub.add_parser("spread", help="how far each method's fold-stratified AUC (the leaderboard's) moves between "
                                      "run folders on the same folds (e.g. profiles that differ only in [search] seed)")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="two or more run folders written by `petl-bench suite`")
    p.add_argument("--out", default=None, help="also write the table to this CSV file")
    p.add_argument("--pooled", action="store_true", help="the pooled out-of-fold AUC instead of the fold-stratified one")
    p.set_defaults(func=spread)

    p = sub.add_parser("sites", help="the train-site x test-site matrix of run folders trained on different data "
                                     "sets (petl-bench all --profile sites): site_matrix.csv, site_ranks.csv, a "
                                     "heatmap per method and index.html")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="the folder `petl-bench all --profile sites` wrote (its train-<set>/ run folders), or one "
                        "run folder per training set")
    p.add_argument("--out", default=None, help="where the matrix goes (default: the one folder given)")
    p.set_defaults(func=sites)
    add_bench(sub)


def add_bench(sub) -> None:
    """``bench``; also parsed on its own by ``all`` for its bench step."""
    from benchmark.common.profiles import INFERENCE_PRECISIONS

    p = sub.add_parser("bench", help="cost per method: throughput, latency, memory, FLOPs (writes cost.csv)",
                       parents=[shared("bench", "profile", "methods", "device")])
    p.add_argument("--backbone", default="efficientnet_lite0",
                   help="resnet18..152, efficientnet_lite0..2 (--profile: the profile's)")
    p.add_argument("--image-size", type=int, default=112,
                   help="input size in pixels (default 112, the quick profile's; --profile: the profile's)")
    p.add_argument("--steps", type=int, default=10, help="timed training steps per method (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    p.add_argument("--batch-size", type=int, default=24, help="training batch (default 24, the paper's)")
    p.add_argument("--out", default=".", help="folder for cost.csv (default: .)")
    p.add_argument("--weights", default=None,
                   help="'random' (same cost, nothing loaded) or a state-dict file (default: pretrained)")
    p.add_argument("--inference-precision", choices=INFERENCE_PRECISIONS, default=None,
                   help="forward passes without gradients (default: the profile's, else auto: bf16 "
                        "on CUDA, float32 on the CPU)")
    p.add_argument("--baseline", action="store_true",
                   help="also time the suite's trainer against a plain ImageFolder/DataLoader loop")
    p.add_argument("--dataset", choices=("auto", "busi", "synthetic"), default="auto",
                   help="--baseline images: BUSI if found (auto), else synthetic PNGs")
    p.add_argument("--data-root", default=None,
                   help="BUSI folder for --baseline (default: found as `petl-bench datasets` says)")
    p.add_argument("--baseline-epochs", type=int, default=1,
                   help="baseline epochs actually run for the feature-extraction trial (extrapolated; default 1)")
    p.add_argument("--baseline-max-batches", type=int, default=None,
                   help="cap the baseline's batches per epoch (extrapolated; default: whole epochs)")
    p.set_defaults(func=bench)


def report(args) -> int:
    from benchmark import pipeline
    from benchmark.reporting import is_sites_folder

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist (see reports/ for run folders)")
    if is_sites_folder(run_dir):  # `all --profile sites`: train-<set>/ run folders and the matrix
        pipeline.site_matrix([run_dir])
    else:
        pipeline.report(run_dir, rebuild=args.rebuild, full=args.full)
    return 0


def reliance(args) -> int:
    from benchmark import pipeline
    from benchmark.analysis.reliance import write_reliance

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist (see reports/ for run folders)")
    methods = [m.strip() for m in args.only.split(",") if m.strip()] if args.only else None
    for path in write_reliance(run_dir, methods).values():
        print(f"wrote {path}")
    pipeline.report(run_dir)
    return 0


def sites(args) -> int:
    from benchmark import pipeline

    pipeline.site_matrix(args.run_dirs, args.out)
    return 0


def spread(args) -> int:
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


def bench(args) -> int:
    from benchmark import pipeline

    return pipeline.bench(args)
