"""DRS combined with fine-tuning (Byra 2021, section 3.4): composed, not copied."""
from benchmark.plugins.registry import compose
from methods import drs, finetune  # noqa: F401  (registers the parts)

compose("drs_finetune_last_block", "drs", "finetune_last_block", citation=drs.CITATION,
        family="scaling + fine-tuning", description="DRS layers in every block, and fine-tuning of the last block and the head")
compose("drs_finetune_all", "drs", "finetune_all", citation=drs.CITATION,
        family="scaling + fine-tuning", description="DRS layers in every block, and fine-tuning of the whole network")
