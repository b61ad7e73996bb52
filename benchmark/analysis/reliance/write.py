"""The reliance analysis of a run folder: every finished study's model scored under every condition,
study by study (a killed analysis resumes), then collected into ``analysis/``.

Per study (beside its ``results.json``): ``reliance_scores.csv`` (written last: the study is done)
and ``saliency.csv``; the studies of the gallery fold also keep their class-activation maps of the gallery
images. Collected: ``analysis/reliance_scores.csv``, ``analysis/saliency.csv``,
``analysis/saliency_gallery.npz``, ``analysis/region_examples.npz`` and ``analysis/reliance.json``
(what was scored, what was skipped and why, the seconds it took, and how far the ``original``
scores are from ``predictions.csv``: they must agree). The evaluation derives the AUC tables from
these (:mod:`benchmark.evaluation.reliance`).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.analysis.fold_models import fold_runs, load_trained
from benchmark.analysis.reliance.regions import context_only, lesion_only
from benchmark.analysis.reliance.scoring import (ORIGINAL, SALIENCY_COLUMNS, SCORE_COLUMNS, ScoredSet,
                                                 saliency_rows, score_study)
from benchmark.common.io import write_atomic, write_csv_atomic, write_json_atomic
from benchmark.common.profiles import profile_from_dict
from benchmark.runfolder import (ANALYSIS_DIR, REGION_EXAMPLES_FILE, RELIANCE_NOTES_FILE, RELIANCE_SCORES_FILE,
                                 SALIENCY_FILE, SALIENCY_GALLERY_FILE, STATE_FILE, SUITE_FILE,
                                 external_datasets, internal_dataset, load_predictions, open_test_images, read_suite)

__all__ = ["write_reliance", "GALLERY_PER_CLASS"]

GALLERY_PER_CLASS = 2  # gallery images of each class (drawn with seed 0 from the images with a mask)
_GALLERY_MAPS = "reliance_gallery.npz"  # per study of the gallery fold: its maps of the gallery images


def _save_npz(path: Path, **arrays) -> Path:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    return write_atomic(path, write)


def _masks(name: str, ids: list[str], size: int, data_root, seed: int) -> tuple[np.ndarray | None, str]:
    """(masks or None, why none) of data set ``name``'s images ``ids``."""
    from benchmark.data.masks import has_masks, lesion_masks

    try:
        if not has_masks(name):
            return None, f"{name} declares no lesion masks"
        masks = lesion_masks(name, ids, size, data_root, seed=seed)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        return None, f"{name}: masks not read ({exc})"
    if not masks.present.any():
        return None, f"this copy of {name} has no lesion mask files"
    return masks.masks, ""


def _sets(run_dir: Path, suite: dict, profile, predictions: pd.DataFrame, notes: dict):
    """The internal test images with their masks, and every external set as a ScoredSet."""
    from benchmark.training.suite import EXTERNAL_SEED_OFFSET, load_external_set

    size = profile.backbone.image_size
    internal = internal_dataset(run_dir, predictions)
    with open_test_images(run_dir) as z:
        images, ids = z["images"], [str(i) for i in z["ids"]]
        labels, groups = z["labels"], z["groups"]
    masks, why = _masks(internal, ids, size, suite.get("data_root"), profile.data.synthetic_seed)
    notes["masks"] = {internal: why or f"{int(masks.reshape(len(masks), -1).any(1).sum())} of {len(ids)} images"}
    pool = {"ids": ids, "where": {i: k for k, i in enumerate(ids)}, "images": images, "labels": labels,
            "groups": groups, "masks": masks}
    externals = {}
    for name in external_datasets(run_dir, predictions):
        rows = predictions[predictions["dataset"] == name].drop_duplicates("image_id")
        data = load_external_set(profile, name)
        where = {i: k for k, i in enumerate(data.ids)}
        missing = [i for i in rows["image_id"] if i not in where]
        if missing:
            raise ValueError(f"{name}: {len(missing)} scored images are not in the data set at hand "
                             f"(first {missing[0]!r}); the reliance analysis needs the copy the run scored")
        index = np.array([where[i] for i in rows["image_id"]], dtype=np.int64)
        ext_ids = [data.ids[k] for k in index]
        ext_masks, why = _masks(name, ext_ids, size, None, profile.data.synthetic_seed + EXTERNAL_SEED_OFFSET)
        notes["masks"][name] = why or f"{int(ext_masks.reshape(len(ext_masks), -1).any(1).sum())} of {len(ext_ids)} images"
        externals[name] = ScoredSet(name, ext_ids, rows["label"].to_numpy(), rows["group"].to_numpy(),
                                    data.images[index], ext_masks, shifts=False)
    return internal, pool, externals


def _fold_set(internal: str, pool: dict, fold_rows: pd.DataFrame, repeat: int, fold: int) -> ScoredSet:
    ids = list(dict.fromkeys(fold_rows["image_id"].astype(str)))
    index = np.array([pool["where"][i] for i in ids], dtype=np.int64)
    masks = None if pool["masks"] is None else pool["masks"][index]
    return ScoredSet(internal, ids, pool["labels"][index], pool["groups"][index], pool["images"][index], masks,
                     shifts=True, seed=1000 * repeat + fold)


def _gallery(scored: ScoredSet) -> np.ndarray:
    """Positions in ``scored.with_mask`` of the gallery images (GALLERY_PER_CLASS per class, seed 0)."""
    rng = np.random.default_rng(0)
    labels = scored.labels[scored.with_mask]
    picks = [rng.choice(np.flatnonzero(labels == c), min(GALLERY_PER_CLASS, int((labels == c).sum())), replace=False)
             for c in (0, 1)]
    return np.sort(np.concatenate(picks)).astype(np.int64)


def _is_done(folder: Path) -> bool:
    out = folder / RELIANCE_SCORES_FILE
    return out.is_file() and out.stat().st_mtime >= (folder / STATE_FILE).stat().st_mtime


@dataclass
class _Gallery:
    """The fold whose models draw the saliency gallery, the data set and its images (positions in
    ``scored.with_mask``), and that fold's runs once scored."""

    repeat: int
    fold: int
    scored: ScoredSet
    picks: np.ndarray
    runs: list = field(default_factory=list)


def write_reliance(run_dir, methods: list[str] | None = None, progress=print) -> dict:
    """Score every finished study of ``run_dir`` (or of ``methods``) under every condition (resuming
    studies already scored), then write the collected tables in ``analysis/``. Returns
    ``{relative path: Path}``."""
    from benchmark.training.device import Preprocess, resolve_device
    from benchmark.training.trainer import predict_scores

    run_dir = Path(run_dir)
    suite = read_suite(run_dir)
    profile = profile_from_dict(suite.get("profile") or {}, str(run_dir / SUITE_FILE))
    predictions = load_predictions(run_dir)
    notes: dict = {"skipped": []}
    started = time.perf_counter()
    internal, pool, externals = _sets(run_dir, suite, profile, predictions, notes)
    device = resolve_device("auto")
    rows = predictions[predictions["dataset"] == internal]
    gallery: _Gallery | None = None
    seconds = []
    for (repeat, fold), fold_rows in rows.groupby(["repeat", "fold"], sort=True):
        repeat, fold = int(repeat), int(fold)
        scored = _fold_set(internal, pool, fold_rows, repeat, fold)
        sets = [scored, *externals.values()]
        with_masks = next((s for s in sets if len(s.with_mask)), None)
        if gallery is None and with_masks is not None:
            gallery = _Gallery(repeat, fold, with_masks, _gallery(with_masks))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            runs = [r for r in fold_runs(run_dir, repeat, fold) if methods is None or r.method in methods]
        notes["skipped"] += sorted({str(w.message).removeprefix("analysis: ") for w in caught})
        in_gallery = gallery is not None and (gallery.repeat, gallery.fold) == (repeat, fold)
        if in_gallery:
            gallery.runs = runs
        for run in runs:
            if _is_done(run.folder):
                continue
            t0 = time.perf_counter()
            backbone, _ = load_trained(run)
            score = lambda images: predict_scores(  # noqa: E731 - the trainer's own scoring
                backbone, images, device, profile.train.eval_batch_size, profile.train.inference_precision,
                profile.train.channels_last)
            prep = Preprocess(backbone.mean, backbone.std, profile.train.channels_last).to(device)
            prepare = lambda batch: prep(prep.to_unit(batch))  # noqa: E731
            frames, saliency = [], []
            for s in sets:
                frames.append(score_study(score, s, run.method, repeat, fold))
                table, maps = saliency_rows(backbone.model, backbone.blocks()[-1], prepare, s, run.method, repeat, fold)
                saliency.append(table)
                if in_gallery and s is gallery.scored:
                    _save_npz(run.folder / _GALLERY_MAPS, maps=maps[gallery.picks])
            write_csv_atomic(run.folder / SALIENCY_FILE, pd.concat(saliency, ignore_index=True)[SALIENCY_COLUMNS])
            write_csv_atomic(run.folder / RELIANCE_SCORES_FILE, pd.concat(frames, ignore_index=True)[SCORE_COLUMNS])
            seconds.append(time.perf_counter() - t0)
            progress(f"reliance: {run.method}, repeat {repeat}, fold {fold} scored in {seconds[-1]:.0f} s")
    return _collect(run_dir, predictions, gallery, notes, seconds, time.perf_counter() - started)


def _collect(run_dir: Path, predictions: pd.DataFrame, gallery: _Gallery | None, notes: dict, seconds: list[float],
             elapsed: float) -> dict:
    from benchmark.runfolder import study_folders

    folders = [f for f in study_folders(run_dir) if (f / RELIANCE_SCORES_FILE).is_file()]
    scores = pd.concat([pd.read_csv(f / RELIANCE_SCORES_FILE, dtype={"image_id": str}) for f in folders],
                       ignore_index=True)
    saliency = pd.concat([pd.read_csv(f / SALIENCY_FILE, dtype={"image_id": str}) for f in folders
                          if (f / SALIENCY_FILE).is_file()], ignore_index=True)
    out = run_dir / ANALYSIS_DIR
    written = {f"{ANALYSIS_DIR}/{RELIANCE_SCORES_FILE}": write_csv_atomic(out / RELIANCE_SCORES_FILE, scores),
               f"{ANALYSIS_DIR}/{SALIENCY_FILE}": write_csv_atomic(out / SALIENCY_FILE, saliency)}
    original = scores[scores["condition"] == ORIGINAL].merge(
        predictions, on=["dataset", "method", "repeat", "fold", "image_id"], suffixes=("", "_run"))
    notes["original_vs_predictions"] = {
        "rows": int(len(original)),
        "max_abs_difference": float((original["score"] - original["score_run"]).abs().max()) if len(original) else None}
    if gallery is not None:
        methods, maps = [], []
        for run in gallery.runs:
            if (run.folder / _GALLERY_MAPS).is_file():
                with np.load(run.folder / _GALLERY_MAPS) as z:
                    methods.append(run.method)
                    maps.append(z["maps"])
        scored = gallery.scored
        index = scored.with_mask[gallery.picks]
        region = scored.region[gallery.picks]
        common = dict(images=scored.images[index], region=region, ids=np.array([scored.ids[i] for i in index]),
                      labels=scored.labels[index], dataset=np.array(scored.dataset), repeat=np.array(gallery.repeat),
                      fold=np.array(gallery.fold))
        if maps:
            written[f"{ANALYSIS_DIR}/{SALIENCY_GALLERY_FILE}"] = _save_npz(
                out / SALIENCY_GALLERY_FILE, methods=np.array(methods), maps=np.stack(maps), **common)
        written[f"{ANALYSIS_DIR}/{REGION_EXAMPLES_FILE}"] = _save_npz(
            out / REGION_EXAMPLES_FILE, lesion_only=lesion_only(scored.images[index], region, scored.images.mean()),
            context_only=context_only(scored.images[index], region), **common)
    notes.update({"studies_scored": len(folders), "studies_scored_now": len(seconds),
                  "seconds_now": round(elapsed, 1),
                  "seconds_per_study_median": round(float(np.median(seconds)), 1) if seconds else None})
    written[f"{ANALYSIS_DIR}/{RELIANCE_NOTES_FILE}"] = write_json_atomic(out / RELIANCE_NOTES_FILE, notes)
    return written
