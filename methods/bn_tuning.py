"""BN tuning: only the batch-norm affine parameters (and the head) train.

Every batch-norm layer's scale ``gamma`` (``.weight``) and shift ``beta`` (``.bias``)
train: ``nn.BatchNorm2d`` in ResNet (after every convolution, downsample included) and
timm's ``BatchNormAct2d`` (a ``BatchNorm2d`` with its activation bundled) in
EfficientNet-Lite. Convolution weights stay frozen.

Batch-norm running statistics: policy "eval": every batch-norm layer stays in eval mode and
normalises with the pretrained running statistics, while its affine parameters train. Under the
"frozen" policy (batch statistics at batch 24, running statistics re-estimated) the quick
profile's pooled out-of-fold AUC on BUSI was 0.766; with "eval" it was 0.858.

Frankle, Schwab, Morcos, "Training BatchNorm and Only BatchNorm: On the Expressive Power
of Random Features in CNNs", ICLR 2021.
"""
from torch import nn

from benchmark.models.registry import register_method

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@register_method(
    description="Batch-norm affine parameters (gamma, beta) of every batch-norm layer, and the head; "
                "batch-norm layers keep their pretrained running statistics",
    citation="Frankle, Schwab, Morcos, 'Training BatchNorm and Only BatchNorm: On the Expressive "
             "Power of Random Features in CNNs', ICLR 2021",
    bn_stats="eval", family="selective", source="literature", identity_at_init=True,
    trains=lambda backbone, name, owner: isinstance(owner, BATCH_NORMS),
)
def bn_tuning(backbone):
    for module in backbone.model.modules():
        if isinstance(module, BATCH_NORMS):
            for p in module.parameters(recurse=False):  # weight and bias, not what is nested
                p.requires_grad_(True)
