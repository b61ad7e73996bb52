"""WiSE-FT: the weights of the linear probe and of the fine-tuned model, mixed (Wortsman et al., CVPR 2022).

WiSE-FT interpolates, weight by weight, between the model before fine-tuning and after it,
``theta(a) = (1 - a) theta_0 + a theta_1``; with a zero-shot head, theta_0 is the zero-shot model. A CNN
with a new head has none, so theta_0 here is the linear probe: training runs as LP-FT
(``methods/lp_ft.py``: the head alone, then everything), the probe's weights (the pretrained
backbone and its best head) are kept when the first stage ends, and after the second stage the
mixing weight ``a`` is chosen on the validation images from {0, 0.1, ..., 1} (the profile's
selection metric; a tie goes to the lower validation loss, then to the larger ``a``). Every
floating-point entry of the state is mixed, batch-norm running statistics included. The choice
and every weight's validation metric are recorded (``training.post_training``); no test image
takes part. Identity at initialisation: nothing is added to the network.

Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022.
"""
import math

import torch

from benchmark.plugins.registry import register_method
from methods.lp_ft import probe_then_finetune

GRID = tuple(round(0.1 * i, 1) for i in range(11))


class Interpolation:
    """Keeps the probe's state (``on_probe_end``) and mixes it with the fine-tuned one (``finish``)."""

    def __init__(self):
        self.probe: dict[str, torch.Tensor] = {}

    def on_probe_end(self, backbone) -> None:
        self.probe = {k: v.detach().clone() for k, v in backbone.model.state_dict().items()
                      if v.is_floating_point()}

    def finish(self, backbone, evaluate) -> dict:
        model = backbone.model
        tuned = {k: v.detach().clone() for k, v in model.state_dict().items() if k in self.probe}
        grid = []
        for a in GRID:
            model.load_state_dict({k: torch.lerp(self.probe[k], tuned[k], a) for k in tuned}, strict=False)
            m = evaluate()
            grid.append({"alpha": a, "val_selection": m["selection"], "val_loss": m["loss"]})
        best = max(grid, key=lambda g: (-math.inf if math.isnan(g["val_selection"]) else g["val_selection"],
                                        -g["val_loss"], g["alpha"]))
        model.load_state_dict({k: torch.lerp(self.probe[k], tuned[k], best["alpha"]) for k in tuned}, strict=False)
        return {"wise_ft_alpha": best["alpha"], "grid": grid}


@register_method(
    description="WiSE-FT: LP-FT, then the weights mixed between the linear probe and the fine-tuned model, "
                "the mixing weight chosen on validation images",
    citation="Wortsman et al., 'Robust fine-tuning of zero-shot models', CVPR 2022",
    lr=(1e-5, 1e-3), family="fine-tuning", source="literature",
    trains=lambda backbone, name, owner: True, identity_at_init=True,
)
def wise_ft(backbone, probe_lr: float = 1e-2):
    interpolation = Interpolation()
    probe_then_finetune(backbone, probe_lr, on_probe_end=interpolation.on_probe_end)
    backbone.hooks.finish = interpolation.finish
