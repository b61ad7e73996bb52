"""Shared fixtures: a small synthetic data set, the smoke profile, the BUSI location."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

BUSI_CANDIDATES = [Path(__file__).resolve().parents[2] / "shared" / "datasets" / "busi"]


def busi_root() -> Path | None:
    env = os.environ.get("BUSI_ROOT")
    candidates = [Path(env)] if env else BUSI_CANDIDATES
    for c in candidates:
        if (c / "benign").is_dir() and (c / "malignant").is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def smoke_profile():
    from benchmark.profiles import load_profile

    return load_profile("smoke")


@pytest.fixture(scope="session")
def tiny_data():
    """48 synthetic images at 64 px (fixed seed)."""
    from benchmark.data.synthetic import make_synthetic

    return make_synthetic(n_images=48, image_size=64, seed=3)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep the decoded-image cache of tests out of the user's cache folder."""
    monkeypatch.setenv("PETL_BENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def clean_registry():
    """Undo every registration a test makes."""
    from benchmark import registry

    before = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(before)
