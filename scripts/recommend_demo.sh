#!/usr/bin/env bash
# The recommendation demo (scripts/demo.sh --recommend calls it): starts the
# embedded broker, runs pipelines/recommend.yaml on the shipped model, loads
# the replayed users' earlier events, then replays the MovieLens events after
# the model's training cut-off at --rate events/s and shows recommendations
# with movie titles, the live rate, latency and the running HR@10
# (tools/recommend_demo.py). Ctrl-C (or --seconds N) stops it cleanly.
#
#   scripts/recommend_demo.sh                      build if needed, run until done or Ctrl-C
#   scripts/recommend_demo.sh --seconds 30         unattended
#   scripts/recommend_demo.sh --rate 0             as fast as the pipeline goes
#
# Needs ../shared/data/movielens-latest-small (or SLUICE_RATINGS=path/to/ratings.csv).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

SECONDS_TO_RUN=0
RATE=${SLUICE_DEMO_RATE:-200}
SLUICE=${SLUICE_BIN:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_TO_RUN=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --sluice) SLUICE=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

sluice_demo_setup "$SLUICE_ROOT/models/recommend-ml-small" tools/train_recommender.py
RATINGS=${SLUICE_RATINGS:-$SLUICE_SHARED/data/movielens-latest-small/ratings.csv}
if [ ! -f "$RATINGS" ]; then
  sluice_log "no MovieLens ratings at $RATINGS (set SLUICE_RATINGS)"
  exit 1
fi

PY=/usr/bin/python3
PORT=${SLUICE_METRICS_PORT:-9464}
WORK=$(mktemp -d /tmp/sluice-recommend-demo.XXXXXX)
cleanup() {
  # Stop order: the client, then the pipeline (drain, flush, commit), then the broker.
  set +e
  if [ -n "${CLIENT:-}" ]; then kill -TERM "$CLIENT" 2>/dev/null; wait "$CLIENT" 2>/dev/null; fi
  if [ -n "${PIPE:-}" ] && kill -0 "$PIPE" 2>/dev/null; then
    sluice_log "stopping the pipeline (drain, flush, commit)"
    kill -TERM "$PIPE"; wait "$PIPE"; local rc=$?
    if [ "$rc" -ne 0 ]; then sluice_log "pipeline exited with $rc; log: $WORK/pipeline.log"; else rm -rf "$WORK"; fi
  fi
  if [ -n "${BROKER:-}" ]; then kill -TERM "$BROKER" 2>/dev/null; wait "$BROKER" 2>/dev/null; fi
}
trap 'exit 130' INT TERM
trap cleanup EXIT

# The state stage's changelog (users' history) is made up front: the
# embedded broker cannot create topics on request.
setsid "$SLUICE" broker --topic events:4 --topic recommendations:4 --topic recommend-dlq:1 \
  --topic sluice-recommend-demo-state-changelog:4 >"$WORK/broker.addr" 2>"$WORK/broker.log" &
BROKER=$!
BOOTSTRAP=""
for _ in $(seq 1 200); do
  BOOTSTRAP=$(head -n1 "$WORK/broker.addr" 2>/dev/null || true)
  [ -n "$BOOTSTRAP" ] && break
  kill -0 "$BROKER" 2>/dev/null || break
  sleep 0.1
done
[ -n "$BOOTSTRAP" ] || { sluice_log "broker did not start: $(cat "$WORK/broker.log")"; exit 1; }
sluice_log "embedded broker at $BOOTSTRAP"

export SLUICE_BOOTSTRAP=$BOOTSTRAP SLUICE_MODEL=$MODEL SLUICE_METRICS_LISTEN=127.0.0.1:$PORT
export SLUICE_FETCH_WAIT_MAX_MS=10 SLUICE_GROUP=sluice-recommend-demo
setsid "$SLUICE" run "$SLUICE_ROOT/pipelines/recommend.yaml" >"$WORK/pipeline.log" 2>&1 &
PIPE=$!
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  kill -0 $PIPE 2>/dev/null || { sluice_log "pipeline failed to start:"; cat "$WORK/pipeline.log" >&2; exit 1; }
  sleep 0.1
done
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$PORT/metrics" 2>/dev/null | grep -q '^sluice_consumer_lag{' && break
  sleep 0.1
done
sluice_log "pipeline running; metrics at http://127.0.0.1:$PORT/metrics"

setsid "$PY" "$SLUICE_ROOT/tools/recommend_demo.py" --bootstrap "$BOOTSTRAP" --model "$MODEL" \
  --ratings "$RATINGS" --rate "$RATE" &
CLIENT=$!

start=$(date +%s)
while kill -0 "$PIPE" 2>/dev/null && kill -0 "$CLIENT" 2>/dev/null; do
  sleep 1
  if [ "$SECONDS_TO_RUN" -gt 0 ] && [ $(( $(date +%s) - start )) -ge "$SECONDS_TO_RUN" ]; then
    break
  fi
done
kill -0 "$PIPE" 2>/dev/null || { sluice_log "the pipeline stopped on its own:"; tail -20 "$WORK/pipeline.log" >&2; exit 1; }
