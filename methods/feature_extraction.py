"""Feature extraction: the pretrained backbone stays frozen; only a new dense head learns."""
from benchmark.plugins.registry import register_method


@register_method(
    description="Frozen pretrained backbone, new dense head (a linear probe on pooled features)",
    citation="Byra, Biomed. Signal Process. Control 69 (2021), baseline; Yosinski et al., NeurIPS 2014",
    lr=(1e-3, 1e-1),  # a linear head on frozen features takes large steps
    family="linear probe", source="paper", trains=lambda backbone, name, owner: False, identity_at_init=True,
)
def feature_extraction(backbone):
    """Nothing to add: the model builder trains the head, and this method declares nothing more."""
