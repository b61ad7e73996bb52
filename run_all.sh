#!/usr/bin/env bash
# The whole suite for one profile: search, test and leaderboard of the profile's methods (or
# --methods a,b or a set: all, core, paper, peft, literature), their cost (bench), the analysis and
# the report, into reports/<timestamp-profile>/ and reports/latest. It runs `petl-bench all`
# (python -m benchmark all) from this folder with the .venv's Python if there is one.
# Usage: ./run_all.sh [--profile smoke|quick|paper|FILE] [--dataset busi|synthetic|NAME] [--data-root P]
#                     [--methods a,b,...] [--device auto|cpu|cuda] [--reports DIR] [--run-dir DIR]
#                     [--workers N|auto]   (studies at once; auto: 2 on a CPU, 1 on a GPU)
#                     [--external NAME]... (also score these data sets once: external validation)
#                     [--storage URL --artifacts DIR]  (share the search with other hosts; see docs/distributed.md)
# Without BUSI at hand (--data-root, $BUSI_ROOT, datasets/busi, ../shared/datasets/busi) it runs on
# synthetic data, and every page of the report says so. --run-dir resumes an interrupted run.
# A profile with [sites] (--profile sites) runs the suite once per [sites] train set into
# RUN_DIR/train-<set>/, each scoring the other [sites] test sets, then the matrix (petl-bench sites).
# ./run_all.sh --help prints every option with its default.
set -euo pipefail
cd "$(dirname "$0")"
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
exec "$PY" -m benchmark all "$@"
