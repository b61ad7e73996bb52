"""IA3: a learned per-channel scale on every convolution, depthwise ones included (peft).

IA3 rescales activations by learned vectors initialised to one (so the network starts as the
pretrained one). In a transformer it scales keys, values and the hidden activation of each
feed-forward block; on a CNN (peft's ``IA3Config`` on ``nn.Conv2d``):
- every convolution's output channels are scaled (``y = l * conv(x)``, C_out values), except
- each residual block's last convolution, the projection that reads the block's hidden
  activation after its nonlinearity (ResNet's ``conv3``/``conv2``, EfficientNet-Lite's
  ``conv_pwl``, or ``conv_pw`` in its first, depthwise-separable block): that is IA3's
  feed-forward case, listed in ``feedforward_modules``, and it scales its input channels
  (``y = conv(l * x)``, C_in values), the hidden activation itself, which an output scale of
  the convolution before (ahead of its batch-norm and activation) cannot express.
Depthwise convolutions are scaled like the others. With frozen batch-norms in eval mode an
output scale is the scale-only part of SSF and of DRS's channel scaling: an independent check
of those layers' code. The scales merge into the convolution weights afterwards.

Liu et al., "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than In-Context
Learning" (IA3), NeurIPS 2022; peft's ``IA3Config``.
"""
from torch import nn

from benchmark.plugins.registry import register_method
from methods._peft import convolutions, inject, merge_and_unload, trains_adapters


def projections(backbone) -> list[str]:
    """Each residual block's last convolution (outside its shortcut): IA3's feed-forward modules."""
    names = {id(m): n for n, m in backbone.model.named_modules()}
    out = []
    for block in backbone.blocks():
        convs = [n for n, m in block.named_modules() if type(m) is nn.Conv2d
                 and not n.startswith(("downsample", "se", "shortcut"))]
        out.append(f"{names[id(block)]}.{convs[-1]}")
    return out


@register_method(
    description="IA3 (peft): a learned scale per output channel of every convolution (depthwise included), "
                "per input channel of each block's projection, and the head; weights frozen",
    citation="Liu et al., 'Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than In-Context "
             "Learning', NeurIPS 2022; peft",
    family="scaling", source="peft", trains=trains_adapters, identity_at_init=True, merge=merge_and_unload,
)
def ia3(backbone):
    import peft  # here, not at the top: listing the methods needs no peft

    targets = convolutions(backbone.model)
    config = peft.IA3Config(target_modules=targets, feedforward_modules=projections(backbone))
    inject(backbone.model, config, targets, peft.tuners.ia3.IA3Layer)
