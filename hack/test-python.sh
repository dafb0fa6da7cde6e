#!/usr/bin/env bash
# Python side of Phoenix: build/reuse the cached venv (hack/python-env.sh), then run phoenix-torch's
# pytest suite (pytorch/tests) and mypy. Extra arguments go to pytest (e.g. -k resume, -x).
#
#   hack/test-python.sh            # prints each step's time and pytest's summary line
#
# Exit code: pytest's, except that "no tests collected" (5) is a failure too (returned as 1).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T0=$(date +%s)
log() { printf '[test-python %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }

VENV=$("$ROOT/hack/python-env.sh" | tail -n 1)
log "venv $VENV ready"

t=$(date +%s)
cd "$ROOT/pytorch"   # mypy's cache (.mypy_cache) and pytest's rootdir live here
if "$VENV/bin/python" -m mypy --config-file pyproject.toml >&2; then
  log "mypy clean ($(( $(date +%s) - t ))s)"
else
  log "mypy found problems"; exit 1
fi

t=$(date +%s)
set +e
OMP_NUM_THREADS=1 "$VENV/bin/python" -m pytest -p no:cacheprovider -q -rs --durations=10 "$@"
rc=$?
set -e
log "pytest took $(( $(date +%s) - t ))s (exit $rc)"
if [ "$rc" -eq 5 ]; then
  log "ERROR: pytest collected no tests"; exit 1
fi
exit "$rc"
