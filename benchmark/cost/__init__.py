"""Cost of every method: throughput, memory and FLOPs (``bench`` the command, ``measure`` one method in a
fresh process, ``meters`` and ``train_step`` its tools), and the
ImageFolder/DataLoader baseline comparison (``baseline``)."""
