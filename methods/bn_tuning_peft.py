"""BN tuning through peft's LN-tuning: a cross-check of the suite's own BN tuning.

peft's LN-tuning wraps each normalisation layer and trains a copy of it (its affine parameters,
gamma and beta), leaving the original frozen and unused. Aimed at every batch-norm layer (ResNet's
``nn.BatchNorm2d``, EfficientNet-Lite's ``BatchNormAct2d`` with its bundled activation), it
trains the same parameters as ``methods/bn_tuning.py`` (the same count, the same starting
values, the same pretrained running statistics under the same "eval" policy), so the two give
the same numbers at the same seed: a test trains both and compares them.

Zhao et al., "Tuning LayerNorm in Attention: Towards Efficient Multi-Modal LLM Finetuning",
ICLR 2024; peft's ``LNTuningConfig``; Frankle, Schwab, Morcos, ICLR 2021 (BN tuning).
"""
import warnings

from benchmark.models.norms import BATCH_NORMS
from benchmark.plugins.registry import register_method
from methods._peft import inject, merge_and_unload, trains_adapters


@register_method(
    description="BN tuning through peft's LN-tuning (a trained copy of every batch-norm layer), and the "
                "head; pretrained running statistics; cross-checks bn_tuning",
    citation="Zhao et al., 'Tuning LayerNorm in Attention', ICLR 2024; peft; Frankle, Schwab, Morcos, "
             "'Training BatchNorm and Only BatchNorm', ICLR 2021",
    bn_stats="eval", family="selective", source="peft", trains=trains_adapters, identity_at_init=True,
    merge=merge_and_unload,
)
def bn_tuning_peft(backbone):
    import peft  # here, not at the top: listing the methods needs no peft

    targets = [n for n, m in backbone.model.named_modules() if isinstance(m, BATCH_NORMS)]
    with warnings.catch_warnings():  # peft warns on any layer but LayerNorm; the tests check batch-norms
        warnings.filterwarnings("ignore", message="Unsupported layer type")
        inject(backbone.model, peft.LNTuningConfig(target_modules=targets), targets,
               peft.tuners.ln_tuning.layer.LNTuningLayer)
