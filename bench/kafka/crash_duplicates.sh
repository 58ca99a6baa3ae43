#!/usr/bin/env bash
# crash_duplicates: records delivered twice per kill -9 of `sluice run
# pipelines/passthrough.yaml`, as a function of the commit triggers
# (kafka_source commit_interval and commit_records), on the embedded broker.
#
#   bench/kafka/crash_duplicates.sh [RECORDS] [KILLS]     (default 600000 records, 3 kills)
#
# For each setting: a fresh input topic of RECORDS distinct 100-byte records
# (64 partitions: the embedded broker keeps ~5 MiB of each, duplicates
# included); sluice is started, killed with kill -9 once its output has
# grown by a random 5-25 % of the input, restarted, KILLS times, then run to
# the end. Duplicates = output records - input records (nothing may be
# missing: checked). What a kill re-delivers is what was read and not yet
# committed: the records in flight (at most high_watermark, 10,000) plus
# those done since the last commit, which the commit triggers bound.
# The crash-loop breaker is off (two kills in a row would otherwise replay
# the records in flight one at a time: correct, but not what is measured).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SLUICE_BUILD_DIR:-$ROOT/build/release}
SLUICE=$BUILD/sluice
RECORDS=${1:-600000}
KILLS=${2:-3}
PARTS=${SLUICE_BENCH_PARTITIONS:-64}
# interval:records pairs (records 0: by time only).
SETTINGS=${SLUICE_BENCH_SETTINGS:-"5s:0 1s:0 100ms:0 1s:10000 1s:1000"}

[ -x "$SLUICE" ] || { echo "crash_duplicates: $SLUICE not built" >&2; exit 2; }
command -v kcat >/dev/null || { echo "crash_duplicates: kcat not installed" >&2; exit 2; }

WORK=$(mktemp -d)
BROKER_PID="" PID=""
cleanup() {
  local rc=$?
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null || true
  [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null || true
  if [ "$rc" = 0 ]; then rm -rf "$WORK"; else echo "crash_duplicates: logs in $WORK" >&2; fi
}
trap cleanup EXIT

n=0
topics=()
for s in $SETTINGS; do
  n=$((n + 1))
  topics+=(--topic "in-$n:$PARTS" --topic "out-$n:$PARTS")
done
"$SLUICE" broker "${topics[@]}" >"$WORK/broker.out" 2>"$WORK/broker.log" &
BROKER_PID=$!
for _ in $(seq 1 100); do
  BOOTSTRAP=$(head -1 "$WORK/broker.out" 2>/dev/null || true)
  [ -n "$BOOTSTRAP" ] && break
  sleep 0.1
done
[ -n "$BOOTSTRAP" ] || { cat "$WORK/broker.log" >&2; exit 1; }

count() {
  local args=() p
  for p in $(seq 0 $((PARTS - 1))); do args+=(-t "$1:$p:-1"); done
  kcat -Q -b "$BOOTSTRAP" "${args[@]}" 2>/dev/null | awk '{s += $NF} END {print s + 0}'
}

awk -v n="$RECORDS" 'BEGIN { pad = sprintf("%100s", ""); gsub(/ /, "x", pad);
  for (i = 0; i < n; i++) { s = sprintf("rec-%09d-", i); print s substr(pad, 1, 100 - length(s)) } }' >"$WORK/input.txt"

PORT=$((20000 + RANDOM % 20000))
start() {  # start SETTING_INDEX INTERVAL RECORDS
  SLUICE_BOOTSTRAP=$BOOTSTRAP SLUICE_INPUT_TOPIC=in-$1 SLUICE_OUTPUT_TOPIC=out-$1 \
    SLUICE_DLQ_TOPIC=dlq SLUICE_GROUP=dup-$1 SLUICE_INSTANCE_ID=dup-$1 \
    SLUICE_METRICS_LISTEN=127.0.0.1:$PORT SLUICE_CRASH_MARKS_DIR="$WORK/marks" \
    SLUICE_SESSION_TIMEOUT_MS=3000 \
    "$SLUICE" run "$ROOT/pipelines/passthrough.yaml" \
    --set stages.source.commit_interval="$2" --set stages.source.commit_records="$3" \
    --set stages.source.crash_loop_breaker=false 2>>"$WORK/sluice-$1.log" &
  PID=$!
}

printf '%d records, %d kills per setting, %d partitions\n' "$RECORDS" "$KILLS" "$PARTS"
printf '%-16s %-15s %12s %14s\n' commit_interval commit_records duplicates "per kill -9"
n=0
for s in $SETTINGS; do
  n=$((n + 1))
  interval=${s%%:*} records=${s##*:}
  kcat -P -b "$BOOTSTRAP" -t "in-$n" -X linger.ms=5 -X batch.num.messages=10000 \
    -X sticky.partitioning.linger.ms=0 -X compression.type=lz4 -l "$WORK/input.txt"
  for k in $(seq 1 "$KILLS"); do
    before=$(count "out-$n")
    target=$((before + RECORDS * (5 + RANDOM % 21) / 100))
    start "$n" "$interval" "$records"
    while [ "$(count "out-$n")" -lt "$target" ]; do
      kill -0 "$PID" 2>/dev/null || { tail -20 "$WORK/sluice-$n.log" >&2; exit 1; }
      sleep 0.05
    done
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    PID=""
  done
  start "$n" "$interval" "$records"
  # Run to the end: every partition committed up to its end (the source's
  # commit lag, refreshed every second, is 0 on all of them).
  while :; do
    done_parts=$({ curl -sf "http://127.0.0.1:$PORT/metrics" 2>/dev/null || true; } |
      awk '/^sluice_consumer_commit_lag[{]/ && $NF == 0 {n++} END {print n + 0}')
    [ "$done_parts" -ge "$PARTS" ] && break
    kill -0 "$PID" 2>/dev/null || { tail -20 "$WORK/sluice-$n.log" >&2; exit 1; }
    sleep 0.5
  done
  kill -TERM "$PID"
  wait "$PID" || { echo "crash_duplicates: sluice exited with $?" >&2; exit 1; }
  PID=""
  out=$(count "out-$n")
  lows=()
  for p in $(seq 0 $((PARTS - 1))); do lows+=(-t "out-$n:$p:-2"); done
  dropped=$(kcat -Q -b "$BOOTSTRAP" "${lows[@]}" 2>/dev/null | awk '{s += $NF} END {print s + 0}')
  [ "$dropped" -eq 0 ] || { echo "crash_duplicates: the broker dropped $dropped records of out-$n (it keeps ~5 MiB per partition): use fewer records" >&2; exit 1; }
  distinct=$(kcat -C -b "$BOOTSTRAP" -t "out-$n" -e -q -f '%s\n' | sort -u | wc -l)
  [ "$distinct" -eq "$RECORDS" ] || { echo "crash_duplicates: out-$n holds $distinct of $RECORDS distinct records" >&2; exit 1; }
  printf '%-16s %-15s %12d %14.0f\n' "$interval" "$records" $((out - RECORDS)) \
    "$(awk -v d=$((out - RECORDS)) -v k="$KILLS" 'BEGIN {print d / k}')"
done
