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
    skipped_pairs  curated same-lesion pairs of a built-in list left out because this copy lacks
               an image of the pair (a subset or cleaned copy), each {"image_a", "image_b", "reason"}
    metadata   per-image columns the data set ships (BUS-BRA: patient, device, BI-RADS, ...):
               {column: N values}; carried into the run folder's images.csv
    official_folds  the data set's own k-fold partitions, {k: N test-fold indices 0..k-1}
               (BUS-BRA's 5- and 10-fold files); ``[evaluation] partition = "official"`` uses them
    """

    images: np.ndarray
    labels: np.ndarray
    ids: list[str]
    groups: np.ndarray
    name: str
    synthetic: bool
    checksum: str
    excluded: list[dict] = field(default_factory=list)
    skipped_pairs: list[dict] = field(default_factory=list)
    metadata: dict[str, list] = field(default_factory=dict)
    official_folds: dict[int, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.images.dtype != np.uint8 or self.images.ndim != 3:
            raise ValueError(f"images must be uint8 N x H x W, got {self.images.dtype} {self.images.shape}")
        if not (len(self.images) == len(self.labels) == len(self.groups) == n):
            raise ValueError("images, labels, groups and ids must have the same length")
        if n and not set(np.unique(self.labels)) <= {BENIGN, MALIGNANT}:
            raise ValueError("labels must be 0 (benign) or 1 (malignant)")
        for column, values in self.metadata.items():
            if len(values) != n:
                raise ValueError(f"metadata column {column!r} has {len(values)} values for {n} images")
        for k, folds in self.official_folds.items():
            folds = np.asarray(folds)
            if len(folds) != n or (n and (folds.min() < 0 or folds.max() >= k)):
                raise ValueError(f"the official {k}-fold partition must give each of the {n} images a fold 0..{k - 1}")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    def official_partition(self, k: int) -> np.ndarray:
        """The test fold (0..k-1) of every image in the data set's own k-fold partition;
        ValueError saying which partitions it has when it has no k-fold one."""
        if k in self.official_folds:
            return np.asarray(self.official_folds[k], dtype=np.int64)
        if self.official_folds:
            has = ", ".join(f"{j}-fold" for j in sorted(self.official_folds))
            raise ValueError(f"[evaluation] partition = \"official\" with folds = {k}: data set {self.name!r} has "
                             f"official {has} partitions, no {k}-fold one; set [evaluation] folds to "
                             f"{' or '.join(map(str, sorted(self.official_folds)))}, or partition = \"stratified\"")
        raise ValueError(f"[evaluation] partition = \"official\": data set {self.name!r} has no official partition "
                         f"(bus_bra has); set [evaluation] partition = \"stratified\" (the suite's own folds)")

    def image_table(self) -> dict[str, list]:
        """One row per image, as columns: dataset, image_id, group, label, then the metadata."""
        return {"dataset": [self.name] * len(self), "image_id": list(self.ids),
                "group": [int(g) for g in self.groups], "label": [int(v) for v in self.labels],
                **{column: list(values) for column, values in self.metadata.items()}}

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
            skipped_pairs=list(self.skipped_pairs),
            metadata={column: [values[i] for i in index] for column, values in self.metadata.items()},
            official_folds={k: np.asarray(folds)[index] for k, folds in self.official_folds.items()},
        )
