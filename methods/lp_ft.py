"""LP-FT: a linear probe first, then fine-tuning of everything from it (Kumar et al., ICLR 2022).

Fine-tuning with a randomly initialised head distorts the pretrained features while the head is
still poor; training the head first (the linear probe, LP) and then the whole network from
there (FT) keeps them closer to the pretrained ones. Here training runs in two stages
(``benchmark.models.hooks``): stage 1 trains the head alone at ``probe_lr`` (a fixed rate in the
centre of feature extraction's range; the backbone is frozen, so its batch-norms keep their
statistics and the frozen prefix is cached), with its own early stopping on validation; stage 2
starts from the probe's best head and trains every parameter at the trial's learning rate
(full fine-tuning's range), with early stopping again. What the method trains, and what its
saved state holds, is everything, as in full fine-tuning. Identity at initialisation: nothing
is added to the network.

Kumar, Raghunathan, Jones, Ma, Liang, "Fine-Tuning can Distort Pretrained Features and
Underperform Out-of-Distribution", ICLR 2022.
"""
from benchmark.models.hooks import Stage
from benchmark.plugins.registry import register_method

CITATION = ("Kumar, Raghunathan, Jones, Ma, Liang, 'Fine-Tuning can Distort Pretrained Features and "
            "Underperform Out-of-Distribution', ICLR 2022")


def probe_then_finetune(backbone, probe_lr: float, on_probe_end=None) -> None:
    """Train what the method declares (everything) in two stages: the head alone at ``probe_lr``,
    then all parameters."""
    backbone.hooks.stages = [Stage("linear probe", trainable=lambda b: b.head().parameters(), lr=probe_lr,
                                   on_end=on_probe_end),
                             Stage("fine-tune")]


@register_method(
    description="LP-FT: train the head alone (linear probe), then fine-tune every layer from there",
    citation=CITATION, lr=(1e-5, 1e-3), family="fine-tuning", source="literature",
    trains=lambda backbone, name, owner: True, identity_at_init=True,
)
def lp_ft(backbone, probe_lr: float = 1e-2):
    probe_then_finetune(backbone, probe_lr)
