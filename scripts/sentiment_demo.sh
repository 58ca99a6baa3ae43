#!/usr/bin/env bash
# The sentiment demo (scripts/demo.sh calls it): starts the embedded broker,
# runs pipelines/sentiment.yaml on the shipped model, replays TweetEval tweets
# as JSON with a synthetic brand at --rate records/s, and shows sample
# results, a live summary (results/s, p50/p99 end-to-end latency, label
# counts), closed windows and alerts. The metrics endpoint stays up while it
# runs. Ctrl-C (or --seconds N) stops it cleanly and prints the final summary.
#
#   scripts/sentiment_demo.sh                      build if needed, run until Ctrl-C
#   scripts/sentiment_demo.sh --seconds 30         unattended
#   scripts/sentiment_demo.sh --sluice build/release/sluice --rate 100 --windows
#
# Without ../shared/data it replays tests/fixtures/sentiment/sample_tweets.txt.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

SECONDS_TO_RUN=0
RATE=${SLUICE_DEMO_RATE:-50}
SLUICE=${SLUICE_BIN:-}
SHOW_WINDOWS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_TO_RUN=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --sluice) SLUICE=$2; shift 2 ;;
    --windows) SHOW_WINDOWS=--show-windows; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

sluice_demo_setup "$SLUICE_ROOT/models/sentiment-tweet-small" tools/train_sentiment.py
TWEETS=$SLUICE_SHARED/data/tweeteval-sentiment/test_text.txt
if [ ! -f "$TWEETS" ]; then
  TWEETS=$SLUICE_ROOT/tests/fixtures/sentiment/sample_tweets.txt
  sluice_log "no TweetEval at $SLUICE_SHARED/data: replaying the project's sample ($TWEETS)"
fi

PY=/usr/bin/python3
PORT=${SLUICE_METRICS_PORT:-9464}
WORK=$(mktemp -d /tmp/sluice-demo.XXXXXX)
cleanup() {
  # Stop order: replay, then the monitor (final summary while the metrics
  # endpoint is still up), then the pipeline (drain, flush, commit), then the broker.
  set +e
  if [ -n "${REPLAY:-}" ]; then kill -TERM "$REPLAY" 2>/dev/null; wait "$REPLAY" 2>/dev/null; sleep 2; fi
  if [ -n "${MON:-}" ]; then kill -TERM "$MON" 2>/dev/null; wait "$MON" 2>/dev/null; fi
  if [ -n "${PIPE:-}" ] && kill -0 "$PIPE" 2>/dev/null; then
    sluice_log "stopping the pipeline (drain, flush, commit)"
    kill -TERM "$PIPE"; wait "$PIPE"; local rc=$?
    if [ "$rc" -ne 0 ]; then sluice_log "pipeline exited with $rc; log: $WORK/pipeline.log"; else rm -rf "$WORK"; fi
  fi
  if [ -n "${BROKER:-}" ]; then kill -TERM "$BROKER" 2>/dev/null; wait "$BROKER" 2>/dev/null; fi
}
trap 'exit 130' INT TERM
trap cleanup EXIT

# Children run in their own sessions (setsid), so Ctrl-C reaches only this
# script, which stops them in order.
setsid "$SLUICE" broker --topic tweets:4 --topic sentiment-results:4 --topic sentiment-aggregates:1 \
  --topic sentiment-alerts:1 --topic sentiment-dlq:1 >"$WORK/broker.addr" 2>"$WORK/broker.log" &
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
export SLUICE_FETCH_WAIT_MAX_MS=10 SLUICE_GROUP=sluice-demo
# The replayed TweetEval test tweets (2017, chosen around contested topics) are
# far more negative than the train tweets the pipeline's default was measured
# on: tools/alert_thresholds.py on this stream (model labels only, no gold
# labels) finds normal opinionated windows up to 0.889 (mean 0.67; model 1.2), so
# the demo alerts above 0.90, where a 50 % shift to negative still crosses in 96 %
# of windows.
export SLUICE_ALERT_THRESHOLD=${SLUICE_ALERT_THRESHOLD:-0.90}
setsid "$SLUICE" run "$SLUICE_ROOT/pipelines/sentiment.yaml" >"$WORK/pipeline.log" 2>&1 &
PIPE=$!
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  kill -0 $PIPE 2>/dev/null || { sluice_log "pipeline failed to start:"; cat "$WORK/pipeline.log" >&2; exit 1; }
  sleep 0.1
done
# Replay once the consumer has its partitions (its lag gauges appear), so the
# first records do not wait for the group to form.
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$PORT/metrics" 2>/dev/null | grep -q '^sluice_consumer_lag{' && break
  sleep 0.1
done
sluice_log "pipeline running; metrics at http://127.0.0.1:$PORT/metrics"

setsid "$PY" "$SLUICE_ROOT/tools/replay_tweets.py" --bootstrap "$BOOTSTRAP" --topic tweets --file "$TWEETS" \
  --rate "$RATE" 2>"$WORK/replay.log" &
REPLAY=$!
sluice_log "replaying $(basename "$TWEETS") at $RATE records/s; Ctrl-C to stop"

setsid "$PY" "$SLUICE_ROOT/tools/sentiment_monitor.py" --bootstrap "$BOOTSTRAP" \
  --metrics-url "http://127.0.0.1:$PORT/metrics" $SHOW_WINDOWS &
MON=$!

start=$(date +%s)
while kill -0 "$PIPE" 2>/dev/null && kill -0 "$MON" 2>/dev/null; do
  sleep 1
  if [ "$SECONDS_TO_RUN" -gt 0 ] && [ $(( $(date +%s) - start )) -ge "$SECONDS_TO_RUN" ]; then
    break
  fi
done
kill -0 "$PIPE" 2>/dev/null || { sluice_log "the pipeline stopped on its own:"; tail -20 "$WORK/pipeline.log" >&2; exit 1; }
