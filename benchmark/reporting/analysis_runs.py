"""The trained models of one fold of a run folder, rebuilt for the representation analysis.

A run that finished (``results.json``) and saved its trained parameters (``trained_state.pt``)
is rebuilt as the runner built it (same method, backbone, size, weights and training seed) and
its state loaded; unfinished runs, and runs without a saved state, are skipped with a warning
that starts with ``analysis:`` (the notes list them). The runs must share one backbone, since
the analysis compares them block by block.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmark.runfolder import RESULTS_FILE, STATE_FILE


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
    for folder in sorted((run_dir / "runs").glob(f"*/repeat-{repeat}/fold-{fold}")):
        if not (folder / RESULTS_FILE).is_file():
            if not (folder / "failed.json").is_file():
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
                                f"{run_dir / 'runs'}")
    keys = {(r.config["backbone"], int(r.config["image_size"]), r.config.get("weights")) for r in runs}
    if runs[0].config.get("weights") == "random" and len({r.config.get("train_seed") for r in runs}) > 1:
        raise ValueError("the runs use randomly initialised backbones with different training seeds: they "
                         "share no backbone to compare against")
    if len(keys) > 1:
        raise ValueError(f"the runs of {run_dir} use different backbones, sizes or weights {sorted(map(str, keys))}; "
                         "the analysis compares blocks of one backbone")
    return runs


def build_as_run(method: str, config: dict):
    """The method's model as the runner built it: seeded with the run's training seed, so that a
    backbone with ``weights="random"`` (whose frozen weights ``trained_state.pt`` does not hold)
    comes out the same; the global random state is left as it was."""
    from benchmark.models.build import build_model

    seed = int(config.get("train_seed", config.get("split_seed", 0)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone, _, _ = build_model(method, config["backbone"], int(config["image_size"]), config.get("weights"),
                                     config.get("method_params") if method == config["method"] else None)
    return backbone


def load_trained(run: FoldRun):
    """The run's model with its ``trained_state.pt`` loaded, in eval mode, and that state."""
    backbone = build_as_run(run.method, run.config)
    state = torch.load(run.folder / STATE_FILE, map_location="cpu", weights_only=True)
    result = backbone.model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise ValueError(f"{run.folder / STATE_FILE} does not fit the {run.method} model "
                         f"(unexpected keys, e.g. {result.unexpected_keys[:3]})")
    backbone.model.eval()
    return backbone, state


def drs_layers(backbone) -> list[list[tuple[str, object]]]:
    """Per block, the (qualified name, layer) of the DRS layers inside it."""
    from methods.drs import DRSLayer

    names = {id(m): n for n, m in backbone.model.named_modules()}
    return [[(names[id(m)], m) for m in block.modules() if isinstance(m, DRSLayer)] for block in backbone.blocks()]


def block_names(backbone) -> list[str]:
    """The qualified name of each of the backbone's blocks (``blocks.0.0``, ``layer1.0``, ...)."""
    names = {id(m): n for n, m in backbone.forward_sequence()}
    return [names.get(id(b), f"block {i}") for i, b in enumerate(backbone.blocks())]
