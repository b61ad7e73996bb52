"""``all``: the whole suite for one profile (what run_all.sh runs); the steps are in
``benchmark.pipeline``."""
from __future__ import annotations

from benchmark.cli.options import shared


def add_commands(sub) -> None:
    p = sub.add_parser(
        "all", help="the whole suite for one profile: search, test and leaderboard, cost (bench), analysis and "
                    "report, into reports/<timestamp-profile>/ and reports/latest (run_all.sh runs it)",
        description="The whole suite for one profile: search, test and leaderboard of the profile's methods (or "
                    "--methods), their cost (bench, 5 timed steps), the analysis and the report, into "
                    "REPORTS/<YYYYmmdd-HHMMSS>-<profile name>/ and REPORTS/latest; --run-dir resumes an interrupted "
                    "run. Without BUSI at hand (--data-root, $BUSI_ROOT, datasets/busi, ../shared/datasets/busi) it "
                    "runs on synthetic data, and every page of the report says so. A profile with [sites] "
                    "(--profile sites) runs the suite once per [sites] train set into RUN_DIR/train-<set>/, each "
                    "scoring the other [sites] test sets, then the matrix (petl-bench sites).",
        parents=[shared("all", "profile", "dataset", "data_root", "methods", "device", "reports", "run_dir",
                        "workers", "external", "storage", "artifacts")])
    p.set_defaults(func=run)


def bench_options(args):
    """The bench step's options: ``petl-bench bench --profile P [--methods M] --device D --steps 5``
    parsed by the bench command's own parser (its defaults for the rest; ``--out`` set per folder)."""
    import argparse

    from benchmark import pipeline
    from benchmark.cli.report import add_bench

    parser = argparse.ArgumentParser(prog="petl-bench")
    add_bench(parser.add_subparsers(dest="command"))
    argv = ["bench", "--profile", args.profile, "--device", args.device, "--steps", str(pipeline.BENCH_STEPS)]
    return parser.parse_args(argv + (["--methods", args.methods] if args.methods else []))


def run(args) -> int:
    from benchmark import pipeline

    pipeline.run_all(args.profile, bench_options(args), dataset=args.dataset, data_root=args.data_root,
                     methods=args.methods, device=args.device, reports=args.reports, run_dir=args.run_dir,
                     workers=args.workers, external=args.external, storage=args.storage, artifacts=args.artifacts)
    return 0
