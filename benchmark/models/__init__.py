"""Backbones, the method registry, building a model for a method, and batch-norm folding."""
