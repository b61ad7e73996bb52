"""Where the real data sets are, found as the suite finds them (the data-set registry: ``--data-root``'s
environment variable, ``datasets/<name>``, ``../shared/datasets/<name>``), so a test and ``petl-bench`` never
disagree about whether a data set is at hand."""
from __future__ import annotations

from pathlib import Path


def dataset_root(name: str) -> Path:
    """The folder of data set ``name``, or a path that does not exist (its name says so) when it is not found."""
    from benchmark.data import get_dataset

    return get_dataset(name).locate().root or Path(f"{name}-not-found (see `petl-bench datasets`)")
