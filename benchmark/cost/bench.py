"""``petl-bench bench``: the cost of several methods, measured one by one, written to ``cost.csv``.

:func:`bench` measures the machine's FLOP ceiling once (:mod:`benchmark.cost.meters`), then
each method (:func:`benchmark.cost.measure.measure_method`: throughput, latency, memory and
FLOPs; see that module for what each column means), and rewrites ``cost.csv`` atomically after
each method, so an interrupted run keeps what it measured. A method that fails gets a row with
its ``error`` and the others go on. :func:`run_bench` runs the command (parsed by
:mod:`benchmark.cli.report`), which prints the table (:func:`format_table`) and, with ``--baseline``, the
comparison with a plain ImageFolder/DataLoader loop (:mod:`benchmark.cost.baseline`).
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from benchmark.cost.measure import measure_method
from benchmark.cost.meters import as_device, compute_dtype, machine_peaks
from benchmark.runfolder import COST_FILE

if TYPE_CHECKING:  # torch loads on first use: `petl-bench --help` stays quick
    import torch

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


def cost_csv_path(out_path) -> Path:
    """``out_path`` if it names a .csv file, else ``out_path/cost.csv``."""
    out = Path(out_path)
    return out if out.suffix == ".csv" else out / COST_FILE


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

    from benchmark.common.io import write_csv_atomic

    if not methods:
        raise ValueError("no methods to measure")
    dev = as_device(device)
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
def run_bench(args) -> int:
    from benchmark.training.suite import resolve_methods
    from benchmark.training.device import resolve_device

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
        from benchmark.cost.baseline import compare, format_comparison, resolve_image_folder

        with resolve_image_folder(args.dataset, args.data_root, args.image_size) as (folder, label, cache):
            print(f"\nbaseline comparison on {label}", flush=True)
            import dataclasses

            from benchmark.common.profiles import load_profile

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

