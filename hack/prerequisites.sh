#!/usr/bin/env bash
# Installs what building and testing Phoenix needs on a fresh Debian 12 machine, idempotently:
# a JDK 17 and Maven (if missing),
# openssl (control-plane certificates), checks for Go >= 1.26 (the machine image ships it; it builds
# Kubernetes from its Go modules), then the Kubernetes control plane, kubelet and KWOK binaries via
# hack/k8s-binaries.sh, and containerd/runc/CNI/pause for the real node via hack/node-binaries.sh
# (cached under ~/.cache/phoenix). Prints the Kubernetes bin directory last.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

need=()
command -v javac >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "[prerequisites] apt-get install ${need[*]}" >&2
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq "${need[@]}" >&2
fi
if ! command -v go >/dev/null 2>&1; then
  echo "[prerequisites] ERROR: no Go toolchain on PATH; Kubernetes is built from its Go modules and needs Go >= 1.26" >&2
  exit 1
fi
gov=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n1.26\n' "$gov" | sort -V | head -1)" != "1.26" ]; then
  echo "[prerequisites] ERROR: Go $gov is older than 1.26 (k8s.io/kubernetes v1.37 needs go 1.26)" >&2
  exit 1
fi
# containerd, crictl, runc, CNI plugins and the pause image of the real local nodes (hack/node-binaries.sh
# prints their directory; RealNode finds it the same way, so it only goes to stderr here).
hack/node-binaries.sh >&2
hack/k8s-binaries.sh
