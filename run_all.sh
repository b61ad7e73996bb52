#!/usr/bin/env bash
# Run every registered method (or --methods a,b) on one profile, into reports/<timestamp-profile>/.
# Usage: ./run_all.sh [--profile smoke|quick|paper|FILE] [--dataset busi|synthetic] [--data-root P]
#                     [--methods a,b,...] [--device auto|cpu|cuda]
# Without BUSI at hand (--data-root, $BUSI_ROOT, datasets/busi, ../shared/datasets/busi) it runs on
# synthetic data, and says so.
set -euo pipefail
cd "$(dirname "$0")"
profile=quick dataset="" data_root="${BUSI_ROOT:-}" methods="" device=auto
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --dataset) dataset="$2"; shift 2 ;;
    --data-root) data_root="$2"; shift 2 ;;
    --methods) methods="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "run_all.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
PY=python
[ -x .venv/bin/python ] && PY=.venv/bin/python
if [ -z "$dataset" ]; then
  for candidate in "$data_root" datasets/busi ../shared/datasets/busi; do
    if [ -n "$candidate" ] && [ -d "$candidate/benign" ] && [ -d "$candidate/malignant" ]; then
      dataset=busi data_root="$candidate"; break
    fi
  done
  if [ -z "$dataset" ]; then
    dataset=synthetic
    echo "run_all.sh: no BUSI data found: running on SYNTHETIC data (results say nothing about BUSI)" >&2
  fi
fi
exec "$PY" -m benchmark suite --profile "$profile" --dataset "$dataset" ${data_root:+--data-root "$data_root"} \
  ${methods:+--methods "$methods"} --device "$device" --reports reports
