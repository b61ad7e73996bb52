"""Shared fixtures: a small synthetic data set, the smoke profile, the BUSI location."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def busi_root() -> Path | None:
    """BUSI's folder where the data-set registry finds it ($BUSI_ROOT, datasets/busi,
    ../shared/datasets/busi: ``DatasetSpec.locate``, as `petl-bench all` does), else None."""
    from benchmark.data import get_dataset

    return get_dataset("busi").locate().root


@pytest.fixture(scope="session")
def smoke_profile():
    from benchmark.common.profiles import load_profile

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
    from benchmark.plugins import registry

    registry.discover()  # else a first test would snapshot an empty registry and leave it empty
    before = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(before)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on 127.0.0.1 for the whole session (skips, with the reason, if none)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip('psycopg 3 is missing: pip install -e ".[postgres]"')
    from postgres_server import PostgresServer, PostgresUnavailable

    server = PostgresServer()
    try:
        server.start()
        server.create_database("petl")
    except PostgresUnavailable as e:
        server.stop()
        pytest.skip(f"no PostgreSQL server: {e}")
    except BaseException:
        server.stop()
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server):
    """SQLAlchemy URL of the shared `petl` database: postgresql+psycopg://postgres@127.0.0.1:PORT/petl."""
    return postgres_server.url("petl")


@pytest.fixture
def fresh_postgres_db(postgres_server):
    """URL of a new, empty database for this test only."""
    import uuid

    return postgres_server.create_database(f"test_{uuid.uuid4().hex[:12]}")
