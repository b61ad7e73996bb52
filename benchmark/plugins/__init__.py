"""The method plugin contract: the registry every module of ``methods/`` (and every third-party plugin, through the
``petl_bench.methods`` entry points) registers with (``registry``: :func:`~benchmark.plugins.registry.register_method`,
:func:`~benchmark.plugins.registry.compose`), and the table a reviewer reads of them (``method_table``).

It holds what a method declares, never a model: the evaluation and the report read it (a method's family and
source) without importing any model code, and ``models/`` builds what it declares.
"""
