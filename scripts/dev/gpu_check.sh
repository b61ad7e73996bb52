#!/usr/bin/env bash
# The GPU check of docs/cost.md in one go (meant to take under 8 minutes on one H100):
#   1. cost of every method on ResNet101 at 224 px (training and inference images/s, memory),
#   2. cost of every method on the quick profile's EfficientNet-Lite0 at 112 px,
#   3. a short search (6 TPE trials of DRS, EfficientNet-Lite0 at 112 px, 5 epochs, 647 synthetic
#      images: as many as BUSI has) with its trials run one
#      after another, then 3 at a time on the same GPU: wall times of both.
# Usage: scripts/dev/gpu_check.sh [--device cuda] [--out DIR] [--methods a,b] [--weights random|PATH]
# ResNet101 uses random weights unless --weights names a file: the cost is the same and nothing
# is downloaded. Writes DIR/bench-resnet101/cost.csv, DIR/bench-quick/cost.csv, DIR/timings.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
device=cuda out=gpu-check methods="" weights=random
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --methods) methods="$2"; shift 2 ;;
    --weights) weights="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
mkdir -p "$out"
timings="$out/timings.txt"
: > "$timings"
"$PY" - <<PYEOF | tee -a "$timings"
import torch
print("device:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device")
PYEOF
started=$(date +%s)
"$PY" -m benchmark bench --device "$device" --backbone resnet101 --image-size 224 --weights "$weights" \
  ${methods:+--methods "$methods"} --steps 20 --out "$out/bench-resnet101" | tee -a "$timings"
"$PY" -m benchmark bench --device "$device" --profile quick ${methods:+--methods "$methods"} --steps 20 \
  --out "$out/bench-quick" | tee -a "$timings"
echo "bench: $(( $(date +%s) - started )) s" | tee -a "$timings"

profile="$out/search.toml"
cat > "$profile" <<TOML
name = "gpu-search"
description = "GPU check: 6 TPE trials of one method, EfficientNet-Lite0 at 112 px, 5 epochs."
[backbone]
name = "efficientnet_lite0"
image_size = 112
[train]
max_epochs = 5
patience = 5
[search]
sampler = "tpe"
lr = [0.001, 0.01, 0.1]
beta1 = [0.85, 0.9, 0.95]
n_trials = 6
[data]
synthetic_images = 647
[evaluation]
split_seeds = [0]
TOML
for parallel in 1 3; do
  run_dir="$out/search-parallel-$parallel"
  rm -rf "$run_dir"
  t0=$(date +%s%N)
  "$PY" -m benchmark suite --profile "$profile" --dataset synthetic --methods drs \
    --device "$device" --run-dir "$run_dir" --parallel-trials "$parallel" --no-progress > "$run_dir.log" 2>&1 \
    || { tail -20 "$run_dir.log"; exit 1; }
  t1=$(date +%s%N)
  echo "search of 6 trials (647 synthetic images), $parallel at a time: $(( (t1 - t0) / 1000000 )) ms" \
    | tee -a "$timings"
done
echo "gpu_check.sh: done in $(( $(date +%s) - started )) s; $timings" | tee -a "$timings"
