"""BitFit: only the bias terms (and the head) train.

The convolutions of these CNNs have no bias, so in practice BitFit trains the shift
``beta`` (``.bias``) of every batch-norm layer (timm's ``BatchNormAct2d`` in EfficientNet-
Lite), plus any convolution or linear bias the backbone has; the scales ``gamma`` and all
weights stay frozen.

Batch-norm running statistics: policy "eval": every batch-norm layer stays in eval mode and
normalises with the pretrained running statistics, while its bias trains (rather than the
"frozen" policy, under which a layer whose parameters train uses batch statistics and re-estimates
its running statistics). Why, and the measurements that decided it: docs/decisions/bn-statistics.md.

Ben Zaken, Ravfogel, Goldberg, "BitFit: Simple Parameter-efficient Fine-tuning for
Transformer-based Masked Language-models", ACL 2022.
"""
from benchmark.plugins.registry import register_method


@register_method(
    description="BitFit: every bias term (here the batch-norm shifts beta; the convs have no bias) "
                "and the head; batch-norm layers keep their pretrained running statistics",
    citation="Ben Zaken, Ravfogel, Goldberg, 'BitFit: Simple Parameter-efficient Fine-tuning for "
             "Transformer-based Masked Language-models', ACL 2022",
    bn_stats="eval", family="selective", source="literature", identity_at_init=True,
    trains=lambda backbone, name, owner: name == "bias" or name.endswith(".bias"),
)
def bitfit(backbone):
    """Nothing to add: the declaration above names the parameters that train."""
