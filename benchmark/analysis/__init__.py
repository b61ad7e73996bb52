"""The model analysis: what the methods do to the backbone's representations (Byra 2021, section 3.5).

It reads trained states from a run folder (``runs/<method>/repeat-<r>/fold-<f>/trained_state.pt``,
the fold's test images in ``test_images.npz``) and writes tables, ``analysis/*.csv`` with
``analysis/notes.md``; the report draws them (:mod:`benchmark.reporting.figures.analysis`) and
shows :func:`describe_findings`. It needs torch; the report imports it lazily and is built
without it (the page says why).

- :mod:`~benchmark.analysis.write`: :func:`write_analysis`, the entry point;
- :mod:`~benchmark.analysis.representations`: the three tables (activation rates, activation
  rate change, DRS deviation from identity), each model loaded once;
- :mod:`~benchmark.analysis.fold_models`: the fold's trained models, rebuilt
  (:func:`benchmark.models.build.rebuild_trained`), and their DRS layers;
- :mod:`~benchmark.analysis.images`: the natural photographs and the normalised batches;
- :mod:`~benchmark.analysis.block_signs`: counting the signs of every block's output;
- :mod:`~benchmark.analysis.findings`: the tables in words (:func:`describe_findings`, the notes).
"""
from benchmark.analysis.findings import describe_findings
from benchmark.analysis.write import write_analysis

__all__ = ["write_analysis", "describe_findings"]
