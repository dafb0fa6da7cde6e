#!/usr/bin/env bash
# Runs Phoenix's benchmark suite (not the tests): builds first, then each part as its own JVM against a
# fresh Kubernetes v1.37.2 control plane (KWOK for simulated pods, a real node for the real trainer), and collects every table into one Markdown file.
#
#   hack/bench.sh                          # all parts, in order: recovery peers real scale checkpoint trainers (~75-90 min on 2 vCPUs; peers alone ~40 min)
#   hack/bench.sh recovery scale           # only these parts
#   PHOENIX_BENCH_SCALE_ARGS="--jobs 300" hack/bench.sh scale   # extra arguments for one part
#
# Parts (mains in benchmarks/src/main/java/dev/phoenix/bench/, see docs/benchmarks.md):
#   recovery    RecoveryLatencyBench  50 preemptions, simulated pods, vs the API server's watch delivery latency
#   peers       peer.PeerRecoveryBench Phoenix vs an Indexed Job with podFailurePolicy vs JobSet vs the bare-client floor,
#                                     one run, simulated pods: 2-, 64- and 1,000-pod gangs (50, 50, 10 preemptions), API
#                                     requests per recovery (audit log), 1,000 one-pod jobs at once; SVG chart in
#                                     bench-results/<time>/peer-recovery.svg (~40 min: 2,327 s on 2026-12-04)
#   real        RealRecoveryBench     the trainer image in a real pod on a real node: recovery to the first new step,
#                                     lost work with and without the SIGTERM emergency checkpoint
#   scale       ScaleBench            1,000 TrainingJobs, one operator JVM: creation, 10% preempted at once,
#                                     heap, CPU, API requests per job lifecycle, idle requests
#   checkpoint  CheckpointCostBench   TrainerBenchmark (save/load vs disk) + training slow-down at the default interval
#   trainers    pytorch/bench/compare.py (Python, not a Java main; venv from hack/python-env.sh): TrainerBenchmark (ND4J)
#                                     then pytorch/bench/bench.py (PyTorch) in one run on the same disk, 1 thread: matmul peak,
#                                     training steps/s, checkpoint save/verify/load vs each one's own disk figures, PyTorch ÷ ND4J
#
# Output: benchmarks/target/bench-results/<time>/{tables.md,<part>.log}; the last run is linked as
# benchmarks/target/bench-results/latest.
set -euo pipefail
cd "$(dirname "$0")/.."

parts=("$@")
if [ ${#parts[@]} -eq 0 ]; then
  parts=(recovery peers real scale checkpoint trainers)
fi

if [ -z "${PHOENIX_K8S_BIN_DIR:-}" ]; then
  PHOENIX_K8S_BIN_DIR=$(hack/prerequisites.sh | tail -n 1)
  export PHOENIX_K8S_BIN_DIR
fi

echo "[bench] building (mvn -q -Pimages -DskipTests install: the real part runs the trainer image)"
mvn -q -B -ntp -Pimages -DskipTests install

cp_file=benchmarks/target/classpath.txt
CP="benchmarks/target/classes:$(cat "$cp_file")"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="benchmarks/target/bench-results/$stamp"
mkdir -p "$out"
ln -sfn "$stamp" benchmarks/target/bench-results/latest
export PHOENIX_BENCH_OUT="$PWD/$out/tables.md"

{
  echo "### Run $stamp (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo
  echo "- machine: $(nproc --all) vCPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/^Mem:/{print $2}') GiB RAM, shared with other work (load average at start: $(cut -d' ' -f1-3 /proc/loadavg))"
  echo "- $(java -version 2>&1 | sed -n 1p); Kubernetes binaries: $PHOENIX_K8S_BIN_DIR"
  echo "- parts: ${parts[*]}"
  echo
} > "$PHOENIX_BENCH_OUT"

run_part() { # name, time limit (s), main class, default args...
  local name=$1 limit=$2 main=$3
  shift 3
  local var="PHOENIX_BENCH_$(echo "$name" | tr '[:lower:]' '[:upper:]')_ARGS"
  local extra=${!var:-}
  echo "[bench] $name: $main $* $extra (limit ${limit}s; log $out/$name.log)"
  local t0=$(date +%s)
  # shellcheck disable=SC2086
  if ! timeout --kill-after=30 "$limit" java -Xmx2g -cp "$CP" "dev.phoenix.bench.$main" "$@" $extra > "$out/$name.log" 2>&1; then
    echo "[bench] $name FAILED or timed out (see $out/$name.log)"
    printf '#### %s\n\nFAILED or timed out after %ss: see `%s/%s.log`.\n\n' "$name" "$limit" "$out" "$name" >> "$PHOENIX_BENCH_OUT"
  fi
  echo "[bench] $name took $(( $(date +%s) - t0 ))s"
}

run_trainers() { # time limit (s), default args of pytorch/bench/compare.py...: the one part that is Python, not a Java main
  local name=trainers limit=$1 venv
  shift
  local extra=${PHOENIX_BENCH_TRAINERS_ARGS:-}
  echo "[bench] $name: pytorch/bench/compare.py $* $extra (limit ${limit}s; log $out/$name.log)"
  local t0=$(date +%s)
  # compare.py runs TrainerBenchmark with $CP (the benchmarks module's class path holds trainer-image), then bench.py
  # with the venv's python, and appends its own table to $PHOENIX_BENCH_OUT; both raw outputs go to $out/$name/.
  # shellcheck disable=SC2086
  if ! venv=$(hack/python-env.sh | tail -n 1) \
      || ! timeout --kill-after=30 "$limit" "$venv/bin/python" pytorch/bench/compare.py --java-cp "$CP" \
        --python "$venv/bin/python" --log-dir "$PWD/$out/$name" --out "$PHOENIX_BENCH_OUT" "$@" $extra \
        > "$out/$name.log" 2>&1; then
    echo "[bench] $name FAILED or timed out (see $out/$name.log)"
    printf '#### %s\n\nFAILED or timed out after %ss: see `%s/%s.log`.\n\n' "$name" "$limit" "$out" "$name" >> "$PHOENIX_BENCH_OUT"
  fi
  echo "[bench] $name took $(( $(date +%s) - t0 ))s"
}

for p in "${parts[@]}"; do
  case "$p" in
    recovery)   run_part recovery 420 RecoveryLatencyBench --preemptions 50 --replicas 2 --watch-samples 100 ;;
    peers)      # JobSet's controller, built from its Go module (cached; ~95 s the first time)
                [ -n "${PHOENIX_JOBSET_DIR:-}" ] || { PHOENIX_JOBSET_DIR=$(hack/jobset.sh | tail -n 1); export PHOENIX_JOBSET_DIR; }
                run_part peers 4200 peer.PeerRecoveryBench --preemptions 50 --replicas 2,64,1000 --large-preemptions 10 \
                  --jobs 1000 --chart "$PWD/$out/peer-recovery.svg" ;;
    real)       run_part real 720 RealRecoveryBench --preemptions 50 --preemptions-no-emergency 20 ;;
    scale)      run_part scale 900 ScaleBench --jobs 1000 --preempt-percent 10 --idle-seconds 60 --complete 100 ;;
    checkpoint) run_part checkpoint 600 CheckpointCostBench --dir "$PWD/benchmarks/target/bench-io" --disk-mb 512 ;;
    trainers)   run_trainers 1200 --dir "$PWD/benchmarks/target/bench-io" --steps 30 --disk-mib 512 --large-hidden 4096 --timeout 560 ;;
    *) echo "unknown part $p (recovery peers real scale checkpoint trainers)" >&2; exit 2 ;;
  esac
done
rm -rf benchmarks/target/bench-io
echo "[bench] tables: $PHOENIX_BENCH_OUT"
cat "$PHOENIX_BENCH_OUT"
