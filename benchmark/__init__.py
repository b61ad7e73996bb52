"""petl-bench: a benchmark of parameter-efficient transfer learning for breast ultrasound."""
__version__ = "0.1.0"
