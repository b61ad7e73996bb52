"""The instruments the cost measurement reads: the machine's FLOP ceiling, time, FLOPs and memory.

- :func:`machine_peak_gflops`: the median FLOP rate of a large matrix product (2048 x 2048
  float32 on the CPU, 8192 x 8192 on CUDA), the ceiling a method's achieved rate is compared
  with; :func:`machine_peaks` adds bf16 on CUDA, where the trainer runs under bf16 autocast;
- :func:`median_seconds`: the median wall time of a callable after a warm-up, synchronising the
  device around each call so that queued GPU work is counted;
- :func:`count_flops`: matrix products and convolutions, forward and backward, counted by
  ``torch.utils.flop_counter.FlopCounterMode``, grouped convolutions' backward counted per group;
- :func:`peak_rss_mb`: the process's peak resident memory (``VmHWM`` on Linux).

torch loads on first use, so that importing this module (``petl-bench --help``) stays quick.
"""
from __future__ import annotations

import resource
import statistics
import sys
import time
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch


def as_device(device) -> torch.device:
    """A ``torch.device`` as given, or resolved from a name (``"auto"``, ``"cpu"``, ``"cuda:1"``)."""
    import torch

    from benchmark.training.device import resolve_device

    return device if isinstance(device, torch.device) else resolve_device(device)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU), so that a timing includes it."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def compute_dtype(device) -> torch.dtype:
    """The dtype the trainer's matrix products run in: bf16 under CUDA autocast, else float32."""
    from benchmark.training.device import inference_dtype

    return inference_dtype(as_device(device), "auto")


def machine_peak_gflops(device="cpu", seconds: float = 2.0, dtype: torch.dtype | None = None,
                        size: int | None = None, min_repeats: int = 3) -> float:
    """The machine's FLOP ceiling, in GFLOP/s: a large square matrix product, timed.

    ``size`` x ``size`` (default 2048 on the CPU, 8192 on CUDA) in ``dtype`` (default
    float32); one warm-up product, then repeats until ``seconds`` have passed (at least
    ``min_repeats``); the median rate of the repeats. Uses torch's current thread count.
    """
    import torch

    dtype = dtype or torch.float32
    dev = as_device(device)
    size = size or (8192 if dev.type == "cuda" else 2048)
    gen = torch.Generator(device=dev).manual_seed(0)
    a = torch.randn(size, size, device=dev, generator=gen).to(dtype)
    b = torch.randn(size, size, device=dev, generator=gen).to(dtype)
    torch.mm(a, b)  # warm-up (kernel choice, first-touch of the output)
    synchronize(dev)
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < min_repeats or (time.perf_counter() - started < seconds and len(times) < 200):
        t = time.perf_counter()
        torch.mm(a, b)
        synchronize(dev)
        times.append(time.perf_counter() - t)
    return 2.0 * size**3 / statistics.median(times) / 1e9


def machine_peaks(device="cpu", seconds: float = 2.0) -> dict[str, float]:
    """``{"float32": GFLOP/s}``, and on CUDA ``"bfloat16"`` as well."""
    import torch

    dev = as_device(device)
    peaks = {"float32": machine_peak_gflops(dev, seconds)}
    if dev.type == "cuda":
        peaks["bfloat16"] = machine_peak_gflops(dev, seconds, dtype=torch.bfloat16)
    return peaks


def median_seconds(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int) -> float:
    """The median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        synchronize(device)
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


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of matrix products and convolutions (forward and backward) that ``fn()`` runs."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    mapping = {torch.ops.aten.convolution_backward: _conv_backward_flop}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        fn()
    return int(counter.get_total_flops())


def peak_rss_mb() -> tuple[float, str]:
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
