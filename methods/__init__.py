"""Transfer methods, one module each; every module registers its methods on import.

See ``benchmark.plugins.registry`` for the contract and docs/methods.md, "Adding a method".
"""
