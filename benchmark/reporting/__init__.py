"""Figures, the analysis of trained models, and the pages (``leaderboard.md|html``, ``index.html``)."""
