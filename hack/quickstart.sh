#!/usr/bin/env bash
# Phoenix on this machine in one command (Debian 12, root; Java 17 + Maven and Go >= 1.26, reaches only
# Maven Central / Debian / the Go module proxy):
#
#   hack/quickstart.sh            # build, start everything, run examples/quickstart.yaml, preempt, resume, finish
#   hack/quickstart.sh --keep     # ... and leave the cluster running for kubectl by hand (Ctrl-C stops it)
#
# Steps: (1) hack/prerequisites.sh: missing Debian packages, the Kubernetes binaries (control plane, kubelet,
# kube-proxy, kubectl, CoreDNS, etcd, KWOK, built from their Go modules and cached under ~/.cache/phoenix/k8s)
# and the node's (containerd, runc, CNI, pause); (2) mvn -Pimages install of the modules and images (skipped
# when up to date; PHOENIX_SKIP_BUILD=1 skips it); (3) dev.phoenix.e2e.LocalPhoenix: control plane, kube-proxy,
# CoreDNS, the operator, two real nodes (kubelet + containerd) with the trainer image, the job in containers,
# a preemption made by kube-scheduler, the resume. Other arguments go to LocalPhoenix (--work-dir DIR,
# --manifest FILE, --reason PreemptionByScheduler|EvictionByEvictionAPI|DeletionByTaintManager|none,
# --preempt-rank N, --timeout-seconds S).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
t0=$(date +%s)
log() { echo "[quickstart] $*" >&2; }
[[ $(id -u) -eq 0 ]] || { log "the real nodes need root (kubelet, containerd, a bridge, iptables)"; exit 1; }

# 1. Packages and binaries (the last stdout line of prerequisites.sh is the Kubernetes bin directory).
if [[ -z "${PHOENIX_K8S_BIN_DIR:-}" ]]; then
  log "hack/prerequisites.sh (the first run builds Kubernetes, CoreDNS and containerd from their Go modules: ~10 min)"
  PHOENIX_K8S_BIN_DIR="$(hack/prerequisites.sh | tail -n 1)"
  export PHOENIX_K8S_BIN_DIR
fi
log "Kubernetes binaries: $PHOENIX_K8S_BIN_DIR"
export PATH="$PATH:$PHOENIX_K8S_BIN_DIR" # kubectl, if the machine has none

# 2. Build (modules and the Jib images) unless the e2e class path is newer than every source.
stale() {
  [[ ! -f e2e/target/classpath.txt || ! -f trainer-image/target/jib-image.tar ]] && return 0
  [[ -n "$(find api local-cluster operator trainer-image e2e pom.xml crds -newer e2e/target/classpath.txt \
        \( -name '*.java' -o -name 'pom.xml' -o -name '*.yaml' -o -name '*.yml' -o -name '*.xml' \) -not -path '*/target/*' -print -quit)" ]]
}
if [[ "${PHOENIX_SKIP_BUILD:-0}" != 1 ]] && stale; then
  log "mvn -q -Pimages -DskipTests install (first time: downloads dependencies and builds the images, a few minutes)"
  mvn -q -B -ntp -Pimages -DskipTests install >&2
  touch e2e/target/classpath.txt
fi
log "ready after $(( $(date +%s) - t0 )) s"

# 3. Run.
exec java -Dphoenix.console.level=WARN -Dlogback.statusListenerClass=ch.qos.logback.core.status.NopStatusListener \
  -cp "$ROOT/e2e/target/classes:$(cat "$ROOT/e2e/target/classpath.txt")" dev.phoenix.e2e.LocalPhoenix "$@"
