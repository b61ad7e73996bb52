"""Benchmark of evaluation: ``predict_scores`` on 64 images (EfficientNet-Lite0, 64 px,
random weights)."""
import numpy as np
import torch

from benchmark.models.build import build_model
from benchmark.training.trainer import predict_scores

CPU = torch.device("cpu")


def test_predict_scores_64_images(benchmark):
    torch.manual_seed(0)
    backbone, _, _ = build_model("feature_extraction", "efficientnet_lite0", 64, weights="random")
    backbone.model.to(memory_format=torch.channels_last)
    images = np.random.default_rng(0).integers(0, 256, (64, 64, 64), dtype=np.uint8)
    backbone.model.train()

    scores = benchmark(predict_scores, backbone, images, CPU)

    assert scores.shape == (64,) and np.isfinite(scores).all()
    assert ((scores >= 0) & (scores <= 1)).all()
    assert backbone.model.training  # predict_scores restores the mode it found
    np.testing.assert_allclose(predict_scores(backbone, images, CPU, batch_size=16), scores, rtol=1e-4, atol=1e-6)
