"""Lesion-only and context-only scoring finds where a trained model reads its label: a model trained
on a set whose label is a mark outside the lesion scores context-only images as well as the originals
and lesion-only images at chance; a model trained on a set whose label is inside the lesion, the reverse."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.analysis.reliance.scoring import CONTEXT_ONLY, LESION_ONLY, ORIGINAL, ScoredSet, score_study
from benchmark.data.synthetic import make_synthetic, synthetic_masks
from benchmark.stats import roc_auc

SIZE, N_TRAIN, N_TEST = 48, 240, 80


def _base(seed: int):
    data = make_synthetic(n_images=N_TRAIN + N_TEST, image_size=SIZE, seed=seed)
    masks = synthetic_masks(data.ids, SIZE, seed)
    labels = np.random.default_rng(seed).integers(0, 2, len(data))  # independent of the lesion's look
    return data, masks, labels


def _mark_outside(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Label 1: a bright caliper cross in the top-left corner, far from any lesion."""
    out = images.copy()
    out[labels == 1, 5, 2:9] = 255
    out[labels == 1, 2:9, 5] = 255
    return out


def _bright_lesion(images: np.ndarray, masks: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Label 1: the lesion's inside brightened by 90 grey levels (the label is in the lesion only)."""
    out = images.astype(np.int32)
    out[(labels == 1)[:, None, None] & masks] += 90
    return np.clip(out, 0, 255).astype(np.uint8)


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveMaxPool2d(1))
        self.head = torch.nn.Linear(16, 1)

    def forward(self, x):
        return self.head(self.body(x).flatten(1))


def _train(images: np.ndarray, labels: np.ndarray, seed: int):
    torch.manual_seed(seed)
    net = _Net()
    x = torch.as_tensor(images[:, None] / 255.0, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.float32)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    rng = np.random.default_rng(seed)
    for _ in range(200):
        batch = rng.choice(len(x), 32, replace=False)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x[batch]).squeeze(1), y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()

    @torch.no_grad()
    def score(batch: np.ndarray) -> np.ndarray:
        return torch.sigmoid(net(torch.as_tensor(batch[:, None] / 255.0, dtype=torch.float32))).squeeze(1).numpy()
    return score


def _aucs(images, masks, labels, seed: int) -> dict[str, float]:
    score = _train(images[:N_TRAIN], labels[:N_TRAIN], seed)
    test = slice(N_TRAIN, None)
    scored = ScoredSet("synthetic", [f"i{k}" for k in range(N_TEST)], labels[test], np.arange(N_TEST),
                       images[test], masks[test])
    rows = score_study(score, scored, "net", 0, 0)
    return {c: roc_auc(g["label"].to_numpy(), g["score"].to_numpy()) for c, g in rows.groupby("condition")}


@pytest.fixture(scope="module")
def base():
    return _base(seed=11)


def test_a_mark_outside_the_lesion_shows_in_context_only_scores(base):
    data, masks, labels = base
    auc = _aucs(_mark_outside(data.images, labels), masks, labels, seed=0)
    assert auc[ORIGINAL] > 0.95
    assert auc[CONTEXT_ONLY] > 0.95
    assert 0.3 < auc[LESION_ONLY] < 0.7


def test_a_label_inside_the_lesion_shows_in_lesion_only_scores(base):
    data, masks, labels = base
    auc = _aucs(_bright_lesion(data.images, masks, labels), masks, labels, seed=0)
    assert auc[ORIGINAL] > 0.9
    assert auc[LESION_ONLY] > 0.85
    assert 0.3 < auc[CONTEXT_ONLY] < 0.7
