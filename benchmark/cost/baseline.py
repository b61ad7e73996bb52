"""The usual way, to measure the suite's speed-ups against.

A plain PyTorch training setup: the images as files in a torchvision ``ImageFolder``, PIL
transforms per image per epoch (``Grayscale(3)``, ``Resize((size, size))``,
``RandomHorizontalFlip``, ``RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1))``,
``ColorJitter(0.1, 0.1)``, ``ToTensor``, ``Normalize(mean, std)``; validation: no random
transforms), a ``DataLoader(batch_size=24, shuffle=True, num_workers=0)``, float32, the
default memory format, the whole network forward in every step, and validation through a
plain loop at batch 24. The model, the method, the loss (BCE on one logit, class weights as the profile's),
Adam and the batch-norm policy (``set_train_mode``) are the suite's, so what differs is only
how the work is done.

``Resize`` gets ``(size, size)``, not ``size``: BUSI's images are not square and the suite
resizes straight to a square, without a crop.

The suite's side (``suite_training``) decodes the same files once with the suite's loader
(``decode_images``: cached on disk, reported separately as a one-time cost) and calls
``benchmark.training.trainer.train``. Its per-epoch times do not include what it does before the
first epoch (moving the model, building the frozen-prefix cache), so the wall time of the
whole call is taken here and that setup is added to the first epoch: "first epoch" includes
it, "later epochs" are the median of the rest. A search runs several trials in one process,
and the frozen-prefix cache built by the first serves the others, so the comparison times a
study's worth of trials as well as the first.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.common.profiles import TrainSection
from benchmark.data.busi import IMAGE_EXTENSIONS
from benchmark.data.imageset import CLASS_NAMES
from benchmark.models.build import build_model, set_train_mode
from benchmark.training.trainer import class_weights
from benchmark.training.device import resolve_device

BATCH_SIZE = 24


# -- the image folder ------------------------------------------------------------------------
def _valid_file(path: str) -> bool:
    p = Path(path)
    return (not p.name.startswith(".") and "_mask" not in p.name.lower()
            and p.suffix.lower() in IMAGE_EXTENSIONS)


def image_folder(root, transform=None):
    """A torchvision ``ImageFolder`` of ``root/benign`` (0) and ``root/malignant`` (1).

    Other class folders (BUSI's ``normal/``), BUSI's segmentation masks (``*_mask*.png``) and
    hidden files are left out.
    """
    from torchvision.datasets import ImageFolder

    class BinaryImageFolder(ImageFolder):
        def find_classes(self, directory):
            missing = [c for c in CLASS_NAMES if not (Path(directory) / c).is_dir()]
            if missing:
                raise FileNotFoundError(f"{directory} has no {'/, '.join(missing)}/ folder")
            return list(CLASS_NAMES), {c: i for i, c in enumerate(CLASS_NAMES)}

    return BinaryImageFolder(str(root), transform=transform, is_valid_file=_valid_file)


def write_synthetic_image_folder(folder, n_images: int = 96, image_size: int = 128, seed: int = 0) -> Path:
    """The suite's synthetic images as PNG files in ``folder/benign`` and ``folder/malignant``."""
    from PIL import Image

    from benchmark.data.synthetic import make_synthetic

    folder = Path(folder)
    data = make_synthetic(n_images=n_images, image_size=image_size, seed=seed)
    for name in CLASS_NAMES:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(data.images, data.labels)):
        Image.fromarray(image).save(folder / CLASS_NAMES[label] / f"{i:05d}.png")
    return folder


@contextlib.contextmanager
def resolve_image_folder(dataset: str = "auto", data_root=None, image_size: int = 112,
                         synthetic_images: int = 400):
    """Yield ``(folder, description, cache_dir)``: BUSI's folder, or synthetic PNGs in a
    temporary folder.

    dataset "auto": BUSI if it is found (``data_root``, ``$BUSI_ROOT``, ``datasets/busi``),
    else synthetic (``synthetic_images`` images, the quick profile's count, at ``image_size``).
    ``cache_dir`` is where the suite's side keeps its decoded images: None (the usual cache)
    for BUSI, a folder inside the temporary one for synthetic files, so nothing is left behind.
    """
    from benchmark.data.busi import resolve_busi_root

    if dataset in ("auto", "busi"):
        try:
            root = resolve_busi_root(data_root)
            yield root, f"BUSI ({root})", None
            return
        except FileNotFoundError:
            if dataset == "busi":
                raise
    with tempfile.TemporaryDirectory(prefix="petl-bench-baseline-") as tmp:
        folder = write_synthetic_image_folder(Path(tmp) / "images", synthetic_images, image_size)
        yield folder, (f"SYNTHETIC images ({synthetic_images} PNG files of {image_size} px in a "
                       "temporary folder; BUSI's files are larger, so decoding costs the baseline more there)"), \
            Path(tmp) / "cache"


def files_and_labels(folder) -> tuple[list[Path], np.ndarray]:
    samples = image_folder(folder).samples
    return [Path(p) for p, _ in samples], np.array([y for _, y in samples], dtype=np.int64)


def split_indices(labels: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """The suite's stratified train/val/test split (every image its own group)."""
    from benchmark.data.split import stratified_group_split

    return stratified_group_split(labels, np.arange(len(labels)), seed=seed)


# -- the usual way -----------------------------------------------------------------------------
def plain_transform(image_size: int, mean, std, train: bool = True):
    from torchvision import transforms as T

    steps = [T.Grayscale(3), T.Resize((image_size, image_size))]
    if train:
        steps += [T.RandomHorizontalFlip(), T.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
                  T.ColorJitter(0.1, 0.1)]
    steps += [T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(steps)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def baseline_training(method: str, backbone: str, image_size: int, image_folder_root, device="cpu",
                      epochs: int = 1, max_batches: int | None = None, weights=None, lr: float = 1e-3,
                      beta1: float = 0.9, seed: int = 0, batch_size: int = BATCH_SIZE,
                      split: dict | None = None) -> dict:
    """Train ``method`` the usual way for ``epochs`` epochs; time each.

    ``max_batches`` caps the training and the validation batches run per epoch; each epoch's
    full time is then extrapolated linearly (seconds per batch x batches in a full epoch),
    separately for training and validation. Returns ``epoch_seconds`` (full-epoch estimates),
    ``measured_seconds``, batch counts and ``extrapolated``.
    """
    from torch.utils.data import DataLoader, Subset

    dev = resolve_device(device) if not isinstance(device, torch.device) else device
    torch.manual_seed(seed)
    adapter, m, _ = build_model(method, backbone, image_size, weights)
    model = adapter.model.to(dev)
    labels = np.array([y for _, y in image_folder(image_folder_root).samples], dtype=np.int64)
    split = split or split_indices(labels, seed)
    train_set = Subset(image_folder(image_folder_root, plain_transform(image_size, adapter.mean, adapter.std)),
                       split["train"].tolist())
    val_set = Subset(image_folder(image_folder_root, plain_transform(image_size, adapter.mean, adapter.std,
                                                                     train=False)), split["val"].tolist())
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, num_workers=0,
                        generator=torch.Generator().manual_seed(seed))
    val_loader = DataLoader(val_set, batch_size=batch_size, shuffle=False, num_workers=0)
    weights_t = class_weights(labels[split["train"]], TrainSection().class_weights).to(dev)  # as the suite trains
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr,
                                 betas=(beta1, 0.999))
    cap = max_batches if max_batches is not None else math.inf
    out = {"epoch_seconds": [], "measured_seconds": [], "train_batches_run": 0, "val_batches_run": 0,
           "train_batches_total": len(loader), "val_batches_total": len(val_loader)}
    for _ in range(epochs):
        set_train_mode(model, m.bn_stats)
        started = time.perf_counter()
        n_train = 0
        for x, y in loader:  # (checked after a batch: a DataLoader loads the next one on asking)
            x, y = x.to(dev), y.float().to(dev)
            loss = (F.binary_cross_entropy_with_logits(model(x).squeeze(1), y, reduction="none")
                    * weights_t[y.long()]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()
            n_train += 1
            if n_train >= cap:
                break
        _sync(dev)
        train_seconds = time.perf_counter() - started
        model.eval()
        started = time.perf_counter()
        n_val, scores = 0, []
        with torch.no_grad():
            for x, _ in val_loader:
                scores.append(torch.sigmoid(model(x.to(dev)).squeeze(1)).cpu())
                n_val += 1
                if n_val >= cap:
                    break
        val_seconds = time.perf_counter() - started
        full = (train_seconds / max(n_train, 1) * len(loader)
                + val_seconds / max(n_val, 1) * len(val_loader))
        out["epoch_seconds"].append(full)
        out["measured_seconds"].append(train_seconds + val_seconds)
        out["train_batches_run"], out["val_batches_run"] = n_train, n_val
    out["extrapolated"] = out["train_batches_run"] < out["train_batches_total"] or \
        out["val_batches_run"] < out["val_batches_total"]
    return out


def baseline_epoch_seconds(method: str, backbone: str, image_size: int, image_folder, device="cpu",
                           max_batches: int | None = None, weights=None, seed: int = 0) -> float:
    """Seconds of one training epoch (and validation) the usual way; extrapolated linearly
    from ``max_batches`` training and validation batches when that caps the epoch."""
    return baseline_training(method, backbone, image_size, image_folder, device, epochs=1,
                             max_batches=max_batches, weights=weights, seed=seed)["epoch_seconds"][0]


# -- the suite's way ---------------------------------------------------------------------------
def suite_training(method: str, backbone: str, image_size: int, image_folder_root, device="cpu",
                   epochs: int | None = None, profile="quick", weights=None, seed: int = 0,
                   split: dict | None = None, cache_dir=None, trials: int = 1) -> dict:
    """Train ``method`` with the suite's trainer on the same files; time it.

    The profile's training section with ``max_epochs = epochs`` (default: the profile's) and
    early stopping off (patience = epochs), so every epoch runs. ``trials`` trainings run one
    after another in this process, as a search's trials do (each on its own seeded model);
    the frozen-prefix cache is cleared before the first, so the first pays for building it
    and the others reuse it. The first trial's numbers are returned at the top level;
    ``trial_seconds`` holds every trial's wall time.
    """
    from benchmark.training import prefix_cache
    from benchmark.data.cache import decode_images
    from benchmark.common.profiles import load_profile
    from benchmark.training.trainer import train

    dev = resolve_device(device) if not isinstance(device, torch.device) else device
    prof = load_profile(profile) if isinstance(profile, (str, Path)) else profile
    epochs = epochs or prof.train.max_epochs
    paths, labels = files_and_labels(image_folder_root)
    started = time.perf_counter()
    images, _, cache_hit = decode_images(paths, image_size, cache_dir)
    load_seconds = time.perf_counter() - started
    split = split or split_indices(labels, seed)
    tr, va = split["train"], split["val"]
    config = dataclasses.replace(prof.train, max_epochs=epochs, patience=epochs)
    prefix_cache.clear()
    walls, first = [], None
    for trial in range(max(1, trials)):
        torch.manual_seed(seed + trial)
        adapter, m, _ = build_model(method, backbone, image_size, weights)
        _sync(dev)
        started = time.perf_counter()
        result = train(adapter, m.bn_stats, images[tr], labels[tr], images[va], labels[va], config,
                       prof.train.lr, prof.train.beta1, dev, seed=seed + trial, progress=False)
        _sync(dev)
        walls.append(time.perf_counter() - started)
        if first is None:
            first = result
    epoch_seconds = [h["seconds"] for h in first.history]
    setup = max(walls[0] - sum(epoch_seconds), 0.0)  # mostly the frozen-prefix cache; also the final state load
    return {"wall_seconds": walls[0], "setup_seconds": setup, "epochs": first.epochs_run,
            "first_epoch_seconds": setup + epoch_seconds[0],
            "later_epoch_seconds": statistics.median(epoch_seconds[1:]) if len(epoch_seconds) > 1 else math.nan,
            "epoch_seconds": epoch_seconds, "trial_seconds": walls, "data_load_seconds": load_seconds,
            "data_cache_hit": cache_hit, "frozen_prefix_cached": bool(first.inputs.get("frozen_prefix_cached")),
            "n_train": int(len(tr)), "n_val": int(len(va))}


# -- the comparison --------------------------------------------------------------------------
def compare(backbone: str, image_size: int, image_folder_root, device="cpu", weights=None,
            profile="quick", epoch_method: str = "finetune_all", trial_method: str = "feature_extraction",
            suite_epochs: int = 4, epoch_baseline_epochs: int = 2, trial_epochs: int | None = None,
            trials: int | None = None, baseline_epochs: int = 1, max_batches: int | None = None,
            seed: int = 0, cache_dir=None) -> dict:
    """Suite vs the usual way on the same files and split.

    1. An epoch of ``epoch_method`` (default finetune_all): the suite runs ``suite_epochs``
       epochs (its first, and the median of the later ones), the baseline
       ``epoch_baseline_epochs`` (their median); one epoch is a noisy measure on a shared
       machine, so neither side rests on one.
    2. Trials of ``trial_method`` (default feature_extraction), ``trial_epochs`` epochs each
       (default: the profile's ``max_epochs``, early stopping off): the suite runs ``trials``
       of them (default: a study's worth, the profile's ``n_trials``, or its grid's size) one after another, the
       first building the frozen-prefix cache; the baseline runs ``baseline_epochs`` epochs,
       extrapolated linearly to a trial. Ratios for the first trial and per trial of the study.
    ``max_batches`` caps the baseline's batches per epoch (extrapolated too).
    """
    from benchmark.common.profiles import load_profile

    dev = resolve_device(device) if not isinstance(device, torch.device) else device
    prof = load_profile(profile) if isinstance(profile, (str, Path)) else profile
    trial_epochs = trial_epochs or prof.train.max_epochs
    if not trials:
        from benchmark.training.search_space import grid_points

        trials = len(grid_points(prof)) if prof.search.sampler == "grid" else prof.search.n_trials
    _, labels = files_and_labels(image_folder_root)
    split = split_indices(labels, seed)
    common = dict(weights=weights, seed=seed, split=split)

    suite_epoch = suite_training(epoch_method, backbone, image_size, image_folder_root, dev,
                                 epochs=max(2, suite_epochs), profile=prof, cache_dir=cache_dir, **common)
    base_epoch = baseline_training(epoch_method, backbone, image_size, image_folder_root, dev,
                                   epochs=max(1, epoch_baseline_epochs), max_batches=max_batches, **common)
    suite_trial = suite_training(trial_method, backbone, image_size, image_folder_root, dev,
                                 epochs=trial_epochs, profile=prof, cache_dir=cache_dir, trials=trials, **common)
    base_trial = baseline_training(trial_method, backbone, image_size, image_folder_root, dev,
                                   epochs=min(baseline_epochs, trial_epochs), max_batches=max_batches, **common)
    base_per_epoch = statistics.mean(base_trial["epoch_seconds"])
    base_trial_seconds = base_per_epoch * trial_epochs
    b = statistics.median(base_epoch["epoch_seconds"])
    later = suite_epoch["later_epoch_seconds"]
    per_trial = statistics.mean(suite_trial["trial_seconds"])
    return {
        "backbone": backbone, "image_size": image_size, "device": str(dev), "profile": prof.name,
        "n_train": suite_epoch["n_train"], "n_val": suite_epoch["n_val"],
        "data_load_seconds": suite_epoch["data_load_seconds"], "data_cache_hit": suite_epoch["data_cache_hit"],
        "epoch": {"method": epoch_method, "suite_first_seconds": suite_epoch["first_epoch_seconds"],
                  "suite_later_seconds": later, "suite_epochs": suite_epoch["epoch_seconds"],
                  "baseline_seconds": b, "baseline_epochs": base_epoch["epoch_seconds"],
                  "baseline_extrapolated": base_epoch["extrapolated"],
                  "ratio_first": b / suite_epoch["first_epoch_seconds"],
                  "ratio_later": b / later if later == later else math.nan},
        "trial": {"method": trial_method, "epochs": trial_epochs,
                  "suite_seconds": suite_trial["wall_seconds"],
                  "suite_setup_seconds": suite_trial["setup_seconds"],
                  "suite_first_epoch_seconds": suite_trial["first_epoch_seconds"],
                  "suite_later_epoch_seconds": suite_trial["later_epoch_seconds"],
                  "suite_prefix_cached": suite_trial["frozen_prefix_cached"],
                  "suite_trial_seconds": suite_trial["trial_seconds"],
                  "suite_seconds_per_trial": per_trial,
                  "baseline_epochs_run": len(base_trial["epoch_seconds"]),
                  "baseline_epoch_seconds": base_per_epoch, "baseline_seconds": base_trial_seconds,
                  "baseline_extrapolated": (len(base_trial["epoch_seconds"]) < trial_epochs
                                            or base_trial["extrapolated"]),
                  "ratio": base_trial_seconds / suite_trial["wall_seconds"],
                  "ratio_per_trial": base_trial_seconds / per_trial},
    }


def _list(seconds) -> str:
    return ", ".join(f"{x:.2f}" for x in seconds) + " s"


def format_comparison(result: dict) -> str:
    e, t = result["epoch"], result["trial"]
    load = "from the decoded-image cache" if result["data_cache_hit"] else "decoded (now cached)"
    lines = [
        f"{result['backbone']} at {result['image_size']} px on {result['device']}, profile "
        f"{result['profile']}: {result['n_train']} training / {result['n_val']} validation images; "
        f"suite data load {result['data_load_seconds']:.1f} s ({load}, once per data set and size)",
        f"{e['method']}, one epoch (train + validation):",
        f"  suite    first {e['suite_first_seconds']:.2f} s, later {e['suite_later_seconds']:.2f} s "
        f"(median of {_list(e['suite_epochs'][1:])})",
        f"  baseline {e['baseline_seconds']:.2f} s (median of {_list(e['baseline_epochs'])})"
        + (" (extrapolated from capped batches)" if e["baseline_extrapolated"] else ""),
        f"  baseline / suite: {e['ratio_first']:.2f}x (first epoch), {e['ratio_later']:.2f}x (later epochs)",
        f"{t['method']}, trials of {t['epochs']} epochs:",
        f"  suite    first trial {t['suite_seconds']:.2f} s (first epoch incl. "
        + ("frozen-prefix cache " if t["suite_prefix_cached"] else "")
        + f"setup {t['suite_first_epoch_seconds']:.2f} s, later epochs {t['suite_later_epoch_seconds']:.2f} s each)",
        f"  suite    {len(t['suite_trial_seconds'])} trials in one process (a study): {_list(t['suite_trial_seconds'])}, "
        f"{t['suite_seconds_per_trial']:.2f} s per trial",
        f"  baseline {t['baseline_seconds']:.2f} s per trial ({t['baseline_epoch_seconds']:.2f} s per epoch"
        + (f", {t['baseline_epochs_run']} epoch(s) run and extrapolated linearly to {t['epochs']}"
           if t["baseline_extrapolated"] else "") + ")",
        f"  baseline / suite: {t['ratio']:.1f}x (first trial), {t['ratio_per_trial']:.1f}x (per trial of the study)",
    ]
    return "\n".join(lines)
