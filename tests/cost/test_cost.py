"""Cost measurement (benchmark.cost.meters, measure, bench) and the plain baseline (benchmark.cost.baseline),
kept tiny: EfficientNet-Lite0 at 64 px, random weights, 2 timed steps."""
import math

import pandas as pd
import pytest
import torch
from torch import nn

from benchmark.cost import baseline, bench, measure, meters

CPU = torch.device("cpu")
SMALL = dict(backbone="efficientnet_lite0", image_size=64, device="cpu", batch_size=8, steps=2, warmup=1,
             weights="random", infer_batch_size=8, infer_steps=1, latency_repeats=2)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One thread: these tests check what is measured, not how fast (and stay quick on a busy
    machine, where two threads of a nice'd process wait on each other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def peak():
    return meters.machine_peak_gflops(CPU, seconds=0.2, size=1024)


@pytest.fixture(scope="module")
def rows(peak):
    return {m: measure.measure_method(m, peak_gflops=peak, isolate=False, **SMALL)
            for m in ("finetune_all", "feature_extraction")}


def test_machine_peak_is_positive(peak):
    assert 0 < peak < 1e7


def test_measure_method_rates_flops_and_parameters(rows):
    ft, fe = rows["finetune_all"], rows["feature_extraction"]
    for row in rows.values():
        for key in ("train_images_per_s", "infer_images_per_s", "latency_ms", "peak_memory_mb",
                    "forward_gflops_per_image", "achieved_train_gflops_per_s"):
            assert math.isfinite(row[key]) and row[key] > 0, key
        assert 0 < row["fraction_of_peak"] < 1.5
        assert row["achieved_train_gflops_per_s"] == pytest.approx(
            row["train_gflops_per_image"] * row["train_images_per_s"])
        assert row["forward_gflops_per_image"] == pytest.approx(ft["forward_gflops_per_image"])
    # full fine-tuning: backward costs input and weight gradients, about twice the forward
    assert 2.5 < ft["train_gflops_per_image"] / ft["forward_gflops_per_image"] < 3.5
    assert ft["trainable_parameters"] == ft["total_parameters"]
    assert math.isnan(ft["cached_train_images_per_s"])  # nothing frozen in front
    # feature extraction: the frozen network still runs forward, but backward reaches the head only
    assert fe["train_gflops_per_image"] >= fe["forward_gflops_per_image"] * 0.999
    assert fe["train_gflops_per_image"] < 0.4 * ft["train_gflops_per_image"]
    assert fe["trainable_parameters"] == 1281 and fe["frozen_prefix_modules"] > 0
    assert fe["cached_train_images_per_s"] > fe["train_images_per_s"]  # the suffix is the head alone
    assert fe["cached_train_gflops_per_image"] < 1e-3 * fe["forward_gflops_per_image"]


def test_grouped_convolution_backward_flops_are_counted_per_group():
    conv = nn.Conv2d(16, 16, 3, padding=1, groups=16)  # depthwise
    x = torch.randn(2, 16, 8, 8, requires_grad=True)
    forward = meters.count_flops(lambda: conv(x))
    total = meters.count_flops(lambda: conv(x).sum().backward())
    assert forward == 2 * 2 * 16 * 9 * 64 and total == 3 * forward


@pytest.mark.slow
def test_bench_writes_cost_csv(tmp_path, peak):
    lines = []
    frame = bench.bench(["feature_extraction"], out_path=tmp_path, peak_seconds=0.1, log=lines.append,
                        **{k: v for k, v in SMALL.items() if k != "infer_steps"})
    written = pd.read_csv(tmp_path / "cost.csv")
    assert list(written.columns[:len(bench.COLUMNS)]) == bench.COLUMNS
    assert len(written) == 1 and written.loc[0, "method"] == "feature_extraction"
    assert written.loc[0, "train_images_per_s"] > 0 and written.loc[0, "cached_train_images_per_s"] > 0
    assert written.loc[0, "peak_memory_mb"] > 0  # measured in a process of its own on the CPU
    assert pd.isna(written.loc[0, "error"])
    assert frame.attrs["path"] == str(tmp_path / "cost.csv") and "machine peak" in lines[0]


def test_bench_command(tmp_path, capsys, monkeypatch):
    from benchmark.cli import build_parser

    args = build_parser().parse_args(["bench", "--methods", "feature_extraction", "--image-size", "64",
                              "--steps", "1", "--warmup", "0", "--batch-size", "4", "--device", "cpu", "--weights", "random",
                              "--out", str(tmp_path)])
    original = measure.measure_method  # keep it quick: in-process, small inference batch
    monkeypatch.setattr(bench, "measure_method", lambda *a, **k: original(
        *a, **{**k, "isolate": False, "infer_batch_size": 8, "latency_repeats": 1, "infer_steps": 1}))
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "machine peak" in out and "feature_extraction" in out and (tmp_path / "cost.csv").is_file()


def test_baseline_image_folder_keeps_benign_and_malignant(tmp_path):
    baseline.write_synthetic_image_folder(tmp_path, n_images=12, image_size=32)
    (tmp_path / "normal").mkdir()
    (tmp_path / "normal" / "x.png").write_bytes((tmp_path / "benign").joinpath(
        next(p.name for p in (tmp_path / "benign").iterdir())).read_bytes())
    mask = next((tmp_path / "malignant").iterdir())
    (tmp_path / "malignant" / (mask.stem + "_mask.png")).write_bytes(mask.read_bytes())
    folder = baseline.image_folder(tmp_path)
    assert folder.classes == ["benign", "malignant"] and len(folder) == 12
    assert not any("_mask" in p or "normal" in p for p, _ in folder.samples)


@pytest.mark.slow
def test_baseline_epoch_and_suite_epoch_run(tmp_path):
    baseline.write_synthetic_image_folder(tmp_path / "images", n_images=40, image_size=32)
    seconds = baseline.baseline_epoch_seconds("feature_extraction", "efficientnet_lite0", 32,
                                              tmp_path / "images", CPU, max_batches=2, weights="random")
    assert seconds > 0 and math.isfinite(seconds)
    result = baseline.compare("efficientnet_lite0", 32, tmp_path / "images", CPU, weights="random",
                              trial_epochs=2, trials=2, max_batches=1, cache_dir=tmp_path / "cache")
    e, t = result["epoch"], result["trial"]
    assert e["suite_first_seconds"] > 0 and e["suite_later_seconds"] > 0 and e["baseline_seconds"] > 0
    # several epochs on each side, compared by their medians
    assert len(e["suite_epochs"]) == 4 and len(e["baseline_epochs"]) == 2
    assert e["suite_later_seconds"] == pytest.approx(sorted(e["suite_epochs"][1:])[1])
    assert e["baseline_seconds"] == pytest.approx(sum(e["baseline_epochs"]) / 2)
    assert t["suite_prefix_cached"] and t["baseline_extrapolated"] and t["ratio"] > 0
    assert t["baseline_seconds"] == pytest.approx(2 * t["baseline_epoch_seconds"])
    # a study's worth of trials: the first is the one that builds the cache
    assert len(t["suite_trial_seconds"]) == 2 and all(x > 0 for x in t["suite_trial_seconds"])
    assert t["ratio_per_trial"] == pytest.approx(t["baseline_seconds"] / (sum(t["suite_trial_seconds"]) / 2))
    text = baseline.format_comparison(result)
    assert "baseline / suite" in text and "extrapolated" in text and "per trial of the study" in text


def test_baseline_image_folder_resolution(tmp_path):
    with baseline.resolve_image_folder("synthetic", image_size=32, synthetic_images=6) as (folder, label, cache):
        assert "SYNTHETIC" in label and len(baseline.image_folder(folder)) == 6
        assert cache.parent == folder.parent  # the suite's decoded images stay in the temporary folder
    assert not folder.exists()
    with pytest.raises(FileNotFoundError):
        with baseline.resolve_image_folder("busi", data_root=tmp_path / "missing"):
            pass


def test_isolated_measurement_runs_in_a_fresh_forked_process(peak):
    """The default on a CPU: each method measured in its own process, forked from a server that
    imported the suite once; its peak memory is that process's own."""
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        assert measure._fresh_process_context().get_start_method() == "forkserver"
    row = measure.measure_method("feature_extraction", peak_gflops=peak, isolate=True, **SMALL)
    assert row["train_images_per_s"] > 0 and row["peak_memory_mb"] > 0
    assert "not isolated" not in row["memory_measure"]  # measured in the child, not here
