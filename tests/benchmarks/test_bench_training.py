"""Benchmarks of one training step per method family, as the trainer runs it.

EfficientNet-Lite0 at 64 px with random weights (the cost is the same as with the pretrained
ones), batch 24. Feature extraction trains on cached frozen-prefix outputs (the suffix only),
as the trainer does; the others run whatever prefix the trainer would cache (DRS: the stem;
LoRA and full fine-tuning: none). The epoch's augmented view is made once, before the timed
steps, as the trainer makes it once per epoch. Under ``--benchmark-disable`` each step runs once and the
assertions still check it trained what it should.
"""
import math

import numpy as np
import pytest
import torch

from benchmark.training import prefix_cache
from benchmark.cost.train_step import make_train_step
from benchmark.models.build import build_model

CPU = torch.device("cpu")
SIZE, BATCH = 64, 24


@pytest.mark.parametrize("method", ["feature_extraction", "drs", "lora", "finetune_all"])
def test_training_step(benchmark, method):
    torch.manual_seed(0)
    backbone, m, _ = build_model(method, "efficientnet_lite0", SIZE, weights="random")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2 * BATCH, SIZE, SIZE), dtype=np.uint8)
    labels = np.arange(2 * BATCH) % 2
    step = make_train_step(backbone, m.bn_stats, images, labels, CPU, BATCH, cached=True)
    params = dict(backbone.model.named_parameters())
    before = {n: p.detach().clone() for n, p in params.items()}

    loss = benchmark.pedantic(step, rounds=5, warmup_rounds=1)

    assert math.isfinite(loss)
    assert step.cached == (prefix_cache.frozen_prefix_length(backbone, m.bn_stats) > 0)
    assert step.inputs.views_used == {0}  # one epoch's view, made once, not per step
    if method == "feature_extraction":  # the prefix's outputs on that view: pooled features
        assert step.cached and step.inputs.current.shape == (2 * BATCH, 1280)
    else:
        assert step.inputs.current.shape[0] == 2 * BATCH
    changed = {n for n, p in params.items() if not torch.equal(p.detach(), before[n])}
    trainable = {n for n, p in params.items() if p.requires_grad}
    assert changed and changed <= trainable  # the step trained something, and nothing frozen
