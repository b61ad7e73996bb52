"""The pages of a run folder, each a template of ``benchmark/reporting/templates/`` that includes its sections:
``index`` (the report, ``index.html``), ``leaderboard`` (``leaderboard.md`` and ``leaderboard.html``) and
``sites`` (the ``index.html`` of a folder of ``train-<set>/`` run folders)."""
