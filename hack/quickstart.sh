#!/usr/bin/env bash
# Phoenix on this machine in one command (Debian 12; needs Java 17 + Maven, reaches only Maven
# Central / Debian / npm at most):
#
#   hack/quickstart.sh            # build, start everything, run examples/quickstart.yaml, preempt, resume, finish
#   hack/quickstart.sh --keep     # ... and leave the cluster running for kubectl by hand (Ctrl-C stops it)
#
# Steps: (1) apt-get install what is missing (bubblewrap, openssl, kubectl is optional), (2) provision
# the Kubernetes 1.20.2 binaries (hack/k8s-binaries.sh: cache, download or build from Debian sources),
# (3) mvn install of the modules (skipped when up to date; PHOENIX_SKIP_BUILD=1 skips it), (4) run
# dev.phoenix.e2e.LocalPhoenix with the e2e module's class path. Other arguments go to LocalPhoenix
# (--work-dir DIR, --manifest FILE, --reason R, --preempt-rank N, --timeout-seconds S).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
t0=$(date +%s)
log() { echo "[quickstart] $*" >&2; }

# 1. System packages: bubblewrap gives each container its own mount namespace (volumes at their
#    mountPath); openssl makes the control plane's certificates.
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v mvn >/dev/null 2>&1 || need+=(maven)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
if ((${#need[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    log "apt-get install ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
  else
    log "missing: ${need[*]} (sudo apt-get install -y ${need[*]}); continuing without bubblewrap if that is all"
  fi
fi

# 2. Kubernetes 1.20.2 binaries (the last stdout line of k8s-binaries.sh is the bin directory).
if [[ -z "${PHOENIX_K8S_BIN_DIR:-}" ]]; then
  log "provisioning Kubernetes 1.20.2 binaries (hack/k8s-binaries.sh; the first run may build them from Debian sources)"
  PHOENIX_K8S_BIN_DIR="$(hack/k8s-binaries.sh | tail -n 1)"
  export PHOENIX_K8S_BIN_DIR
fi
log "Kubernetes binaries: $PHOENIX_K8S_BIN_DIR"
export PATH="$PATH:$PHOENIX_K8S_BIN_DIR" # kubectl, if the machine has none

# 3. Build (api, local-cluster, operator, trainer, e2e) unless the e2e class path is newer than every source.
stale() {
  [[ ! -f e2e/target/classpath.txt ]] && return 0
  [[ -n "$(find api local-cluster operator trainer-image e2e pom.xml crds -newer e2e/target/classpath.txt \
        \( -name '*.java' -o -name 'pom.xml' -o -name '*.yaml' -o -name '*.yml' -o -name '*.xml' \) -not -path '*/target/*' -print -quit)" ]]
}
if [[ "${PHOENIX_SKIP_BUILD:-0}" != 1 ]] && stale; then
  log "mvn -q -DskipTests install (first time: downloads dependencies, a few minutes)"
  mvn -q -B -DskipTests install >&2
  touch e2e/target/classpath.txt
fi
log "ready after $(( $(date +%s) - t0 )) s"

# 4. Run. Same thread count and BLAS kernel in every trainer: exact resumes depend on it.
export OMP_NUM_THREADS=1 OPENBLAS_CORETYPE=Haswell
exec java -Dphoenix.console.level=WARN -Dlogback.statusListenerClass=ch.qos.logback.core.status.NopStatusListener \
  -cp "$ROOT/e2e/target/classes:$(cat "$ROOT/e2e/target/classpath.txt")" dev.phoenix.e2e.LocalPhoenix "$@"
