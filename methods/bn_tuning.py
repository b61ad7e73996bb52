"""BN tuning: only the batch-norm affine parameters (and the head) train.

Every batch-norm layer's scale ``gamma`` (``.weight``) and shift ``beta`` (``.bias``)
train: ``nn.BatchNorm2d`` in ResNet (after every convolution, downsample included) and
timm's ``BatchNormAct2d`` (a ``BatchNorm2d`` with its activation bundled) in
EfficientNet-Lite. Convolution weights stay frozen.

Batch-norm running statistics: policy "eval": every batch-norm layer stays in eval mode and
normalises with the pretrained running statistics, while its affine parameters train (rather than
the "frozen" policy, under which a layer whose parameters train uses batch statistics and
re-estimates its running statistics). Why, and the measurements that decided it:
docs/decisions/bn-statistics.md.

Frankle, Schwab, Morcos, "Training BatchNorm and Only BatchNorm: On the Expressive Power
of Random Features in CNNs", ICLR 2021.
"""
from benchmark.models.norms import BATCH_NORMS
from benchmark.plugins.registry import register_method


@register_method(
    description="Batch-norm affine parameters (gamma, beta) of every batch-norm layer, and the head; "
                "batch-norm layers keep their pretrained running statistics",
    citation="Frankle, Schwab, Morcos, 'Training BatchNorm and Only BatchNorm: On the Expressive "
             "Power of Random Features in CNNs', ICLR 2021",
    bn_stats="eval", family="selective", source="literature", identity_at_init=True,
    trains=lambda backbone, name, owner: isinstance(owner, BATCH_NORMS),  # weight and bias, not what is nested
)
def bn_tuning(backbone):
    """Nothing to add: the declaration above names the parameters that train."""
