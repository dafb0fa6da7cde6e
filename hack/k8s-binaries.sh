#!/usr/bin/env bash
# Provision a Kubernetes v1.20.2 control plane (etcd, kube-apiserver, kube-scheduler,
# kube-controller-manager, kubectl) into one directory, idempotently.
#
#   hack/k8s-binaries.sh            # prints the bin directory on its LAST stdout line
#
# Target: ${PHOENIX_K8S_DIR:-$HOME/.cache/phoenix/k8s/v1.20.2}/bin
# Sources, in order (each one only fills in binaries still missing):
#   a) the target already holds working binaries        -> done (fast path, no lock, < 1 s)
#   b) $KUBEBUILDER_ASSETS or ~/.kubeapitest/k8s/1.20.2-linux-amd64 -> copied
#   c) dl.k8s.io reachable                               -> official release binaries (sha256-checked)
#   d) otherwise                                         -> built from Debian 12's `kubernetes` source
#      package (vendored 1.20.2) with Debian's golang-go, vendored modern-go/reflect2 replaced by
#      Debian's 1.0.2 (1.0.1 crashes the apiserver under Go >= 1.18 on the first custom-resource
#      write); etcd from Debian's etcd-server.
# Afterwards ~/.kubeapitest/k8s/1.20.2-linux-amd64/{etcd,kube-apiserver,kubectl} are symlinked to
# the target so Fabric8's kube-api-test finds them without downloading.
#
# Environment:
#   PHOENIX_K8S_DIR          cache directory (default ~/.cache/phoenix/k8s/v1.20.2)
#   PHOENIX_K8S_NO_DOWNLOAD  =1: skip (c) even when dl.k8s.io is reachable
#   PHOENIX_K8S_KEEP_BUILD   =1: keep the unpacked source tree after a build from source
#   KUBE_API_TEST_DIR        kube-api-test's directory (default ~/.kubeapitest)
# All progress goes to stderr; only the bin directory goes to stdout.
set -euo pipefail

K8S_VERSION=1.20.2
ETCD_VERSION=3.4.13 # the etcd that Kubernetes 1.20 was released and tested with
BINARIES=(etcd kube-apiserver kube-scheduler kube-controller-manager kubectl)
K8S_DIR="${PHOENIX_K8S_DIR:-$HOME/.cache/phoenix/k8s/v${K8S_VERSION}}"
BIN_DIR="$K8S_DIR/bin"
KAT_DIR="${KUBE_API_TEST_DIR:-$HOME/.kubeapitest}/k8s/${K8S_VERSION}-linux-amd64"
export DEBIAN_FRONTEND=noninteractive

T0=$(date +%s)
log() { printf '[k8s-binaries %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
phase_start() { PHASE_NAME="$1"; PHASE_T=$(date +%s); log "phase '$1' ..."; }
phase_end() { log "phase '$PHASE_NAME' took $(( $(date +%s) - PHASE_T ))s"; }

# --- checks ---------------------------------------------------------------------------------------
# version_ok FILE: the binary runs and reports the expected version.
version_ok() {
  local f="$1" name out
  [ -f "$f" ] && [ -x "$f" ] || return 1
  name=$(basename "$f")
  case "$name" in
    etcd) out=$("$f" --version 2>/dev/null) || return 1; [[ "$out" == *"etcd Version: 3."* ]] ;;
    kubectl) out=$("$f" version --client --short 2>/dev/null || "$f" version --client 2>/dev/null) || return 1
             [[ "$out" == *"v${K8S_VERSION}"* ]] ;;
    *) out=$("$f" --version 2>/dev/null) || return 1; [[ "$out" == *"v${K8S_VERSION}"* ]] ;;
  esac
}
missing() { local b; for b in "${BINARIES[@]}"; do version_ok "$BIN_DIR/$b" || echo "$b"; done; }
# The stamp records size and mtime of every binary once they all passed version_ok, so the fast
# path needs no exec (well under a second even on a loaded machine).
stamp() { (cd "$BIN_DIR" && stat -L -c '%n %s %Y' "${BINARIES[@]}") 2>/dev/null; }
all_ok() {
  [ -f "$BIN_DIR/.complete" ] || return 1
  [ "$(cat "$BIN_DIR/.complete")" = "$(stamp)" ] && return 0
  [ -z "$(missing)" ] && stamp > "$BIN_DIR/.complete"
}

link_kubeapitest() {
  mkdir -p "$KAT_DIR"
  local b
  for b in etcd kube-apiserver kubectl; do
    # never replace a real binary someone else put there
    if [ -e "$KAT_DIR/$b" ] && [ ! -L "$KAT_DIR/$b" ]; then continue; fi
    ln -sfn "$BIN_DIR/$b" "$KAT_DIR/$b"
  done
}

finish() {
  link_kubeapitest
  echo "$BIN_DIR"
  exit 0
}

# --- (a) fast path ----------------------------------------------------------------------------------
if all_ok; then
  [ -L "$KAT_DIR/kube-apiserver" ] || [ -e "$KAT_DIR/kube-apiserver" ] || link_kubeapitest
  echo "$BIN_DIR"
  exit 0
fi

mkdir -p "$BIN_DIR"
exec 9>"$K8S_DIR/.lock"
log "waiting for lock $K8S_DIR/.lock"
flock 9
if all_ok; then log "provisioned by a concurrent caller"; finish; fi

install_bin() { # install_bin SRC NAME: copy (resolving links) atomically
  local src="$1" name="$2"
  [ "$(readlink -f "$src")" = "$(readlink -f "$BIN_DIR/$name" 2>/dev/null || true)" ] && return 0
  cp -L "$src" "$BIN_DIR/.$name.tmp" && chmod 0755 "$BIN_DIR/.$name.tmp" && mv -f "$BIN_DIR/.$name.tmp" "$BIN_DIR/$name"
}

# --- (b) local copies -----------------------------------------------------------------------------
phase_start local-copies
for dir in "${KUBEBUILDER_ASSETS:-}" "$KAT_DIR"; do
  [ -n "$dir" ] && [ -d "$dir" ] || continue
  for b in $(missing); do
    if version_ok "$dir/$b" && [ "$(readlink -f "$dir/$b")" != "$(readlink -f "$BIN_DIR/$b" 2>/dev/null || true)" ]; then
      log "copying $b from $dir"; install_bin "$dir/$b" "$b"
    fi
  done
done
phase_end
if [ -z "$(missing)" ]; then stamp > "$BIN_DIR/.complete"; finish; fi

# --- (c) download -----------------------------------------------------------------------------------
arch() { case "$(uname -m)" in x86_64) echo amd64;; aarch64|arm64) echo arm64;; *) uname -m;; esac; }
download_ok=false
if [ "${PHOENIX_K8S_NO_DOWNLOAD:-0}" != 1 ] && command -v curl >/dev/null \
   && curl -fsSL --max-time 10 -o /dev/null "https://dl.k8s.io/release/v${K8S_VERSION}/bin/linux/$(arch)/kubectl.sha256" 2>/dev/null; then
  download_ok=true
fi
if $download_ok; then
  phase_start download
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  for b in $(missing); do
    if [ "$b" = etcd ]; then
      tgz="etcd-v${ETCD_VERSION}-linux-$(arch).tar.gz"
      for base in "https://storage.googleapis.com/etcd/v${ETCD_VERSION}" \
                  "https://github.com/etcd-io/etcd/releases/download/v${ETCD_VERSION}"; do
        log "downloading $base/$tgz"
        if curl -fsSL --retry 3 -o "$tmp/$tgz" "$base/$tgz"; then
          tar -xzf "$tmp/$tgz" -C "$tmp" && install_bin "$tmp/etcd-v${ETCD_VERSION}-linux-$(arch)/etcd" etcd && break
        fi
      done
    else
      url="https://dl.k8s.io/release/v${K8S_VERSION}/bin/linux/$(arch)/$b"
      log "downloading $url"
      if curl -fsSL --retry 3 -o "$tmp/$b" "$url" && curl -fsSL --retry 3 -o "$tmp/$b.sha256" "$url.sha256"; then
        if [ "$(sha256sum "$tmp/$b" | cut -d' ' -f1)" = "$(tr -d ' \n' < "$tmp/$b.sha256")" ]; then
          install_bin "$tmp/$b" "$b"
        else
          log "sha256 mismatch for $b, ignoring the download"
        fi
      fi
    fi
  done
  phase_end
  if [ -z "$(missing)" ]; then stamp > "$BIN_DIR/.complete"; finish; fi
else
  log "dl.k8s.io not reachable (or PHOENIX_K8S_NO_DOWNLOAD=1): building from Debian sources"
fi

# --- (d) Debian: etcd-server + build from the kubernetes source package ------------------------------
[ -r /etc/debian_version ] || die "no binaries found, no internet, and this is not Debian: cannot build $(missing | tr '\n' ' ')"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
APT_GET="$SUDO apt-get -o DPkg::Lock::Timeout=900 -o Acquire::Retries=3"

ensure_deb_src() {
  if apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Package: kubernetes'; then return 0; fi
  log "adding deb-src entries for the configured Debian archive"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed -e 's/^Types:.*$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
      | $SUDO tee /etc/apt/sources.list.d/phoenix-deb-src.sources >/dev/null
  elif [ -f /etc/apt/sources.list ] && grep -q '^deb ' /etc/apt/sources.list; then
    grep '^deb ' /etc/apt/sources.list | sed -e 's/^deb /deb-src /' \
      | $SUDO tee /etc/apt/sources.list.d/phoenix-deb-src.list >/dev/null
  else
    echo "deb-src http://deb.debian.org/debian bookworm main" | $SUDO tee /etc/apt/sources.list.d/phoenix-deb-src.list >/dev/null
  fi
  $APT_GET update -q >&2
  apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Package: kubernetes' || die "no source package 'kubernetes' after adding deb-src"
}

need_pkgs=()
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
want() { local p; for p in "$@"; do pkg_installed "$p" || need_pkgs+=("$p"); done; }
missing_now="$(missing | tr '\n' ' ')"
[[ " $missing_now " == *" etcd "* ]] && want etcd-server
if [[ "$missing_now" == *kube* ]]; then
  want golang-go golang-github-modern-go-reflect2-dev dpkg-dev rsync make jq bash findutils coreutils xz-utils
fi

phase_start apt
if [ ${#need_pkgs[@]} -gt 0 ] || [[ "$missing_now" == *kube* ]]; then
  # refresh the lists only when needed (fresh machines have empty lists)
  if [ ${#need_pkgs[@]} -gt 0 ] && ! apt-cache show "${need_pkgs[@]}" >/dev/null 2>&1; then $APT_GET update -q >&2; fi
  [[ "$missing_now" == *kube* ]] && ensure_deb_src
  if [ ${#need_pkgs[@]} -gt 0 ]; then
    log "apt-get install ${need_pkgs[*]}"
    $APT_GET install -y -q --no-install-recommends "${need_pkgs[@]}" >&2
  fi
fi
phase_end

if [[ " $missing_now " == *" etcd "* ]]; then
  etcd_path=$(dpkg -L etcd-server | grep -E '/s?bin/etcd$' | head -n1)
  [ -n "$etcd_path" ] || die "etcd-server installed but no etcd binary in it"
  log "etcd from Debian: $etcd_path"
  install_bin "$etcd_path" etcd
fi

kube_missing=$(missing | grep '^kube' || true)
if [ -n "$kube_missing" ]; then
  BUILD_DIR="$K8S_DIR/build"
  phase_start fetch-source
  rm -rf "$BUILD_DIR"; mkdir -p "$BUILD_DIR"
  # apt-get source drops privileges to _apt when it can; download into a world-writable dir
  chmod 0777 "$BUILD_DIR"
  ( cd "$BUILD_DIR" && apt-get source -q --download-only kubernetes >&2 )
  ( cd "$BUILD_DIR" && dpkg-source --no-check -x ./kubernetes_*.dsc src >&2 )
  [ -f "$BUILD_DIR/src/Makefile" ] || die "unpacking the kubernetes source package failed"
  phase_end

  phase_start patch-reflect2
  SRC="$BUILD_DIR/src"
  R2=/usr/share/gocode/src/github.com/modern-go/reflect2
  [ -f "$R2/reflect2.go" ] || die "Debian's reflect2 not found at $R2"
  rm -rf "$SRC/vendor/github.com/modern-go/reflect2"
  cp -r "$R2" "$SRC/vendor/github.com/modern-go/reflect2"
  # debian/rules builds with a GOPATH that contains k8s.io/kubernetes -> the tree
  mkdir -p "$SRC/.go/src/k8s.io"
  ln -sfn ../../.. "$SRC/.go/src/k8s.io/kubernetes"
  # The source tarball is no git tree: without this the binaries report v0.0.0-master+...
  commit=$(sed -n 's/^[[:space:]]*gitCommit[[:space:]]*=[[:space:]]*"\([0-9a-f]*\)".*/\1/p' \
    "$SRC/staging/src/k8s.io/component-base/version/base.go" | head -n1)
  {
    echo "KUBE_GIT_COMMIT='${commit}'"
    echo "KUBE_GIT_TREE_STATE='clean'"
    echo "KUBE_GIT_VERSION='v${K8S_VERSION}'"
    echo "KUBE_GIT_MAJOR='${K8S_VERSION%%.*}'"
    echo "KUBE_GIT_MINOR='$(cut -d. -f2 <<<"$K8S_VERSION")'"
  } > "$BUILD_DIR/version.env"
  phase_end

  build() { # build cmd/a cmd/b ...
    ( cd "$SRC" && env GOPATH="$SRC/.go" CGO_ENABLED=0 PATH="/usr/lib/go/bin:$PATH" \
        KUBE_GIT_VERSION_FILE="$BUILD_DIR/version.env" make WHAT="$*" >&2 )
  }
  # kube-apiserver first (most consumers need only it), the rest in one go afterwards.
  if grep -qx kube-apiserver <<<"$kube_missing"; then
    phase_start build-kube-apiserver
    build cmd/kube-apiserver || die "building kube-apiserver failed"
    install_bin "$SRC/_output/bin/kube-apiserver" kube-apiserver
    phase_end
  fi
  rest=$(grep -vx kube-apiserver <<<"$kube_missing" | sed 's#^#cmd/#' | tr '\n' ' ' || true)
  if [ -n "${rest// /}" ]; then
    rest_list=$(echo $rest); phase_start "build-${rest_list// /,}"
    # shellcheck disable=SC2086
    build $rest || die "building $rest failed"
    for w in $rest; do install_bin "$SRC/_output/bin/$(basename "$w")" "$(basename "$w")"; done
    phase_end
  fi
  if [ "${PHOENIX_K8S_KEEP_BUILD:-0}" != 1 ]; then rm -rf "$BUILD_DIR"; fi
fi

still=$(missing | tr '\n' ' ')
[ -z "${still// /}" ] || die "still missing or not working after all sources: $still"
stamp > "$BIN_DIR/.complete"
log "all binaries in $BIN_DIR (total $(( $(date +%s) - T0 ))s)"
finish
