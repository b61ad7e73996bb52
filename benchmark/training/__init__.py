"""Training and selection: augmentation, the trainer and its frozen-prefix cache, one run, the
Optuna search, the whole suite, and the logistic-regression reference."""
