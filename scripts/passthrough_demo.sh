#!/usr/bin/env bash
# Kafka → Kafka passthrough on the embedded broker: feeds lines with kcat,
# shows the output topic, the dead-letter topic and the metrics.
#   scripts/passthrough_demo.sh [--seconds N]
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/broker.sh"

SECONDS_TO_RUN=0
[ "${1:-}" = "--seconds" ] && SECONDS_TO_RUN=${2:-10}

sluice_ensure_packages "${SLUICE_BUILD_PACKAGES[@]}"
BUILD=${SLUICE_BUILD_DIR:-$SLUICE_ROOT/build/release}
sluice_build "$BUILD" >/dev/null
SLUICE=$BUILD/sluice
W=$(mktemp -d /tmp/sluice-demo.XXXXXX)
PORT=${SLUICE_METRICS_PORT:-9464}

cleanup() {
  [ -n "${RUN_PID:-}" ] && kill -TERM "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
  [ -n "${SLUICE_BROKER_PID:-}" ] && kill -TERM "$SLUICE_BROKER_PID" 2>/dev/null && wait "$SLUICE_BROKER_PID" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT INT TERM

B=$(sluice_start_broker "$SLUICE" "$W" --topic sluice-in:8 --topic sluice-out:8 --topic sluice-dlq:1)
sluice_log "embedded broker at $B"
SLUICE_BOOTSTRAP=$B SLUICE_METRICS_LISTEN=127.0.0.1:$PORT SLUICE_SESSION_TIMEOUT_MS=6000 \
  "$SLUICE" run "$SLUICE_ROOT/pipelines/passthrough.yaml" 2>"$W/sluice.log" &
RUN_PID=$!

printf 'hello\nworld\nstreaming with sluice\n' | kcat -P -b "$B" -t sluice-in
printf 'bad\xff utf-8\n' | kcat -P -b "$B" -t sluice-in
sluice_log "output topic:"
timeout 30 kcat -C -b "$B" -t sluice-out -o beginning -c 3 -q -f '  %s\n'
sluice_log "dead-letter topic:"
timeout 30 kcat -C -b "$B" -t sluice-dlq -o beginning -c 1 -q -f '  value: %s\n  headers: %h\n'
# One commit interval (1 s) and a lag refresh: the committed offsets follow the deliveries.
sleep 1.5
sluice_log "metrics at http://127.0.0.1:$PORT/metrics :"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^sluice_(records|committed|consumer_lag)' | sed 's/^/  /' | head -20
if [ "$SECONDS_TO_RUN" -gt 0 ]; then
  sleep "$SECONDS_TO_RUN"
else
  sluice_log "running; feed it with: kcat -P -b $B -t sluice-in   (Ctrl-C to stop)"
  wait "$RUN_PID"
fi
