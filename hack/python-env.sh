#!/usr/bin/env bash
# Create (once) the Python virtual environment of phoenix-torch and print its path.
#
#   hack/python-env.sh          # progress and step times on stderr; the venv path on the LAST stdout line
#
# The venv lives in ${PHOENIX_VENV_ROOT:-~/.cache/phoenix/venv}/<hash>, where <hash> covers
# pytorch/requirements.txt (pinned torch, kubernetes, torchtitan, pytest, pytest-xdist, mypy) and the
# Python version, so a second CI run reuses it without downloading anything and a changed pin builds a new
# one beside the old. Creation runs under a flock: concurrent callers wait for the first one and then
# take the fast path. A venv is only used once its `.complete` stamp exists; a half-built one (a
# killed run) is deleted and rebuilt. The phoenix-torch package itself is installed editable from
# this checkout on every call (no download, about a second), so the venv follows the sources.
#
# Environment:
#   PHOENIX_VENV_ROOT   cache directory (default ~/.cache/phoenix/venv)
#   PYTHON              interpreter to build the venv from (default python3; needs >= 3.11)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REQ="$ROOT/pytorch/requirements.txt"
PYTHON="${PYTHON:-python3}"
VENV_ROOT="${PHOENIX_VENV_ROOT:-$HOME/.cache/phoenix/venv}"

T0=$(date +%s)
log() { printf '[python-env %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
step() { STEP_NAME="$1"; STEP_T=$(date +%s.%N); log "step '$1' ..."; }
step_end() { log "step '$STEP_NAME' took $(printf '%.1f' "$(echo "$(date +%s.%N) - $STEP_T" | bc)")s"; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
PYVER=$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python >= 3.11 needed, found $PYVER"
HASH=$( { cat "$REQ"; echo "python $PYVER"; } | sha256sum | cut -c1-16)
VENV="$VENV_ROOT/$HASH"
mkdir -p "$VENV_ROOT"

step "lock"
exec 9>"$VENV_ROOT/.lock-$HASH"
flock 9
step_end

# Fast check (no torch import, well under a second): the stamp, and the pinned versions installed.
installed_ok() {
  "$VENV/bin/python" - "$REQ" <<'PY' 2>/dev/null
import importlib.metadata as md, re, sys
for line in open(sys.argv[1]):
    m = re.match(r"\s*([A-Za-z0-9_.-]+)==([^\s#]+)", line)
    if m and md.version(m.group(1)) != m.group(2):
        sys.exit(1)
PY
}
if [ -f "$VENV/.complete" ] && installed_ok; then
  log "cached venv $VENV"
else
  if [ -e "$VENV" ]; then
    log "removing incomplete venv $VENV"
    rm -rf "$VENV"
  fi
  step "create venv ($PYVER)"
  "$PYTHON" -m venv "$VENV"
  step_end
  step "pip install -r pytorch/requirements.txt (torch, kubernetes, torchtitan and their dependencies)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ" >&2
  step_end
  step "record"
  "$VENV/bin/python" -m pip freeze --exclude-editable > "$VENV/freeze.txt"
  du -sh "$VENV" | awk '{print "venv size " $1}' >&2
  date -u +%FT%TZ > "$VENV/.complete"
  step_end
fi

# Editable install of this checkout (several worktrees may share the venv: the last caller wins).
PTH=$(ls "$VENV"/lib/python3.*/site-packages/__editable__.phoenix_torch-*.pth 2>/dev/null | head -n 1 || true)
if [ -n "$PTH" ] && [ "$(cat "$PTH")" = "$ROOT/pytorch/src" ]; then
  log "phoenix-torch already installed editable from $ROOT/pytorch"
else
  step "pip install -e pytorch (phoenix-torch, no deps)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e "$ROOT/pytorch" >&2
  step_end
fi
flock -u 9
log "total $(( $(date +%s) - T0 ))s"
echo "$VENV"
