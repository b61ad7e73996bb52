#!/usr/bin/env bash
# The mutation check of the core (mutmut), per target of scripts/dev/mutation.toml, each in its own copy
# of the repository with only its tests. Not part of the test suite (too long for CI); see
# scripts/dev/mutation.py for the options. Needs: pip install -e ".[mutation]"
#   scripts/dev/mutation.sh                  # every target
#   scripts/dev/mutation.sh split selection  # some targets
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}"
exec "$PYTHON" scripts/dev/mutation.py "$@"
