"""Checks that need a CUDA GPU. Where there is none they skip, and say so.

The timings of the cost issue on a GPU come from ``scripts/dev/gpu_check.sh``; these tests check
that the CUDA paths work: bf16 autocast in training and inference, the allocator's peak in
``bench``, and several trials of a search sharing one GPU.
"""
import dataclasses

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; this machine has none")


def test_training_on_cuda_runs_bf16_and_predicts_like_the_cpu(tiny_data, smoke_profile):
    from benchmark.models.build import build_model
    from benchmark.training.trainer import predict_scores, train

    cuda = torch.device("cuda")
    torch.manual_seed(0)
    backbone, m, _ = build_model("drs", "efficientnet_lite0", 64)
    d = tiny_data
    config = dataclasses.replace(smoke_profile.train, max_epochs=2, patience=2)
    result = train(backbone, m.bn_stats, d.images[:32], d.labels[:32], d.images[32:], d.labels[32:], config,
                   lr=1e-3, beta1=0.9, device=cuda, seed=0, progress=False)
    assert result.inputs["inference_dtype"] == "bfloat16"
    assert all(np.isfinite(h["train_loss"]) for h in result.history)
    on_gpu = predict_scores(backbone, d.images, cuda, precision="auto")
    backbone.model.cpu()
    on_cpu = predict_scores(backbone, d.images, torch.device("cpu"), precision="float32")
    assert np.abs(on_gpu - on_cpu).max() < 0.05


def test_bench_on_cuda_reads_the_allocator_peak():
    from benchmark.cost.measure import measure_method

    row = measure_method("drs", "efficientnet_lite0", 64, "cuda", steps=2, warmup=1, weights="random",
                         infer_steps=1, latency_repeats=2)
    assert row["memory_measure"] == "torch.cuda.max_memory_allocated" and row["peak_memory_mb"] > 0
    assert row["inference_dtype"] == "bfloat16" and row["train_images_per_s"] > 0
    assert row["peak_dtype"] == "bfloat16"


def test_parallel_trials_share_one_gpu(tmp_path):
    from benchmark.data.synthetic import make_synthetic
    from benchmark.common.profiles import load_profile
    from benchmark.training.search import run_search

    path = tmp_path / "p.toml"
    path.write_text('name = "p"\n[backbone]\nimage_size = 64\n[train]\nmax_epochs = 2\n'
                    "[search]\nsampler = 'tpe'\nn_trials = 4\nlr = [0.001, 0.01]\nbeta1 = [0.9]\n"
                    "parallel_trials = 2\n[evaluation]\nn_bootstrap = 50\n")
    record = run_search("drs", load_profile(path), "synthetic", make_synthetic(48, 64, 0), 0, tmp_path / "out",
                        tmp_path, device="cuda", progress=False)
    trials = record["search"]["trials"]
    assert len(trials) == 4 and all(t["state"] == "COMPLETE" for t in trials)
