"""Is a model reading the lesion? Every trained study of a run folder scored on lesion-only and
context-only images (from the data sets' lesion masks), under acquisition shifts at graded
strengths, and with class-activation maps (HiResCAM) whose share inside the lesion is measured.

- :mod:`~benchmark.analysis.reliance.write`: :func:`write_reliance`, the entry point (``petl-bench reliance``);
- :mod:`~benchmark.analysis.reliance.scoring`: one study's model on every condition;
- :mod:`~benchmark.analysis.reliance.regions`: the lesion region, lesion-only and context-only images;
- :mod:`~benchmark.analysis.reliance.shifts`: gain, contrast, speckle, blur, JPEG and crop at graded strengths;
- :mod:`~benchmark.analysis.reliance.saliency`: class-activation maps and the share of a map inside the lesion.

The AUC tables are the evaluation's (:mod:`benchmark.evaluation.reliance`), the section the report's.
"""
from benchmark.analysis.reliance.write import write_reliance

__all__ = ["write_reliance"]
