#!/usr/bin/env bash
# The whole suite for one profile: search, test and leaderboard of the profile's methods (or
# --methods a,b or a set: all, core, paper, peft, literature), their cost (bench), the analysis and
# the report, into reports/<timestamp-profile>/ and reports/latest.
# Usage: ./run_all.sh [--profile smoke|quick|paper|FILE] [--dataset busi|synthetic] [--data-root P]
#                     [--methods a,b,...] [--device auto|cpu|cuda] [--reports DIR] [--run-dir DIR]
#                     [--workers N|auto]   (studies at once; auto: 2 on a CPU, 1 on a GPU)
#                     [--external NAME]... (also score these data sets once: external validation)
#                     [--storage URL --artifacts DIR]  (share the search with other hosts; see docs/distributed.md)
# Without BUSI at hand (--data-root, $BUSI_ROOT, datasets/busi, ../shared/datasets/busi) it runs on
# synthetic data, and every page of the report says so. --run-dir resumes an interrupted run.
# A profile with [sites] (--profile sites) runs the suite once per [sites] train set into
# RUN_DIR/train-<set>/, each scoring the other [sites] test sets, then the matrix (petl-bench sites).
set -euo pipefail
cd "$(dirname "$0")"
profile=quick dataset="" data_root="${BUSI_ROOT:-}" methods="" device=auto reports=reports run_dir="" workers=auto
storage="" artifacts="" external=() data_root_given=""
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --dataset) dataset="$2"; shift 2 ;;
    --data-root) data_root="$2" data_root_given=1; shift 2 ;;
    --methods) methods="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    --reports) reports="$2"; shift 2 ;;
    --run-dir) run_dir="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --external) external+=(--external "$2"); shift 2 ;;
    --storage) storage="$2"; shift 2 ;;
    --artifacts) artifacts="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "run_all.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
sites=$("$PY" -m benchmark sites --train-sets "$profile")  # a [sites] profile: one run per training set
if [ -n "$sites" ]; then
  if [ -n "$dataset" ] || [ -n "$data_root_given" ]; then
    echo "run_all.sh: --profile $profile trains on its [sites] sets ($(echo $sites)), each found where" \
         "\`petl-bench datasets\` says: leave out --dataset and --data-root" >&2; exit 2
  fi
  if [ -z "$run_dir" ]; then
    run_dir="$reports/$(date +%Y%m%d-%H%M%S)-$(basename "$profile" .toml)"
    mkdir -p "$run_dir"
    ln -sfn "$(basename "$run_dir")" "$reports/latest"
  fi
  started=$(date +%s) cost_from=""
  for train in $sites; do
    sub="$run_dir/train-$train"
    echo "== trained on $train (every selected model scores the other sets): $sub"
    "$PY" -m benchmark suite --profile "$profile" --dataset "$train" ${methods:+--methods "$methods"} \
      --device "$device" --run-dir "$sub" --workers "$workers" \
      ${storage:+--storage "$storage"} ${artifacts:+--artifacts "$artifacts"} "${external[@]}"
    if [ -z "$cost_from" ]; then  # the cost depends on backbone, size and method, not on the data set
      echo "== cost of every method"
      "$PY" -m benchmark bench --profile "$profile" ${methods:+--methods "$methods"} --device "$device" \
        --out "$sub" --steps 5
      cost_from="$sub"
    else
      cp "$cost_from/cost.csv" "$sub/cost.csv"
    fi
    "$PY" -m benchmark report "$sub"
  done
  echo "== the train-site x test-site matrix"
  "$PY" -m benchmark sites "$run_dir"
  echo "run_all.sh: done in $(( $(date +%s) - started )) s; open $run_dir/index.html"
  exit 0
fi
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
if [ -z "$run_dir" ]; then
  run_dir="$reports/$(date +%Y%m%d-%H%M%S)-$(basename "$profile" .toml)"
  mkdir -p "$run_dir"
  ln -sfn "$(basename "$run_dir")" "$reports/latest"
fi
started=$(date +%s)
echo "== 1/3 search, select, test: $run_dir"
"$PY" -m benchmark suite --profile "$profile" --dataset "$dataset" ${data_root:+--data-root "$data_root"} \
  ${methods:+--methods "$methods"} --device "$device" --run-dir "$run_dir" --workers "$workers" \
  ${storage:+--storage "$storage"} ${artifacts:+--artifacts "$artifacts"} "${external[@]}"
echo "== 2/3 cost of every method"
"$PY" -m benchmark bench --profile "$profile" ${methods:+--methods "$methods"} --device "$device" \
  --out "$run_dir" --steps 5
echo "== 3/3 analysis and report"
"$PY" -m benchmark report "$run_dir"
echo "run_all.sh: done in $(( $(date +%s) - started )) s; open $run_dir/index.html"
