"""Where a model looks: class-activation maps and the share of each map inside the lesion.

The map is HiResCAM (Draelos and Carin, arXiv:2011.08891, 2020), the element-wise form of Grad-CAM
(Selvaraju et al., ICCV 2017) on a layer's output A (channels x h x w): the gradient of the evidence
for the model's decision with respect to A times A, summed over channels, clipped at zero and
enlarged to the image's size (bilinear). Grad-CAM averages the gradient over the map first, which
spreads a map over every position where a channel is active even when the model reads only some of
them; the element-wise product does not (a planted model that reads one corner gets a map in that
corner), and for a network that ends in average pooling and a linear head the two are the same. With one
malignancy logit z, the evidence for the decision is |z| (z for an image called malignant, -z for
one called benign), so every map shows what supports what the model said.

The **share inside the lesion** is the map's mass on the lesion region divided by its total; a map
spread evenly over the image gets the region's share of the image's area (the chance level, given
beside it). A map that is zero everywhere (nothing supports the decision at that layer) has no
share (NaN).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["class_activation_maps", "share_inside"]


def class_activation_maps(model: torch.nn.Module, layer: torch.nn.Module, images: np.ndarray, prepare,
             batch_size: int = 32, device: torch.device | str = "cpu") -> np.ndarray:
    """HiResCAM maps (float32 N x S x S, >= 0) of ``model`` at ``layer`` for uint8 ``images`` N x S x S.

    ``prepare(uint8 batch tensor) -> model input`` is how the model's inputs are made (the
    trainer's normalisation). The model is put in eval mode and left as it was."""
    captured: dict[str, torch.Tensor] = {}
    handle = layer.register_forward_hook(lambda module, args, output: captured.__setitem__("a", output))
    was_training = model.training
    model.eval()
    size = images.shape[-2:]
    out = []
    try:
        for start in range(0, len(images), batch_size):
            batch = torch.as_tensor(images[start:start + batch_size]).to(device)
            with torch.enable_grad():
                x = prepare(batch).detach().requires_grad_(True)  # so every layer's output is in the graph
                logits = model(x).float().reshape(len(batch), -1)[:, 0]
                evidence = (logits * torch.sign(logits).detach()).sum()
                activation = captured["a"]
                grads, = torch.autograd.grad(evidence, activation)
            cam = F.relu((grads.float() * activation.detach().float()).sum(dim=1, keepdim=True))
            cam = F.interpolate(cam, size=tuple(size), mode="bilinear", align_corners=False)[:, 0]
            out.append(cam.cpu().numpy().astype(np.float32))
    finally:
        handle.remove()
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, *size), dtype=np.float32)


def share_inside(maps: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Per image, the share of its map's mass inside ``region`` (NaN for an all-zero map)."""
    maps = np.asarray(maps, dtype=np.float64)
    total = maps.reshape(len(maps), -1).sum(axis=1)
    inside = (maps * np.asarray(region, dtype=bool)).reshape(len(maps), -1).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / total, np.nan)
