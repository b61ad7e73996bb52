"""What one method costs: throughput, latency, memory and FLOPs, against the machine's own ceiling.

:func:`measure_method` measures one method on one backbone and input size (``petl-bench bench``,
:mod:`benchmark.cost.bench`, runs it for each method and writes ``cost.csv``):

- training throughput: images/s of one optimiser step of the suite's trainer (the same
  preprocessing, batch augmentation, autocast, weighted loss, backward and Adam step on the
  method's trainable parameters as ``benchmark.training.trainer.train``, via its ``TrainingInputs``), median
  over timed steps after a warm-up; for a method whose frozen prefix the trainer caches, also
  the throughput of a step on cached prefix outputs (the suffix only), which is what the
  trainer runs in every epoch after the first;
- inference throughput (``predict_scores`` at batch 128 on the CPU, 512 on CUDA, in the
  profile's inference precision, see ``benchmark.training.device.inference_dtype``) and per-image
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
uint8 images (content does not change the cost of these networks). The instruments are in
:mod:`benchmark.cost.meters` and the training step in :mod:`benchmark.cost.train_step`; this
module runs them, in a fresh process of its own where asked.
"""
from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from benchmark.cost.meters import as_device, compute_dtype, count_flops, machine_peak_gflops, median_seconds, \
    peak_rss_mb
from benchmark.cost.train_step import make_train_step

FLOP_BATCH = 2  # images per FLOP count (the counts are per image; linear in the batch)


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

    dev = as_device(device)
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
_PRELOAD = ["benchmark.cost.measure", "benchmark.models.build", "benchmark.training.trainer", "methods"]


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

    from benchmark.training import prefix_cache
    from benchmark.models.build import build_model, count_parameters, set_train_mode
    from benchmark.training.trainer import predict_scores
    from benchmark.training.device import inference_autocast, inference_dtype

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
    train_seconds = median_seconds(step, dev, steps, warmup)
    if dev.type == "cuda":
        peak_mb, measure = torch.cuda.max_memory_allocated(dev) / 2**20, "torch.cuda.max_memory_allocated"
    else:
        peak_mb, measure = peak_rss_mb()

    # FLOPs: one forward (eval, as predict_scores runs it) and one training step, per image
    model, prep = adapter.model, step.inputs.prep
    unit = images[:FLOP_BATCH]

    def forward():
        with torch.no_grad(), inference_autocast(dev, inference_precision):
            model(prep(prep.to_unit(torch.as_tensor(unit).to(dev))))

    model.eval()
    forward_flops = count_flops(forward) / FLOP_BATCH
    set_train_mode(model, m.bn_stats)
    train_flops = count_flops(lambda: step(FLOP_BATCH)) / FLOP_BATCH

    # the frozen-prefix path the trainer takes for this method, if it caches
    prefix_length = prefix_cache.frozen_prefix_length(adapter, m.bn_stats)
    cached_rate = cached_flops = math.nan
    if prefix_length > 0:
        cached = make_train_step(adapter, m.bn_stats, images, labels, dev, batch_size, cached=True,
                                 views=1, seed=seed, inference_precision=inference_precision)
        if cached.cached:
            cached_rate = batch_size / median_seconds(cached, dev, steps, warmup)
            cached_flops = count_flops(lambda: cached(FLOP_BATCH)) / FLOP_BATCH
        del cached

    # inference and latency through the suite's predict_scores
    infer_bs = infer_batch_size or (512 if dev.type == "cuda" else 128)
    infer_images = rng.integers(0, 256, (infer_bs, image_size, image_size), dtype=np.uint8)
    infer_seconds = median_seconds(
        lambda: predict_scores(adapter, infer_images, dev, infer_bs, inference_precision), dev, infer_steps, 1)
    latency = median_seconds(
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
