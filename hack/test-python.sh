#!/usr/bin/env bash
# Python side of Phoenix: build/reuse the cached venv (hack/python-env.sh), then run phoenix-torch's
# pytest suite (pytorch/tests) and mypy. Extra arguments go to pytest (e.g. -k resume, -x).
#
#   hack/test-python.sh            # prints each step's time and pytest's summary line
#   PHOENIX_PYTEST_WORKERS=0 hack/test-python.sh   # one process, no pytest-xdist (or pass -n 0)
#
# pytest runs on pytest-xdist workers: PHOENIX_PYTEST_WORKERS, default the number of cores, at most 4
# (most of the suite's time is trainer subprocesses with OMP_NUM_THREADS=1, mainly import torch).
# --dist loadgroup: tests go to whichever worker is free, one by one, except that an xdist_group
# (test_kube: one kube-apiserver for the module) stays together on one worker; --no-loadscope-reorder
# keeps the collection order, where tests/conftest.py puts the longest tests first (LONGEST_FIRST).
#
# Exit code: pytest's, except that "no tests collected" (5) is a failure too (returned as 1).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
T0=$(date +%s)
log() { printf '[test-python %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }

VENV=$("$ROOT/hack/python-env.sh" | tail -n 1)
log "venv $VENV ready"

t=$(date +%s)
cd "$ROOT/pytorch"   # pytest's rootdir
# mypy's cache beside the venv it analysed (most of a cold run is torch's own modules, the same for every
# checkout of these requirements): a clean clone checks only its own files again. Mypy validates each
# entry against the source's hash, so a stale entry is rechecked, never trusted.
if "$VENV/bin/python" -m mypy --config-file pyproject.toml --cache-dir "$VENV/mypy-cache" >&2; then
  log "mypy clean ($(( $(date +%s) - t ))s)"
else
  log "mypy found problems"; exit 1
fi

# Not plain nproc: it answers OMP_NUM_THREADS (hack/test.sh sets 1), and CI ran on 1 worker.
CORES=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 1)
WORKERS=${PHOENIX_PYTEST_WORKERS:-$(( CORES < 4 ? CORES : 4 ))}
XDIST=(-n "$WORKERS")
[ "$WORKERS" = 0 ] || XDIST+=(--dist loadgroup --no-loadscope-reorder)
log "pytest on $WORKERS xdist worker(s) ($CORES cores)"
t=$(date +%s)
set +e
OMP_NUM_THREADS=1 "$VENV/bin/python" -m pytest -p no:cacheprovider -q -rs --durations=10 "${XDIST[@]}" "$@"
rc=$?
set -e
log "pytest took $(( $(date +%s) - t ))s (exit $rc)"
if [ "$rc" -eq 5 ]; then
  log "ERROR: pytest collected no tests"; exit 1
fi
exit "$rc"
