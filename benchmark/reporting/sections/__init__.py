"""One module per section of the report, beside its template ``<name>.html``: each turns the run folder's tables
into what its template shows (sentences, rows of text cells, figures as data URIs, the command that computes a
missing input), in page order: ``summary``, ``reproduction``, ``leaderboard`` (with ``roc.html``,
``auc_parameters.html`` and, after its search budget, ``budget_curves``), ``significance`` (with
``secondary_tests.html``), ``repeats``, ``efficiency``, ``external``, ``subgroups`` (with
``subgroup_tables.html``, shared with the sites page), ``calibration``, ``clinical``, ``cost``,
``analysis``, ``gallery``, ``protocol``."""
