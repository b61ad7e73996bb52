"""What the methods do to the backbone's representations (Byra 2021, section 3.5, figures 5-7), as tables.

For the runs of one fold of a run folder (``runs/<method>/repeat-<r>/fold-<f>/``, by default
repeat 0, fold 0, and that fold's test images):

- **Activation rate** A_l (eq. 5): for each residual block l, the fraction of positive elements
  of the block's output, over the split's test images, for every method's trained model, and
  for the pretrained backbone on natural photographs as the paper's reference (the paper used
  ImageNet validation images; here the colour photographs that scikit-image ships,
  :data:`benchmark.analysis.images.NATURAL_PHOTOS`). In a ResNet the block output is
  taken after the block's final ReLU (where the paper measures it); EfficientNet-Lite blocks end
  without an activation, so there A_l is the fraction of positive elements of the block's
  (linear) output.
- **Activation rate change** (eqs. 6-7): for every method whose model holds DRS layers, the
  fraction of block-output elements whose sign (positive or not) differs from that of the
  feature-extraction model, whose backbone is the pretrained backbone, on the same images.
- **DRS deviation from identity** (figure 7): per DRS method and block, the mean and largest
  absolute difference of S_m, S_b, D_m, D_b from (1, 0, 1, 0), read from ``trained_state.pt``.

Forward passes are batched under ``torch.inference_mode`` (:mod:`benchmark.analysis.block_signs`);
each model is loaded once for all three tables (:func:`analyse`). This module computes and
returns DataFrames; :func:`benchmark.analysis.write_analysis` writes them.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from benchmark.analysis.block_signs import block_sign_counts
from benchmark.analysis.fold_models import DRS_PARAMETERS, PRETRAINED_METHOD, FoldRun, block_names, drs_layers, \
    fold_runs, load_trained, pretrained_backbone
from benchmark.analysis.images import natural_photographs, photo_batches, ultrasound_batches
from benchmark.analysis.images import fold_test_images
from benchmark.runfolder import ACTIVATION_WHERE, PRETRAINED_NATURAL, STATE_FILE

__all__ = ["analyse", "activation_rates", "activation_rate_change", "drs_deviation", "where_read",
           "PRETRAINED_NATURAL", "PRETRAINED_TEST", "PRETRAINED_METHOD", "DRS_PARAMETERS", "WHERE"]

PRETRAINED_TEST = "pretrained (test images)"  # only when the run has no feature_extraction model
RATE_COLUMNS = ["model", "block", "block_name", "rate", "images", "where"]
CHANGE_COLUMNS = ["method", "block", "block_name", "changed_fraction"]
DEVIATION_COLUMNS = ["method", "block", "block_name", "parameter", "mean_abs_deviation", "max_abs_deviation"]
WHERE = ACTIVATION_WHERE
BATCH_SIZE = 32


def where_read(family: str) -> str:
    """Where in a block of this backbone family its output is read (the ``where`` column)."""
    return WHERE.get(family, "block output")


def analyse(run_dir, repeat: int, fold: int, rates: bool, change: bool, deviation: bool,
            batch_size: int = BATCH_SIZE) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three tables (those asked for; the others come back empty), each model loaded once."""
    run_dir = Path(run_dir)
    runs = fold_runs(run_dir, repeat, fold)
    config = runs[0].config
    rate_rows, change_rows, dev_rows = [], [], []
    forward = rates or change
    if forward:
        images = fold_test_images(run_dir, repeat, fold)
        size = int(config["image_size"])
        if images.shape[1:] != (size, size):
            raise ValueError(f"test images of repeat {repeat}, fold {fold} are {images.shape[1:]}, the runs' models "
                             f"take {size} x {size}")
        test_label = f"test images, repeat {repeat}, fold {fold} (n={len(images)})"

    reference = pretrained_backbone(runs[0])  # the pretrained backbone, unchanged
    where, names = where_read(reference.family), block_names(reference)
    mean, std = reference.mean, reference.std

    def add_rates(model_name, counts, label):
        rate_rows.extend({"model": model_name, "block": i, "block_name": names[i], "rate": float(r),
                          "images": label, "where": where} for i, r in enumerate(counts.rate))

    has_reference_run = any(r.method == PRETRAINED_METHOD for r in runs)
    ref_test = None
    if change or (rates and not has_reference_run):
        ref_test = block_sign_counts(reference, ultrasound_batches(images, mean, std, batch_size),
                                     keep_signs=change)
    if rates:
        photos, photo_names = natural_photographs(size)
        natural = block_sign_counts(reference, photo_batches(photos, mean, std, batch_size))
        add_rates(PRETRAINED_NATURAL, natural, f"skimage.data: {', '.join(photo_names)}")
        if not has_reference_run:
            add_rates(PRETRAINED_TEST, ref_test, test_label)
    del reference

    for run in runs:
        backbone, state = load_trained(run)
        if block_names(backbone) != names:
            raise ValueError(f"{run.method}: its blocks differ from the pretrained backbone's")
        layers = drs_layers(backbone)
        is_drs = any(layers)
        if deviation and is_drs:
            dev_rows.extend(_deviation_rows(run, layers, state, names))
        if rates or (change and is_drs):
            counts = block_sign_counts(backbone, ultrasound_batches(images, mean, std, batch_size),
                                       reference=ref_test.signs if (change and is_drs) else None)
            if rates:
                add_rates(run.method, counts, test_label)
            if change and is_drs:
                change_rows.extend({"method": run.method, "block": i, "block_name": names[i],
                                    "changed_fraction": float(f)} for i, f in enumerate(counts.changed_fraction))
        del backbone, state
    return (pd.DataFrame(rate_rows, columns=RATE_COLUMNS), pd.DataFrame(change_rows, columns=CHANGE_COLUMNS),
            pd.DataFrame(dev_rows, columns=DEVIATION_COLUMNS))


def _deviation_rows(run: FoldRun, layers, state: dict, names: list[str]) -> list[dict]:
    rows = []
    for block, block_layers in enumerate(layers):
        for parameter, (attr, identity) in DRS_PARAMETERS.items():
            values = []
            for name in [n for n, m in block_layers if hasattr(m, attr)]:
                key = f"{name}.{attr}"
                if key not in state:
                    raise ValueError(f"{run.folder / STATE_FILE} has no {key}: the DRS parameters were "
                                     "not saved (were they trained?)")
                values.append(state[key].detach().float().reshape(-1))
            if not values:
                continue
            dev = (torch.cat(values) - identity).abs()
            rows.append({"method": run.method, "block": block, "block_name": names[block],
                         "parameter": parameter, "mean_abs_deviation": float(dev.mean()),
                         "max_abs_deviation": float(dev.max())})
    return rows


def activation_rates(run_dir, repeat: int = 0, fold: int = 0) -> pd.DataFrame:
    """A_l per block for every method's model on the fold's test images, and for the pretrained
    backbone on natural photographs (model ``"pretrained (natural photographs)"``).

    Columns: model, block (0-based), block_name, rate, images (which images), where (where in the
    block the output is read). If the run has no ``feature_extraction`` model, the pretrained
    backbone on the test images is added as ``"pretrained (test images)"``.
    """
    return analyse(run_dir, repeat, fold, rates=True, change=False, deviation=False)[0]


def activation_rate_change(run_dir, repeat: int = 0, fold: int = 0) -> pd.DataFrame:
    """For every method whose model holds DRS layers, per block, the fraction of block-output
    elements whose sign differs from the pretrained backbone's (the feature-extraction model's
    backbone) on the same test images. Columns: method, block, block_name, changed_fraction;
    no rows when the run has no DRS method."""
    return analyse(run_dir, repeat, fold, rates=False, change=True, deviation=False)[1]


def drs_deviation(run_dir, repeat: int = 0, fold: int = 0) -> pd.DataFrame:
    """Per DRS method, block and parameter (S_m, S_b, D_m, D_b, those the method has), the mean and
    largest absolute difference of the trained values from the identity (1, 0, 1, 0).

    Read from ``trained_state.pt`` (no forward pass). Columns: method, block, block_name,
    parameter, mean_abs_deviation, max_abs_deviation; no rows when the run has no DRS method.
    """
    return analyse(run_dir, repeat, fold, rates=False, change=False, deviation=True)[2]
