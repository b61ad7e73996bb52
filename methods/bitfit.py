"""BitFit: only the bias terms (and the head) train.

The convolutions of these CNNs have no bias, so in practice BitFit trains the shift
``beta`` (``.bias``) of every batch-norm layer (timm's ``BatchNormAct2d`` in EfficientNet-
Lite), plus any convolution or linear bias the backbone has; the scales ``gamma`` and all
weights stay frozen.

Batch-norm running statistics: the suite's "frozen" policy (``set_train_mode``) keeps a
batch-norm layer in eval mode only when none of its parameters trains. BitFit trains every
batch-norm layer's bias, so every batch-norm layer is in train mode during training:
it normalises with batch statistics and re-estimates its running statistics on the
training data (used at evaluation). Under this policy that is the same as "train".

Ben Zaken, Ravfogel, Goldberg, "BitFit: Simple Parameter-efficient Fine-tuning for
Transformer-based Masked Language-models", ACL 2022.
"""
from benchmark.registry import register_method


@register_method(
    description="BitFit: every bias term (here the batch-norm shifts beta; the convs have no bias) "
                "and the head; batch-norm layers re-estimate their running statistics",
    citation="Ben Zaken, Ravfogel, Goldberg, 'BitFit: Simple Parameter-efficient Fine-tuning for "
             "Transformer-based Masked Language-models', ACL 2022",
    bn_stats="frozen",
)
def bitfit(backbone):
    for name, p in backbone.model.named_parameters():
        if name == "bias" or name.endswith(".bias"):
            p.requires_grad_(True)
