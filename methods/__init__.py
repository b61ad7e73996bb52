"""Transfer methods, one module each; every module registers its methods on import.

See ``benchmark.registry`` for the contract and the README's "Adding a method".
"""
