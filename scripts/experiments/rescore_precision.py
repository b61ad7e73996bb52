"""Re-score every run of a run folder in float32 and in bf16: what bf16 evaluation would change.

Usage: .venv/bin/python scripts/experiments/rescore_precision.py RUN_DIR

For each finished run it rebuilds the trained model (``trained_state.pt``), scores the saved
test images (``test_images.npz``) with ``predict_scores`` in float32 and in bfloat16, and prints
both AUCs and the largest score difference. This is the measurement behind
``[train] inference_precision = "auto"`` being float32 on the CPU.
"""
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmark.analysis.fold_models import FoldRun, load_trained
from benchmark.stats import roc_auc
from benchmark.training.runner import STATE_FILE
from benchmark.runfolder import fold_test_set
from benchmark.training.trainer import predict_scores


def rescore(run_dir: Path) -> pd.DataFrame:
    rows, test_sets = [], {}
    cpu = torch.device("cpu")
    for path in sorted(run_dir.glob("runs/*/repeat-*/fold-*/results.json")):
        if not (path.parent / STATE_FILE).is_file():
            print(f"skipping {path.parent}: no {STATE_FILE}", file=sys.stderr)
            continue
        record = json.loads(path.read_text())
        seed = (record["config"]["repeat"], record["config"]["fold"])
        if seed not in test_sets:
            test_sets[seed] = fold_test_set(run_dir, *seed)
        images, labels, _ = test_sets[seed]
        backbone, _ = load_trained(FoldRun(record["config"]["method"], path.parent, record))
        fp32 = predict_scores(backbone, images, cpu, precision="float32")
        bf16 = predict_scores(backbone, images, cpu, precision="bfloat16")
        rows.append({"method": record["config"]["method"], "repeat": seed[0], "fold": seed[1],
                     "auc_float32": roc_auc(labels, fp32), "auc_bfloat16": roc_auc(labels, bf16),
                     "max_abs_score_difference": float(np.abs(fp32 - bf16).max())})
    frame = pd.DataFrame(rows, columns=["method", "repeat", "fold", "auc_float32", "auc_bfloat16",
                                        "max_abs_score_difference"])
    frame["auc_difference"] = frame["auc_bfloat16"] - frame["auc_float32"]
    return frame


if __name__ == "__main__":
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "runs").is_dir():
        sys.exit("usage: scripts/experiments/rescore_precision.py RUN_DIR (a run folder with runs/ and test_images.npz)")
    table = rescore(Path(sys.argv[1]))
    if table.empty:
        sys.exit(f"{sys.argv[1]}: no finished run with a {STATE_FILE} to re-score")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    diff = table["auc_difference"].abs()
    print(f"largest |AUC difference| {diff.max():.4f} ({table.loc[diff.idxmax(), 'method']}), mean {diff.mean():.4f}")
