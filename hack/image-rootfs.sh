#!/usr/bin/env bash
# The base of Phoenix's images, made here instead of pulled: a jlink'ed Java 17 runtime plus the few
# glibc libraries it (and ND4J's native code) loads, as a root filesystem directory that Jib lays on
# `scratch` (<extraDirectories>). No shell, no package manager, no libraries nobody loads.
#
#   hack/image-rootfs.sh OUT_DIR [extra-dir ...]
#
# OUT_DIR gets:
#   opt/java/                 jlink --add-modules $MODULES of this machine's JDK 17 (no man pages,
#                             no header files, stripped debug info)
#   lib/x86_64-linux-gnu/, lib64/ld-linux-x86-64.so.2
#                             every shared library the runtime's binaries need (found with ldd) and
#                             libstdc++/libgcc_s/libz for ND4J's native libraries (glibc >= 2.27)
#   etc/passwd, etc/group     root and `nonroot` (65532), so the JVM finds a user name and home
#   tmp/, home/nonroot/       writable by 65532 when the root filesystem is not read-only
#   every extra-dir           created mode 1777 (e.g. var/cache/javacpp)
# The result depends only on this script and this machine's JDK and glibc packages: it is cached under
# ~/.cache/phoenix/image-rootfs/<hash of those> ($PHOENIX_IMAGE_ROOTFS_CACHE) and copied from there.
set -euo pipefail
OUT="${1:?usage: image-rootfs.sh OUT_DIR [extra-dir ...]}"
shift
# What the operator (Fabric8 JDK HTTP client, Jackson, logback, micrometer, the JDK's HTTP server for
# health and metrics) and the trainer (ND4J, JavaCPP, picocli, Fabric8) need: `jdeps --print-module-deps
# --ignore-missing-deps --multi-release 17` of their jars (operator: java.base,java.desktop,java.naming,
# java.sql,jdk.httpserver,jdk.management; trainer: + java.compiler,jdk.unsupported) plus what libraries load
# reflectively (java.logging, java.management, java.net.http, java.xml, jdk.crypto.ec for TLS, jdk.zipfs, ...).
MODULES="java.base,java.compiler,java.desktop,java.instrument,java.logging,java.management,java.naming,java.net.http,java.scripting,java.security.jgss,java.sql,java.xml,jdk.crypto.ec,jdk.httpserver,jdk.management,jdk.unsupported,jdk.zipfs"
JAVA_HOME="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}"
[ -x "$JAVA_HOME/bin/jlink" ] || { echo "image-rootfs: no jlink in $JAVA_HOME" >&2; exit 1; }

T0=$(date +%s%N)
# Cache: the same JDK, glibc, script and extra dirs give the same tree (jlink takes a minute on 2 cores).
KEY=$( { cat "$0"; "$JAVA_HOME/bin/java" -version 2>&1; dpkg-query -W libc6 libstdc++6 zlib1g 2>/dev/null; } |
  sha256sum | cut -c1-16)
CACHE="${PHOENIX_IMAGE_ROOTFS_CACHE:-$HOME/.cache/phoenix/image-rootfs}/$KEY"
if [ -f "$CACHE/.complete" ]; then
  rm -rf "$OUT"
  mkdir -p "$(dirname "$OUT")"
  cp -a "$CACHE/rootfs" "$OUT"
  for d in "$@"; do mkdir -p "$OUT/$d"; chmod 1777 "$OUT/$d"; done
  echo "image-rootfs: $OUT from cache $CACHE ($(du -sm "$OUT" | cut -f1) MB)" >&2
  exit 0
fi
rm -rf "$OUT"
mkdir -p "$OUT"
"$JAVA_HOME/bin/jlink" --add-modules "$MODULES" --output "$OUT/opt/java" \
  --strip-debug --no-man-pages --no-header-files --compress=2 >&2

libs() {
  # ldd prints "name => /path (addr)" or "/lib64/ld-linux-x86-64.so.2 (addr)"
  # The AWT/sound/font libraries of java.desktop (kept for java.beans) are never loaded headless.
  find "$OUT/opt/java" -type f \( -name '*.so' -o -path '*/bin/*' \) \
      ! -name 'libawt*' ! -name 'libfontmanager.so' ! -name 'libjsound.so' ! -name 'libsplashscreen.so' \
      ! -name 'liblcms.so' ! -name 'libjavajpeg.so' ! -name 'libmlib_image.so' ! -name 'libjawt.so' -print0 |
    xargs -0 ldd 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/lib/ {print $1}'
  for l in libstdc++.so.6 libgcc_s.so.1 libz.so.1 libdl.so.2 libpthread.so.0 librt.so.1 libm.so.6; do
    echo "/lib/x86_64-linux-gnu/$l"
  done
}
for f in $(libs | sort -u); do
  case "$f" in "$OUT"/*) continue ;; esac
  real=$(readlink -f "$f")
  [ -f "$real" ] || { echo "image-rootfs: missing library $f" >&2; exit 1; }
  case "$f" in
    /lib64/*) dest="$OUT/lib64/$(basename "$f")" ;;
    *) dest="$OUT/lib/x86_64-linux-gnu/$(basename "$f")" ;;
  esac
  mkdir -p "$(dirname "$dest")"
  cp "$real" "$dest"
done

mkdir -p "$OUT/etc" "$OUT/tmp" "$OUT/home/nonroot"
chmod 1777 "$OUT/tmp"
chmod 0755 "$OUT/home/nonroot"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$OUT/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$OUT/etc/group"
# The JVM must start from it alone (run against its own loader and libraries, not the host's).
"$OUT/lib64/ld-linux-x86-64.so.2" --library-path "$OUT/lib/x86_64-linux-gnu" "$OUT/opt/java/bin/java" -version 2>/dev/null ||
  { echo "image-rootfs: the jlink'ed java does not start with the copied libraries" >&2; exit 1; }
mkdir -p "$CACHE"
rm -rf "$CACHE/rootfs"
cp -a "$OUT" "$CACHE/rootfs"
touch "$CACHE/.complete"
for d in "$@"; do mkdir -p "$OUT/$d"; chmod 1777 "$OUT/$d"; done
echo "image-rootfs: $OUT ($(du -sm "$OUT" | cut -f1) MB) in $(( ($(date +%s%N) - T0) / 1000000 )) ms" >&2
