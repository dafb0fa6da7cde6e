#!/usr/bin/env bash
# JobSet (sigs.k8s.io/jobset), the Kubernetes project's API for gangs of Jobs, as a peer for the
# recovery benchmark (benchmarks: peer.PeerRecoveryBench --peers ...,jobset): its controller manager
# built from the published Go module, and its CRD and webhook configurations from the same module.
#
#   hack/jobset.sh        # prints the directory on its LAST stdout line
#
# Target: ${PHOENIX_JOBSET_DIR:-$HOME/.cache/phoenix/jobset/v$VERSION}/{bin/jobset-controller,crd.yaml,webhooks.yaml}
# A cache hit takes milliseconds; the first build downloads the module graph and takes a few minutes on
# 2 cores. Benchmarks only: the tests never need it.
set -euo pipefail
VERSION="${PHOENIX_JOBSET_VERSION:-0.10.1}"
DIR="${PHOENIX_JOBSET_DIR:-$HOME/.cache/phoenix/jobset/v$VERSION}"
T0=$(date +%s)
log() { printf '[jobset %4ss] %s\n' "$(($(date +%s) - T0))" "$*" >&2; }
if [ -x "$DIR/bin/jobset-controller" ] && [ -f "$DIR/crd.yaml" ] && [ -f "$DIR/webhooks.yaml" ]; then
  echo "$DIR"
  exit 0
fi
export GOFLAGS="${GOFLAGS:--buildvcs=false}" CGO_ENABLED=0
mkdir -p "$DIR/bin"
# In a writable copy of the module itself, with its own go.mod and go.sum: `go install pkg@version` would
# ask the proxy for the module's version list, which this proxy refuses (403).
SRC=$(go mod download -json "sigs.k8s.io/jobset@v$VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -n "$SRC" ] || { log "ERROR: go mod download sigs.k8s.io/jobset@v$VERSION gave no directory"; exit 1; }
WORK=$(mktemp -d)
trap 'chmod -R u+w "$WORK"; rm -rf "$WORK"' EXIT
cp -r "$SRC" "$WORK/jobset"
chmod -R u+w "$WORK/jobset"
log "go build sigs.k8s.io/jobset@v$VERSION (its main.go, its go.sum)"
(cd "$WORK/jobset" && go build -trimpath -ldflags "-s -w -X sigs.k8s.io/jobset/pkg/version.GitVersion=v$VERSION" \
  -o "$DIR/bin/jobset-controller.tmp" .) >&2
mv "$DIR/bin/jobset-controller.tmp" "$DIR/bin/jobset-controller"
cp "$SRC/config/components/crd/bases/jobset.x-k8s.io_jobsets.yaml" "$DIR/crd.yaml"
cp "$SRC/config/components/webhook/manifests.yaml" "$DIR/webhooks.yaml"
chmod u+w "$DIR"/*.yaml
log "built into $DIR"
echo "$DIR"
