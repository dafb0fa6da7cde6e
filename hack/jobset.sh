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
log "go install sigs.k8s.io/jobset@v$VERSION"
GOBIN="$DIR/bin.tmp" go install "sigs.k8s.io/jobset@v$VERSION" >&2
mv "$DIR/bin.tmp/jobset" "$DIR/bin/jobset-controller"
rmdir "$DIR/bin.tmp"
SRC=$(go mod download -json "sigs.k8s.io/jobset@v$VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
cp "$SRC/config/components/crd/bases/jobset.x-k8s.io_jobsets.yaml" "$DIR/crd.yaml"
cp "$SRC/config/components/webhook/manifests.yaml" "$DIR/webhooks.yaml"
chmod u+w "$DIR"/*.yaml
log "built into $DIR"
echo "$DIR"
