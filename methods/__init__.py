"""Transfer methods, one module each; every module registers its methods on import.

See ``benchmark.models.registry`` for the contract and the README's "Adding a method".
"""
