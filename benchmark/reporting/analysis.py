"""The representation analysis of a run folder (Byra 2021, section 3.5), written out: the report's entry point.

:func:`write_analysis` computes the three tables of :mod:`benchmark.reporting.analysis_tables`
(activation rates, activation rate change, DRS deviation from identity, on one fold's trained
models, by default repeat 0, fold 0) and writes ``analysis/*.csv``, ``analysis/notes.md`` and,
drawn by :mod:`benchmark.reporting.analysis_figures`, ``figures/activation_rates.png``,
``figures/activation_rate_change.png``, ``figures/drs_deviation.png``;
:func:`describe_findings` turns the tables into sentences for the report.

``benchmark.reporting.report`` imports this module lazily, and only calls these two functions:
a report is still built where the analysis cannot run (the notes say why).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.common.io import write_csv_atomic, write_text_atomic
from benchmark.reporting.analysis_figures import change_figure, deviation_figure, rates_figure, run_colors
from benchmark.reporting.analysis_runs import FoldRun, build_as_run, fold_runs
from benchmark.reporting.analysis_tables import PRETRAINED_NATURAL, PRETRAINED_TEST, REFERENCE_METHOD, WHERE, \
    analyse, where_read
from benchmark.runfolder import RESULTS_FILE

__all__ = ["write_analysis", "describe_findings"]


def _synthetic(runs: list[FoldRun]) -> bool:
    return any(bool((r.record.get("dataset") or {}).get("synthetic")) for r in runs)


def write_analysis(run_dir, repeat: int = 0, fold: int = 0) -> dict:
    """Compute the three tables and write them with their figures and notes.

    Writes (atomically) ``analysis/activation_rates.csv``, ``analysis/activation_rate_change.csv``,
    ``analysis/drs_deviation.csv``, ``analysis/notes.md`` (which images, where the outputs are
    read, skipped runs, findings) and ``figures/activation_rates.png``,
    ``figures/activation_rate_change.png``, ``figures/drs_deviation.png``.

    Returns ``{relative path: Path}`` of what was written. Without a DRS method the two DRS
    CSVs are written empty (header only), and the two DRS figures map to a string saying why
    they were not written instead of a path.
    """
    run_dir = Path(run_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = fold_runs(run_dir, repeat, fold)
        rates, change, dev = analyse(run_dir, repeat, fold, rates=True, change=True, deviation=True)
    fold_label = f"repeat {repeat}, fold {fold}"
    skipped = sorted({str(w.message).removeprefix("analysis: ") for w in caught
                      if str(w.message).startswith("analysis:")})
    for w in caught:  # hand them on to the caller
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    family = (runs[0].record.get("backbone") or {}).get("family")
    if not family:
        family = build_as_run(REFERENCE_METHOD, runs[0].config).family
    synthetic = _synthetic(runs)
    out, figs = run_dir / "analysis", run_dir / "figures"
    written: dict = {
        "analysis/activation_rates.csv": write_csv_atomic(out / "activation_rates.csv", rates),
        "analysis/activation_rate_change.csv": write_csv_atomic(out / "activation_rate_change.csv", change),
        "analysis/drs_deviation.csv": write_csv_atomic(out / "drs_deviation.csv", dev),
    }
    colors = run_colors(run_dir, list(rates["model"].unique()))
    what = f"{runs[0].config['backbone']}, {int(runs[0].config['image_size'])} px"
    block_names = list(rates.drop_duplicates("block").sort_values("block")["block_name"])
    written["figures/activation_rates.png"] = rates_figure(rates, colors, family, synthetic, fold_label, what,
                                                           figs / "activation_rates.png")
    none = f"not written: no method with DRS layers among the runs of {fold_label}"
    written["figures/activation_rate_change.png"] = none if change.empty else change_figure(
        change, colors, family, synthetic, fold_label, what, figs / "activation_rate_change.png")
    written["figures/drs_deviation.png"] = none if dev.empty else deviation_figure(
        dev, colors, family, synthetic, block_names, what, figs / "drs_deviation.png")
    findings = _findings(rates, change, dev, family, synthetic)
    notes = _notes(rates, family, fold_label, skipped, findings, synthetic,
                   random_weights=runs[0].config.get("weights") == "random")
    written["analysis/notes.md"] = write_text_atomic(out / "notes.md", notes)
    return written


def _notes(rates, family, fold_label, skipped, findings, synthetic, random_weights=False) -> str:
    nat = rates.loc[rates["model"] == PRETRAINED_NATURAL, "images"]
    test = rates.loc[rates["model"] != PRETRAINED_NATURAL, "images"]
    lines = ["# Representation analysis (Byra 2021, section 3.5)", ""]
    if synthetic:
        lines += ["**SYNTHETIC DATA - not BUSI: these numbers say nothing about breast ultrasound.**", ""]
    lines += [f"- Models of {fold_label}; model images: {test.iloc[0] if len(test) else '-'} "
              "(grayscale copied to 3 channels, normalised as in training).",
              f"- Natural-photograph reference (pretrained backbone; the paper used ImageNet validation images): "
              f"{nat.iloc[0] if len(nat) else '-'}; centre square crop, resized to the profile's size, RGB, "
              "normalised with the backbone's mean and standard deviation.",
              f"- Where: {where_read(family)}."
              + ("" if family == "resnet" else " EfficientNet-Lite blocks end in a linear projection, so the rate "
                 "is the fraction of positive elements of a signed output, not of a ReLU output as in the paper."),
              "- Activation rate change: the DRS method's model against the pretrained backbone (the "
              "feature-extraction model's backbone), element by element, on the same test images."]
    if random_weights:
        lines.append("- The backbone was randomly initialised (weights=random): 'pretrained' here means the runs' "
                     "random initialisation, rebuilt from their training seed.")
    lines += [f"- Skipped: {s}" for s in skipped]
    lines += ["", "## Findings", ""] + [f"- {f}" for f in findings]
    return "\n".join(lines) + "\n"


def _pct(x: float) -> str:
    return f"{100.0 * x:.1f}%"


def _findings(rates: pd.DataFrame, change: pd.DataFrame, dev: pd.DataFrame, family: str,
              synthetic: bool) -> list[str]:
    out = []
    if synthetic:
        out.append("These numbers come from synthetic images, not from BUSI.")
    if family != "resnet" and not rates.empty:
        out.append("EfficientNet-Lite blocks end without an activation, so the rates are fractions of positive "
                   "elements of the blocks' linear outputs, not of ReLU outputs as in the paper's ResNet101.")

    def curve(model):
        return rates[rates["model"] == model].sort_values("block")

    nat = curve(PRETRAINED_NATURAL)
    if not nat.empty:
        first, last = nat.iloc[0], nat.iloc[-1]
        step = last["rate"] - first["rate"]
        trend = "stays about level, going" if abs(step) < 0.01 else "falls" if step < 0 else "rises"
        out.append(f"In the pretrained backbone on natural photographs the activation rate {trend} from "
                   f"{first['rate']:.3f} in the first block ({first['block_name']}) to {last['rate']:.3f} in the "
                   f"last ({last['block_name']}), {nat['rate'].mean():.3f} on average over "
                   f"{len(nat)} blocks.")
    base_name = REFERENCE_METHOD if (rates["model"] == REFERENCE_METHOD).any() else PRETRAINED_TEST
    base = curve(base_name)
    if not base.empty:
        first, last = base.iloc[0], base.iloc[-1]
        text = (f"On the test images with feature extraction (pretrained backbone) it goes from {first['rate']:.3f} "
                f"in the first block to {last['rate']:.3f} in the last")
        if not nat.empty:
            diff = base["rate"].to_numpy() - nat["rate"].to_numpy()
            side = "above" if diff.mean() > 0 else "below"
            at = base.iloc[int(np.abs(diff).argmax())]["block_name"]
            text += (f", on average {abs(diff.mean()):.3f} {side} the natural-photograph rate "
                     f"(largest gap {np.abs(diff).max():.3f}, at {at})")
        out.append(text + ".")
        others = [m for m in rates["model"].unique() if m not in (base_name, PRETRAINED_NATURAL, PRETRAINED_TEST)]
        if others:
            gaps = {m: float(np.abs(curve(m)["rate"].to_numpy() - base["rate"].to_numpy()).max()) for m in others}
            m = max(gaps, key=gaps.get)
            out.append(f"The trained model whose activation rates depart most from feature extraction is {m} "
                       f"(up to {gaps[m]:.3f} in one block).")
    for m in change["method"].unique():
        c = change[change["method"] == m].sort_values("block")
        worst = c.iloc[int(c["changed_fraction"].to_numpy().argmax())]
        out.append(f"{m} changes the sign of {_pct(c.iloc[-1]['changed_fraction'])} of the elements in the last "
                   f"block ({c.iloc[-1]['block_name']}) and {_pct(c['changed_fraction'].mean())} on average over "
                   f"blocks (most: {_pct(worst['changed_fraction'])} in {worst['block_name']}).")
    for m in dev["method"].unique():
        d = dev[dev["method"] == m]
        means = d.groupby("parameter", sort=False)["mean_abs_deviation"].mean()
        worst = d.iloc[int(d["max_abs_deviation"].to_numpy().argmax())]
        out.append(f"{m}: mean absolute deviation from identity, averaged over blocks, "
                   + ", ".join(f"{p} {v:.4f}" for p, v in means.items())
                   + f"; the largest single deviation is {worst['max_abs_deviation']:.4f} ({worst['parameter']} in "
                     f"{worst['block_name']}).")
    return out


def describe_findings(run_dir, repeat: int = 0, fold: int = 0) -> list[str]:
    """Plain sentences from ``analysis/*.csv`` (computed in memory, not written, when missing)."""
    run_dir = Path(run_dir)
    out = run_dir / "analysis"
    files = [out / f for f in ("activation_rates.csv", "activation_rate_change.csv", "drs_deviation.csv")]
    if all(f.is_file() for f in files):
        rates, change, dev = (pd.read_csv(f) for f in files)
    else:
        rates, change, dev = analyse(run_dir, repeat, fold, rates=True, change=True, deviation=True)
    where = set(rates["where"]) if not rates.empty else set()
    family = "resnet" if where == {WHERE["resnet"]} else "efficientnet_lite" if where else "resnet"
    synthetic = False
    for path in sorted((run_dir / "runs").glob(f"*/repeat-*/fold-*/{RESULTS_FILE}")):
        try:
            synthetic |= bool((json.loads(path.read_text()).get("dataset") or {}).get("synthetic"))
        except json.JSONDecodeError:
            continue
    return _findings(rates, change, dev, family, synthetic)
