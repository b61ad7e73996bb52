"""Re-decide a design choice of the suite on data the leaderboard never reports.

A design choice (a default, a policy, a preprocessing step) must not be decided on the test folds
that the leaderboard reports. This script runs the variants of one choice on a *design partition*:
the quick profile with a split seed that no built-in profile reports (9001 and up), so its test
folds are fresh data for the decision, and scores the selected models on an external site too.

    python scripts/experiments/design_choices.py bn_policy --split-seed 9001 --run-dir reports/design-bn-9001
    python scripts/experiments/design_choices.py reference_standardisation --split-seed 9001 --out design-ref-9001.csv
    python scripts/experiments/design_choices.py head_lr_floor --split-seed 9001 --run-dir reports/design-floor-9001
    python scripts/experiments/design_choices.py class_weighting --split-seed 9001 --run-dir reports/design-weights-9001

Choices:
  bn_policy   BitFit and BN tuning with every batch-norm layer in eval mode (pretrained running
              statistics; the suite's choice) against the "frozen" policy (layers whose affine
              parameters train use batch statistics and re-estimate their running statistics).
  reference_standardisation
              the reference probe on the frozen features as the head sees them (the suite's
              choice) against standardised features (a StandardScaler fitted on each fold's
              training images only). No network trains: the frozen features of the design
              partition's images are computed once (about a minute for a whole seed, features and
              both variants: docs/decisions/reference-standardisation.md), and each variant's
              grouped inner cross-validation AUC on the training images (validation data), its
              test folds and the external sets are scored.
  head_lr_floor
              full fine-tuning with one learning rate for every parameter (the suite's plain
              optimiser) against a floor of 1e-3 for the new head alone (the head trains at
              max(lr, 1e-3), the pretrained network at lr; full fine-tuning searches 1e-5 to 1e-3,
              so the floor binds at every draw). The variant exists only in this script: it
              marks its backbone, and the optimiser is built with two groups for a marked one.
  class_weighting
              the loss weighted by inverse class frequency (``[train] class_weights = "balanced"``) against
              the plain loss (``"none"``), for the methods of :data:`CLASS_WEIGHTING_METHODS`: each variant
              is the whole profile with the other setting, trained into its own folder under --run-dir.
              Beside the leaderboard's columns, the calibration intercept and slope of the selected
              models' validation scores (mean over the fold models).

It prints, per variant: the fold-stratified AUC of the design partition's test folds (pairs within
one fold model), the pooled out-of-fold AUC, the mean validation AUC of the selected trials, and
each external set's mean per-model AUC: the leaderboard's own columns (``benchmark.evaluation``),
with the validation AUC from ``results.json``; ``--out`` writes them as CSV.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmark.common.io import write_csv_atomic
from benchmark.common.profiles import CLASS_WEIGHTS, load_profile
from benchmark.plugins.registry import compose, get_method, register_method
from benchmark.training import trainer
from benchmark.evaluation import leaderboard, load_run
from benchmark.training.suite import run_suite

DESIGN_SEEDS_FROM = 9001  # reported profiles use split seeds below this
HEAD_LR_FLOOR = 1e-3  # the floor once in the trainer (removed in d3638c1)
# the paper's core without full fine-tuning (the slowest), with LoRA and BitFit (cost: docs/decisions/class-weighting.md)
CLASS_WEIGHTING_METHODS = ["feature_extraction", "finetune_last_block", "drs", "bitfit", "lora"]

CHOICES = {
    "reference_standardisation": {},  # no trained variants: see reference_standardisation()
    "bn_policy": {
        "bitfit": None,
        "bitfit_bn_frozen": ("bitfit", "frozen"),
        "bn_tuning": None,
        "bn_tuning_bn_frozen": ("bn_tuning", "frozen"),
    },
    "class_weighting": {},  # the variants are profiles: see class_weighting()
    "head_lr_floor": {
        "finetune_all": None,
        "finetune_all_head_lr_floor": ("finetune_all", HEAD_LR_FLOOR),
    },
}


plain_optimizer = trainer.make_optimizer


def floored_optimizer(backbone, lr: float, beta1: float):
    """The trainer's optimiser, except for a backbone marked by the head-floor variant: then the
    new head trains at max(lr, floor) and every other trainable parameter at lr."""
    floor = getattr(backbone, "head_lr_floor", None)
    if floor is None:
        return plain_optimizer(backbone, lr, beta1)
    head = {id(p) for p in backbone.head().parameters()}
    trainable = [p for p in backbone.model.parameters() if p.requires_grad]
    body = [p for p in trainable if id(p) not in head]
    heads = [p for p in trainable if id(p) in head]
    groups = ([{"params": body, "lr": lr}] if body else []) + \
        ([{"params": heads, "lr": max(lr, floor)}] if heads else [])
    return torch.optim.Adam(groups, lr=lr, betas=(beta1, 0.999))


def register_head_floor(name: str, base: str, floor: float) -> None:
    original = get_method(base)

    def apply(backbone, **params):
        original.apply(backbone, **params)
        backbone.head_lr_floor = floor

    apply.__signature__ = inspect.signature(original.apply)
    register_method(apply, name=name, description=f"{base} with a learning-rate floor of {floor:g} for "
                    "the new head (design experiment)", citation=original.citation,
                    search_space=original.search_space, bn_stats=original.bn_stats, lr=original.lr,
                    family=original.family, source=original.source, trains=original.trains,
                    identity_at_init=original.identity_at_init)
    trainer.make_optimizer = floored_optimizer


def register_variants(choice: str) -> list[str]:
    names = []
    for name, variant in CHOICES[choice].items():
        if variant is not None and choice == "head_lr_floor":
            register_head_floor(name, *variant)
        elif variant is not None:
            base, policy = variant
            original = get_method(base)
            compose(name, base, bn_stats=policy, citation=original.citation,
                    description=f"{base} with the {policy!r} batch-norm policy (design experiment)")
        names.append(name)
    return names


def design_profile(profile_name: str, split_seed: int):
    """The profile with ``split_seed`` as its only repeat (a fresh partition)."""
    if split_seed < DESIGN_SEEDS_FROM:
        raise SystemExit(f"--split-seed {split_seed}: design experiments use seeds from "
                         f"{DESIGN_SEEDS_FROM} on, which no reported profile uses")
    source = load_profile(profile_name).source
    text = Path(source).read_text().replace("split_seeds = [0]", f"split_seeds = [{split_seed}]")
    if f"split_seeds = [{split_seed}]" not in text:
        raise SystemExit(f"{source}: expected 'split_seeds = [0]' to replace")
    path = Path(tempfile.mkdtemp()) / f"design-{split_seed}.toml"
    path.write_text(text)
    return load_profile(path)


def validation_auc(run_dir: Path, method: str) -> float:
    values = [float(json.loads(p.read_text())["training"]["best_val_auc"])
              for p in sorted((run_dir / "runs" / method).glob("repeat-*/fold-*/results.json"))]
    return float(np.mean(values)) if values else float("nan")


def summarise(run_dir: Path, methods: list[str]) -> pd.DataFrame:
    """The leaderboard's own columns for the variants (fold-stratified AUC, pooled AUC, each
    external set's per-model AUC), with the mean validation AUC of the selected trials beside them."""
    table = leaderboard(load_run(run_dir)).set_index("method")
    external = [c for c in table.columns if c.startswith("external_") and c.endswith("_auc")]
    out = table.loc[methods, ["auc", "auc_pooled", *external]].rename(columns={"auc": "fold_stratified_auc"})
    out["validation_auc"] = [validation_auc(run_dir, m) for m in methods]
    return out.reset_index()


def validation_calibration(run_dir: Path, method: str) -> dict:
    """Mean calibration intercept and slope of the selected models' validation scores."""
    from benchmark.stats import calibration_metrics

    values = []
    for path in sorted((run_dir / "runs" / method).glob("repeat-*/fold-*/validation_predictions.csv")):
        rows = pd.read_csv(path)
        values.append(calibration_metrics(rows["label"].to_numpy(), rows["score"].to_numpy()))
    return {f"validation_{k}": float(np.nanmean([v[k] for v in values])) if values else float("nan")
            for k in ("calibration_intercept", "calibration_slope")}


def class_weighting(profile, dataset: str, run_dir: Path, external: list[str], workers) -> pd.DataFrame:
    """Every class-weight scheme of the trainer, the whole profile trained once with each."""
    tables = []
    for scheme in CLASS_WEIGHTS:
        variant = dataclasses.replace(profile, train=dataclasses.replace(profile.train, class_weights=scheme))
        run_suite(variant, dataset, run_dir / scheme, CLASS_WEIGHTING_METHODS, workers=workers, external=external)
        table = summarise(run_dir / scheme, CLASS_WEIGHTING_METHODS)
        calibration = pd.DataFrame([validation_calibration(run_dir / scheme, m) for m in CLASS_WEIGHTING_METHODS])
        tables.append(pd.concat([table, calibration], axis=1).assign(class_weights=scheme))
    per_study = [validation_aucs(run_dir / scheme, CLASS_WEIGHTING_METHODS) for scheme in CLASS_WEIGHTS]
    diff = (per_study[1] - per_study[0]).dropna()
    print(f"validation AUC, {CLASS_WEIGHTS[1]} minus {CLASS_WEIGHTS[0]}, over {len(diff)} paired studies: "
          f"mean {diff.mean():+.4f}, paired SE {diff.std(ddof=1) / np.sqrt(len(diff)):.4f}")
    return pd.concat(tables, ignore_index=True)


def validation_aucs(run_dir: Path, methods: list[str]) -> pd.Series:
    """The selected model's validation AUC of every study, indexed by (method, repeat, fold)."""
    out = {}
    for m in methods:
        for p in sorted((run_dir / "runs" / m).glob("repeat-*/fold-*/results.json")):
            out[(m, p.parent.parent.name, p.parent.name)] = float(json.loads(p.read_text())["training"]["best_val_auc"])
    return pd.Series(out, dtype=float)


def reference_standardisation(profile, dataset: str, external: list[str]) -> pd.DataFrame:
    """The reference probe on raw and on standardised frozen features, on the design partition:
    per variant the mean inner cross-validation AUC of the chosen C (grouped, on each fold's
    training images: validation data), the fold-stratified AUC of the test folds and each external
    set's mean per-model AUC (each fold's probe scoring every external image)."""
    from sklearn.preprocessing import StandardScaler

    from benchmark.data import load_dataset
    from benchmark.stats import roc_auc, stratified_auc
    from benchmark.training.reference import frozen_features, probe_fold
    from benchmark.training.runner import RunSpec, evaluation_splits, load_data

    bb = profile.backbone
    data, _ = load_data(RunSpec(method="feature_extraction", dataset=dataset, profile=profile))  # as the suite
    folds = evaluation_splits(profile, data)
    x = frozen_features(bb.name, bb.image_size, bb.weights, data.images)
    ext = {}
    for name in external:
        e = load_dataset(name, bb.image_size, synthetic_images=profile.data.synthetic_images,  # as the suite
                         synthetic_seed=profile.data.synthetic_seed + 1, include_normal=False)
        ext[name] = (frozen_features(bb.name, bb.image_size, bb.weights, e.images), e.labels)
    rows = []
    for variant in ("raw (the suite's)", "standardised"):
        inner, y_test, s_test, strata, ext_aucs = [], [], [], [], {n: [] for n in ext}
        for fold in folds:
            train, test = fold.split["train"], fold.split["test"]
            fit = np.isin(np.arange(len(data.labels)), train)
            scale = StandardScaler().fit(x[fit]) if variant == "standardised" else None
            prep = (lambda f: scale.transform(f)) if scale is not None else (lambda f: f)
            model, _ = probe_fold(prep(x), data.labels, data.groups, fit, seed=fold.repeat)
            inner.append(float(model.best_score_))
            y_test.append(data.labels[test])
            s_test.append(model.predict_proba(prep(x[test]))[:, 1])
            strata.append(np.full(len(test), fold.repeat * 1000 + fold.fold))
            for name, (fx, fy) in ext.items():
                ext_aucs[name].append(roc_auc(fy, model.predict_proba(prep(fx))[:, 1]))
        y, s_, f = np.concatenate(y_test), np.concatenate(s_test), np.concatenate(strata)
        rows.append({"variant": variant, "inner_cv_auc": float(np.mean(inner)),
                     "fold_stratified_auc": stratified_auc(y, s_, f), "auc_pooled": roc_auc(y, s_),
                     **{f"external_{n}_auc": float(np.mean(v)) for n, v in ext_aucs.items()}})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("choice", choices=sorted(CHOICES))
    parser.add_argument("--split-seed", type=int, default=DESIGN_SEEDS_FROM)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--dataset", default="busi")
    parser.add_argument("--external", action="append", default=None,
                        help="external set to score (repeatable; default breast_lesions_usg)")
    parser.add_argument("--run-dir", type=Path, help="the run folder of the trained variants (not for "
                        "reference_standardisation)")
    parser.add_argument("--out", type=Path, help="write the table as CSV")
    parser.add_argument("--workers", default="1", help="studies at once (a number or 'auto')")
    args = parser.parse_args(argv)
    profile = design_profile(args.profile, args.split_seed)
    external = args.external if args.external is not None else ["breast_lesions_usg"]
    if args.choice == "reference_standardisation":
        table = reference_standardisation(profile, args.dataset, external)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        if args.out:
            write_csv_atomic(args.out, table)
        return 0
    if args.run_dir is None:
        parser.error(f"{args.choice} trains its variants: give --run-dir")
    workers = args.workers if args.workers == "auto" else int(args.workers)
    if args.choice == "class_weighting":
        table = class_weighting(profile, args.dataset, args.run_dir, external, workers)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        if args.out:
            write_csv_atomic(args.out, table)
        return 0
    methods = register_variants(args.choice)
    run_suite(profile, args.dataset, args.run_dir, methods, workers=workers, external=external)
    table = summarise(args.run_dir, methods)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.out:
        write_csv_atomic(args.out, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
