"""The in-memory form every data source produces: decoded grayscale images and their labels."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BENIGN, MALIGNANT = 0, 1
CLASS_NAMES = ("benign", "malignant")


@dataclass
class ImageSet:
    """Decoded images of one data set at one size, ready to split.

    images   uint8 array, N x H x W (grayscale; the backbone duplicates it to 3 channels)
    labels   int64 array, N (0 benign, 1 malignant)
    ids      N stable image identifiers (for BUSI the path relative to the data root)
    groups   int64 array, N; images that share a group are duplicates of each other and
             must land in the same split
    name     data-set name ("busi", "synthetic")
    synthetic  True for generated data (reports must say so)
    checksum   sha256 over the ids and the content of every image, to pin the data in a run record
    excluded   images left out, each {"id": ..., "reason": ...}
    """

    images: np.ndarray
    labels: np.ndarray
    ids: list[str]
    groups: np.ndarray
    name: str
    synthetic: bool
    checksum: str
    excluded: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.images.dtype != np.uint8 or self.images.ndim != 3:
            raise ValueError(f"images must be uint8 N x H x W, got {self.images.dtype} {self.images.shape}")
        if not (len(self.images) == len(self.labels) == len(self.groups) == n):
            raise ValueError("images, labels, groups and ids must have the same length")
        if n and not set(np.unique(self.labels)) <= {BENIGN, MALIGNANT}:
            raise ValueError("labels must be 0 (benign) or 1 (malignant)")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    def subset(self, index: np.ndarray) -> "ImageSet":
        index = np.asarray(index, dtype=np.int64)
        return ImageSet(
            images=self.images[index],
            labels=self.labels[index],
            ids=[self.ids[i] for i in index],
            groups=self.groups[index],
            name=self.name,
            synthetic=self.synthetic,
            checksum=self.checksum,
            excluded=list(self.excluded),
        )
