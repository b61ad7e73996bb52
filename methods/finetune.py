"""Fine-tuning: of the last residual block, or of the whole network."""
from benchmark.plugins.registry import register_method


def in_last_block(backbone, name, owner) -> bool:
    return any(owner is m for part in backbone.last_block() for m in part.modules())


@register_method(
    description="Fine-tune the last residual block (and the head); the rest stays frozen",
    citation="Byra, Biomed. Signal Process. Control 69 (2021), baseline",
    family="fine-tuning", source="paper", trains=in_last_block, identity_at_init=True,
)
def finetune_last_block(backbone):
    """Nothing to add: the declaration above names the parameters that train."""


@register_method(
    description="Fine-tune every layer of the pretrained network (and the head)",
    citation="Byra, Biomed. Signal Process. Control 69 (2021), baseline",
    lr=(1e-5, 1e-3),  # a whole pretrained network: rates well below a new head's
    family="fine-tuning", source="paper", trains=lambda backbone, name, owner: True, identity_at_init=True,
)
def finetune_all(backbone):
    """Nothing to add: the declaration above makes every parameter trainable."""
