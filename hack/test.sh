#!/usr/bin/env bash
# Runs every test of Phoenix on this machine: unit tests, the operator against a real Kubernetes
# v1.37.2 control plane with KWOK pods, the control plane and real nodes (kubelet on containerd,
# kube-proxy, CoreDNS), the trainer's exactness tests, the end-to-end suite (the operator and the
# trainer image in real pods, preemptions made by the cluster's components), and the PyTorch library.
# On a fresh Debian 12 machine it first installs what it needs (see hack/prerequisites.sh); the
# expensive part, building Kubernetes from its Go modules, is cached under ~/.cache/phoenix.
#
#   hack/test.sh                 # everything
#   hack/test.sh -pl operator    # extra arguments go to Maven
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bin_dir=$(hack/prerequisites.sh | tail -n 1)
export PHOENIX_K8S_BIN_DIR="$bin_dir"
echo "[test] control plane binaries: $PHOENIX_K8S_BIN_DIR (prerequisites took $(( $(date +%s) - start ))s)"
# Exact resumes depend on a fixed thread count and BLAS kernel (trainer-image/README.md).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# -Pimages: the operator and trainer images (Jib) and the e2e tests that run them on a real node.
mvn -B -ntp -e -Pimages install "$@"
# The PyTorch library (pytorch/): its cached virtualenv (first install ~2 min from PyPI, 6 GB), mypy, pytest.
[ $# -gt 0 ] || hack/test-python.sh
echo "[test] done in $(( $(date +%s) - start ))s"
