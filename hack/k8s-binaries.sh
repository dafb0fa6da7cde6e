#!/usr/bin/env bash
# Provision a current Kubernetes for tests and the local run, idempotently:
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl (one
#   pinned Kubernetes release), CoreDNS (cluster DNS for real nodes' pods) and kwok (the Kubernetes
#   project's node/pod simulator).
#
#   hack/k8s-binaries.sh            # prints the bin directory on its LAST stdout line
#
# Target: ${PHOENIX_K8S_DIR:-$HOME/.cache/phoenix/k8s/v$PHOENIX_K8S_VERSION}/bin
# Sources, in order (each fills in only what is still missing):
#   a) the target already holds working binaries of the right versions  -> done (< 1 s, no lock)
#   b) dl.k8s.io reachable (not on this workplace)                       -> official release binaries
#   c) otherwise: built from the published Go modules through the Go module proxy:
#      - Kubernetes: k8s.io/kubernetes@v$K8S_VERSION in a small build module (hack/gobuild/kubernetes)
#        whose go.mod `replace`s every k8s.io/* staging module (which the kubernetes go.mod points at
#        ./staging/...) with the matching published v0.X.Y, the way out-of-tree schedulers build;
#        version strings injected with -ldflags as the Kubernetes release build does;
#      - etcd: go.etcd.io/etcd/server/v3 (hack/gobuild/etcd: the server's own main, its sibling
#        modules replaced with published versions);
#      - kwok: sigs.k8s.io/kwok/cmd/kwok from the published module, with one patch
#        (hack/patches/kwok-*.patch: it deletes a pod only with a UID precondition, as the kubelet
#        does; by name alone a late delete killed a new pod of the same name);
#      - CoreDNS: github.com/coredns/coredns (hack/gobuild/coredns: coremain with the plugins a local
#        cluster uses, CoreDNS's documented way to build a plugin subset).
#
# Switch the release: PHOENIX_K8S_VERSION=1.36.3 hack/k8s-binaries.sh (any 1.34+ release on the
# Go proxy; the build module is generated from that release's go.mod; the pinned release uses the
# committed go.sum). Safe to run concurrently: one flock per target, binaries move into place only
# when all are built. Progress and per-step timings go to stderr; only the bin directory to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

PINNED_K8S_VERSION=1.37.2
K8S_VERSION="${PHOENIX_K8S_VERSION:-$PINNED_K8S_VERSION}"
K8S_VERSION="${K8S_VERSION#v}"
ETCD_VERSION="${PHOENIX_ETCD_VERSION:-3.6.16}" # the etcd 3.6 line Kubernetes 1.34+ is tested with
KWOK_VERSION="${PHOENIX_KWOK_VERSION:-0.8.0}"
KWOK_PATCH="$REPO/hack/patches/kwok-${KWOK_VERSION}-delete-pod-uid-precondition.patch"
# The version kwok reports: the release, plus the patch's digest when there is one, so that a cached
# kwok without (or with another) patch is rebuilt.
KWOK_BUILD="$KWOK_VERSION"
[ -f "$KWOK_PATCH" ] && KWOK_BUILD="$KWOK_VERSION-phoenix.$(sha256sum "$KWOK_PATCH" | cut -c1-8)"
COREDNS_VERSION=1.15.0 # pinned by hack/gobuild/coredns/go.mod
K8S_COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
BINARIES=(etcd "${K8S_COMMANDS[@]}" kwok coredns)
K8S_DIR="${PHOENIX_K8S_DIR:-$HOME/.cache/phoenix/k8s/v${K8S_VERSION}}"
BIN_DIR="$K8S_DIR/bin"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export CGO_ENABLED=0 # static binaries, as the Kubernetes release builds its server binaries

T0=$(date +%s)
log() { printf '[k8s-binaries %4ss] %s\n' "$(($(date +%s) - T0))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
phase_start() { PHASE_NAME="$1"; PHASE_T=$(date +%s); log "phase '$1' ..."; }
phase_end() { log "phase '$PHASE_NAME' took $(($(date +%s) - PHASE_T))s"; }

# version_ok FILE: the binary runs and reports the expected version.
version_ok() {
  local f="$1" out
  [ -f "$f" ] && [ -x "$f" ] || return 1
  case "$(basename "$f")" in
    etcd) out=$("$f" --version 2>/dev/null) || return 1; [[ "$out" == *"etcd Version: ${ETCD_VERSION}"* ]] ;;
    kwok) out=$("$f" --version 2>/dev/null) || return 1; [[ "$out" == *"${KWOK_BUILD}"* ]] ;;
    coredns) out=$("$f" -version 2>/dev/null) || return 1; [[ "$out" == *"CoreDNS-${COREDNS_VERSION}"* ]] ;;
    kubectl) out=$("$f" version --client 2>/dev/null) || return 1; [[ "$out" == *"v${K8S_VERSION}"* ]] ;;
    *) out=$("$f" --version 2>/dev/null) || return 1; [[ "$out" == *"v${K8S_VERSION}"* ]] ;;
  esac
}
missing() { local b; for b in "${BINARIES[@]}"; do version_ok "$1/$b" || echo "$b"; done; }
# The stamp records size and mtime of every binary once all passed version_ok, so the fast path
# needs no exec (well under a second even on a loaded machine).
# A binary the list gained since (absent) makes the stamp differ, so it is provisioned.
stamp() { local b; echo "kwok $KWOK_BUILD"; for b in "${BINARIES[@]}"; do stat -L -c '%n %s %Y' "$BIN_DIR/$b" 2>/dev/null || echo "$b absent"; done; }
all_ok() { [ -f "$BIN_DIR/.complete" ] && [ "$(cat "$BIN_DIR/.complete")" = "$(stamp)" ]; }

# --- (a) fast path ----------------------------------------------------------------------------------
if all_ok; then
  log "cached: $BIN_DIR (Kubernetes v$K8S_VERSION, etcd $ETCD_VERSION, kwok $KWOK_BUILD)"
  echo "$BIN_DIR"
  exit 0
fi

mkdir -p "$K8S_DIR"
exec 9>"$K8S_DIR/.lock"
log "waiting for the lock on $K8S_DIR (another provisioning may be running) ..."
flock 9
if all_ok; then
  log "provisioned by a concurrent run: $BIN_DIR"
  echo "$BIN_DIR"
  exit 0
fi
mkdir -p "$BIN_DIR"
if [ -z "$(missing "$BIN_DIR")" ]; then
  stamp >"$BIN_DIR/.complete"
  echo "$BIN_DIR"
  exit 0
fi
STAGE="$K8S_DIR/stage"
rm -rf "$STAGE"
mkdir -p "$STAGE"
# keep what is already good
for b in "${BINARIES[@]}"; do version_ok "$BIN_DIR/$b" && cp -p "$BIN_DIR/$b" "$STAGE/$b"; done
todo=$(missing "$STAGE" | tr '\n' ' ')
log "Kubernetes v$K8S_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION; to provision: $todo"

# --- (b) official release binaries ------------------------------------------------------------------
if [ "${PHOENIX_K8S_NO_DOWNLOAD:-}" != 1 ] && curl -fsS -m 5 -o /dev/null "https://dl.k8s.io/release/v${K8S_VERSION}/bin/linux/amd64/kubectl.sha256" 2>/dev/null; then
  phase_start download
  for b in "${K8S_COMMANDS[@]}"; do
    [[ " $todo " == *" $b "* ]] || continue
    url="https://dl.k8s.io/release/v${K8S_VERSION}/bin/linux/amd64/$b"
    curl -fsSL -m 600 -o "$STAGE/$b" "$url" && sum=$(curl -fsSL -m 30 "$url.sha256") \
      && echo "$sum  $STAGE/$b" | sha256sum -c --quiet - && chmod +x "$STAGE/$b" || rm -f "$STAGE/$b"
  done
  phase_end
  todo=$(missing "$STAGE" | tr '\n' ' ')
fi

# --- (c) build from the Go modules --------------------------------------------------------------------
command -v go >/dev/null || die "no Go toolchain (needs Go >= 1.26; the Debian image of this workplace ships it)"
log "$(go version)"
BUILD="$K8S_DIR/build"
mkdir -p "$BUILD"

k8s_todo=""
for b in "${K8S_COMMANDS[@]}"; do
  [[ " $todo " == *" $b "* ]] && k8s_todo+=" $b"
done
if [ -n "$k8s_todo" ]; then
  phase_start "kubernetes-module v$K8S_VERSION"
  mod="$BUILD/kubernetes"
  rm -rf "$mod"
  mkdir -p "$mod"
  if [ "$K8S_VERSION" = "$PINNED_K8S_VERSION" ]; then
    # The pinned release: go.mod and go.sum are committed, so every module is checksum-pinned.
    cp "$REPO/hack/gobuild/kubernetes/go.mod" "$REPO/hack/gobuild/kubernetes/go.sum" "$mod/"
    (cd "$mod" && go mod download >&2) || die "go mod download of the pinned build module failed (a module the build needs is not served? see above)"
  else
    # Another release: generate the build module from that release's own go.mod (every
    # `k8s.io/x => ./staging/...` becomes `k8s.io/x => k8s.io/x v0.MINOR.PATCH`), then let `go get`
    # resolve exactly the commands we build. To pin it, copy $mod/go.{mod,sum} (keep them with
    # PHOENIX_K8S_KEEP_BUILD=1) into hack/gobuild/kubernetes/ and bump PINNED_K8S_VERSION.
    go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" >"$BUILD/kubernetes.json" \
      || die "the Go module proxy does not serve k8s.io/kubernetes@v$K8S_VERSION (go mod download failed; see above)"
    kmod=$(sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p' "$BUILD/kubernetes.json")
    staging_version="v0.${K8S_VERSION#1.}"
    {
      echo "module phoenix.dev/gobuild/kubernetes"
      echo
      echo "go $(sed -n 's/^go //p' "$kmod")"
      echo
      echo "require k8s.io/kubernetes v$K8S_VERSION"
      echo
      echo "replace ("
      grep -E '^\s+k8s\.io/[^ ]+ => \./staging/' "$kmod" | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
      echo ")"
    } >"$mod/go.mod"
    pkgs=()
    for b in "${K8S_COMMANDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b@v$K8S_VERSION"); done
    (cd "$mod" && go get "${pkgs[@]}" >&2) || die "go get of the Kubernetes v$K8S_VERSION commands failed (a module the build needs is not served? see above)"
  fi
  phase_end

  minor="${K8S_VERSION#1.}"; minor="${minor%%.*}"
  ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=go-module-k8s.io/kubernetes@v$K8S_VERSION"
    ld+=" -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  done
  for b in $k8s_todo; do
    phase_start "build $b"
    (cd "$mod" && go build -trimpath -ldflags "$ld" -o "$STAGE/$b" "k8s.io/kubernetes/cmd/$b") \
      || die "go build k8s.io/kubernetes/cmd/$b failed"
    phase_end
  done
fi

if [[ " $todo " == *" etcd "* ]]; then
  phase_start "build etcd $ETCD_VERSION"
  mod="$BUILD/etcd"
  rm -rf "$mod"
  cp -r "$REPO/hack/gobuild/etcd" "$mod"
  if [ "$ETCD_VERSION" != "$(sed -n 's/^require go.etcd.io\/etcd\/server\/v3 v//p' "$mod/go.mod")" ]; then
    sed -i "s/ v3\.[0-9.]*$/ v$ETCD_VERSION/" "$mod/go.mod"
    (cd "$mod" && go mod tidy >&2)
  fi
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$STAGE/etcd" .) || die "go build of etcd $ETCD_VERSION failed"
  phase_end
fi

if [[ " $todo " == *" kwok "* ]]; then
  phase_start "build kwok $KWOK_BUILD"
  src=$(go mod download -json "sigs.k8s.io/kwok@v$KWOK_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -n "$src" ] || die "go mod download sigs.k8s.io/kwok@v$KWOK_VERSION gave no directory"
  mod="$BUILD/kwok"
  rm -rf "$mod"
  cp -r "$src" "$mod"
  chmod -R u+w "$mod"
  if [ -f "$KWOK_PATCH" ]; then
    patch -d "$mod" -p1 --forward --quiet <"$KWOK_PATCH" || die "patch $KWOK_PATCH does not apply to kwok $KWOK_VERSION"
  fi
  (cd "$mod" && go build -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_BUILD" \
    -o "$STAGE/kwok" ./cmd/kwok) || die "go build of kwok $KWOK_BUILD failed"
  phase_end
fi

if [[ " $todo " == *" coredns "* ]]; then
  phase_start "build coredns $COREDNS_VERSION"
  mod="$BUILD/coredns"
  rm -rf "$mod"
  cp -r "$REPO/hack/gobuild/coredns" "$mod"
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$STAGE/coredns" .) || die "go build of coredns $COREDNS_VERSION failed"
  phase_end
fi

left=$(missing "$STAGE" | tr '\n' ' ')
[ -z "$left" ] || die "binaries missing or reporting a wrong version after provisioning: $left"
for b in "${BINARIES[@]}"; do mv -f "$STAGE/$b" "$BIN_DIR/$b"; done
rm -rf "$STAGE"
[ "${PHOENIX_K8S_KEEP_BUILD:-}" = 1 ] || rm -rf "$BUILD"
stamp >"$BIN_DIR/.complete"
for b in "${BINARIES[@]}"; do
  # sed reads to the end: `| head -1` closes the pipe early, kubectl dies of SIGPIPE, and under pipefail
  # that 141 ended a whole first CI run right after the 13-minute build (2026-12-03).
  v=$({ "$BIN_DIR/$b" --version 2>/dev/null || "$BIN_DIR/$b" version --client 2>/dev/null; } | sed -n 1p)
  log "  $b: $v"
done
log "provisioned $BIN_DIR in $(($(date +%s) - T0))s"
echo "$BIN_DIR"
