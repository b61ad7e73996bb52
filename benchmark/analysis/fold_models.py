"""The trained models of one fold of a run folder, rebuilt for the model analysis.

A run that finished (``results.json``) and saved its trained parameters (``trained_state.pt``)
is rebuilt as the runner built it (:func:`benchmark.models.build.rebuild_trained`: same method,
backbone, size, weights and training seed) and its state loaded; unfinished runs, and runs
without a saved state, are skipped with a warning that starts with ``analysis:`` (the notes list
them). The runs must share one backbone, since the analysis compares them block by block.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmark.models.build import rebuild_trained
from benchmark.runfolder import DRS_PARAMETER_NAMES, FAILED_FILE, RESULTS_FILE, RUNS_DIR, STATE_FILE, study_folders

#: the parameters of a DRS layer (``methods/drs.py``'s ``DRSLayer``), by the paper's names, with
#: their identity values: a module that holds one of them as its own parameter is a DRS layer
DRS_PARAMETERS = dict(zip(DRS_PARAMETER_NAMES, (("spatial_scale", 1.0), ("spatial_shift", 0.0),
                                                 ("channel_scale", 1.0), ("channel_shift", 0.0))))
PRETRAINED_METHOD = "feature_extraction"  # its model's backbone is the pretrained backbone, unchanged


@dataclass
class FoldRun:
    """One finished run of the fold: its method, folder and ``results.json`` record."""

    method: str
    folder: Path
    record: dict

    @property
    def config(self) -> dict:
        return self.record["config"]


def fold_runs(run_dir: Path, repeat: int = 0, fold: int = 0) -> list[FoldRun]:
    """Finished runs of the fold that saved a trained state (others skipped, with a warning)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    runs = []
    for folder in study_folders(run_dir, repeat, fold):
        if not (folder / RESULTS_FILE).is_file():
            if not (folder / FAILED_FILE).is_file():
                warnings.warn(f"analysis: skipping {folder}: no {RESULTS_FILE} (run unfinished)", stacklevel=3)
            continue
        record = json.loads((folder / RESULTS_FILE).read_text())
        if not (folder / STATE_FILE).is_file():
            warnings.warn(f"analysis: skipping {record['config']['method']} ({folder}): no {STATE_FILE}",
                          stacklevel=3)
            continue
        runs.append(FoldRun(str(record["config"]["method"]), folder, record))
    if not runs:
        raise FileNotFoundError(f"no finished run with a {STATE_FILE} for repeat {repeat}, fold {fold} in "
                                f"{run_dir / RUNS_DIR}")
    keys = {(r.config["backbone"], int(r.config["image_size"]), r.config.get("weights")) for r in runs}
    if runs[0].config.get("weights") == "random" and len({r.config.get("train_seed") for r in runs}) > 1:
        raise ValueError("the runs use randomly initialised backbones with different training seeds: they "
                         "share no backbone to compare against")
    if len(keys) > 1:
        raise ValueError(f"the runs of {run_dir} use different backbones, sizes or weights {sorted(map(str, keys))}; "
                         "the analysis compares blocks of one backbone")
    return runs


def pretrained_backbone(run: FoldRun):
    """The pretrained backbone the fold's runs started from (the feature-extraction model, built as
    the run built its model: a ``weights="random"`` backbone comes out the same), in eval mode."""
    config = {**run.config, "method": PRETRAINED_METHOD, "method_params": None}
    backbone, _ = rebuild_trained(config, None, str(run.folder / RESULTS_FILE))
    backbone.model.eval()
    return backbone


def load_trained(run: FoldRun):
    """The run's model with its ``trained_state.pt`` loaded, in eval mode, and that state."""
    state = torch.load(run.folder / STATE_FILE, map_location="cpu", weights_only=True)
    backbone, _ = rebuild_trained(run.config, state, str(run.folder / STATE_FILE))
    backbone.model.eval()
    return backbone, state


def _is_drs_layer(module) -> bool:
    return any(attr in module._parameters for attr, _ in DRS_PARAMETERS.values())


def drs_layers(backbone) -> list[list[tuple[str, object]]]:
    """Per block, the (qualified name, layer) of the DRS layers inside it."""
    names = {id(m): n for n, m in backbone.model.named_modules()}
    return [[(names[id(m)], m) for m in block.modules() if _is_drs_layer(m)] for block in backbone.blocks()]


def block_names(backbone) -> list[str]:
    """The qualified name of each of the backbone's blocks (``blocks.0.0``, ``layer1.0``, ...)."""
    names = {id(m): n for n, m in backbone.forward_sequence()}
    return [names.get(id(b), f"block {i}") for i, b in enumerate(backbone.blocks())]
