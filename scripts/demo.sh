#!/usr/bin/env bash
# The main job on the embedded defaults: real-time sentiment monitoring.
# Installs what is missing, builds Release, starts the embedded broker, runs
# pipelines/sentiment.yaml on the shipped model, replays TweetEval tweets and
# shows results, a live summary and the metrics URL (scripts/sentiment_demo.sh).
#   scripts/demo.sh                 run until Ctrl-C
#   scripts/demo.sh --seconds 20    unattended: stop after 20 s, print the final summary
#   scripts/demo.sh --rate 200      replay rate (records/s)
#   scripts/demo.sh --recommend     the recommendation pipeline on MovieLens instead
#                                   (scripts/recommend_demo.sh; same --seconds, --rate)
# The plain Kafka pass-through demo: scripts/passthrough_demo.sh.
if [ "${1:-}" = "--recommend" ]; then
  shift
  exec "$(dirname "$0")/recommend_demo.sh" "$@"
fi
exec "$(dirname "$0")/sentiment_demo.sh" "$@"
