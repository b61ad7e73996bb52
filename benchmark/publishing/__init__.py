"""Published results: a finished run folder without model weights, search storage, images or pages, kept in
the repository under ``results/<profile>-<dataset>/`` (``folder``: :func:`publish`, :func:`unpack`), and the
guard that its derived tables are the ones the code computes from its predictions (``guard``:
:func:`check_published`). It reads run folders (``runfolder``), rebuilds their tables (``evaluation``) and
renders ``leaderboard.md`` (``reporting``); it trains nothing.
"""
from benchmark.publishing.folder import (COMPRESS_ABOVE, default_out, publish, read_manifest, record_reproduction,
                                         unpack)
from benchmark.publishing.guard import TOLERANCE, Difference, GuardResult, check_published

__all__ = ["publish", "unpack", "default_out", "read_manifest", "record_reproduction", "check_published", "Difference", "GuardResult",
           "COMPRESS_ABOVE", "TOLERANCE"]
