"""L2-SP: full fine-tuning pulled towards the pretrained weights (Li, Grandvalet, Davoine, ICML 2018).

Every parameter trains, and each step's loss gains
``alpha / 2 * ||w - w0||^2`` over the backbone's parameters (w0: the pretrained values, kept
when the method is applied) plus ``beta / 2 * ||w_head||^2`` over the new head (plain weight
decay: it has no pretrained value). The paper's grid has alpha in {0.001, 0.01, 0.1, 1} and
beta = 0.01; here alpha is searched over {0.001, 0.01, 0.1}. The penalty rides on the trainer's
loss through ``backbone.hooks`` (``benchmark.models.hooks``). Identity at initialisation:
nothing is added to the network.
"""
import optuna
import torch

from benchmark.plugins.registry import register_method


class StartingPointPenalty:
    """``alpha/2 ||w - w0||^2`` over the backbone's parameters and ``beta/2 ||w||^2`` over the head's."""

    def __init__(self, backbone, alpha: float, beta: float):
        head = {id(p) for p in backbone.head().parameters()}
        params = list(backbone.model.parameters())
        self.pulled = [(p, p.detach().clone()) for p in params if id(p) not in head]
        self.head = [p for p in params if id(p) in head]
        self.alpha, self.beta = alpha, beta

    def __call__(self) -> torch.Tensor:
        if self.pulled and self.pulled[0][1].device != self.pulled[0][0].device:  # the model moved
            self.pulled = [(p, w0.to(p.device)) for p, w0 in self.pulled]
        pull = sum((p - w0).pow(2).sum() for p, w0 in self.pulled)
        decay = sum(p.pow(2).sum() for p in self.head)
        return 0.5 * self.alpha * pull + 0.5 * self.beta * decay


@register_method(
    description="L2-SP: fine-tune every layer with an L2 penalty towards the pretrained weights "
                "(and weight decay on the new head)",
    citation="Li, Grandvalet, Davoine, 'Explicit Inductive Bias for Transfer Learning with Convolutional "
             "Networks', ICML 2018",
    search_space={"alpha": optuna.distributions.CategoricalDistribution([0.001, 0.01, 0.1])},
    lr=(1e-5, 1e-3), family="fine-tuning", source="literature",
    trains=lambda backbone, name, owner: True, identity_at_init=True,
)
def l2_sp(backbone, alpha: float = 0.01, beta: float = 0.01):
    backbone.hooks.add_penalty(StartingPointPenalty(backbone, alpha, beta))
