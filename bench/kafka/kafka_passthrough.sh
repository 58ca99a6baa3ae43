#!/usr/bin/env bash
# kafka_passthrough: records/s through `sluice run pipelines/passthrough.yaml`
# (consume + produce, zero-loss commits) on the embedded broker, against kcat
# consuming the same topic to /dev/null in the same run — the raw ceiling of
# reading from this broker on this machine. Prints both, and the ratio. Each
# run also measures the same pipeline with kafka.delivery exactly_once
# (transactions every kafka.transaction_interval, 500 ms) and prints its cost
# against at-least-once: the embedded broker accepts the transactional
# protocol but writes no markers, so this is the client-side cost (flushes,
# commit round trips, draining the pipeline at each commit), not a real
# broker's.
#
#   bench/kafka/kafka_passthrough.sh [RECORDS] [RUNS]     (default 500000 records, 3 runs)
#   SLUICE_BENCH_PARTITIONS=96 bench/kafka/kafka_passthrough.sh 2000000 3   (longer runs: more transactions)
#
# Records are 100 bytes, spread over 16 partitions (SLUICE_BENCH_PARTITIONS;
# the embedded broker keeps ~5 MiB per partition: about 40,000 records). sluice's time runs from its first acknowledged output
# record to its last (the consumer-group join before it is not counted);
# kcat's is the whole `kcat -C -e` run. Medians over RUNS; other work on the machine makes
# single runs noisy. Also printed: CPU time per record of each (kcat only
# consumes; sluice consumes, produces and handles delivery reports), which
# decides the ratio when the cores are busy with other work.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SLUICE_BUILD_DIR:-$ROOT/build/release}
SLUICE=$BUILD/sluice
RECORDS=${1:-500000}
RUNS=${2:-3}
PARTS=${SLUICE_BENCH_PARTITIONS:-16}

[ -x "$SLUICE" ] || { echo "kafka_passthrough: $SLUICE not built (cmake --build $BUILD --target sluice)" >&2; exit 2; }
command -v kcat >/dev/null || { echo "kafka_passthrough: kcat not installed (apt-get install kcat)" >&2; exit 2; }

WORK=$(mktemp -d)
BROKER_PID=""
cleanup() {
  [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

topics=(--topic "bench-in:$PARTS")
for r in $(seq 1 "$RUNS"); do topics+=(--topic "bench-out-$r:$PARTS" --topic "bench-eos-$r:$PARTS"); done
"$SLUICE" broker "${topics[@]}" >"$WORK/broker.out" 2>"$WORK/broker.log" &
BROKER_PID=$!
for _ in $(seq 1 100); do
  BOOTSTRAP=$(head -1 "$WORK/broker.out" 2>/dev/null || true)
  [ -n "$BOOTSTRAP" ] && break
  sleep 0.1
done
[ -n "$BOOTSTRAP" ] || { cat "$WORK/broker.log" >&2; exit 1; }

now() { date +%s.%N; }
# Records in a topic: the sum of its partitions' end offsets.
count() {
  local args=() p
  for p in $(seq 0 $((PARTS - 1))); do args+=(-t "$1:$p:-1"); done
  kcat -Q -b "$BOOTSTRAP" "${args[@]}" 2>/dev/null | awk '{s += $NF} END {print s + 0}'
}
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
calc() { awk "BEGIN {print $1}"; }

# Input: RECORDS distinct 100-byte values.
awk -v n="$RECORDS" 'BEGIN { pad = sprintf("%100s", ""); gsub(/ /, "x", pad);
  for (i = 0; i < n; i++) { s = sprintf("rec-%09d-", i); print s substr(pad, 1, 100 - length(s)) } }' >"$WORK/input.txt"
t0=$(now)
# sticky.partitioning.linger.ms=0: unkeyed records spread evenly over the partitions.
kcat -P -b "$BOOTSTRAP" -t bench-in -X linger.ms=5 -X batch.num.messages=10000 \
  -X sticky.partitioning.linger.ms=0 -l "$WORK/input.txt"
t1=$(now)
loaded=$(count bench-in)
[ "$loaded" -eq "$RECORDS" ] || { echo "kafka_passthrough: loaded $loaded of $RECORDS records" >&2; exit 1; }
# Every partition must still start at offset 0 (nothing dropped by the broker's retention).
lows=()
for p in $(seq 0 $((PARTS - 1))); do lows+=(-t "bench-in:$p:-2"); done
dropped=$(kcat -Q -b "$BOOTSTRAP" "${lows[@]}" 2>/dev/null | awk '{s += $NF} END {print s + 0}')
[ "$dropped" -eq 0 ] || { echo "kafka_passthrough: the broker dropped $dropped records (5 MiB per partition): use fewer records" >&2; exit 1; }
printf 'loaded %d x 100-byte records into %d partitions in %.2f s (kcat -P)\n' "$RECORDS" "$PARTS" "$(calc "$t1 - $t0")"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime+stime of a process, 1/100 s

# run_sluice TAG OUTPUT_TOPIC GROUP [--set ...]: sets rate (records/s) and cpu
# (us CPU/record) for one run of the passthrough pipeline.
run_sluice() {
  local tag=$1 out_topic=$2 group=$3
  shift 3
  local port=$((20000 + RANDOM % 20000)) pid first=0 c s0 s1 cpu0 cpu1 out
  SLUICE_BOOTSTRAP=$BOOTSTRAP SLUICE_INPUT_TOPIC=bench-in SLUICE_OUTPUT_TOPIC=$out_topic \
    SLUICE_DLQ_TOPIC=bench-dlq SLUICE_GROUP=$group SLUICE_METRICS_LISTEN=127.0.0.1:$port \
    "$SLUICE" run "$ROOT/pipelines/passthrough.yaml" "$@" 2>"$WORK/sluice-$tag-$r.log" &
  pid=$!
  # Progress from sluice's own acknowledged-delivery counter (a curl of its
  # metrics endpoint every 20 ms: cheap, where a kcat -Q per poll would take
  # CPU from the run); the final count is checked with kcat below.
  while :; do
    c=$({ curl -sf "http://127.0.0.1:$port/metrics" 2>/dev/null || true; } |
      awk '/^sluice_records_produced_total[{ ]/ {s += $NF} END {printf "%d\n", s}')
    if [ "$first" = 0 ] && [ "$c" -gt 0 ]; then first=$c; s0=$(now); cpu0=$(ticks "$pid"); fi
    [ "$c" -ge "$RECORDS" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$WORK/sluice-$tag-$r.log" >&2; exit 1; }
    sleep 0.02
  done
  s1=$(now)
  cpu1=$(ticks "$pid")
  kill -TERM "$pid"
  wait "$pid" || { echo "kafka_passthrough: sluice ($tag) exited with $?" >&2; cat "$WORK/sluice-$tag-$r.log" >&2; exit 1; }
  out=$(count "$out_topic")
  [ "$out" -eq "$RECORDS" ] || { echo "kafka_passthrough: $out_topic holds $out of $RECORDS records" >&2; exit 1; }
  rate=$(calc "($RECORDS - $first) / ($s1 - $s0)")
  cpu=$(calc "($cpu1 - $cpu0) * 10000 / ($RECORDS - $first)")
}

kcat_rates=() sluice_rates=() kcat_cpu=() sluice_cpu=() eos_rates=() eos_cpu=()
for r in $(seq 1 "$RUNS"); do
  # Peer: kcat reading the whole topic to /dev/null.
  t0=$(now)
  TIMEFORMAT='%U %S'
  { time kcat -C -b "$BOOTSTRAP" -t bench-in -o beginning -e -q >/dev/null; } 2>"$WORK/kcat.time"
  t1=$(now)
  kcat_rates+=("$(calc "$RECORDS / ($t1 - $t0)")")
  kcat_cpu+=("$(awk -v n="$RECORDS" '{print ($1 + $2) * 1e6 / n}' "$WORK/kcat.time")")

  # sluice: the passthrough pipeline into a fresh output topic and group,
  # at-least-once then exactly-once.
  run_sluice alo "bench-out-$r" "bench-$r"
  sluice_rates+=("$rate")
  sluice_cpu+=("$cpu")
  run_sluice eos "bench-eos-$r" "bench-eos-$r" --set kafka.delivery=exactly_once --set kafka.instance_id=bench
  eos_rates+=("$rate")
  eos_cpu+=("$cpu")
  printf 'run %d: kcat -C %9.0f records/s (%.2f us CPU/record)   sluice passthrough %9.0f records/s (%.2f us CPU/record)   exactly_once %9.0f records/s (%.2f us CPU/record)\n' \
    "$r" "${kcat_rates[-1]}" "${kcat_cpu[-1]}" "${sluice_rates[-1]}" "${sluice_cpu[-1]}" "${eos_rates[-1]}" "${eos_cpu[-1]}"
done

k=$(printf '%s\n' "${kcat_rates[@]}" | median)
s=$(printf '%s\n' "${sluice_rates[@]}" | median)
printf '\nmedian of %d runs, %d records, %d cores (shared):\n' "$RUNS" "$RECORDS" "$(nproc)"
kc=$(printf '%s\n' "${kcat_cpu[@]}" | median)
sc=$(printf '%s\n' "${sluice_cpu[@]}" | median)
printf '  kcat -C to /dev/null (consume only):          %9.0f records/s  %.2f us CPU/record\n' "$k" "$kc"
printf '  sluice passthrough (consume+produce+commit):  %9.0f records/s  %.2f us CPU/record\n' "$s" "$sc"
e=$(printf '%s\n' "${eos_rates[@]}" | median)
ec=$(printf '%s\n' "${eos_cpu[@]}" | median)
printf '  sluice passthrough, exactly_once (500 ms):     %9.0f records/s  %.2f us CPU/record\n' "$e" "$ec"
printf '  ratio sluice/kcat: %.2f (target >= 0.70)\n' "$(calc "$s / $k")"
printf '  exactly_once / at-least-once: %.2f (throughput lost: %.1f %%, goal <= 10 %%)\n' \
  "$(calc "$e / $s")" "$(calc "(1 - $e / $s) * 100")"
