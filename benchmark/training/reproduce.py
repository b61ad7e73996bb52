"""The training guard: a published study, trained again by this checkout, gives the published predictions.

A published folder (``results/<profile>-<dataset>/``, :mod:`benchmark.publishing`) keeps each study's
``results.json`` and ``predictions.csv`` and the run's ``suite.json`` (the profile as run). :func:`retrain_study`
reads them, refuses when the data at hand are not the data the study trained on (the checksum in its record),
runs the study's whole search again (every trial, the selection, the selected model's test) on the same fold
of the same partition into a scratch run folder, one torch thread as the suite's workers run, and compares the
test fold's scores with the published ones image by image (:class:`Reproduction`, which names any installed
package whose version is not the study's: a library's release can change a method's computation). Whatever
reaches the training loop differently (images, labels, class weights, batches, cached features, the search's draws)
moves the scores; the trainer is deterministic on a CPU for a given thread count, so the published
scores come back to float32 precision (:data:`SCORE_TOLERANCE`).
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmark.common.profiles import Profile, profile_from_dict
from benchmark.common.provenance import CONSTRAINTS_FILE, version_differences
from benchmark.runfolder import PREDICTIONS_FILE, RESULTS_FILE, RUNS_DIR, SUITE_FILE
from benchmark.training.runner import RunSpec, find_fold, load_data
from benchmark.training.search import run_search

__all__ = ["Reproduction", "retrain_study", "arithmetic_difference", "published_profile", "SCORE_TOLERANCE"]

SCORE_TOLERANCE = 1e-5  # float32 scores of the same computation; a changed input moves them by far more


@dataclass(frozen=True)
class Reproduction:
    method: str
    repeat: int
    fold: int
    n_images: int
    max_score_difference: float  # over the test fold's images
    same_images: bool            # the same image ids and labels, in the same fold
    selected_trial_published: int | None
    selected_trial_again: int | None
    package_differences: tuple[str, ...] = ()  # installed numeric packages that are not the study's versions

    @property
    def reproduced(self) -> bool:
        return self.same_images and self.max_score_difference <= SCORE_TOLERANCE

    def __str__(self) -> str:
        what = "reproduced" if self.reproduced else "NOT reproduced"
        return (f"{self.method} repeat {self.repeat} fold {self.fold}: {what} ({self.n_images} test images, largest "
                f"score difference {self.max_score_difference:.2e}, images and labels "
                f"{'the same' if self.same_images else 'differ'}; selected trial {self.selected_trial_published} "
                f"published, {self.selected_trial_again} again)" + self._packages())

    def _packages(self) -> str:
        if not self.package_differences:
            return ""
        return (f"; the installed packages are not the ones that trained it ({'; '.join(self.package_differences)}): "
                f"install the pinned versions, pip install -e . -c {CONSTRAINTS_FILE}")


def published_profile(folder: Path) -> tuple[Profile, str]:
    """The profile as the published run ran it and its data set's name, from ``suite.json``."""
    path = Path(folder) / SUITE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: no {SUITE_FILE}; give a published folder (results/<profile>-<dataset>)")
    suite = json.loads(path.read_text())
    return profile_from_dict(suite["profile"], source=f"{path} (profile as run)"), suite["dataset"]


def _selected_trial(record: dict) -> int | None:
    selected = (record.get("search") or {}).get("selected_trial")
    return None if selected is None else int(selected)


def arithmetic_difference(folder, method: str, repeat: int, fold: int) -> str | None:
    """Why this machine's CPU arithmetic may not be the published study's (its record's CPU model and torch's
    CPU capability against this machine's, :func:`benchmark.common.provenance.cpu_arithmetic`), or None when
    they match. Training a backbone amplifies a last-bit difference: such a study reproduces exactly only on the
    same arithmetic (a linear head on frozen features does on any)."""
    from benchmark.common.provenance import cpu_arithmetic

    study = Path(folder) / RUNS_DIR / method / f"repeat-{repeat}" / f"fold-{fold}" / RESULTS_FILE
    machine = ((json.loads(study.read_text()).get("provenance") or {}).get("machine") or {})
    if "cpu_capability" not in machine:
        return f"{study} does not record its CPU (trained before the record was kept)"
    here = cpu_arithmetic()
    if (machine.get("cpu_model"), machine["cpu_capability"]) != (here["cpu_model"], here["cpu_capability"]):
        return (f"{study} was trained on {machine.get('cpu_model')} ({machine['cpu_capability']}), this machine is "
                f"{here['cpu_model']} ({here['cpu_capability']})")
    return None


def retrain_study(folder, method: str, repeat: int, fold: int, data_root=None, work_dir=None,
                  device: str = "cpu") -> Reproduction:
    """Train the published study (``method``, ``repeat``, ``fold``) of ``folder`` again and compare its test scores.

    Raises ``ValueError`` naming the difference when the data at hand are not the study's (another checksum)."""
    folder = Path(folder)
    profile, dataset = published_profile(folder)
    study = folder / RUNS_DIR / method / f"repeat-{repeat}" / f"fold-{fold}"
    if not (study / RESULTS_FILE).is_file():
        raise FileNotFoundError(f"{study}: no {RESULTS_FILE}; the published folder has no such study")
    record = json.loads((study / RESULTS_FILE).read_text())
    data, _ = load_data(RunSpec(method=method, dataset=dataset, profile=profile, data_root=data_root))
    published_checksum = record["dataset"]["checksum"]
    if data.checksum != published_checksum:
        raise ValueError(f"the {dataset} images at hand (checksum {data.checksum[:12]}...) are not the ones "
                         f"{study} trained on ({published_checksum[:12]}...): point --data-root at that copy")
    target = find_fold(profile, data, repeat, fold)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the suite's workers: one thread a study
    try:
        with tempfile.TemporaryDirectory(dir=work_dir) as scratch:
            run_dir = Path(scratch)
            out_dir = run_dir / RUNS_DIR / method / target.folder
            again = run_search(method, profile, dataset, data, target, out_dir, run_dir, device=device,
                               progress=False)
            mine = pd.read_csv(out_dir / PREDICTIONS_FILE, dtype={"image_id": str})
    finally:
        torch.set_num_threads(threads)
    theirs = pd.read_csv(study / PREDICTIONS_FILE, dtype={"image_id": str})
    mine, theirs = (t[t["dataset"] == dataset].sort_values("image_id").reset_index(drop=True) for t in (mine, theirs))
    same = (len(mine) == len(theirs) and (mine["image_id"].to_numpy() == theirs["image_id"].to_numpy()).all()
            and (mine["label"].to_numpy() == theirs["label"].to_numpy()).all())
    gap = float(np.max(np.abs(mine["score"].to_numpy() - theirs["score"].to_numpy()))) if same else float("inf")
    return Reproduction(method, repeat, fold, len(theirs), gap, bool(same), _selected_trial(record),
                        _selected_trial(again or {}),
                        tuple(version_differences((record.get("provenance") or {}).get("versions"))))
