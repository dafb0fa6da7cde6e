#!/usr/bin/env bash
# Provision what a real local node needs besides the kubelet, idempotently:
#   containerd, containerd-shim-runc-v2 and ctr  v${CONTAINERD_VERSION}, built from the Go module
#                                   github.com/containerd/containerd/v2 (the release whose CRI API,
#                                   k8s.io/cri-api v0.37, matches kubelet 1.37; Debian 12 ships 1.6)
#   crictl                          v${CRICTL_VERSION}, from the Go module sigs.k8s.io/cri-tools: the node's
#                                   teardown stops and removes every pod sandbox through the CRI, so
#                                   containerd undoes the network namespaces and CNI attachments itself
#   runc                            Debian's `runc` (symlinked)
#   cni/                            Debian's `containernetworking-plugins` (/usr/lib/cni, symlinked)
#   pause                           local-cluster/src/main/c/pause.c, built static with gcc
#   pause.oci.tar                   an OCI image archive of it (docker.io/phoenix/pause:1.0): the pod
#                                   sandbox image, made with tar and sha256sum (one layer, no registry)
#   probe.oci.tar                   docker.io/phoenix/probe:1.0, local-cluster/src/test/c/probe.c the same
#                                   way: the real-node tests' container (log, write a file, trap SIGTERM)
#
#   hack/node-binaries.sh            # prints the bin directory on its LAST stdout line
#
# Target: ${PHOENIX_NODE_DIR:-$HOME/.cache/phoenix/containerd/v${CONTAINERD_VERSION}}/bin
# Progress and phase timings go to stderr. Two concurrent callers never build twice (flock).
set -euo pipefail

CONTAINERD_VERSION=2.4.2
CRICTL_VERSION=1.37.0
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NODE_DIR="${PHOENIX_NODE_DIR:-$HOME/.cache/phoenix/containerd/v${CONTAINERD_VERSION}}"
BIN_DIR="$NODE_DIR/bin"
PAUSE_SRC="$ROOT/local-cluster/src/main/c/pause.c"
PROBE_SRC="$ROOT/local-cluster/src/test/c/probe.c"
export DEBIAN_FRONTEND=noninteractive

T0=$(date +%s)
log() { printf '[node-binaries %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
phase_start() { PHASE_NAME="$1"; PHASE_T=$(date +%s); log "phase '$1' ..."; }
phase_end() { log "phase '$PHASE_NAME' took $(( $(date +%s) - PHASE_T ))s"; }

containerd_ok() {
  [ -x "$BIN_DIR/containerd" ] && [ -x "$BIN_DIR/containerd-shim-runc-v2" ] && [ -x "$BIN_DIR/ctr" ] &&
    "$BIN_DIR/containerd" --version 2>/dev/null | grep -q "v${CONTAINERD_VERSION}"
}
crictl_ok() { [ -x "$BIN_DIR/crictl" ] && "$BIN_DIR/crictl" --version 2>/dev/null | grep -q "v${CRICTL_VERSION}"; }
image_ok() { [ -x "$BIN_DIR/$1" ] && [ "$BIN_DIR/$1" -nt "$2" ] &&
  [ -f "$BIN_DIR/$1.oci.tar" ] && [ "$BIN_DIR/$1.oci.tar" -nt "$BIN_DIR/$1" ]; }
pause_ok() { image_ok pause "$PAUSE_SRC" && image_ok probe "$PROBE_SRC"; }
debian_ok() { [ -x /usr/sbin/runc ] && [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] &&
  [ -x /usr/lib/cni/portmap ] && [ -x /usr/lib/cni/loopback ]; }
links_ok() { [ "$(readlink "$BIN_DIR/runc" 2>/dev/null)" = /usr/sbin/runc ] &&
  [ "$(readlink "$BIN_DIR/cni" 2>/dev/null)" = /usr/lib/cni ]; }
all_ok() { containerd_ok && crictl_ok && pause_ok && debian_ok && links_ok; }

if all_ok; then echo "$BIN_DIR"; exit 0; fi

mkdir -p "$NODE_DIR"
exec 9>"$NODE_DIR/.lock"
log "waiting for $NODE_DIR/.lock"
flock 9
if all_ok; then echo "$BIN_DIR"; exit 0; fi
mkdir -p "$BIN_DIR"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_install() {
  # Waits for a dpkg lock held by someone else instead of failing.
  $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "$@" >&2 ||
    { $SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq >&2 &&
      $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "$@" >&2; }
}

# static_image BINARY NAME OUT: an OCI image layout (https://github.com/opencontainers/image-spec) as a
# tar, reproducible (fixed mtimes and owners): one uncompressed layer holding /BINARY, run as 65535.
static_image() {
  local bin="$1" image="$2" out="$3" t d name
  name=$(basename "$bin")
  t=$(mktemp -d)
  mkdir -p "$t/rootfs" "$t/oci/blobs/sha256"
  cp "$bin" "$t/rootfs/$name"
  tar -C "$t/rootfs" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$t/layer.tar" "$name"
  blob() { d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$t/oci/blobs/sha256/$d"; echo "$d $(stat -c %s "$1")"; }
  read -r layer_d layer_s < <(blob "$t/layer.tar")
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/%s"],"User":"65535:65535"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$name" "$layer_d" > "$t/config.json"
  read -r config_d config_s < <(blob "$t/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config_d" "$config_s" "$layer_d" "$layer_s" > "$t/manifest.json"
  read -r manifest_d manifest_s < <(blob "$t/manifest.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest_d" "$manifest_s" "$image" "${image##*:}" > "$t/oci/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$t/oci/oci-layout"
  tar -C "$t/oci" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$out.tmp" oci-layout index.json blobs
  mv "$out.tmp" "$out"
  rm -rf "$t"
}

if ! debian_ok || ! command -v gcc >/dev/null || [ ! -f /usr/lib/x86_64-linux-gnu/libc.a ]; then
  phase_start "apt-get install runc containernetworking-plugins gcc libc6-dev"
  apt_install runc containernetworking-plugins gcc libc6-dev
  phase_end
fi
debian_ok || die "runc or the CNI plugins (bridge, host-local, portmap, loopback) are missing after apt-get"
ln -sfn /usr/sbin/runc "$BIN_DIR/runc"
ln -sfn /usr/lib/cni "$BIN_DIR/cni"

if ! containerd_ok; then
  command -v go >/dev/null || die "go is needed to build containerd v${CONTAINERD_VERSION} (Go module proxy)"
  phase_start "go install containerd v${CONTAINERD_VERSION} (containerd, containerd-shim-runc-v2, ctr)"
  # CGO off: static binaries; no_btrfs: the btrfs snapshotter is the only part that needs cgo + headers.
  pkg=github.com/containerd/containerd/v2
  CGO_ENABLED=0 GOBIN="$BIN_DIR" go install -trimpath -tags no_btrfs \
    -ldflags "-s -w -X $pkg/version.Version=v${CONTAINERD_VERSION} -X $pkg/version.Revision=gomod" \
    "$pkg/cmd/containerd@v${CONTAINERD_VERSION}" \
    "$pkg/cmd/containerd-shim-runc-v2@v${CONTAINERD_VERSION}" \
    "$pkg/cmd/ctr@v${CONTAINERD_VERSION}" >&2
  phase_end
  containerd_ok || die "containerd in $BIN_DIR does not report v${CONTAINERD_VERSION}"
fi

if ! crictl_ok; then
  phase_start "go install crictl v${CRICTL_VERSION}"
  CGO_ENABLED=0 GOBIN="$BIN_DIR" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=v${CRICTL_VERSION}" \
    "sigs.k8s.io/cri-tools/cmd/crictl@v${CRICTL_VERSION}" >&2
  phase_end
  crictl_ok || die "crictl in $BIN_DIR does not report v${CRICTL_VERSION}"
fi

if ! pause_ok; then
  phase_start "gcc -static pause, probe"
  for p in "pause:$PAUSE_SRC" "probe:$PROBE_SRC"; do
    n=${p%%:*} src=${p#*:}
    gcc -Os -static -Wall -Werror -o "$BIN_DIR/$n.tmp" "$src"
    strip "$BIN_DIR/$n.tmp"
    mv "$BIN_DIR/$n.tmp" "$BIN_DIR/$n"
    static_image "$BIN_DIR/$n" "docker.io/phoenix/$n:1.0" "$BIN_DIR/$n.oci.tar"
  done
  phase_end
fi

log "ready: containerd $("$BIN_DIR/containerd" --version | awk '{print $3}'), $("$BIN_DIR/runc" --version | sed -n 1p)"
echo "$BIN_DIR"
