#!/usr/bin/env bash
# Installs what building and testing Phoenix needs on a fresh Debian 12 machine, idempotently:
# a JDK 17 and Maven (if missing), bubblewrap (the local node's per-pod mount namespaces), openssl
# (control-plane certificates), then the Kubernetes 1.20.2 control plane binaries via
# # containerd, crictl, runc, CNI plugins and the pause image of the real local nodes (hack/node-binaries.sh
# prints their directory; RealNode finds it the same way, so it only goes to stderr here).
hack/node-binaries.sh >&2
hack/k8s-binaries.sh (cached under ~/.cache/phoenix). Prints the control-plane bin directory last.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

need=()
command -v javac >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "[prerequisites] apt-get install ${need[*]}" >&2
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq "${need[@]}" >&2
fi
# containerd, crictl, runc, CNI plugins and the pause image of the real local nodes (hack/node-binaries.sh
# prints their directory; RealNode finds it the same way, so it only goes to stderr here).
hack/node-binaries.sh >&2
hack/k8s-binaries.sh
