#!/usr/bin/env bash
# Class-data sharing (AppCDS) for an image built by Jib: runs the image's own JVM on the image's own
# files (the OCI archive unpacked into a scratch root and entered with chroot, as root) to record which
# classes a trainer loads, and dumps a static CDS archive of them:
#
#   hack/cds-archive.sh IMAGE.tar OUT_DIR -- MAIN ARGS...   # writes OUT_DIR/app/cds/app.jsa
#   PHOENIX_CDS_MEASURE=5 hack/cds-archive.sh …              # then: 5 starts without and 5 with the archive,
#                                                            # alternating; medians of launch → first step
#
# The archive is only valid for exactly that JVM and exactly those jars at those paths with those sizes
# and modification times, which is why it is made from the image rather than from the build's class
# path: Jib's jars (mtime 1970-01-01T00:00:01Z) at /app/..., the class path of /app/jib-classpath-file,
# the jlink'ed /opt/java. The second Jib pass adds OUT_DIR as one more layer; nothing else changes, so
# the archive matches the image it is in. The JVM runs with -Xshare:auto: an archive that does not match
# is ignored (slower start, never a failure).
set -euo pipefail
IMAGE="${1:?usage: cds-archive.sh IMAGE.tar OUT_DIR -- MAIN ARGS...}"
OUT="${2:?usage}"
shift 2
[ "${1:-}" = "--" ] && shift
[ $# -ge 1 ] || { echo "cds-archive: no main class" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "cds-archive: needs root (chroot)" >&2; exit 1; }
T0=$(date +%s%N)
ROOT=$(mktemp -d /tmp/phoenix-cds-XXXXXX)
chmod 755 "$ROOT" # the image's user must enter its root
cleanup() {
  umount "$ROOT/dev" 2>/dev/null || true
  umount "$ROOT/proc" 2>/dev/null || true
  rm -rf "$ROOT"
}
trap cleanup EXIT
python3 - "$IMAGE" "$ROOT" <<'PY'
import json, sys, tarfile
image, root = sys.argv[1], sys.argv[2]
t = tarfile.open(image)
blob = lambda d: t.extractfile("blobs/sha256/" + d.split(":")[1])
manifest = json.load(blob(json.load(t.extractfile("index.json"))["manifests"][0]["digest"]))
for layer in manifest["layers"]:
    with tarfile.open(fileobj=blob(layer["digest"]), mode="r:*") as lt:
        lt.extractall(root, filter="tar")  # keeps modes and modification times
PY
mkdir -p "$ROOT/dev" "$ROOT/proc" "$ROOT/cds-work"
chmod 1777 "$ROOT/cds-work"
mount --bind /dev "$ROOT/dev"
mount -t proc proc "$ROOT/proc"
JAVA=/opt/java/bin/java
CP=@/app/jib-classpath-file
run() { # in the image, as its user
  env -i PATH=/opt/java/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/cds-work OMP_NUM_THREADS=1 OPENBLAS_CORETYPE=Haswell \
    chroot --userspec=65532:65532 "$ROOT" "$@"
}
MAIN="$1"
shift
# The classes of a fresh start and of a resume (checkpoint load, verification) both go in.
run "$JAVA" -Xshare:off -XX:DumpLoadedClassList=/cds-work/fresh.lst -Dorg.bytedeco.javacpp.cachedir=/cds-work/javacpp \
  -cp "$CP" "$MAIN" "$@" --checkpoint-dir /cds-work/ckpt --termination-log /cds-work/term-1 >"$ROOT/cds-work/fresh.log" 2>&1 ||
  { cat "$ROOT/cds-work/fresh.log" >&2; echo "cds-archive: the training run failed" >&2; exit 1; }
run "$JAVA" -Xshare:off -XX:DumpLoadedClassList=/cds-work/resume.lst -Dorg.bytedeco.javacpp.cachedir=/cds-work/javacpp \
  -cp "$CP" "$MAIN" "$@" --checkpoint-dir /cds-work/ckpt --resume-step "$(ls "$ROOT/cds-work/ckpt" | sed -n 's/^step-0*\([0-9]\)/\1/p' | sort -n | tail -n 1)" \
  --termination-log /cds-work/term-2 >"$ROOT/cds-work/resume.log" 2>&1 ||
  { cat "$ROOT/cds-work/resume.log" >&2; echo "cds-archive: the resume run failed" >&2; exit 1; }
sort -u "$ROOT/cds-work/fresh.lst" "$ROOT/cds-work/resume.lst" | grep -v '^#' > "$ROOT/cds-work/classes.lst" || true
mkdir -p "$ROOT/app/cds-out"
chmod 1777 "$ROOT/app/cds-out"
run "$JAVA" -Xshare:dump -XX:SharedClassListFile=/cds-work/classes.lst -XX:SharedArchiveFile=/app/cds-out/app.jsa \
  -cp "$CP" >"$ROOT/cds-work/dump.log" 2>&1 ||
  { tail -20 "$ROOT/cds-work/dump.log" >&2; echo "cds-archive: -Xshare:dump failed" >&2; exit 1; }
# The JVM must map it (the same check -Xshare:on makes at start).
run "$JAVA" -Xshare:on -XX:SharedArchiveFile=/app/cds-out/app.jsa -cp "$CP" -version >/dev/null 2>&1 ||
  { echo "cds-archive: the archive does not map in its own image" >&2; exit 1; }
if [ "${PHOENIX_CDS_MEASURE:-0}" -gt 0 ]; then
  # Launch → the trainer's "training steps" line (a fresh start: JVM, ND4J, model), in the image.
  first_step_ms() {
    rm -rf "$ROOT/cds-work/m"
    local t0 t1 flag=$1
    shift
    t0=$(date +%s%N)
    run "$JAVA" "$flag" -Dorg.bytedeco.javacpp.cachedir=/cds-work/javacpp -cp "$CP" "$MAIN" "$@" --checkpoint-dir /cds-work/m \
      --termination-log /cds-work/term-m 2>&1 | while IFS= read -r line; do
        case "$line" in *"training steps"*) date +%s%N; break ;; esac
      done > "$ROOT/cds-work/t1"
    t1=$(cat "$ROOT/cds-work/t1")
    echo $(( (t1 - t0) / 1000000 ))
  }
  off=() on=()
  for _ in $(seq "$PHOENIX_CDS_MEASURE"); do
    off+=("$(first_step_ms -Xshare:off "$@")")
    on+=("$(first_step_ms -XX:SharedArchiveFile=/app/cds-out/app.jsa "$@")")
  done
  median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  echo "cds-archive: launch -> first training step, median of ${PHOENIX_CDS_MEASURE}: without the archive $(median "${off[@]}") ms (${off[*]}), with it $(median "${on[@]}") ms (${on[*]})" >&2
fi
rm -rf "$OUT"
mkdir -p "$OUT/app/cds"
cp "$ROOT/app/cds-out/app.jsa" "$OUT/app/cds/app.jsa"
echo "cds-archive: $(wc -l < "$ROOT/cds-work/classes.lst") classes, $(du -m "$OUT/app/cds/app.jsa" | cut -f1) MB archive in $(( ($(date +%s%N) - T0) / 1000000 )) ms -> $OUT/app/cds/app.jsa" >&2
