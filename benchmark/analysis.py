"""What the methods do to the backbone's representations (Byra 2021, section 3.5, figures 5-7).

For the runs of one fold of a run folder (``runs/<method>/repeat-<r>/fold-<f>/``, by default
repeat 0, fold 0, and that fold's test images):

- **Activation rate** A_l (eq. 5): for each residual block l, the fraction of positive elements
  of the block's output, over the split's test images, for every method's trained model, and
  for the pretrained backbone on natural photographs as the paper's reference (the paper used
  ImageNet validation images; here the colour photographs that scikit-image ships,
  :data:`NATURAL_PHOTOS`). In a ResNet the block output is taken after the block's final
  ReLU (where the paper measures it); EfficientNet-Lite blocks end without an activation, so
  there A_l is the fraction of positive elements of the block's (linear) output.
- **Activation rate change** (eqs. 6-7): for every method whose model holds DRS layers, the
  fraction of block-output elements whose sign (positive or not) differs from that of the
  feature-extraction model, whose backbone is the pretrained backbone, on the same images.
- **DRS deviation from identity** (figure 7): per DRS method and block, the mean and largest
  absolute difference of S_m, S_b, D_m, D_b from (1, 0, 1, 0), read from ``trained_state.pt``.

Forward passes are batched under ``torch.inference_mode``; forward hooks on the adapter's
``blocks()`` count positive elements as batches go by (nothing is kept but counts, and the
pretrained backbone's signs on the test images, packed 8 per byte, for the comparison).

:func:`write_analysis` writes ``analysis/*.csv``, ``analysis/notes.md`` and
``figures/activation_rates.png``, ``figures/activation_rate_change.png``,
``figures/drs_deviation.png``; :func:`describe_findings` turns the tables into sentences.
"""
from __future__ import annotations

import functools
import json
import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .io import write_csv_atomic, write_text_atomic
from .runfolder import RESULTS_FILE, STATE_FILE

__all__ = ["activation_rates", "activation_rate_change", "drs_deviation", "write_analysis", "describe_findings",
           "natural_photographs", "block_sign_counts", "NATURAL_PHOTOS", "PRETRAINED_NATURAL",
           "PRETRAINED_TEST"]

#: scikit-image's colour photographs of natural scenes and objects, all shipped with the
#: package (no download). ``cat`` is the same picture as ``chelsea`` and is left out; the
#: two motorcycle views are the left and right images of ``stereo_motorcycle()``.
#: Microscopy, retina and synthetic images (``immunohistochemistry``, ``retina``,
#: ``colorwheel``, ``logo``) are not natural photographs and are not used.
NATURAL_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "motorcycle_left",
                  "motorcycle_right")

PRETRAINED_NATURAL = "pretrained (natural photographs)"
PRETRAINED_TEST = "pretrained (test images)"  # only when the run has no feature_extraction model
REFERENCE_METHOD = "feature_extraction"
DRS_PARAMETERS = {"S_m": ("spatial_scale", 1.0), "S_b": ("spatial_shift", 0.0),
                  "D_m": ("channel_scale", 1.0), "D_b": ("channel_shift", 0.0)}
RATE_COLUMNS = ["model", "block", "block_name", "rate", "images", "where"]
CHANGE_COLUMNS = ["method", "block", "block_name", "changed_fraction"]
DEVIATION_COLUMNS = ["method", "block", "block_name", "parameter", "mean_abs_deviation", "max_abs_deviation"]
WHERE = {"resnet": "after the block's final ReLU",
         "efficientnet_lite": "block output (no final activation)"}
BATCH_SIZE = 32


# ------------------------------------------------------------------------------- inputs
def natural_photographs(image_size: int, names=NATURAL_PHOTOS) -> tuple[torch.Tensor, list[str]]:
    """The photographs as float RGB in [0, 1], N x 3 x size x size, and their names.

    Each photograph is centre-cropped to a square (its shorter side) and resized with
    antialiasing to ``image_size``.
    """
    return _photographs(int(image_size), tuple(names)).clone(), list(names)


@functools.lru_cache(maxsize=4)
def _photographs(image_size: int, names: tuple[str, ...]) -> torch.Tensor:
    try:
        import skimage.data as data
    except ImportError as exc:  # pragma: no cover - scikit-image is installed with the test extras
        raise ImportError("the natural-photograph reference of the activation analysis needs scikit-image "
                          "(pip install scikit-image): its photographs ship with the package") from exc
    stereo = None
    images = []
    for name in names:
        if name in ("motorcycle_left", "motorcycle_right"):
            if stereo is None:
                stereo = data.stereo_motorcycle()
            img = stereo[0] if name == "motorcycle_left" else stereo[1]
        else:
            img = getattr(data, name)()
        img = np.asarray(img)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        img = img[..., :3]
        h, w = img.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        img = img[top:top + side, left:left + side]
        x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div(255.0)[None]
        images.append(F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True,
                                    align_corners=False).clamp_(0.0, 1.0))
    return torch.cat(images)


def _normalise(unit_rgb: torch.Tensor, mean, std) -> torch.Tensor:
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((unit_rgb - m) / s).contiguous(memory_format=torch.channels_last)


def _ultrasound_batches(images: np.ndarray, mean, std, batch_size: int):
    """uint8 grayscale N x H x W, normalised as the trainer does (gray copied to 3 channels)."""
    from .trainer import Preprocess

    prep = Preprocess(mean, std)
    x = torch.as_tensor(images)
    for start in range(0, len(x), batch_size):
        yield prep(prep.to_unit(x[start:start + batch_size]))


def _photo_batches(unit_rgb: torch.Tensor, mean, std, batch_size: int):
    for start in range(0, len(unit_rgb), batch_size):
        yield _normalise(unit_rgb[start:start + batch_size], mean, std)


# ------------------------------------------------------------------------------- counting
@dataclass
class BlockCounts:
    """Per-block element counts of one model over a set of images."""

    positive: np.ndarray
    nonzero: np.ndarray
    total: np.ndarray
    changed: np.ndarray | None = None           # sign differs from the reference's
    signs: list[list[np.ndarray]] = field(default_factory=list)  # [batch][block] packed (o > 0)

    @property
    def rate(self) -> np.ndarray:
        return self.positive / np.maximum(self.total, 1)

    @property
    def changed_fraction(self) -> np.ndarray:
        if self.changed is None:
            raise ValueError("no reference signs were given")
        return self.changed / np.maximum(self.total, 1)


@torch.inference_mode()
def block_sign_counts(backbone, batches, reference: list[list[np.ndarray]] | None = None,
                      keep_signs: bool = False) -> BlockCounts:
    """Run the model over ``batches`` (normalised N x 3 x H x W) counting, at each block's output,
    positive and nonzero elements; with ``reference`` (the ``signs`` of an earlier call on the
    same batches) also the elements whose sign differs; with ``keep_signs`` keep the signs,
    packed 8 per byte, for such a later call."""
    model = backbone.model
    blocks = backbone.blocks()
    n = len(blocks)
    counts = BlockCounts(np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64),
                         np.zeros(n, np.int64) if reference is not None else None)
    state = {"batch": 0, "signs": None}

    def hook(index):
        def count(module, inputs, output):
            pos = output > 0
            counts.positive[index] += int(pos.sum())
            counts.nonzero[index] += int((output != 0).sum())
            counts.total[index] += pos.numel()
            if reference is not None or keep_signs:
                flat = pos.contiguous().view(-1).cpu().numpy()
                if reference is not None:
                    ref = np.unpackbits(reference[state["batch"]][index], count=flat.size).view(bool)
                    counts.changed[index] += int(np.count_nonzero(flat != ref))
                if keep_signs:
                    state["signs"][index] = np.packbits(flat)
        return count

    handles = [b.register_forward_hook(hook(i)) for i, b in enumerate(blocks)]
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        for batch in batches:
            state["signs"] = [None] * n
            model(batch.to(device))
            if keep_signs:
                counts.signs.append(state["signs"])
            state["batch"] += 1
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if reference is not None and state["batch"] != len(reference):
        raise ValueError(f"{state['batch']} batches, but reference signs for {len(reference)}")
    return counts


# ------------------------------------------------------------------------------- runs
@dataclass
class _Run:
    method: str
    folder: Path
    record: dict

    @property
    def config(self) -> dict:
        return self.record["config"]


def _runs(run_dir: Path, repeat: int = 0, fold: int = 0) -> list[_Run]:
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
        runs.append(_Run(str(record["config"]["method"]), folder, record))
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


def _build(method: str, config: dict):
    """The method's model as the runner built it: seeded with the run's training seed, so that a
    backbone with ``weights="random"`` (whose frozen weights ``trained_state.pt`` does not hold)
    comes out the same; the global random state is left as it was."""
    from .model import build_model

    seed = int(config.get("train_seed", config.get("split_seed", 0)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone, _, _ = build_model(method, config["backbone"], int(config["image_size"]), config.get("weights"),
                                     config.get("method_params") if method == config["method"] else None)
    return backbone


def _load_trained(run: _Run):
    backbone = _build(run.method, run.config)
    state = torch.load(run.folder / STATE_FILE, map_location="cpu", weights_only=True)
    result = backbone.model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise ValueError(f"{run.folder / STATE_FILE} does not fit the {run.method} model "
                         f"(unexpected keys, e.g. {result.unexpected_keys[:3]})")
    backbone.model.eval()
    return backbone, state


def _drs_layers(backbone) -> list[list[tuple[str, object]]]:
    """Per block, the (qualified name, layer) of the DRS layers inside it."""
    from methods.drs import DRSLayer

    names = {id(m): n for n, m in backbone.model.named_modules()}
    return [[(names[id(m)], m) for m in block.modules() if isinstance(m, DRSLayer)] for block in backbone.blocks()]


def _block_names(backbone) -> list[str]:
    names = {id(m): n for n, m in backbone.forward_sequence()}
    return [names.get(id(b), f"block {i}") for i, b in enumerate(backbone.blocks())]


def _stage(block_name: str) -> str:
    return block_name.rsplit(".", 1)[0]


def _where(family: str) -> str:
    return WHERE.get(family, "block output")


def _synthetic(runs: list[_Run]) -> bool:
    return any(bool((r.record.get("dataset") or {}).get("synthetic")) for r in runs)


# ------------------------------------------------------------------------------- analysis
def _fold_test_images(run_dir: Path, repeat: int, fold: int) -> np.ndarray:
    """The fold's test images: its ids in ``predictions.csv`` (training data set), looked up in
    ``test_images.npz``."""
    from .runfolder import internal_dataset, load_predictions, test_images

    pred = load_predictions(run_dir)
    rows = pred[(pred["dataset"] == internal_dataset(run_dir, pred)) & (pred["repeat"] == repeat)
                & (pred["fold"] == fold)]
    ids = list(dict.fromkeys(rows["image_id"]))
    if not ids:
        raise FileNotFoundError(f"{run_dir / 'predictions.csv'} has no test image of repeat {repeat}, fold {fold}")
    images, found = test_images(run_dir, ids)
    if len(found) < len(ids):
        raise FileNotFoundError(f"{run_dir / 'test_images.npz'} lacks {len(ids) - len(found)} of the "
                                f"{len(ids)} test images of repeat {repeat}, fold {fold}")
    return images


def _analyse(run_dir, repeat: int, fold: int, rates: bool, change: bool, deviation: bool,
             batch_size: int = BATCH_SIZE) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three tables (those asked for; the others come back empty), each model loaded once."""
    run_dir = Path(run_dir)
    runs = _runs(run_dir, repeat, fold)
    config = runs[0].config
    rate_rows, change_rows, dev_rows = [], [], []
    forward = rates or change
    if forward:
        images = _fold_test_images(run_dir, repeat, fold)
        size = int(config["image_size"])
        if images.shape[1:] != (size, size):
            raise ValueError(f"test images of repeat {repeat}, fold {fold} are {images.shape[1:]}, the runs' models "
                             f"take {size} x {size}")
        test_label = f"test images, repeat {repeat}, fold {fold} (n={len(images)})"

    reference = _build(REFERENCE_METHOD, config)  # the pretrained backbone, unchanged
    reference.model.eval()
    where, names = _where(reference.family), _block_names(reference)
    mean, std = reference.mean, reference.std

    def add_rates(model_name, counts, label):
        rate_rows.extend({"model": model_name, "block": i, "block_name": names[i], "rate": float(r),
                          "images": label, "where": where} for i, r in enumerate(counts.rate))

    has_reference_run = any(r.method == REFERENCE_METHOD for r in runs)
    ref_test = None
    if change or (rates and not has_reference_run):
        ref_test = block_sign_counts(reference, _ultrasound_batches(images, mean, std, batch_size),
                                     keep_signs=change)
    if rates:
        photos, photo_names = natural_photographs(size)
        natural = block_sign_counts(reference, _photo_batches(photos, mean, std, batch_size))
        add_rates(PRETRAINED_NATURAL, natural, f"skimage.data: {', '.join(photo_names)}")
        if not has_reference_run:
            add_rates(PRETRAINED_TEST, ref_test, test_label)
    del reference

    for run in runs:
        backbone, state = _load_trained(run)
        if _block_names(backbone) != names:
            raise ValueError(f"{run.method}: its blocks differ from the pretrained backbone's")
        drs_layers = _drs_layers(backbone)
        is_drs = any(drs_layers)
        if deviation and is_drs:
            dev_rows.extend(_deviation_rows(run, drs_layers, state, names))
        if rates or (change and is_drs):
            counts = block_sign_counts(backbone, _ultrasound_batches(images, mean, std, batch_size),
                                       reference=ref_test.signs if (change and is_drs) else None)
            if rates:
                add_rates(run.method, counts, test_label)
            if change and is_drs:
                change_rows.extend({"method": run.method, "block": i, "block_name": names[i],
                                    "changed_fraction": float(f)} for i, f in enumerate(counts.changed_fraction))
        del backbone, state
    return (pd.DataFrame(rate_rows, columns=RATE_COLUMNS), pd.DataFrame(change_rows, columns=CHANGE_COLUMNS),
            pd.DataFrame(dev_rows, columns=DEVIATION_COLUMNS))


def _deviation_rows(run: _Run, drs_layers, state: dict, names: list[str]) -> list[dict]:
    rows = []
    for block, layers in enumerate(drs_layers):
        for parameter, (attr, identity) in DRS_PARAMETERS.items():
            values = []
            for name in [n for n, m in layers if hasattr(m, attr)]:
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
    return _analyse(run_dir, repeat, fold, rates=True, change=False, deviation=False)[0]


def activation_rate_change(run_dir, repeat: int = 0, fold: int = 0) -> pd.DataFrame:
    """For every method whose model holds DRS layers, per block, the fraction of block-output
    elements whose sign differs from the pretrained backbone's (the feature-extraction model's
    backbone) on the same test images. Columns: method, block, block_name, changed_fraction;
    no rows when the run has no DRS method."""
    return _analyse(run_dir, repeat, fold, rates=False, change=True, deviation=False)[1]


def drs_deviation(run_dir, repeat: int = 0, fold: int = 0) -> pd.DataFrame:
    """Per DRS method, block and parameter (S_m, S_b, D_m, D_b, those the method has), the mean and
    largest absolute difference of the trained values from the identity (1, 0, 1, 0).

    Read from ``trained_state.pt`` (no forward pass). Columns: method, block, block_name,
    parameter, mean_abs_deviation, max_abs_deviation; no rows when the run has no DRS method.
    """
    return _analyse(run_dir, repeat, fold, rates=False, change=False, deviation=True)[2]


# ------------------------------------------------------------------------------- figures
def _colors(run_dir: Path, methods: list[str]) -> dict:
    """The leaderboard's colours (same method -> same colour as in the other figures)."""
    from .figures import method_colors
    from .leaderboard import load_run

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            order = list(load_run(run_dir).order)
    except Exception:  # noqa: BLE001 - colours only
        order = []
    order += [m for m in methods if m not in order]
    return method_colors(order)


def _mark_stages(ax, block_names: list[str], family: str, label: bool = True) -> None:
    """Dotted lines between stages, and the stage names on a top axis."""
    stages = [_stage(n) for n in block_names]
    starts = [i for i in range(len(stages)) if i == 0 or stages[i] != stages[i - 1]]
    ends = starts[1:] + [len(stages)]
    for s in starts[1:]:
        ax.axvline(s - 0.5, color="0.45", lw=0.9, ls=":", zorder=1)
    top = ax.secondary_xaxis("top")
    top.set_xticks([(a + b - 1) / 2 for a, b in zip(starts, ends)])
    top.set_xticklabels([stages[a].replace("layer", "").replace("blocks.", "") for a in starts],
                        fontsize="small")
    top.tick_params(length=0)
    if label:
        top.set_xlabel("stage (" + ("layer1-4" if family == "resnet" else "blocks.<stage>.<i>") + ")",
                       fontsize="small")
    ax.set_xlim(-0.5, len(stages) - 0.5)
    step = 1 if len(stages) <= 20 else 2 if len(stages) <= 40 else 5
    ax.set_xticks(range(0, len(stages), step))
    ax.grid(axis="x", visible=False)


def _caption(fig, lines: list[str], width: int = 150) -> None:
    text = "\n".join(textwrap.fill(line, width) for line in lines)
    fig.text(0.01, -0.01, text, ha="left", va="top", fontsize="small", color="0.25")


_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*", "<", ">", "h", "p")


def _marker(method: str, colors: dict) -> str:
    """One marker per method (its place in the colour order), so that similar colours stay apart."""
    order = list(colors)
    return _MARKERS[order.index(method) % len(_MARKERS)] if method in order else "o"


def _ordered(methods, colors) -> list[str]:
    rank = {m: i for i, m in enumerate(colors)}
    return sorted(set(methods), key=lambda m: (rank.get(m, len(rank)), m))


def _rates_figure(rates: pd.DataFrame, colors: dict, family: str, synthetic: bool, fold_label: str, what: str,
                  path) -> Path:
    from .figures import _new_figure, _save, _style, _synthetic_note

    names = list(rates.drop_duplicates("block").sort_values("block")["block_name"])
    methods = _ordered([m for m in rates["model"].unique() if m != PRETRAINED_NATURAL], colors)
    with _style():
        fig = _new_figure(11.5, 5.6)
        ax = fig.subplots()
        for m in methods:
            part = rates[rates["model"] == m].sort_values("block")
            ax.plot(part["block"], part["rate"], color=colors.get(m, "0.4"), lw=1.6, marker=_marker(m, colors),
                    ms=4.5, mec="white", mew=0.5, label=m, zorder=3)
        nat = rates[rates["model"] == PRETRAINED_NATURAL].sort_values("block")
        if not nat.empty:
            ax.plot(nat["block"], nat["rate"], color="black", lw=2.4, ls="--", marker="s", ms=4,
                    label="pretrained backbone,\nnatural photographs", zorder=4)
        _mark_stages(ax, names, family)
        lo, hi = float(rates["rate"].min()), float(rates["rate"].max())
        pad = 0.08 * (hi - lo) + 0.01
        ax.set_ylim(max(0.0, lo - pad), min(1.0, hi + pad))
        ax.set_xlabel("Residual block index l (0 = first)")
        ax.set_ylabel("Activation rate $A_l$ (fraction > 0)")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small", title="model",
                  title_fontsize="small", frameon=False)
        ax.set_title(f"Activation rate per block ({what}), test images of {fold_label}"
                     f"{_synthetic_note(synthetic)}", fontweight="bold")
        images = nat["images"].iloc[0] if not nat.empty else ""
        test = rates.loc[rates["model"] != PRETRAINED_NATURAL, "images"].iloc[0]
        where = ("after the block's final ReLU" if family == "resnet" else
                 "(EfficientNet-Lite blocks end without an activation, unlike the paper's ResNet whose blocks end "
                 "in a ReLU)")
        _caption(fig, [f"Rate = fraction of positive elements of each block's output {where}, averaged over {test}.",
                       f"Dashed black: the pretrained backbone on natural photographs ({images}) - the paper "
                       "used ImageNet validation images. Dotted verticals: stage boundaries."])
        fig.tight_layout()
        return _save(fig, path)


def _change_figure(change: pd.DataFrame, colors: dict, family: str, synthetic: bool, fold_label: str, what: str,
                   path) -> Path:
    from .figures import _new_figure, _save, _style, _synthetic_note

    names = list(change.drop_duplicates("block").sort_values("block")["block_name"])
    methods = _ordered(change["method"].unique(), colors)
    with _style():
        fig = _new_figure(11.0, 5.4)
        ax = fig.subplots()
        for m in methods:
            part = change[change["method"] == m].sort_values("block")
            ax.plot(part["block"], 100.0 * part["changed_fraction"], color=colors.get(m, "0.4"), lw=1.8,
                    marker=_marker(m, colors), ms=5, mec="white", mew=0.5, label=m, zorder=3)
        _mark_stages(ax, names, family)
        top = 100.0 * float(change["changed_fraction"].max())
        ax.set_ylim(-0.02 * max(top, 1.0), max(top * 1.1, 1.0))
        ax.set_xlabel("Residual block index l (0 = first)")
        ax.set_ylabel("Elements whose sign changed (%)")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small", title="DRS method",
                  title_fontsize="small", frameon=False)
        ax.set_title(f"Activation rate change against the pretrained backbone ({what}), {fold_label}"
                     f"{_synthetic_note(synthetic)}", fontweight="bold")
        where = "after its final ReLU" if family == "resnet" else "(no final activation in EfficientNet-Lite)"
        _caption(fig, [f"Share of the elements of each block's output {where} that are positive in one "
                       "model and not in the other: the DRS method's trained model against the feature-extraction "
                       "model's (pretrained, unchanged) backbone, on the same test images (eqs. 6-7)."], width=140)
        fig.tight_layout()
        return _save(fig, path)


def _lighter(color, amount: float = 0.5):
    import matplotlib as mpl

    return tuple(c + (1.0 - c) * amount for c in mpl.colors.to_rgb(color))


_PARAM_TITLES = {"S_m": r"$S_m$ (spatial scale): $|S_m - 1|$", "S_b": r"$S_b$ (spatial shift): $|S_b|$",
                 "D_m": r"$D_m$ (channel scale): $|D_m - 1|$", "D_b": r"$D_b$ (channel shift): $|D_b|$"}


def _deviation_figure(dev: pd.DataFrame, colors: dict, family: str, synthetic: bool, block_names: list[str],
                      what: str, path) -> Path:
    from matplotlib.lines import Line2D

    from .figures import _new_figure, _save, _style, _synthetic_note

    methods = _ordered(dev["method"].unique(), colors)
    with _style():
        fig = _new_figure(13.0, 8.4)
        axes = fig.subplots(2, 2, sharex=True).ravel()
        for k, (ax, parameter) in enumerate(zip(axes, DRS_PARAMETERS)):
            part = dev[dev["parameter"] == parameter]
            for m in methods:
                p = part[part["method"] == m].sort_values("block")
                if p.empty:
                    continue
                c = colors.get(m, "0.4")
                mk = _marker(m, colors)
                ax.plot(p["block"], p["max_abs_deviation"], color=_lighter(c), lw=1.2, ls="--", marker=mk,
                        ms=3.5, zorder=2)
                ax.plot(p["block"], p["mean_abs_deviation"], color=c, lw=1.8, marker=mk, ms=4.5, mec="white",
                        mew=0.5, zorder=3)
            if part.empty:
                ax.text(0.5, 0.5, "no method trains this parameter", transform=ax.transAxes, ha="center",
                        va="center", color="0.4")
            _mark_stages(ax, block_names, family, label=k < 2)
            ax.set_ylim(bottom=0.0, top=max(float(part["max_abs_deviation"].max()) * 1.1, 1e-3)
                        if not part.empty else 1.0)
            ax.set_title(_PARAM_TITLES[parameter], fontsize="medium")
            ax.set_ylabel("|trained - identity|")
            ax.set_xlabel("Residual block index l")
            ax.xaxis.set_tick_params(labelbottom=True)
        handles = [Line2D([], [], color=colors.get(m, "0.4"), lw=2, marker=_marker(m, colors), ms=5)
                   for m in methods]
        labels = list(methods)
        handles += [Line2D([], [], color="0.3", lw=1.8), Line2D([], [], color=_lighter("0.3"), lw=1.2, ls="--")]
        labels += ["mean |deviation| in the block", "largest |deviation| (lighter, dashed)"]
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small",
                   title="DRS method", title_fontsize="small", frameon=False)
        fig.suptitle(f"DRS parameters ({what}): deviation from the identity (1, 0, 1, 0) per block"
                     f"{_synthetic_note(synthetic)}", fontweight="bold")
        fig.tight_layout()
        return _save(fig, path)


# ------------------------------------------------------------------------------- writing
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
        runs = _runs(run_dir, repeat, fold)
        rates, change, dev = _analyse(run_dir, repeat, fold, rates=True, change=True, deviation=True)
    fold_label = f"repeat {repeat}, fold {fold}"
    skipped = sorted({str(w.message).removeprefix("analysis: ") for w in caught
                      if str(w.message).startswith("analysis:")})
    for w in caught:  # hand them on to the caller
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    family = (runs[0].record.get("backbone") or {}).get("family")
    if not family:
        family = _build(REFERENCE_METHOD, runs[0].config).family
    synthetic = _synthetic(runs)
    out, figs = run_dir / "analysis", run_dir / "figures"
    written: dict = {
        "analysis/activation_rates.csv": write_csv_atomic(out / "activation_rates.csv", rates),
        "analysis/activation_rate_change.csv": write_csv_atomic(out / "activation_rate_change.csv", change),
        "analysis/drs_deviation.csv": write_csv_atomic(out / "drs_deviation.csv", dev),
    }
    colors = _colors(run_dir, list(rates["model"].unique()))
    what = f"{runs[0].config['backbone']}, {int(runs[0].config['image_size'])} px"
    block_names = list(rates.drop_duplicates("block").sort_values("block")["block_name"])
    written["figures/activation_rates.png"] = _rates_figure(rates, colors, family, synthetic, fold_label, what,
                                                            figs / "activation_rates.png")
    none = f"not written: no method with DRS layers among the runs of {fold_label}"
    written["figures/activation_rate_change.png"] = none if change.empty else _change_figure(
        change, colors, family, synthetic, fold_label, what, figs / "activation_rate_change.png")
    written["figures/drs_deviation.png"] = none if dev.empty else _deviation_figure(
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
              f"- Where: {_where(family)}."
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
        rates, change, dev = _analyse(run_dir, repeat, fold, rates=True, change=True, deviation=True)
    where = set(rates["where"]) if not rates.empty else set()
    family = "resnet" if where == {WHERE["resnet"]} else "efficientnet_lite" if where else "resnet"
    synthetic = False
    for path in sorted((run_dir / "runs").glob(f"*/repeat-*/fold-*/{RESULTS_FILE}")):
        try:
            synthetic |= bool((json.loads(path.read_text()).get("dataset") or {}).get("synthetic"))
        except json.JSONDecodeError:
            continue
    return _findings(rates, change, dev, family, synthetic)
