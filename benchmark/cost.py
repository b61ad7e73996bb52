"""What a method costs: throughput, latency, memory and FLOPs, against the machine's own ceiling.

``petl-bench bench`` (``run_bench``) measures, per method, on one backbone and input size:

- training throughput: images/s of one optimiser step of the suite's trainer (the same
  preprocessing, batch augmentation, autocast, weighted loss, backward and Adam step on the
  method's trainable parameters as ``benchmark.trainer.train``, via its ``TrainingInputs``), median
  over timed steps after a warm-up; for a method whose frozen prefix the trainer caches, also
  the throughput of a step on cached prefix outputs (the suffix only), which is what the
  trainer runs in every epoch after the first;
- inference throughput (``predict_scores`` at batch 128 on the CPU, 512 on CUDA, in the
  profile's inference precision, see ``benchmark.trainer.inference_dtype``) and per-image
  latency (batch 1), medians;
- peak memory while training: on CUDA ``torch.cuda.max_memory_allocated`` after
  ``reset_peak_memory_stats``; on the CPU the peak resident memory of a fresh process that
  measures this one method alone, so methods do not inherit each other's peaks (forked from
  a server process that has imported the suite, multiprocessing "forkserver", or spawned
  where there is none). On Linux that is the process's ``VmHWM``
  (/proc/self/status), not ``getrusage().ru_maxrss``: a spawned child's ``ru_maxrss`` starts
  at the parent's peak, because Linux carries it across ``exec``. It includes the
  interpreter, torch and the model (a few hundred MB before any training), so compare methods
  by their differences;
- FLOPs counted by ``torch.utils.flop_counter.FlopCounterMode`` (matrix products and
  convolutions, forward and backward; elementwise work, batch norm, pooling, augmentation and
  the optimiser are not counted) for one forward and for one training step, per image;
- the achieved training FLOP rate (training FLOPs per image x training images/s) and its
  fraction of the machine's peak, which ``machine_peak_gflops`` measures in the same run:
  the median FLOP rate of a large matrix product (2048 x 2048 float32 on the CPU, 8192 x 8192
  on CUDA, where bf16 is measured as well and is the peak the bf16-autocast trainer is
  compared with).

All timings use the threads torch has (``torch.get_num_threads()``); the inputs are random
uint8 images (content does not change the cost of these networks).
"""
from __future__ import annotations

import argparse
import math
import multiprocessing
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .profiles import INFERENCE_PRECISIONS

if TYPE_CHECKING:  # torch and the suite load on first use: `petl-bench --help` stays quick
    import numpy as np
    import torch

    from .trainer import TrainingInputs

COLUMNS = [
    "method", "backbone", "image_size", "device", "batch_size",
    "train_images_per_s", "infer_images_per_s", "latency_ms", "peak_memory_mb",
    "forward_gflops_per_image", "train_gflops_per_image", "achieved_train_gflops_per_s",
    "fraction_of_peak", "trainable_parameters", "total_parameters", "machine_peak_gflops_per_s",
    "cached_train_images_per_s",
]
EXTRA_COLUMNS = [
    "frozen_prefix_modules", "cached_train_gflops_per_image", "peak_dtype",
    "machine_peak_float32_gflops_per_s", "memory_measure", "weights", "threads", "steps",
    "warmup", "infer_batch_size", "inference_dtype", "error",
]
FLOP_BATCH = 2  # images per FLOP count (the counts are per image; linear in the batch)


# -- the machine's ceiling -----------------------------------------------------------------
def _as_device(device) -> torch.device:
    import torch

    from .trainer import resolve_device

    return device if isinstance(device, torch.device) else resolve_device(device)


def _sync(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def compute_dtype(device) -> torch.dtype:
    """The dtype the trainer's matrix products run in: bf16 under CUDA autocast, else float32."""
    from .trainer import inference_dtype

    return inference_dtype(_as_device(device), "auto")


def machine_peak_gflops(device="cpu", seconds: float = 2.0, dtype: torch.dtype | None = None,
                        size: int | None = None, min_repeats: int = 3) -> float:
    """The machine's FLOP ceiling, in GFLOP/s: a large square matrix product, timed.

    ``size`` x ``size`` (default 2048 on the CPU, 8192 on CUDA) in ``dtype`` (default
    float32); one warm-up product, then repeats until ``seconds`` have passed (at least
    ``min_repeats``); the median rate of the repeats. Uses torch's current thread count.
    """
    import torch

    dtype = dtype or torch.float32
    dev = _as_device(device)
    size = size or (8192 if dev.type == "cuda" else 2048)
    gen = torch.Generator(device=dev).manual_seed(0)
    a = torch.randn(size, size, device=dev, generator=gen).to(dtype)
    b = torch.randn(size, size, device=dev, generator=gen).to(dtype)
    torch.mm(a, b)  # warm-up (kernel choice, first-touch of the output)
    _sync(dev)
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < min_repeats or (time.perf_counter() - started < seconds and len(times) < 200):
        t = time.perf_counter()
        torch.mm(a, b)
        _sync(dev)
        times.append(time.perf_counter() - t)
    return 2.0 * size**3 / statistics.median(times) / 1e9


def machine_peaks(device="cpu", seconds: float = 2.0) -> dict[str, float]:
    """``{"float32": GFLOP/s}``, and on CUDA ``"bfloat16"`` as well."""
    import torch

    dev = _as_device(device)
    peaks = {"float32": machine_peak_gflops(dev, seconds)}
    if dev.type == "cuda":
        peaks["bfloat16"] = machine_peak_gflops(dev, seconds, dtype=torch.bfloat16)
    return peaks


# -- one training step of the suite's trainer -----------------------------------------------
@dataclass
class TrainStep:
    """One optimiser step as ``benchmark.trainer.train`` runs it, callable repeatedly.

    ``inputs`` is the trainer's own ``TrainingInputs``, its epoch started on view 0 (that
    augmented view of the images through the whole model, or, with ``cached=True`` and a frozen
    prefix, the prefix's outputs on it through the suffix). Calling it draws a random batch,
    runs forward (autocast), the class-weighted loss, backward and Adam's step, and returns the
    loss. The augmentation (once per epoch in the trainer) is not part of a step.
    """

    model: torch.nn.Module
    inputs: TrainingInputs
    bn_stats: str
    optimizer: torch.optim.Optimizer
    labels: torch.Tensor
    weights: torch.Tensor
    batch_size: int
    device: torch.device
    order_generator: torch.Generator

    @property
    def cached(self) -> bool:
        return bool(self.inputs.prefix_length)

    def __call__(self, batch_size: int | None = None) -> float:
        import torch
        import torch.nn.functional as F

        from .trainer import training_autocast

        n = batch_size or self.batch_size
        idx = torch.randperm(len(self.labels), generator=self.order_generator)[:n].to(self.device)
        # the body of the trainer's inner loop (benchmark.trainer.train)
        with training_autocast(self.device):
            logits = self.inputs.train_logits(idx).squeeze(1).float()
        target = self.labels[idx]
        loss = (F.binary_cross_entropy_with_logits(logits, target, reduction="none")
                * self.weights[target.long()]).mean()
        bool(torch.isfinite(loss))  # the trainer checks (and so synchronises) every step
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()


def make_train_step(backbone, bn_stats: str, images: np.ndarray, labels: np.ndarray, device,
                    batch_size: int = 24, cached: bool = False, views: int = 1, augment: bool = True,
                    lr: float = 1e-3, beta1: float = 0.9, seed: int = 0,
                    eval_batch_size: int = 128, inference_precision: str = "auto") -> TrainStep:
    """A :class:`TrainStep` on ``images`` (uint8 N x H x W), the model moved and set up as the
    trainer does (channels_last, training mode with the method's batch-norm policy).

    ``cached=True`` uses the trainer's frozen-prefix cache when the method has a frozen prefix
    (``TrainStep.cached`` says whether it did); ``views`` is the epochs (one view each) its
    memory budget is checked for. Only view 0 is computed, here, not in the timed steps.
    """
    import numpy as np
    import torch

    from .model import set_train_mode
    from .profiles import TrainSection
    from .trainer import Preprocess, TrainingInputs, class_weights

    dev = _as_device(device)
    model = backbone.model.to(dev).to(memory_format=torch.channels_last)
    prep = Preprocess(backbone.mean, backbone.std).to(dev)
    config = TrainSection(batch_size=batch_size, augment=augment, eval_batch_size=eval_batch_size,
                          max_epochs=views, cache_prefix=cached, inference_precision=inference_precision)
    inputs = TrainingInputs(backbone, bn_stats, images, images[:batch_size], config, dev, prep, augment_seed=seed)
    inputs.start_epoch(0)  # one epoch's view: the augmentation runs once per epoch, not per step
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the method left no parameter trainable")
    optimizer = torch.optim.Adam(params, lr=lr, betas=(beta1, 0.999))
    set_train_mode(model, bn_stats)
    return TrainStep(model, inputs, bn_stats, optimizer,
                     torch.as_tensor(labels, dtype=torch.float32).to(dev),
                     class_weights(np.asarray(labels)).to(dev), batch_size, dev, torch.Generator().manual_seed(seed))


def _median_seconds(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _conv_backward_flop(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation,
                        transposed, _output_padding, _groups, output_mask, out_shape=None, **kwargs) -> int:
    """Backward FLOPs of a convolution, grouped ones included.

    torch's own formula (torch 2.x ``flop_counter.conv_backward_flop``) counts the weight
    gradient of a grouped convolution as if it were ungrouped, so a depthwise convolution's is
    over-counted by its number of channels (EfficientNet's training FLOPs come out ~40x the
    forward's). Each gradient costs as many multiplications as the forward convolution, so:
    input gradient + weight gradient, each the forward count of this convolution.
    """
    from torch.utils.flop_counter import conv_flop_count

    flops = 0
    if output_mask[0]:
        flops += conv_flop_count(grad_out_shape, w_shape, x_shape, not transposed)
    if output_mask[1]:
        flops += conv_flop_count(x_shape, w_shape, grad_out_shape, transposed)
    return flops


def _count_flops(fn: Callable[[], object]) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    mapping = {torch.ops.aten.convolution_backward: _conv_backward_flop}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        fn()
    return int(counter.get_total_flops())


def _peak_rss_mb() -> tuple[float, str]:
    """Peak resident memory of this process: VmHWM on Linux, else ru_maxrss."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0, "process peak RSS (VmHWM)"
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (2**20 if sys.platform == "darwin" else 1024.0), "process peak RSS (ru_maxrss)"


# -- one method ----------------------------------------------------------------------------
def measure_method(method: str, backbone: str = "efficientnet_lite0", image_size: int = 112,
                   device="auto", batch_size: int = 24, steps: int = 10, warmup: int = 2,
                   weights: str | None = None, peak_gflops: float | None = None,
                   isolate: bool | None = None, infer_batch_size: int | None = None,
                   infer_steps: int = 3, latency_repeats: int = 20, peak_seconds: float = 1.0,
                   seed: int = 0, inference_precision: str = "auto") -> dict:
    """Measure one method's cost (see the module docstring); returns one row as a dict.

    weights: None for the backbone's pretrained weights, "random" (same cost, nothing
    loaded), or a state-dict path. peak_gflops: the machine's ceiling in the trainer's compute
    dtype (measured here, for ``peak_seconds``, when not given). isolate: measure in a fresh
    process (default: on the CPU, so that the peak memory is this method's alone; see
    ``_fresh_process_context``); a method registered at run time in this process only (not in
    ``methods/`` or an entry point) is unknown there, so measure it with ``isolate=False`` (whose CPU peak memory is
    then the calling process's peak so far).
    """
    import torch

    dev = _as_device(device)
    if isolate is None:
        isolate = dev.type == "cpu"
    peak_dtype = compute_dtype(dev)
    if peak_gflops is None:
        peak_gflops = machine_peak_gflops(dev, peak_seconds, dtype=peak_dtype)
    kwargs = dict(method=method, backbone=backbone, image_size=image_size, device=str(dev),
                  batch_size=batch_size, steps=steps, warmup=warmup, weights=weights,
                  infer_batch_size=infer_batch_size, infer_steps=infer_steps,
                  latency_repeats=latency_repeats, seed=seed, inference_precision=inference_precision)
    if isolate:
        context = _fresh_process_context()
        try:
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                row = pool.submit(_measure_in_child, kwargs, torch.get_num_threads()).result()
        except BrokenProcessPool as exc:
            raise RuntimeError(
                f"the process measuring {method!r} died: out of memory, or the calling script "
                "lacks an `if __name__ == \"__main__\":` guard (a spawned process re-imports it); "
                "isolate=False measures in this process") from exc
    else:
        row = _measure(**kwargs)
        if dev.type != "cuda":
            row["memory_measure"] += ", not isolated: the calling process's peak so far"
    achieved = row["train_gflops_per_image"] * row["train_images_per_s"]
    row.update(achieved_train_gflops_per_s=achieved, fraction_of_peak=achieved / peak_gflops,
               machine_peak_gflops_per_s=peak_gflops, peak_dtype=str(peak_dtype).replace("torch.", ""))
    return row


# what a measuring process imports; a fork server imports it once for all of them
_PRELOAD = ["benchmark.cost", "benchmark.model", "benchmark.trainer", "methods"]


def _fresh_process_context():
    """A new process per measurement: forked from a server that imported the suite once
    (multiprocessing "forkserver", where the platform has it), else spawned. Each spawned
    process would import torch, timm and the method plugins again (seconds per method on a
    small CPU); a forked one starts with them, and with the server's resident memory, which
    is what a spawned one reaches after its imports."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def _measure_in_child(kwargs: dict, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    return _measure(**kwargs)


def _measure(method: str, backbone: str, image_size: int, device: str, batch_size: int, steps: int,
             warmup: int, weights, infer_batch_size, infer_steps: int, latency_repeats: int,
             seed: int, inference_precision: str = "auto") -> dict:
    import numpy as np
    import torch

    from . import prefix_cache
    from .model import build_model, count_parameters, set_train_mode
    from .trainer import inference_autocast, inference_dtype, predict_scores

    dev = torch.device(device)
    torch.manual_seed(seed)
    adapter, m, _ = build_model(method, backbone, image_size, weights)
    counts = count_parameters(adapter)
    rng = np.random.default_rng(seed)
    n_train = 2 * batch_size
    images = rng.integers(0, 256, (n_train, image_size, image_size), dtype=np.uint8)
    labels = np.arange(n_train) % 2

    # training, whole network per step (the uncached path); the memory peak is read here
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    step = make_train_step(adapter, m.bn_stats, images, labels, dev, batch_size, seed=seed)
    train_seconds = _median_seconds(step, dev, steps, warmup)
    if dev.type == "cuda":
        peak_mb, measure = torch.cuda.max_memory_allocated(dev) / 2**20, "torch.cuda.max_memory_allocated"
    else:
        peak_mb, measure = _peak_rss_mb()

    # FLOPs: one forward (eval, as predict_scores runs it) and one training step, per image
    model, prep = adapter.model, step.inputs.prep
    unit = images[:FLOP_BATCH]

    def forward():
        with torch.no_grad(), inference_autocast(dev, inference_precision):
            model(prep(prep.to_unit(torch.as_tensor(unit).to(dev))))

    model.eval()
    forward_flops = _count_flops(forward) / FLOP_BATCH
    set_train_mode(model, m.bn_stats)
    train_flops = _count_flops(lambda: step(FLOP_BATCH)) / FLOP_BATCH

    # the frozen-prefix path the trainer takes for this method, if it caches
    prefix_length = prefix_cache.frozen_prefix_length(adapter, m.bn_stats)
    cached_rate = cached_flops = math.nan
    if prefix_length > 0:
        cached = make_train_step(adapter, m.bn_stats, images, labels, dev, batch_size, cached=True,
                                 views=1, seed=seed, inference_precision=inference_precision)
        if cached.cached:
            cached_rate = batch_size / _median_seconds(cached, dev, steps, warmup)
            cached_flops = _count_flops(lambda: cached(FLOP_BATCH)) / FLOP_BATCH
        del cached

    # inference and latency through the suite's predict_scores
    infer_bs = infer_batch_size or (512 if dev.type == "cuda" else 128)
    infer_images = rng.integers(0, 256, (infer_bs, image_size, image_size), dtype=np.uint8)
    infer_seconds = _median_seconds(
        lambda: predict_scores(adapter, infer_images, dev, infer_bs, inference_precision), dev, infer_steps, 1)
    latency = _median_seconds(
        lambda: predict_scores(adapter, infer_images[:1], dev, 1, inference_precision), dev, latency_repeats, 2)
    return {
        "method": method, "backbone": backbone, "image_size": image_size, "device": str(dev),
        "batch_size": batch_size,
        "train_images_per_s": batch_size / train_seconds,
        "infer_images_per_s": infer_bs / infer_seconds,
        "latency_ms": 1000.0 * latency,
        "peak_memory_mb": peak_mb,
        "forward_gflops_per_image": forward_flops / 1e9,
        "train_gflops_per_image": train_flops / 1e9,
        "trainable_parameters": counts.trainable,
        "total_parameters": counts.total,
        "cached_train_images_per_s": cached_rate,
        "frozen_prefix_modules": prefix_length,
        "cached_train_gflops_per_image": cached_flops / 1e9,
        "memory_measure": measure,
        "weights": adapter.weights.source,
        "threads": torch.get_num_threads(),
        "steps": steps, "warmup": warmup, "infer_batch_size": infer_bs,
        "inference_dtype": str(inference_dtype(dev, inference_precision)).removeprefix("torch."),
    }


# -- all of them ---------------------------------------------------------------------------
def cost_csv_path(out_path) -> Path:
    """``out_path`` if it names a .csv file, else ``out_path/cost.csv``."""
    out = Path(out_path)
    return out if out.suffix == ".csv" else out / "cost.csv"


def bench(methods: list[str], backbone: str = "efficientnet_lite0", image_size: int = 112,
          device="auto", out_path=".", batch_size: int = 24, steps: int = 10, warmup: int = 2,
          weights: str | None = None, peak_seconds: float = 2.0, isolate: bool | None = None,
          infer_batch_size: int | None = None, infer_steps: int = 3, latency_repeats: int = 20,
          log: Callable[[str], None] | None = None, inference_precision: str = "auto"):
    """Measure every method in ``methods``; write ``cost.csv`` (atomically, after each method).

    The machine's peak is measured once, first. A method that fails gets a row with its
    ``error`` and the others go on. Returns the table as a pandas DataFrame (``attrs``:
    ``path``, ``peaks``).
    """
    import pandas as pd
    import torch

    from .io import write_csv_atomic

    if not methods:
        raise ValueError("no methods to measure")
    dev = _as_device(device)
    path = cost_csv_path(out_path)
    peaks = machine_peaks(dev, peak_seconds)
    peak = peaks["bfloat16" if compute_dtype(dev) == torch.bfloat16 else "float32"]
    if log:
        log(_peak_line(dev, peaks))
    rows = []
    for i, method in enumerate(methods, start=1):
        started = time.perf_counter()
        try:
            row = measure_method(method, backbone, image_size, dev, batch_size, steps, warmup, weights,
                                 peak_gflops=peak, isolate=isolate, infer_batch_size=infer_batch_size,
                                 infer_steps=infer_steps, latency_repeats=latency_repeats,
                                 inference_precision=inference_precision)
            row["error"] = ""
        except Exception as exc:  # noqa: BLE001 - recorded, the other methods still run
            row = {"method": method, "backbone": backbone, "image_size": image_size, "device": str(dev),
                   "batch_size": batch_size, "error": f"{type(exc).__name__}: {exc}"}
        row["machine_peak_float32_gflops_per_s"] = peaks["float32"]
        rows.append(row)
        frame = pd.DataFrame(rows).reindex(columns=COLUMNS + EXTRA_COLUMNS)
        write_csv_atomic(path, frame)
        if log:
            state = f"error: {row['error']}" if row["error"] else f"{row['train_images_per_s']:.1f} train img/s"
            log(f"[{i}/{len(methods)}] {method}: {state} ({time.perf_counter() - started:.0f} s)")
    frame.attrs.update(path=str(path), peaks=peaks)
    return frame


def _peak_line(dev: torch.device, peaks: dict) -> str:
    import torch

    parts = [f"{v:,.0f} GFLOP/s {k}" for k, v in peaks.items()]
    what = "8192 x 8192" if dev.type == "cuda" else "2048 x 2048"
    return (f"machine peak ({dev}, {torch.get_num_threads()} threads, {what} matrix product, median): "
            + ", ".join(parts))


def format_table(frame) -> str:
    """The table ``petl-bench bench`` prints."""
    def num(fmt):
        return lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)

    shown = {
        "method": frame["method"],
        "train img/s": frame["train_images_per_s"].map(num("{:.1f}")),
        "cached img/s": frame["cached_train_images_per_s"].map(num("{:,.0f}")),
        "infer img/s": frame["infer_images_per_s"].map(num("{:.1f}")),
        "latency ms": frame["latency_ms"].map(num("{:.1f}")),
        "peak MB": frame["peak_memory_mb"].map(num("{:,.0f}")),
        "fwd GFLOP/img": frame["forward_gflops_per_image"].map(num("{:.3f}")),
        "train GFLOP/img": frame["train_gflops_per_image"].map(num("{:.3f}")),
        "GFLOP/s": frame["achieved_train_gflops_per_s"].map(num("{:.1f}")),
        "% peak": (100 * frame["fraction_of_peak"]).map(num("{:.1f}")),
        "trainable": frame["trainable_parameters"].map(num("{:,.0f}")),
    }
    import pandas as pd

    out = pd.DataFrame(shown).to_string(index=False)
    errors = frame[frame["error"].fillna("").astype(str) != ""] if "error" in frame else frame.iloc[:0]
    for _, r in errors.iterrows():
        out += f"\n{r['method']}: FAILED {r['error']}"
    return out


# -- the command ---------------------------------------------------------------------------
def add_bench_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``bench`` to a ``petl-bench`` sub-parser set (``func`` is :func:`run_bench`)."""
    p = subparsers.add_parser("bench", help="cost per method: throughput, latency, memory, FLOPs "
                                            "(writes cost.csv)")
    p.add_argument("--backbone", default="efficientnet_lite0", help="resnet18..152, efficientnet_lite0..2")
    p.add_argument("--image-size", type=int, default=112, help="input size in pixels (default 112, the quick profile's)")
    p.add_argument("--methods", default=None, help="comma-separated method names (default: all)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1")
    p.add_argument("--steps", type=int, default=10, help="timed training steps per method (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    p.add_argument("--batch-size", type=int, default=24, help="training batch (default 24, the paper's)")
    p.add_argument("--out", default=".", help="folder for cost.csv (default: .)")
    p.add_argument("--weights", default=None,
                   help="'random' (same cost, nothing loaded) or a state-dict file (default: pretrained)")
    p.add_argument("--inference-precision", choices=INFERENCE_PRECISIONS, default=None,
                   help="forward passes without gradients (default: the profile's, else auto: bf16 "
                        "on CUDA, float32 on the CPU)")
    p.add_argument("--baseline", action="store_true",
                   help="also time the suite's trainer against a plain ImageFolder/DataLoader loop")
    p.add_argument("--dataset", choices=("auto", "busi", "synthetic"), default="auto",
                   help="--baseline images: BUSI if found (auto), else synthetic PNGs")
    p.add_argument("--data-root", default=None, help="BUSI folder for --baseline (default: $BUSI_ROOT, else datasets/busi)")
    p.add_argument("--baseline-epochs", type=int, default=1,
                   help="baseline epochs actually run for the feature-extraction trial (extrapolated; default 1)")
    p.add_argument("--baseline-max-batches", type=int, default=None,
                   help="cap the baseline's batches per epoch (extrapolated; default: whole epochs)")
    p.set_defaults(func=run_bench)
    return p


def run_bench(args) -> int:
    from .suite import resolve_methods
    from .trainer import resolve_device

    dev = resolve_device(args.device)
    methods = resolve_methods(args.methods)
    if args.steps < 1 or args.batch_size < 2:
        raise ValueError("--steps must be >= 1 and --batch-size >= 2")
    print(f"bench: {len(methods)} method(s), {args.backbone} at {args.image_size} px, batch "
          f"{args.batch_size}, {args.steps} timed steps after {args.warmup}, on {dev}", flush=True)
    frame = bench(methods, args.backbone, args.image_size, dev, args.out, batch_size=args.batch_size,
                  steps=args.steps, warmup=args.warmup, weights=args.weights,
                  log=lambda line: print(line, file=sys.stderr, flush=True),
                  inference_precision=args.inference_precision or "auto")
    print(_peak_line(dev, frame.attrs["peaks"]))
    print(format_table(frame))
    dtypes = ", ".join(sorted(set(frame["inference_dtype"].dropna().astype(str))))
    print(f"infer img/s and latency computed in {dtypes}; cached img/s: a training step on cached frozen-prefix outputs (what the trainer runs "
          "for that method); peak MB: " + (
              "torch.cuda.max_memory_allocated" if dev.type == "cuda"
              else "peak RSS of a process measuring that method alone (interpreter and torch included)"))
    print(f"wrote {frame.attrs['path']}")
    if args.baseline:
        from .baseline import compare, format_comparison, resolve_image_folder

        with resolve_image_folder(args.dataset, args.data_root, args.image_size) as (folder, label, cache):
            print(f"\nbaseline comparison on {label}", flush=True)
            import dataclasses

            from .profiles import load_profile

            profile = load_profile(getattr(args, "profile", None) or "quick")
            if args.inference_precision:  # --inference-precision applies to the suite's side too
                profile = dataclasses.replace(profile, train=dataclasses.replace(
                    profile.train, inference_precision=args.inference_precision))
            result = compare(args.backbone, args.image_size, folder, dev, weights=args.weights,
                             profile=profile,
                             baseline_epochs=args.baseline_epochs, max_batches=args.baseline_max_batches,
                             cache_dir=cache)
        print(format_comparison(result))
    failed = int((frame["error"].fillna("").astype(str) != "").sum())
    return 1 if failed else 0

