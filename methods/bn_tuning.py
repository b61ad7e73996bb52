"""BN tuning: only the batch-norm affine parameters (and the head) train.

Every batch-norm layer's scale ``gamma`` (``.weight``) and shift ``beta`` (``.bias``)
train: ``nn.BatchNorm2d`` in ResNet (after every convolution, downsample included) and
timm's ``BatchNormAct2d`` (a ``BatchNorm2d`` with its activation bundled) in
EfficientNet-Lite. Convolution weights stay frozen.

Batch-norm running statistics: the suite's "frozen" policy (``set_train_mode``) keeps a
batch-norm layer in eval mode only when none of its parameters trains; here every
batch-norm layer trains its affine parameters, so every one is in train mode during
training: it normalises with batch statistics and re-estimates its running statistics
on the training data (used at evaluation). Under this policy that is the same as "train".

Frankle, Schwab, Morcos, "Training BatchNorm and Only BatchNorm: On the Expressive Power
of Random Features in CNNs", ICLR 2021.
"""
from torch import nn

from benchmark.registry import register_method

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@register_method(
    description="Batch-norm affine parameters (gamma, beta) of every batch-norm layer, and the head; "
                "batch-norm layers re-estimate their running statistics",
    citation="Frankle, Schwab, Morcos, 'Training BatchNorm and Only BatchNorm: On the Expressive "
             "Power of Random Features in CNNs', ICLR 2021",
    bn_stats="frozen",
)
def bn_tuning(backbone):
    for module in backbone.model.modules():
        if isinstance(module, BATCH_NORMS):
            for p in module.parameters(recurse=False):  # weight and bias, not what is nested
                p.requires_grad_(True)
