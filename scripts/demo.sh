#!/usr/bin/env bash
# The main job on the embedded defaults. Installs what is missing, builds
# Release, then runs the pipeline and shows what it does.
#
#   scripts/demo.sh                 run until Ctrl-C
#   scripts/demo.sh --seconds 20    unattended: stop after 20 s, print the summary
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

SECONDS_TO_RUN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_TO_RUN=$2; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

sluice_ensure_packages "${SLUICE_BUILD_PACKAGES[@]}"
BUILD=${SLUICE_BUILD_DIR:-$SLUICE_ROOT/build/release}
sluice_build "$BUILD" >/dev/null
SLUICE=$BUILD/sluice

PORT=${SLUICE_METRICS_PORT:-9464}
export SLUICE_METRICS_LISTEN=127.0.0.1:$PORT SLUICE_GENERATOR_COUNT=0
"$SLUICE" run "$SLUICE_ROOT/pipelines/generator.yaml" --set stages.count.expect=-1 --set stages.source.rate=200000 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID' INT TERM
sluice_log "pipeline running; metrics at http://127.0.0.1:$PORT/metrics"
start=$(date +%s)
while kill -0 $PID 2>/dev/null; do
  sleep 2
  curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^sluice_stage_items_in_total/ {print "  " $0}'
  if [ "$SECONDS_TO_RUN" -gt 0 ] && [ $(( $(date +%s) - start )) -ge "$SECONDS_TO_RUN" ]; then
    kill -TERM $PID
  fi
done
wait $PID
