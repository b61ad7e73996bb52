"""Counting the signs of every block's output as images go through a backbone.

Forward hooks on the adapter's ``blocks()`` count, per block, the positive and nonzero elements
of the block's output (the activation rate A_l of Byra 2021, eq. 5, is positive / total), and,
against the signs an earlier pass kept, the elements whose sign changed (eqs. 6-7). Nothing is
kept but counts, and, when asked, the signs themselves packed 8 per byte, so a whole test set
fits in memory whatever the backbone.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class BlockCounts:
    """Per-block element counts of one model over a set of images."""

    positive: np.ndarray
    nonzero: np.ndarray
    total: np.ndarray
    changed: np.ndarray | None = None           # sign differs from the reference's
    signs: list[list[np.ndarray]] = field(default_factory=list)  # [batch][block] packed (o > 0)

    @property
    def rate(self) -> np.ndarray:
        return self.positive / np.maximum(self.total, 1)

    @property
    def changed_fraction(self) -> np.ndarray:
        if self.changed is None:
            raise ValueError("no reference signs were given")
        return self.changed / np.maximum(self.total, 1)


@torch.inference_mode()
def block_sign_counts(backbone, batches, reference: list[list[np.ndarray]] | None = None,
                      keep_signs: bool = False) -> BlockCounts:
    """Run the model over ``batches`` (normalised N x 3 x H x W) counting, at each block's output,
    positive and nonzero elements; with ``reference`` (the ``signs`` of an earlier call on the
    same batches) also the elements whose sign differs; with ``keep_signs`` keep the signs,
    packed 8 per byte, for such a later call."""
    model = backbone.model
    blocks = backbone.blocks()
    n = len(blocks)
    counts = BlockCounts(np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64),
                         np.zeros(n, np.int64) if reference is not None else None)
    state = {"batch": 0, "signs": None}

    def hook(index):
        def count(module, inputs, output):
            pos = output > 0
            counts.positive[index] += int(pos.sum())
            counts.nonzero[index] += int((output != 0).sum())
            counts.total[index] += pos.numel()
            if reference is not None or keep_signs:
                flat = pos.contiguous().view(-1).cpu().numpy()
                if reference is not None:
                    ref = np.unpackbits(reference[state["batch"]][index], count=flat.size).view(bool)
                    counts.changed[index] += int(np.count_nonzero(flat != ref))
                if keep_signs:
                    state["signs"][index] = np.packbits(flat)
        return count

    handles = [b.register_forward_hook(hook(i)) for i, b in enumerate(blocks)]
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        for batch in batches:
            state["signs"] = [None] * n
            model(batch.to(device))
            if keep_signs:
                counts.signs.append(state["signs"])
            state["batch"] += 1
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if reference is not None and state["batch"] != len(reference):
        raise ValueError(f"{state['batch']} batches, but reference signs for {len(reference)}")
    return counts
