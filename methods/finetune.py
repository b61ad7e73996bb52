"""Fine-tuning: of the last residual block, or of the whole network."""
from benchmark.models.registry import register_method


@register_method(
    description="Fine-tune the last residual block (and the head); the rest stays frozen",
    citation="Byra, Biomed. Signal Process. Control 69 (2021), baseline",
)
def finetune_last_block(backbone):
    for module in backbone.last_block():
        module.requires_grad_(True)


@register_method(
    description="Fine-tune every layer of the pretrained network (and the head)",
    citation="Byra, Biomed. Signal Process. Control 69 (2021), baseline",
    lr=(1e-5, 1e-3),  # a whole pretrained network: rates well below a new head's
)
def finetune_all(backbone):
    backbone.model.requires_grad_(True)
