"""What the model analysis's tables say, in words: the sentences of the report and of ``analysis/notes.md``.

:func:`describe_findings` reads ``analysis/*.csv`` (computed in memory, not written, when
missing); :func:`notes` is what :func:`benchmark.analysis.write_analysis` writes beside them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.analysis.representations import PRETRAINED_NATURAL, PRETRAINED_TEST, PRETRAINED_METHOD, WHERE, \
    analyse, where_read
from benchmark.runfolder import ACTIVATION_CHANGE_FILE, ACTIVATION_RATES_FILE, ANALYSIS_DIR, DRS_DEVIATION_FILE, \
    RESULTS_FILE
from benchmark.runfolder import read_record, study_folders

__all__ = ["describe_findings", "findings", "notes"]


def notes(rates, family, fold_label, skipped, sentences, synthetic, random_weights=False) -> str:
    """``analysis/notes.md``: which images, where the outputs are read, skipped runs, findings."""
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
    lines += ["", "## Findings", ""] + [f"- {f}" for f in sentences]
    return "\n".join(lines) + "\n"


def _pct(x: float) -> str:
    return f"{100.0 * x:.1f}%"


def findings(rates: pd.DataFrame, change: pd.DataFrame, dev: pd.DataFrame, family: str,
             synthetic: bool) -> list[str]:
    """The sentences of the three tables (``family``: the backbone's; ``synthetic``: the data's)."""
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
    base_name = PRETRAINED_METHOD if (rates["model"] == PRETRAINED_METHOD).any() else PRETRAINED_TEST
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
    files = [run_dir / ANALYSIS_DIR / f for f in (ACTIVATION_RATES_FILE, ACTIVATION_CHANGE_FILE, DRS_DEVIATION_FILE)]
    if all(f.is_file() for f in files):
        rates, change, dev = (pd.read_csv(f) for f in files)
    else:
        rates, change, dev = analyse(run_dir, repeat, fold, rates=True, change=True, deviation=True)
    where = set(rates["where"]) if not rates.empty else set()
    family = "resnet" if where == {WHERE["resnet"]} else "efficientnet_lite" if where else "resnet"
    synthetic = False
    for folder in study_folders(run_dir):
        record = read_record(folder / RESULTS_FILE, warn=False)
        if record is not None:
            synthetic |= bool((record.get("dataset") or {}).get("synthetic"))
    return findings(rates, change, dev, family, synthetic)
