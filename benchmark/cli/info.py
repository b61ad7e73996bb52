"""What is registered here: ``methods``, ``datasets`` and ``params``."""
from __future__ import annotations

import json

from benchmark.cli.options import shared


def add_commands(sub) -> None:
    p = sub.add_parser("methods", help="list the registered transfer methods",
                       parents=[shared("methods", "json", "profile")])
    p.add_argument("--verbose", "-v", action="store_true", help="also each method's search space")
    p.set_defaults(func=methods)

    p = sub.add_parser("datasets", help="list the registered data sets and whether each is found here",
                       parents=[shared("datasets", "json")])
    p.add_argument("--verbose", "-v", action="store_true", help="add licence, citation and the places tried")
    p.set_defaults(func=datasets)

    p = sub.add_parser("params", help="trainable parameters of every method (the paper's Table 1)",
                       parents=[shared("params", "json")])
    p.add_argument("--backbone", default="resnet101", help="resnet18..152, efficientnet_lite0..2")
    p.add_argument("--image-size", type=int, default=224, help="input size in pixels (DRS depends on it)")
    p.set_defaults(func=params)


def methods(args) -> int:
    from benchmark.common.profiles import load_profile
    from benchmark.plugins.registry import SOURCES, list_methods
    from benchmark.training.search_space import describe_space, first_point

    registered = list_methods()
    profile = load_profile(args.profile)
    if args.json:
        print(json.dumps([{"name": m.name, "family": m.family, "source": m.source,
                           "description": m.description, "citation": m.citation,
                           "identity_at_init": m.identity_at_init, "mergeable": m.merge is not None,
                           "components": list(m.components), "bn_running_stats": m.bn_stats,
                           "lr_range": list(m.lr), "search_space": describe_space(profile, m),
                           "first_trial": first_point(profile, m) if profile.search.sampler == "tpe" else None}
                          for m in registered], indent=2))
        return 0
    width = max(len(m.name) for m in registered)
    fam = max(len(m.family) for m in registered)
    src = max(len(m.source) for m in registered)
    print(f"{'method':<{width}}  {'family':<{fam}}  {'source':<{src}}  description")
    for m in sorted(registered, key=lambda m: (SOURCES.index(m.source), m.family, m.name)):
        print(f"{m.name:<{width}}  {m.family:<{fam}}  {m.source:<{src}}  {m.description}")
        if args.verbose:
            pad = " " * (width + 2)
            print(f"{pad}search space ({profile.name}, {profile.search.sampler}): {describe_space(profile, m)}")
            if profile.search.sampler == "tpe":
                print(f"{pad}first trial: {first_point(profile, m)}")
    if args.verbose:
        _print_reviewer_table(registered)
    return 0


def _print_reviewer_table(registered) -> None:
    """The table a reviewer asks for (:func:`benchmark.plugins.method_table.method_table`): per method its source,
    family, identity at initialisation, whether it merges, batch-norm statistics, learning-rate range, what it
    trains and its citation; ``methods --verbose`` prints it after the per-method lines."""
    from benchmark.plugins.method_table import format_method_table, method_table

    print()
    print(format_method_table(method_table(registered)))


def datasets(args) -> int:
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


def params(args) -> int:
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
