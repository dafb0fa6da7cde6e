#!/usr/bin/env bash
# Disrupt a pod of the local cluster the way a real cluster does (run hack/quickstart.sh --keep first).
#
#   hack/preempt.sh POD [--reason R] [-n NAMESPACE]
#
# Reasons (each written by the component that makes it, never by this script):
#   PreemptionByScheduler (default)  kube-scheduler preempts the pods on POD's node for a pod of higher
#                                    priority that needs all of the node's nvidia.com/gpu
#   EvictionByEvictionAPI            the Eviction API evicts POD
#   DeletionByTaintManager           POD's node is tainted NoExecute until POD is gone
# Uses $KUBECONFIG, else the quickstart's (${PHOENIX_LOCAL_DIR:-/tmp/phoenix-local}/env).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_DIR="${PHOENIX_LOCAL_DIR:-${TMPDIR:-/tmp}/phoenix-local}"
if [[ -f "$LOCAL_DIR/env" ]]; then
  # shellcheck disable=SC1091
  source "$LOCAL_DIR/env"
fi
: "${KUBECONFIG:?no KUBECONFIG and no $LOCAL_DIR/env: start hack/quickstart.sh --keep first}"
[[ -f "$ROOT/e2e/target/classpath.txt" ]] || { echo "build first: mvn -DskipTests install" >&2; exit 1; }
exec java -Dlogback.statusListenerClass=ch.qos.logback.core.status.NopStatusListener -XX:TieredStopAtLevel=1 \
  -cp "$ROOT/e2e/target/classes:$(cat "$ROOT/e2e/target/classpath.txt")" \
  dev.phoenix.e2e.Preempt "$@"
