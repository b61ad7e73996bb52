"""The layer types the suite treats as batch-norms: one definition for every module that asks.

timm's ``BatchNormAct2d`` (EfficientNet-Lite's batch-norm with its activation bundled) is a
subclass of ``nn.BatchNorm2d`` and so is one of them.
"""
from torch import nn

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
