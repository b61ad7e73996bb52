"""Every method learns, in the right direction: on the learnable synthetic data, each registered
method trained at its default point (the first trial of its study: the centre of its learning-rate
range, its own defaults) on the smoke profile scores the held-out images well above chance.

Held out: the smoke profile's two folds, each model scoring its own test fold; the AUC is pooled
over the 96 out-of-fold scores (one fold's 48 images alone vary too much between seeds). Training
seed: the fold's first trial, as the suite's.

The floor, 0.6, from measurements (smoke profile, pooled AUC, the fold's trials 0, 1 and 2 as
training seeds; the numbers are in the closing note of issue 26): at this test's seed (trial 0)
the methods here reached 0.637 (oft, whose two fold models are calibrated differently: 0.729 and
0.768 per fold) and 0.713 to 0.790 (all others), so 0.6 leaves a margin of 0.04 below oft and
0.11 below the rest; other seeds moved a method by up to 0.15 (drs_spatial 0.573 at trial 1),
so a change of the seeding may need the floor checked again. A model trained on flipped labels
scores well below 0.5 (feature_extraction with the loss on 1 - label: 0.233 here, 0.790 without);
a head that never trains scores by its random initialisation, around 0.5.

Not here: methods that train the whole network (every parameter trainable: finetune_all,
drs_finetune_all, L2-SP, LP-FT, WiSE-FT). At their default learning rates (1e-4 and below) the
smoke budget (3 epochs of 6 steps at batch 8) moves a 3.4M-parameter network and its new head
too little: measured pooled AUC finetune_all 0.42-0.63 (lr 1e-4 and 1e-3, 3 and 6 epochs),
drs_finetune_all 0.53-0.60, l2_sp 0.515, lp_ft 0.609, wise_ft 0.689. The flipped-label bug is caught by every
other method.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.models.backbones import create_structure
from benchmark.models.build import apply_method, count_parameters
from benchmark.plugins.registry import get_method, list_methods
from benchmark.stats import roc_auc
from benchmark.training.runner import RunSpec, evaluation_splits, train_model
from benchmark.training.search_space import first_point
from benchmark.training.trainer import predict_scores

FLOOR = 0.6
CPU = torch.device("cpu")


def _trains_whole_network(method) -> bool:
    backbone = create_structure("efficientnet_lite0", image_size=64)  # random weights: only the counts matter
    apply_method(backbone, method)
    counts = count_parameters(backbone)
    return counts.trainable == counts.total


METHODS = [m.name for m in list_methods() if not _trains_whole_network(m)]


@pytest.fixture(scope="module")
def smoke_data(smoke_profile):
    from benchmark.data.synthetic import make_synthetic

    p = smoke_profile
    data = make_synthetic(p.data.synthetic_images, p.backbone.image_size, p.data.synthetic_seed)
    return data, evaluation_splits(p, data)


@pytest.mark.slow
@pytest.mark.parametrize("name", METHODS)
def test_every_method_learns_in_the_right_direction(smoke_profile, smoke_data, name):
    data, folds = smoke_data
    point = first_point(smoke_profile, get_method(name))
    own = {k: v for k, v in point.items() if k not in ("lr", "beta1")}
    scores = np.full(len(data), np.nan)
    for fold in folds:
        config = {**RunSpec(name, "synthetic", smoke_profile, fold.repeat, fold.fold, lr=point["lr"],
                            beta1=point.get("beta1"), params=own).resolved(), "augment_seed": fold.augment_seed}
        trained = train_model(smoke_profile, config, data, fold.split, CPU, progress=False)
        test = fold.split["test"]
        scores[test] = predict_scores(trained.backbone, data.images[test], CPU)
    assert not np.isnan(scores).any()
    auc = roc_auc(data.labels, scores)
    print(f"{name}: pooled out-of-fold AUC {auc:.3f}")
    assert auc >= FLOOR, f"{name} at its default point: held-out AUC {auc:.3f} < {FLOOR} (chance is 0.5)"
