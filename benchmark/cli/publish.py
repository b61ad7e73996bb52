"""``publish`` (a finished run folder into results/), ``check-published`` (the evaluation guard) and ``compare`` (new
methods trained on a published run's folds and ranked among its methods); the work is in ``benchmark.publishing``
and ``benchmark.compare``."""
from __future__ import annotations

from pathlib import Path

from benchmark.cli.options import run_dir_argument, shared


def add_commands(sub) -> None:
    p = sub.add_parser("publish", help="copy a finished run folder, without model weights, search storage, images or "
                                       "pages, into results/<profile>-<dataset>/ with MANIFEST.json (derived tables "
                                       "rebuilt by this checkout; large files gzip-compressed)")
    run_dir_argument(p)
    p.add_argument("--out", default=None, help="the published folder (default: results/<profile>-<dataset>; a comparison's: "
                                             "the folder it compared with, which it extends: pass --replace)")
    p.add_argument("--allow-dirty", action="store_true",
                   help="publish a run whose studies were trained by code with uncommitted changes (the manifest "
                        "says so)")
    p.add_argument("--replace", action="store_true", help="publish over an existing folder")
    p.set_defaults(func=publish)

    p = sub.add_parser("check-published", help="rebuild a published folder's derived tables from its predictions "
                                               "and compare them with the published ones (the evaluation guard)",
                       parents=[shared("check-published", "data_root")])
    p.add_argument("folders", nargs="+", metavar="FOLDER", help="a folder `petl-bench publish` wrote")
    p.add_argument("--retrain", default=None, metavar="METHOD,...",
                   help="also train these methods' repeat 0, fold 0 studies again with this checkout and compare "
                        "their test scores with the published ones; when all agree and the training code is "
                        "committed, record the commit in MANIFEST.json (code.reproduced_by), which `compare` accepts")
    p.set_defaults(func=check_published)

    p = sub.add_parser("compare", help="train only new methods on the folds, seeds and repeats of a published run "
                                       "(results/<profile>-<dataset>) and rank them among its methods; refused when "
                                       "the data, the partition, the profile or the training code differ",
                       parents=[shared("compare", "data_root", "device", "reports", "run_dir", "workers",
                                       "no_progress")])
    p.add_argument("--baseline", required=True, metavar="FOLDER", help="a folder `petl-bench publish` wrote")
    p.add_argument("--methods", required=True, metavar="NAMES",
                   help="comma-separated methods to train (see `petl-bench methods`), none of them published")
    p.add_argument("--allow-code-change", action="store_true",
                   help="compare although the training code differs from the published run's commit, or cannot be "
                        "checked (baseline.json and the report say so)")
    p.set_defaults(func=compare)


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def publish(args) -> int:
    from benchmark.publishing import publish as publish_folder
    from benchmark.publishing.folder import default_out
    from benchmark.runfolder import COMPRESSED_SUFFIX

    out = Path(args.out) if args.out else default_out(args.run_dir)
    manifest = publish_folder(args.run_dir, out, allow_dirty=args.allow_dirty, replace=args.replace)
    compressed = [f for f in manifest["files"] if f["path"].endswith(COMPRESSED_SUFFIX)]
    print(f"wrote {out}: {len(manifest['files'])} files, {_size(manifest['bytes'])} "
          f"({_size(manifest['uncompressed_bytes'])} uncompressed; {len(compressed)} file(s) gzip-compressed); "
          f"training code {manifest['code']['commit'] or 'several commits'}"
          f"{' with uncommitted changes' if manifest['code']['dirty'] else ''}")
    print(f"rebuilt with this checkout: {', '.join(manifest['derived'])}")
    return 0


def check_published(args) -> int:
    from benchmark.publishing import check_published as check

    failed = 0
    for folder in args.folders:
        result = check(folder)
        print(result.summary())
        failed += not result.ok
        if args.retrain:
            failed += not _retrain(Path(folder), [m.strip() for m in args.retrain.split(",") if m.strip()],
                                   args.data_root)
    return 1 if failed else 0


def _retrain(folder: Path, methods: list[str], data_root) -> bool:
    """Train ``methods``' repeat 0, fold 0 studies of ``folder`` again; record the commit when all reproduce."""
    from benchmark.common.provenance import git_commit
    from benchmark.compare import changed_training_files
    from benchmark.publishing import record_reproduction
    from benchmark.training.reproduce import retrain_study

    results = [retrain_study(folder, method, 0, 0, data_root=data_root) for method in methods]
    for result in results:
        print(result)
    if not all(r.reproduced for r in results):
        print(f"{folder}: NOT reproduced by this checkout: regenerate it (docs/usage.md, published results)")
        return False
    commit = git_commit()["commit"]
    if commit is None or changed_training_files(commit) != []:
        print(f"{folder}: reproduced, not recorded: the training code has uncommitted changes (commit, then run again)")
        return True
    record_reproduction(folder, commit, [f"{r.method} repeat {r.repeat} fold {r.fold}" for r in results])
    print(f"{folder}: reproduced by {commit[:12]}; recorded in its MANIFEST.json (commit that file)")
    return True


def compare(args) -> int:
    from benchmark.compare import compare as compare_methods

    run_dir = compare_methods(args.baseline, args.methods, run_dir=args.run_dir, reports=args.reports,
                              data_root=args.data_root, device=args.device, workers=args.workers,
                              allow_code_change=args.allow_code_change, progress=not args.no_progress)
    print(f"run folder: {run_dir}")
    return 0
